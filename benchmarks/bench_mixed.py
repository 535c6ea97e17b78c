"""Benchmark: trial.stats.mixed against statsmodels MixedLM, and the nested model at audit size.

1. REFOCUS-shaped model ``y ~ arm + baseline + stratum + (1 | cluster)`` (REML) on
   ``tests/reference/data/mixed/refocus.csv`` (312 rows, 27 clusters), fitted repeatedly with

   (a) trial.stats.mixed.fit_random_intercept_arrays (the lean entry point: numpy design matrix and
       outcome, integer cluster codes) including Kenward-Roger df,
   (b) trial.stats.mixed.fit_random_intercept_model (DataFrame design, string cluster labels)
       including Kenward-Roger df; its pandas results are built on first access, so (b+) also
       reads the estimate, variance and df of the arm term and the variance components, as the
       pipeline's per-imputation fit does, and
   (c) statsmodels MixedLM (REML, default optimiser settings, z tests only),

   in the same process. Each repeat times a batch of fits of (a), (b) and (c) back to back, so a
   change in the machine's load affects all three alike; the ratios (c)/(a) and (c)/(b) are
   computed per repeat. Prints the median (and minimum) time per fit over the repeats, the median
   (and range) of the per-repeat ratios, and the 1-minute load average before and after: on a
   shared machine a run with a load near or above the number of CPUs is noisy.

2. Casenote-audit-shaped nested model ``y ~ arm * time + (1 | team) + (1 | team:consumer)``
   (REML): 27 teams, 950 consumers, 7 time points (6650 rows, 14 fixed effects), simulated by
   ``tests/reference/data/mixed/make_nested_large.py`` with a fixed seed, complete and with 15%
   of the rows missing at random (unequal subgroup sizes; the committed R reference dataset
   ``nested_large.csv``); trial.stats.mixed with Kenward-Roger and Satterthwaite df. (statsmodels
   MixedLM needs minutes for this model and is not timed.)

Usage: ``python benchmarks/bench_mixed.py [--repeats N] [--no-nested]``
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

from trial.stats.mixed import fit_random_intercept_arrays, fit_random_intercept_model

REFERENCE_DATA = Path(__file__).resolve().parents[1] / "tests" / "reference" / "data" / "mixed"
DATA = REFERENCE_DATA / "refocus.csv"
# the simulation behind the committed audit-sized R reference dataset nested_large.csv
MAKE_NESTED_LARGE = REFERENCE_DATA / "make_nested_large.py"


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _per_fit(fn: Callable[[], object], inner: int) -> float:
    """Seconds per call over ``inner`` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def _times(fn: Callable[[], object], repeats: int, inner: int) -> tuple[float, float]:
    """Median and minimum seconds per call over ``repeats`` timings of ``inner`` calls."""
    fn()  # warm-up
    times = [_per_fit(fn, inner) for _ in range(repeats)]
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


def refocus_benchmark(repeats: int) -> None:
    d = pd.read_csv(DATA)
    X = pd.DataFrame(
        {"(Intercept)": 1.0, "arm": d.arm, "baseline": d.baseline, "stratum": d.stratum}
    )
    y = d.y
    clusters = d.cluster
    # the lean entry point's inputs, built once as a caller fitting many models would
    Xv = X.to_numpy(dtype=float)
    yv = y.to_numpy(dtype=float)
    codes = pd.factorize(clusters.to_numpy())[0]
    groups = clusters.to_numpy()

    def lean_kr() -> object:
        return fit_random_intercept_arrays(yv, Xv, codes, df_method="kenward-roger")

    def frame_kr() -> object:
        return fit_random_intercept_model(y, X, clusters, df_method="kenward-roger")

    def frame_kr_read() -> object:
        fit = fit_random_intercept_model(y, X, clusters, df_method="kenward-roger")
        vc = fit.variance_components
        return (
            float(fit.params["arm"]),
            float(fit.cov.loc["arm", "arm"]),
            float(fit.df["arm"]),
            float(vc["cluster"]),
            float(vc["residual"]),
        )

    def statsmodels_fit() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sm.MixedLM(yv, X, groups=groups).fit(reml=True)

    # one batch of each takes roughly the same wall time (about 0.15 s)
    inner = {"a": 300, "b": 200, "b+": 100, "c": 3}
    fns = {"a": lean_kr, "b": frame_kr, "b+": frame_kr_read, "c": statsmodels_fit}
    for fn in fns.values():
        fn()  # warm-up
    load_before = _load()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(_per_fit(fn, inner[k]))
    load_after = _load()
    ratios = {k: [c / t for t, c in zip(times[k], times["c"], strict=True)] for k in fns}

    a = lean_kr()
    b = frame_kr()
    s = statsmodels_fit()
    diff_ab = float(np.max(np.abs(a.beta - b.params.to_numpy())))
    diff_sm = float(np.max(np.abs(a.beta - s.fe_params.to_numpy())))

    print(
        f"machine: {os.cpu_count()} CPUs, 1-minute load average {load_before:.2f} before and "
        f"{load_after:.2f} after the REFOCUS timings"
    )
    print(
        f"data: {len(d)} rows, {clusters.nunique()} clusters, {X.shape[1]} fixed effects; "
        f"{repeats} repeats"
    )
    print("                                                    median ms    min ms per fit")
    labels = {
        "a": "(a) fit_random_intercept_arrays, REML + KR df: ",
        "b": "(b) fit_random_intercept_model, REML + KR df:  ",
        "b+": "(b+) the same, reading the pandas results:     ",
        "c": "(c) statsmodels MixedLM, REML (z only):        ",
    }
    for k, label in labels.items():
        print(f"{label} {statistics.median(times[k]) * 1e3:9.3f} {min(times[k]) * 1e3:9.3f}")
    for k in ("a", "b", "b+"):
        r = ratios[k]
        print(
            f"speed-up (c)/({k}), median over repeats: {statistics.median(r):7.1f} x "
            f"(range {min(r):.1f} to {max(r):.1f})"
        )
    print(f"max |difference| in fixed effects: (a) vs (b) {diff_ab:.1e}, (a) vs (c) {diff_sm:.1e}")


def nested_benchmark(repeats: int) -> None:
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
            med, mn = _times(fit, max(3, repeats // 3), 1)
            print(f"  trial.stats.mixed (REML + {method} df): {med * 1e3:9.1f} {mn * 1e3:9.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9, help="timed repeats (median reported)")
    ap.add_argument("--no-nested", action="store_true", help="skip the audit-sized nested model")
    args = ap.parse_args()
    refocus_benchmark(args.repeats)
    if not args.no_nested:
        nested_benchmark(args.repeats)


if __name__ == "__main__":
    main()
