"""Benchmark: trial.mixed against statsmodels MixedLM, and the nested model at audit size.

1. REFOCUS-shaped model ``y ~ arm + baseline + stratum + (1 | cluster)`` (REML) on
   ``tests/reference/data/mixed/refocus.csv`` (312 rows, 27 clusters), fitted repeatedly with

   * trial.mixed.fit_random_intercept_model including Kenward-Roger df (and, separately,
     Satterthwaite df), and
   * statsmodels MixedLM (REML, default optimiser settings),

   in the same process; prints the median and minimum time per fit and the ratio of medians.

2. Casenote-audit-shaped nested model ``y ~ arm * time + (1 | team) + (1 | team:consumer)``
   (REML): 27 teams, 950 consumers, 7 time points (6650 rows, 14 fixed effects), simulated by
   ``tests/reference/data/mixed/make_nested_large.py`` with a fixed seed, complete and with 15%
   of the rows missing at random (unequal subgroup sizes; the committed R reference dataset
   ``nested_large.csv``); trial.mixed with Kenward-Roger and Satterthwaite df. (statsmodels
   MixedLM needs minutes for this model and is not timed.)

Timings on a shared machine vary with its load, which is printed; the minimum is the least
disturbed figure.

Usage: ``python benchmarks/bench_mixed.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

from trial.mixed import fit_random_intercept_model

REFERENCE_DATA = Path(__file__).resolve().parents[1] / "tests" / "reference" / "data" / "mixed"
DATA = REFERENCE_DATA / "refocus.csv"
# the simulation behind the committed audit-sized R reference dataset nested_large.csv
MAKE_NESTED_LARGE = REFERENCE_DATA / "make_nested_large.py"


def _times(fn: Callable[[], object], repeats: int, inner: int) -> tuple[float, float]:
    """Median and minimum seconds per call over ``repeats`` timings of ``inner`` calls."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times), min(times)


def audit_shaped(missing: float) -> tuple[pd.Series, pd.DataFrame, np.ndarray, np.ndarray]:
    """Outcome, arm x time design, teams and consumers of the audit-shaped simulation."""
    spec = importlib.util.spec_from_file_location("make_nested_large", MAKE_NESTED_LARGE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    d = module.make_nested_large(missing=missing)
    cols: dict[str, object] = {"(Intercept)": 1.0, "arm": d.arm.astype(float)}
    for k in range(1, 7):
        cols[f"time{k}"] = (d.time == k).astype(float)
    for k in range(1, 7):
        cols[f"arm:time{k}"] = d.arm * (d.time == k)
    return d.y, pd.DataFrame(cols), d.team.to_numpy(), d.consumer.to_numpy()


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

    t_kr, m_kr = _times(ours_kr, args.repeats, 50)
    t_satt, m_satt = _times(ours_satt, args.repeats, 50)
    t_sm, m_sm = _times(statsmodels_fit, max(3, args.repeats // 3), 3)

    a = ours_kr()
    b = statsmodels_fit()
    max_diff = float(np.max(np.abs(a.params.to_numpy() - b.fe_params.to_numpy())))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, 1-minute load average {load:.2f}")
    print(f"data: {len(d)} rows, {clusters.nunique()} clusters, {X.shape[1]} fixed effects")
    print("                                          median ms    min ms per fit")
    print(f"trial.mixed (REML + Kenward-Roger df):   {t_kr * 1e3:9.3f} {m_kr * 1e3:9.3f}")
    print(f"trial.mixed (REML + Satterthwaite df):   {t_satt * 1e3:9.3f} {m_satt * 1e3:9.3f}")
    print(f"statsmodels MixedLM (REML, z only):      {t_sm * 1e3:9.3f} {m_sm * 1e3:9.3f}")
    print(f"speed-up (statsmodels / trial.mixed KR): {t_sm / t_kr:9.1f} x (medians)")
    print(f"max |difference| in fixed effects:       {max_diff:.2e}")

    for missing in (0.0, 0.15):
        ya, Xa, team, consumer = audit_shaped(missing=missing)
        label = "complete" if missing == 0 else f"{missing:.0%} rows missing"
        print(
            f"audit-shaped nested model ({label}): {len(ya)} rows, {len(np.unique(team))} "
            f"clusters, {len(np.unique(consumer))} nested groups, {Xa.shape[1]} fixed effects"
        )
        for method in ("kenward-roger", "satterthwaite"):
            fit = partial(
                fit_random_intercept_model, ya, Xa, team, nested=consumer, df_method=method
            )
            med, mn = _times(fit, max(3, args.repeats // 3), 1)
            print(f"  trial.mixed (REML + {method} df): {med * 1e3:9.1f} {mn * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
