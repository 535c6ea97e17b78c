"""Export the REFOCUS example's primary-model data (complete cases) for the R reference fit.

Builds the scored analysis table of the bundled synthetic REFOCUS example with
``trial.analyses.outcomes.build_analysis_table`` from ``config/refocus.yaml`` and keeps the columns
of the primary analysis model (follow-up QPR total ~ arm + baseline QPR total + trust stratum,
random intercept per team) for the individuals with both scores observed. The R script
``tests/reference/r/mixed_models.R`` fits it with lme4/lmerTest/pbkrtest.

Run from the repository root: ``python tests/reference/data/mixed/export_refocus_example.py``.
The output ``refocus_example.csv`` is committed beside this script; a test checks that it still
matches the example data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trial.analyses.outcomes import build_analysis_table
from trial.config.load import load_config

ROOT = Path(__file__).resolve().parents[4]
OUT = Path(__file__).resolve().parent / "refocus_example.csv"
COLUMNS = ["team_id", "qpr_total__followup", "treatment", "qpr_total__baseline", "trust"]


def primary_model_data(root: Path = ROOT) -> pd.DataFrame:
    """Complete-case rows of the REFOCUS example's primary model, in analysis-table order."""
    config = load_config(root / "config" / "refocus.yaml")
    table = build_analysis_table(config, raw_dir=root / config["paths"]["raw"])
    data = table[COLUMNS].dropna().reset_index(drop=True)
    return data


def main() -> None:
    data = primary_model_data()
    data.to_csv(OUT, index=False, float_format="%.17g")
    print(f"wrote {len(data)} rows, {data.team_id.nunique()} teams to {OUT}")


if __name__ == "__main__":
    main()
