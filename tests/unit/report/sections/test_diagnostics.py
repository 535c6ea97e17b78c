"""trial.report.sections.diagnostics: the imputation section renders with its engine, its
reason and the flagged outcomes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from trial.analyses.imputation_diagnostics import imputed_vs_observed_table, missingness_table
from trial.data.intermediate import write_intermediate
from trial.report.figures.diagnostics import (
    arm_difference_plot,
    imputed_vs_observed_plot,
    trace_plot,
)
from trial.report.render import render_report
from trial.report.sections.diagnostics import diagnostics_section

from ...analyses.test_impute_diagnostics import gapped_table


@pytest.fixture()
def table():
    return gapped_table()


def test_section_renders_with_engine_and_reason(small_config, table, tmp_path):
    small_config["imputation"]["default_reason"] = "it was calibrated in the simulation study."
    missingness_table(small_config, table).to_csv(tmp_path / "miss.csv", index=False)
    completed = [table.fillna(40.0)]
    imputed_vs_observed_table(small_config, table, completed).to_csv(
        tmp_path / "cmp.csv", index=False
    )
    trace = pd.DataFrame(
        {
            "iteration": [1],
            "variable": ["qpr_total__followup"],
            "mean": [1.0],
            "sd": [1.0],
            "imputation": [1],
            "engine": ["miceforest"],
        }
    )
    write_intermediate(small_config, trace, tmp_path / "1.trace.parquet")
    model = {"cluster": "team_id", "impute": ["a", "b"], "predictors": ["treatment"]}
    (tmp_path / "model.json").write_text(json.dumps(model))
    trace_plot(small_config, trace, tmp_path / "t.png")
    imputed_vs_observed_plot(small_config, table, completed, tmp_path / "i.png")
    check = pd.DataFrame(
        {
            "outcome": ["qpr_total", "functioning"],
            "label": ["QPR total", "Functioning"],
            "arm": "refocus",
            "n_observed": [5, 7],
            "n_imputed": [3, 1],
            "observed_difference": [2.0, 6.0],
            "observed_se": [1.0, 1.5],
            "imputed_difference": [1.9, 0.5],
            "imputed_se": [1.2, 1.8],
            "imputed_mc_se": [0.1, 0.2],
            "ratio": [0.95, 0.0833],
            "difference": [-0.1, -5.5],
            "difference_se": [1.0, 1.6],
            "difference_p": [0.92, 0.001],
            "sd_ratio": [1.0, 0.6],
            "sd_ratio_low": [0.8, 0.45],
            "sd_ratio_high": [1.25, 0.8],
            "flag_difference": [False, True],
            "flag_sd": [False, True],
            "m": 1,
        }
    )
    check.to_csv(tmp_path / "check.csv", index=False)
    arm_difference_plot(check, tmp_path / "c.png")
    inputs = {
        "traces": [tmp_path / "1.trace.parquet"],
        "imputation_model": tmp_path / "model.json",
        "missingness": tmp_path / "miss.csv",
        "imputed_vs_observed": tmp_path / "cmp.csv",
        "trace_figure": tmp_path / "t.png",
        "imputed_figure": tmp_path / "i.png",
        "arm_check": tmp_path / "check.csv",
        "arm_check_figure": tmp_path / "c.png",
    }
    html = render_report(small_config, [diagnostics_section(small_config, inputs)])
    assert "Missing data and imputation diagnostics" in html
    assert "miceforest" in html and "calibrated in the simulation study" in html
    assert "2 (50.0%)" in html  # qpr_total follow-up missing in the treatment arm
    assert ">C0" not in html and "C0<" not in html  # no individual identifiers
    # the check's table, and a warning naming the flagged outcome only
    assert "Table M3" in html and "0.08" in html
    assert "Imputation check: for Functioning," in html and "for QPR total" not in html
