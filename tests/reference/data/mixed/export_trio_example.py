"""Export the three-arm TRIO example's primary-model data (complete cases) for the R reference fit.

Builds the analysis table of the bundled synthetic TRIO example with
``trial.analyses.outcomes.build_analysis_table`` from ``config/trio.yaml`` and keeps the columns of
the primary analysis model (week-26 PHQ-9 ~ allocation (3 arms) + baseline PHQ-9 + region stratum +
age + sex, random intercept per practice) for the patients with every term observed. The R
script ``tests/reference/r/mixed_models.R`` fits it with lme4/lmerTest/pbkrtest.

Run from the repository root: ``python tests/reference/data/mixed/export_trio_example.py``.
The output ``trio_example.csv`` is committed beside this script; a test checks that it still
matches the example data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trial.analyses.outcomes import build_analysis_table
from trial.config.load import load_config

ROOT = Path(__file__).resolve().parents[4]
OUT = Path(__file__).resolve().parent / "trio_example.csv"
COLUMNS = ["practice_id", "phq9__followup", "allocation", "phq9__baseline", "region", "age", "sex"]


def primary_model_data(root: Path = ROOT) -> pd.DataFrame:
    """Complete-case rows of the TRIO example's primary model, in analysis-table order."""
    config = load_config(root / "config" / "trio.yaml")
    table = build_analysis_table(config, raw_dir=root / config["paths"]["raw"])
    return table[COLUMNS].dropna().reset_index(drop=True)


def main() -> None:
    data = primary_model_data()
    data.to_csv(OUT, index=False, float_format="%.17g")
    print(f"wrote {len(data)} rows, {data.practice_id.nunique()} practices to {OUT}")


if __name__ == "__main__":
    main()
