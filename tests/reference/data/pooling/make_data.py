"""Make the pooling reference inputs: per-imputation estimates and (co)variances.

Run from anywhere: ``python tests/reference/data/pooling/make_data.py``. The output is
committed; ``tests/reference/r/pooling.R`` reads it and writes the R fixtures. The numbers
mimic per-imputation results of a mixed-model arm effect; they are synthetic draws, seeded,
so rerunning the script reproduces the committed files exactly.

Files written next to this script:

* ``scalar_cases.csv``: case, m, df_complete (``inf`` for the large-sample case).
* ``scalar_<case>.csv``: imputation, estimate, variance.
* ``d1_cases.csv``: case, m, k, df_complete.
* ``d1_<case>_estimates.csv``: imputation, b1..bk.
* ``d1_<case>_covariances.csv``: imputation, row, col, value (full k x k matrices).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 20240611

# name, m, df_complete, true value, within variance, between SD
SCALAR_CASES = [
    ("small_df", 20, 25.0, 0.40, 0.030, 0.08),  # lambda around 0.2
    ("large_between", 10, 25.0, 1.50, 0.020, 0.40),  # B much larger than W-bar
    ("tiny_df", 5, 6.0, -0.30, 0.050, 0.15),  # very few clusters
    ("large_sample", 5, float("inf"), 0.25, 0.010, 0.05),  # classic Rubin df
    ("big_df_complete", 30, 1000.0, 0.05, 0.004, 0.02),
    ("zero_between", 5, 25.0, 0.70, 0.040, 0.0),  # identical estimates: B = 0
]

# name, m, df_complete, true values, within SDs, correlation, between SD scale
D1_CASES = [
    ("k3_df25", 20, 25.0, [0.3, -0.2, 0.5], [0.15, 0.18, 0.20], 0.3, 0.5),
    ("k2_large_between", 10, 25.0, [0.4, 0.1], [0.12, 0.10], -0.2, 1.5),
    ("k3_large_sample", 8, float("inf"), [0.1, 0.2, -0.1], [0.10, 0.10, 0.12], 0.1, 0.7),
    # the branches of the D1 df: k (m - 1) <= 4 without df_complete (Li et al's small-t form),
    # the fewest imputations (m = 2), no between-imputation variance (infinite df), and the
    # cases where Reiter's df is undefined (k (m - 1) = 4) or not positive (df_complete = 2)
    ("k2_m3_large_sample", 3, float("inf"), [0.2, 0.1], [0.10, 0.12], 0.2, 0.8),
    ("k1_m4_large_sample", 4, float("inf"), [0.3], [0.10], 0.0, 0.8),
    ("k2_m2_large_sample", 2, float("inf"), [0.2, -0.1], [0.10, 0.10], 0.1, 0.8),
    ("k3_zero_between_large_sample", 5, float("inf"), [0.3, -0.2, 0.1], [0.1, 0.1, 0.1], 0.2, 0.0),
    ("k2_m3_df25", 3, 25.0, [0.2, 0.1], [0.10, 0.12], 0.2, 0.8),
    ("k3_df2", 20, 2.0, [0.3, -0.2, 0.5], [0.15, 0.18, 0.20], 0.3, 0.5),
    # Reiter's df positive but below 1: returned, not refused
    ("k3_df_tiny", 20, 3.75, [0.3, -0.2, 0.5], [0.15, 0.18, 0.20], 0.3, 0.5),
]


def _write(df: pd.DataFrame, name: str) -> None:
    df.to_csv(HERE / name, index=False, float_format="%.17g")


def main() -> None:
    rng = np.random.default_rng(SEED)

    rows = []
    for name, m, df_com, truth, w, b_sd in SCALAR_CASES:
        if b_sd == 0.0:
            est = np.full(m, truth)
        else:
            est = truth + rng.normal(0.0, b_sd, size=m)
        # per-imputation variances scatter around W-bar like chi-square / df draws
        var = w * rng.chisquare(df=50, size=m) / 50
        _write(
            pd.DataFrame({"imputation": np.arange(1, m + 1), "estimate": est, "variance": var}),
            f"scalar_{name}.csv",
        )
        rows.append({"case": name, "m": m, "df_complete": df_com})
    _write(pd.DataFrame(rows), "scalar_cases.csv")

    rows = []
    for name, m, df_com, truth, sds, rho, b_scale in D1_CASES:
        k = len(truth)
        sds_arr = np.asarray(sds)
        corr = np.full((k, k), rho) + np.eye(k) * (1 - rho)
        within = corr * np.outer(sds_arr, sds_arr)
        between = b_scale * within
        if b_scale == 0.0:
            est = np.tile(np.asarray(truth, dtype=float), (m, 1))
        else:
            est = rng.multivariate_normal(np.asarray(truth), between, size=m)
        est_df = pd.DataFrame(est, columns=[f"b{j + 1}" for j in range(k)])
        est_df.insert(0, "imputation", np.arange(1, m + 1))
        _write(est_df, f"d1_{name}_estimates.csv")
        cov_rows = []
        for i in range(m):
            # Wishart draw around the within covariance: each imputation's own matrix
            z = rng.multivariate_normal(np.zeros(k), within, size=60)
            cov = z.T @ z / 60
            for r in range(k):
                for c in range(k):
                    cov_rows.append(
                        {"imputation": i + 1, "row": r + 1, "col": c + 1, "value": cov[r, c]}
                    )
        _write(pd.DataFrame(cov_rows), f"d1_{name}_covariances.csv")
        rows.append({"case": name, "m": m, "k": k, "df_complete": df_com})
    _write(pd.DataFrame(rows), "d1_cases.csv")


if __name__ == "__main__":
    main()
