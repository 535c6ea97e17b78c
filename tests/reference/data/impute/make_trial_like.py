"""Generate ``trial_like.csv``: a seeded cluster-randomised trial shaped like REFOCUS.

27 teams (clusters) randomised 14 intervention / 13 control within 2 strata (sites); about
400 individuals; a continuous outcome measured at baseline (complete) and at follow-up
(``y``, missing for about 26% of individuals, at random given baseline and arm). Run from
anywhere: ``python tests/reference/data/impute/make_trial_like.py``; it overwrites the CSV
beside it. The file is committed, so the R reference script and the Python test read the
same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240527
N_CLUSTERS = 27
N_INTERVENTION = 14
TARGET_N = 400
ARM_EFFECT = 1.5
BASELINE_SLOPE = 0.6
STRATUM_EFFECT = -2.0
SD_CLUSTER = 2.0  # with SD_RESIDUAL 8 the residual ICC is 4 / 68 ~ 0.06
SD_RESIDUAL = 8.0
MISSING_TARGET = 0.26


def make(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # Strata: 14 clusters in stratum 0, 13 in stratum 1; arm balanced within stratum.
    stratum_c = np.repeat([0, 1], [14, 13])
    arm_c = np.empty(N_CLUSTERS, dtype=int)
    arm_c[stratum_c == 0] = rng.permutation(np.repeat([1, 0], [7, 7]))
    arm_c[stratum_c == 1] = rng.permutation(np.repeat([1, 0], [7, 6]))
    assert arm_c.sum() == N_INTERVENTION
    # Unequal cluster sizes, total exactly TARGET_N.
    weights = rng.gamma(shape=6.0, scale=1.0, size=N_CLUSTERS)
    sizes = np.maximum(5, np.round(weights / weights.sum() * TARGET_N)).astype(int)
    sizes[np.argmax(sizes)] += TARGET_N - sizes.sum()
    g = np.repeat(np.arange(N_CLUSTERS), sizes)
    n = g.size

    u_base = rng.normal(0.0, 2.5, N_CLUSTERS)
    baseline = np.round(40.0 + u_base[g] + rng.normal(0.0, 10.0, n), 1)
    u = rng.normal(0.0, SD_CLUSTER, N_CLUSTERS)
    y = (
        16.0
        + BASELINE_SLOPE * baseline
        + ARM_EFFECT * arm_c[g]
        + STRATUM_EFFECT * stratum_c[g]
        + u[g]
        + rng.normal(0.0, SD_RESIDUAL, n)
    )
    y = np.round(y, 1)
    # MAR: lower baseline and control arm more often missing; intercept tuned to ~26%.
    z = (baseline - baseline.mean()) / baseline.std()
    lin = -0.8 * z + 0.3 * (1 - arm_c[g])
    lo, hi = -6.0, 6.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.mean(1 / (1 + np.exp(-(mid + lin)))) < MISSING_TARGET:
            lo = mid
        else:
            hi = mid
    p_miss = 1 / (1 + np.exp(-(mid + lin)))
    y[rng.random(n) < p_miss] = np.nan

    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "cluster": [f"team{c + 1:02d}" for c in g],
            "stratum": stratum_c[g],
            "arm": arm_c[g],
            "baseline": baseline,
            "y": y,
        }
    )


if __name__ == "__main__":
    out = Path(__file__).with_name("trial_like.csv")
    df = make()
    df.to_csv(out, index=False, na_rep="NA")
    print(
        f"wrote {out}: {len(df)} rows, {df['cluster'].nunique()} clusters, "
        f"{df['y'].isna().mean():.1%} of y missing"
    )
