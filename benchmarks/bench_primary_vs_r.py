"""Benchmark: the pipeline's primary analysis (m = 50) against the equivalent R workflow.

Both start from the same scored analysis table of the example (built here with
:func:`trial.analyses.outcomes.build_analysis_table` and written to a temporary CSV, not timed) and
do the primary outcome only:

* Python, in one process without Snakemake: m completed datasets from the pipeline's default
  engine with the config's imputation settings
  (:func:`trial.analyses.outcomes.impute_analysis_table`; for the example, the multilevel engine:
  the primary outcome's baseline and follow-up scores imputed from a random-intercept normal model
  with the cluster, arm, strata, the config's auxiliary variables, the cluster means of the other
  score and of the auxiliary variables, and the participation score as a cluster-level predictor),
  the analysis model per dataset (:func:`trial.analyses.outcomes.fit_outcomes`: trial.stats.mixed
  REML with the config's df method, Kenward-Roger for the example), Rubin's rules with Barnard-Rubin
  df (:func:`trial.analyses.pooled_outcomes.pool_outcomes`);
* R, ``benchmarks/r_primary_analysis.R``: mice with ``2l.pan`` (the same predictors and
  cluster means, the same number of iterations), ``lme4::lmer`` per completed dataset,
  ``mitml::testEstimates`` with ``df.com`` (between-within df; R computes no Kenward-Roger df
  here, which makes its side cheaper).

Package loading and data reading are excluded on both sides. The runs are sequential, one
process at a time. Prints each side's time per step, the total, the ratio and the pooled
estimates (both are multiple-imputation estimates of the same quantity with different random
draws, so they agree only up to Monte Carlo and model differences).

Usage: ``python benchmarks/bench_primary_vs_r.py [--m 50] [--config config/refocus.yaml]``
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from trial.analyses.outcomes import build_analysis_table, fit_outcomes, impute_analysis_table
from trial.analyses.pooled_outcomes import pool_outcomes
from trial.config.load import load_config

ROOT = Path(__file__).resolve().parents[1]
R_SCRIPT = ROOT / "benchmarks" / "r_primary_analysis.R"


def primary_only(config: dict, m: int) -> dict:
    """The config with only the primary outcome analysed, and the pipeline's imputation
    settings (engine, iterations) except the number of imputations."""
    config = copy.deepcopy(config)
    config["analysis"]["outcomes"] = [
        o for o in config["analysis"]["outcomes"] if o["role"] == "primary"
    ]
    config.pop("costs", None)  # no further analysed columns in the imputation model
    config["imputation"]["m"] = m
    if config["imputation"]["engine"] != "multilevel":
        raise SystemExit("the R side mirrors the multilevel engine; the config names another")
    return config


def run_python(config: dict, table, m: int) -> tuple[dict[str, float], object]:
    """Time the m imputations, the m fits and the pooling in this process."""
    impute_s = fit_s = 0.0
    fits = []
    for index in range(1, m + 1):
        t0 = time.perf_counter()
        completed = impute_analysis_table(config, table, index).completed
        t1 = time.perf_counter()
        fits.append(fit_outcomes(config, completed))
        t2 = time.perf_counter()
        impute_s += t1 - t0
        fit_s += t2 - t1
    t0 = time.perf_counter()
    pooled = pool_outcomes(config, fits)
    pool_s = time.perf_counter() - t0
    times = {"impute": impute_s, "fit": fit_s, "pool": pool_s}
    times["total"] = sum(times.values())
    return times, pooled


def run_r(table_path: Path, m: int, maxit: int, seed: int) -> tuple[dict[str, float], str]:
    """Run the R script and read its timings."""
    result = subprocess.run(
        ["Rscript", str(R_SCRIPT), str(table_path), str(m), str(maxit), str(seed)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"R benchmark failed:\n{result.stdout}\n{result.stderr}")
    match = re.search(r"^seconds: (\S+) (\S+) (\S+) (\S+)$", result.stdout, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no timing line in the R output:\n{result.stdout}")
    values = [float(v) for v in match.groups()]
    return dict(zip(["impute", "fit", "pool", "total"], values, strict=True)), result.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "refocus.yaml")
    ap.add_argument("--m", type=int, default=50, help="number of imputations (default 50)")
    args = ap.parse_args()

    config = primary_only(load_config(args.config), args.m)
    os.chdir(ROOT)  # the config's paths are relative to the project root
    table = build_analysis_table(config)
    maxit = config["imputation"]["iterations"]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="trial-primary-") as scratch:
        table_path = Path(scratch) / "analysis_table.csv"
        table.to_csv(table_path, index=False, lineterminator="\n")
        py_times, pooled = run_python(config, table, args.m)
        load_mid = os.getloadavg()
        r_times, r_output = run_r(table_path, args.m, maxit, config["seed"])
    load_after = os.getloadavg()

    primary = pooled.iloc[0]
    print(
        f"primary outcome {primary['outcome']}: engine {config['imputation']['engine']}, "
        f"m = {args.m}, {maxit} iterations per imputation, {len(table)} individuals"
    )
    print(
        f"load average (1-min) before / between / after: {load_before[0]:.2f} / "
        f"{load_mid[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} cores"
    )
    print(f"{'seconds':<10}{'impute':>10}{'fit':>10}{'pool':>10}{'total':>10}")
    for name, times in (("python", py_times), ("R", r_times)):
        print(
            f"{name:<10}"
            + "".join(f"{times[k]:>10.2f}" for k in ("impute", "fit", "pool", "total"))
        )
    print(f"R / python total time: {r_times['total'] / py_times['total']:.2f}")
    print(
        f"python pooled arm effect: {primary['estimate']:.3f} (SE {primary['se']:.3f}, "
        f"df {primary['df']:.1f}, {primary['df_method']} complete-data df)"
    )
    print("R pooled arm effect (mitml::testEstimates):")
    print("\n".join("  " + line for line in r_output.splitlines() if line.strip()))


if __name__ == "__main__":
    main()
