"""Benchmark: a random-intercept logistic GLMM fit, trial.stats.glmm against lme4::glmer.

Data: ``tests/reference/data/glmm/trial.csv`` (34 clusters of 25-65 individuals, 1,527 in all;
arm, a cluster-level stratum and an individual covariate; binary outcome), the size of a
30-40-cluster trial. Model ``y ~ arm + stratum + x + (1 | cluster)``, maximum likelihood by
adaptive Gauss-Hermite quadrature with ``nAGQ`` nodes (10 by default) on both sides.

Python: :func:`trial.stats.glmm.fit_glmm` on the labelled design (input checks, fit,
covariance and between-within df included), timed in this process. R: ``glmer()`` only
(``benchmarks/r_glmm_fit.R``, lme4's default control), timed inside R; package loading and data
reading are excluded on both sides. The runs are sequential. Prints the median and minimum
seconds of each side over ``--repeats`` fits, their ratio (R / Python), the load average
before and after, and both sides' estimates.

Usage: ``python benchmarks/bench_glmm_vs_r.py [--nagq 10] [--repeats 20]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

import pandas as pd

from trial.stats.glmm import fit_glmm

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "reference" / "data" / "glmm" / "trial.csv"
R_SCRIPT = ROOT / "benchmarks" / "r_glmm_fit.R"


def run_python(d: pd.DataFrame, nagq: int, repeats: int) -> tuple[list[float], object]:
    X = pd.DataFrame({"(Intercept)": 1.0, "arm": d.arm * 1.0, "stratum": d.stratum * 1.0, "x": d.x})
    fit_glmm(d.y, X, d.cluster, n_agq=nagq)  # first call: imports and caches warm
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fit = fit_glmm(d.y, X, d.cluster, n_agq=nagq)
        times.append(time.perf_counter() - t0)
    return times, fit


def run_r(nagq: int, repeats: int) -> tuple[list[float], str]:
    result = subprocess.run(
        ["Rscript", str(R_SCRIPT), str(DATA), str(nagq), str(repeats)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"R benchmark failed:\n{result.stdout}\n{result.stderr}")
    match = re.search(r"^seconds: (.+)$", result.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no timing line in the R output:\n{result.stdout}")
    return [float(v) for v in match.group(1).split()], result.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nagq", type=int, default=10, help="quadrature nodes (default 10)")
    ap.add_argument("--repeats", type=int, default=20, help="fits timed per side (default 20)")
    args = ap.parse_args()
    d = pd.read_csv(DATA)
    load_before = os.getloadavg()
    py_times, fit = run_python(d, args.nagq, args.repeats)
    r_times, r_out = run_r(args.nagq, args.repeats)
    load_after = os.getloadavg()
    print(
        f"{d.cluster.nunique()} clusters, {len(d)} individuals, nAGQ = {args.nagq}, "
        f"{args.repeats} fits per side"
    )
    print(
        "load average (1, 5, 15 min) before: "
        + ", ".join(f"{v:.2f}" for v in load_before)
        + "; after: "
        + ", ".join(f"{v:.2f}" for v in load_after)
        + f"; {os.cpu_count()} cores"
    )
    py_med, r_med = statistics.median(py_times), statistics.median(r_times)
    print(f"{'seconds':<22}{'median':>10}{'min':>10}")
    print(f"{'python fit_glmm':<22}{py_med:>10.4f}{min(py_times):>10.4f}")
    print(f"{'R glmer':<22}{r_med:>10.4f}{min(r_times):>10.4f}")
    print(f"R / python (median): {r_med / py_med:.1f}   (min): {min(r_times) / min(py_times):.1f}")
    print("python estimates:")
    print(fit.summary_table()[["term", "estimate", "se"]].to_string(index=False))
    print(f"theta: {fit.theta:.6f}")
    print("R estimates:")
    print("\n".join("  " + line for line in r_out.splitlines()[1:] if line.strip()))


if __name__ == "__main__":
    main()
