"""Benchmark: trial.mixed against statsmodels MixedLM on the REFOCUS-shaped model.

Fits ``y ~ arm + baseline + stratum + (1 | cluster)`` (REML) to
``tests/reference/data/mixed/refocus.csv`` (312 rows, 27 clusters) repeatedly with

* trial.mixed.fit_random_intercept_model including Kenward-Roger df (and, separately,
  Satterthwaite df), and
* statsmodels MixedLM (REML, default optimiser settings),

in the same process, and prints the median time per fit and the ratio.

Usage: ``python benchmarks/bench_mixed.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

from trial.mixed import fit_random_intercept_model

DATA = (
    Path(__file__).resolve().parents[1] / "tests" / "reference" / "data" / "mixed" / "refocus.csv"
)


def _median_time(fn: Callable[[], object], repeats: int, inner: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed repeats (median reported)")
    args = ap.parse_args()

    d = pd.read_csv(DATA)
    X = pd.DataFrame(
        {"(Intercept)": 1.0, "arm": d.arm, "baseline": d.baseline, "stratum": d.stratum}
    )
    y = d.y
    clusters = d.cluster

    def ours_kr() -> object:
        return fit_random_intercept_model(y, X, clusters, df_method="kenward-roger")

    def ours_satt() -> object:
        return fit_random_intercept_model(y, X, clusters, df_method="satterthwaite")

    groups = clusters.to_numpy()
    yv = y.to_numpy()

    def statsmodels_fit() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sm.MixedLM(yv, X, groups=groups).fit(reml=True)

    t_kr = _median_time(ours_kr, args.repeats, 50)
    t_satt = _median_time(ours_satt, args.repeats, 50)
    t_sm = _median_time(statsmodels_fit, max(3, args.repeats // 3), 3)

    a = ours_kr()
    b = statsmodels_fit()
    max_diff = float(np.max(np.abs(a.params.to_numpy() - b.fe_params.to_numpy())))

    print(f"data: {len(d)} rows, {clusters.nunique()} clusters, {X.shape[1]} fixed effects")
    print(f"trial.mixed (REML + Kenward-Roger df):   {t_kr * 1e3:8.3f} ms per fit (median)")
    print(f"trial.mixed (REML + Satterthwaite df):   {t_satt * 1e3:8.3f} ms per fit (median)")
    print(f"statsmodels MixedLM (REML, z only):      {t_sm * 1e3:8.3f} ms per fit (median)")
    print(f"speed-up (statsmodels / trial.mixed KR): {t_sm / t_kr:8.1f} x")
    print(f"max |difference| in fixed effects:       {max_diff:.2e}")


if __name__ == "__main__":
    main()
