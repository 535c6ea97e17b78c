"""Export the stepped-wedge example's analysis data for the R reference fits.

Reads the bundled synthetic stepped-wedge example (``config/stepped.yaml``, ``data/raw/stepped``)
with ``trial.analyses.stepped_wedge.design_data`` and writes one row per patient with a 30-day
score: ward, period, the ward-period's condition (``treatment``, 0/1), its period of exposure
(``exposure``, 0 in usual care), the score, and the adjustment values the example's model
holds (the admission score ``baseline`` and ``age``). ``ward_beds.csv`` beside it is an
invented ward-level covariate, for the reference fits of a model with a cluster-level
covariate. The R script ``tests/reference/r/stepped_wedge.R`` fits the Hussey & Hughes,
nested-exchangeable and exposure-time models to it, unadjusted and adjusted, with
lme4/lmerTest/pbkrtest.

Run from the repository root: ``python tests/reference/data/stepped/export_stepped_example.py``.
The output ``stepped_example.csv`` is committed beside this script; a test checks that it still
matches the example data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trial.analyses.stepped_wedge import analysable, design_data
from trial.config.load import load_config

ROOT = Path(__file__).resolve().parents[4]
OUT = Path(__file__).resolve().parent / "stepped_example.csv"


def example_data(root: Path = ROOT) -> pd.DataFrame:
    """Patients of the stepped-wedge example with a 30-day score, in patient-table order."""
    config = load_config(root / "config" / "stepped.yaml")
    schedule, data = design_data(config, "readiness", root / config["paths"]["raw"])
    data = data[analysable(data)].reset_index(drop=True)
    ci = pd.Index(schedule.clusters).get_indexer(data["cluster"])
    pj = pd.Index(schedule.periods).get_indexer(data["period"])
    return pd.DataFrame(
        {
            "cluster": data["cluster"],
            "period": data["period"],
            "treatment": schedule.treated[ci, pj].astype(int),
            "exposure": schedule.exposure[ci, pj],
            "outcome": data["outcome"],
            "baseline": data["baseline"],
            "age": data["age"],
        }
    )


def main() -> None:
    data = example_data()
    data.to_csv(OUT, index=False, float_format="%.17g")
    print(f"wrote {len(data)} rows, {data.cluster.nunique()} clusters to {OUT}")


if __name__ == "__main__":
    main()
