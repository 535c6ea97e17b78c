"""Benchmark: the joint cost-effect cluster bootstrap over all imputations.

Times :func:`trial.analyses.costs.bootstrap.bootstrap_costs` for 2000 two-stage (shrinkage)
replicates over every completed data set, as the workflow's chunks do together. Uses the example's
completed data sets (``data/derived/refocus/imputed/*.parquet``, with cost columns) when present;
otherwise makes
``m`` crude completed copies of the example's analysis table (gaps filled by arm means), which has
the same shape and therefore the same cost.

Usage: ``python benchmarks/bench_bootstrap.py [--replicates 2000] [--m 40]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from trial.analyses.costs.bootstrap import bootstrap_costs
from trial.analyses.outcomes import build_analysis_table
from trial.config.load import load_config
from trial.config.vocabulary import COST_FOLLOWUP
from trial.data.intermediate import read_intermediate

ROOT = Path(__file__).resolve().parents[1]


def completed_tables(config: dict, m: int) -> dict[int, pd.DataFrame]:
    imputed = ROOT / config["paths"]["derived"] / "imputed"
    files = {i: imputed / f"{i}.parquet" for i in range(1, m + 1)}
    if all(p.exists() for p in files.values()):
        tables = {i: read_intermediate(config, p) for i, p in files.items()}
        if all(COST_FOLLOWUP in t.columns for t in tables.values()):
            return tables
    table = build_analysis_table(config, ROOT / config["paths"]["raw"])
    for column in table.columns:
        if table[column].dtype.kind == "f" and table[column].isna().any():
            table[column] = table[column].fillna(
                table.groupby("treatment")[column].transform("mean")
            )
    return {i: table for i in range(1, m + 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=2000)
    parser.add_argument("--m", type=int, default=None, help="imputations (default: config)")
    args = parser.parse_args()
    config = load_config(ROOT / "config" / "refocus.yaml")
    m = args.m or config["imputation"]["m"]
    tables = completed_tables(config, m)
    t0 = time.perf_counter()
    result = bootstrap_costs(config, tables, range(args.replicates))
    elapsed = time.perf_counter() - t0
    n = len(next(iter(tables.values())))
    print(
        f"{args.replicates} two-stage bootstrap replicates x {m} imputations "
        f"({n} individuals, cost and effect each): {elapsed:.1f} s "
        f"({1e3 * elapsed / (args.replicates * m):.2f} ms per replicate and imputation); "
        f"{int(np.isfinite(result[['cost', 'effect']]).all(axis=1).sum())} finite rows"
    )


if __name__ == "__main__":
    main()
