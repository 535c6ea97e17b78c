"""Benchmark: time per imputed dataset of the two imputation engines on the example.

Builds the analysis table of the bundled REFOCUS example from ``data/raw/refocus`` (403
individuals, 27 clusters, the baseline and follow-up scores of every configured outcome) and
makes completed datasets with :func:`trial.analyses.outcomes.impute_analysis_table` (the workflow's
own call, with the config's iterations and mean matching) using

* ``multilevel``: random-intercept Gibbs FCS (trial.stats.impute.multilevel) with the config's
  imputation settings (blocks, cluster means, iterations), and
* ``forest``: miceforest on LightGBM with cluster features (trial.stats.impute.forest), imputed by
  arm, with ``--forest-iterations`` iterations (5 by default, as in the simulation study),

in the same process, one thread, and prints the median time per imputed dataset and the ratio.

Usage: ``python benchmarks/bench_imputation.py [--repeats N] [--forest-iterations K]
[--config PATH]``
"""

from __future__ import annotations

import os

# One BLAS thread, as in a workflow job with `threads: 1` (LightGBM runs on one thread too);
# set before numpy loads. Several BLAS threads on a shared machine made the multilevel engine
# several times slower, not faster.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from trial.analyses.outcomes import build_analysis_table, impute_analysis_table  # noqa: E402
from trial.config.load import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def time_engine(config: dict, table, engine: str, repeats: int, iterations: int) -> list[float]:
    """Seconds per imputed dataset, one value per repeat (imputation numbers 1..repeats)."""
    config = copy.deepcopy(config)
    config["imputation"].update(engine=engine, iterations=iterations)
    impute_analysis_table(config, table, 1)  # warm-up: imports, JIT-free first-call costs
    times = []
    for index in range(1, repeats + 1):
        started = time.perf_counter()
        impute_analysis_table(config, table, index)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="imputed datasets per engine")
    parser.add_argument("--forest-iterations", type=int, default=5)
    parser.add_argument("--config", default=str(ROOT / "config" / "refocus.yaml"))
    args = parser.parse_args()
    config = load_config(args.config)
    config["paths"]["raw"] = str(ROOT / config["paths"]["raw"])
    table = build_analysis_table(config)
    n_missing = int(table.isna().sum().sum())
    spec = config["imputation"]
    print(
        f"analysis table: {len(table)} rows, {table[config['design']['cluster_id']].nunique()} "
        f"clusters, {len(config['analysis']['outcomes'])} outcomes, {n_missing} missing cells; "
        f"iterations={spec['iterations']} (multilevel) and {args.forest_iterations} (forest), "
        f"mean_match_candidates={spec.get('mean_match_candidates', 5)}, repeats={args.repeats}"
    )
    medians = {}
    for engine in ("multilevel", "forest"):
        iterations = spec["iterations"] if engine == "multilevel" else args.forest_iterations
        times = time_engine(config, table, engine, args.repeats, iterations)
        medians[engine] = statistics.median(times)
        print(
            f"{engine:>10}: median {medians[engine]:.3f} s per imputed dataset "
            f"(min {min(times):.3f}, max {max(times):.3f})"
        )
    print(f"ratio forest / multilevel: {medians['forest'] / medians['multilevel']:.1f}")


if __name__ == "__main__":
    main()
