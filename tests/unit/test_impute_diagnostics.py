"""Missing-data and imputation diagnostics: tables checked by hand, figures reproducible."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trial.impute.diagnostics import (
    diagnostics_section,
    imputed_vs_observed_plot,
    imputed_vs_observed_table,
    missingness_table,
    trace_plot,
)
from trial.report import render_report


@pytest.fixture()
def table():
    """8 individuals, 4 per arm; known gaps."""
    return pd.DataFrame(
        {
            "consumer_id": [f"C{i}" for i in range(8)],
            "team_id": ["T1", "T1", "T2", "T2", "T3", "T3", "T4", "T4"],
            "arm": ["refocus"] * 4 + ["control"] * 4,
            "qpr_total__baseline": [30, 31, np.nan, 33, 40, 41, 42, 43],
            "qpr_total__followup": [np.nan, 35, np.nan, 37, 44, np.nan, 46, 47],
            "functioning__baseline": [50.0] * 8,
            "functioning__followup": [60, 61, 62, 63, 64, 65, 66, np.nan],
        }
    )


def test_missingness_counts_by_outcome_time_and_arm(small_config, table):
    result = missingness_table(small_config, table).set_index(["outcome", "timepoint", "arm"])
    assert result.loc[("qpr_total", "12m", "refocus"), "n_missing"] == 2
    assert result.loc[("qpr_total", "12m", "refocus"), "pct_missing"] == 50.0
    assert result.loc[("qpr_total", "12m", "control"), "n_missing"] == 1
    assert result.loc[("qpr_total", "12m", "all"), "n_missing"] == 3
    assert result.loc[("qpr_total", "baseline", "refocus"), "n_missing"] == 1
    assert result.loc[("functioning", "12m", "control"), "pct_missing"] == 25.0
    assert result.loc[("functioning", "baseline", "all"), "n_missing"] == 0
    assert (result["n"].loc[:, :, "all"] == 8).all()


def test_observed_vs_imputed_by_arm(small_config, table):
    completed = []
    for fill in (100.0, 200.0):
        frame = table.copy()
        for column in ("qpr_total__baseline", "qpr_total__followup", "functioning__followup"):
            frame[column] = frame[column].fillna(fill)
        completed.append(frame)
    result = imputed_vs_observed_table(small_config, table, completed)
    follow = result[result["timepoint"] == "12m"].set_index(["outcome", "arm"])
    row = follow.loc[("qpr_total", "refocus")]
    assert row["n_observed"] == 2 and row["observed_mean"] == 36.0
    assert row["n_imputed"] == 2 and row["imputed_mean"] == 150.0
    # values 100, 100, 200, 200: sample SD = sqrt(4 * 2500 / 3)
    assert row["imputed_sd"] == pytest.approx(np.sqrt(10000 / 3))
    assert follow.loc[("functioning", "control"), "n_imputed"] == 1
    assert follow.loc[("functioning", "refocus"), "n_imputed"] == 0  # nothing missing there
    assert np.isnan(follow.loc[("functioning", "refocus"), "imputed_mean"])
    # no missing functioning baseline: no row
    assert not ((result["outcome"] == "functioning") & (result["timepoint"] == "baseline")).any()


def test_figures_are_byte_identical_on_rerun(small_config, table, tmp_path):
    traces = pd.DataFrame(
        {
            "imputation": np.repeat([1, 2], 6),
            "iteration": np.tile([1, 2, 3], 4),
            "variable": np.tile(np.repeat(["qpr_total__followup", "qpr_total__baseline"], 3), 2),
            "mean": np.arange(12.0),
            "sd": np.ones(12),
        }
    )
    completed = [table.fillna(v) for v in (38.0, 41.0)]
    for name in ("a", "b"):
        shown = trace_plot(small_config, traces, tmp_path / f"t{name}.png")
        imputed_vs_observed_plot(small_config, table, completed, tmp_path / f"i{name}.png")
    assert shown == ["qpr_total__baseline", "qpr_total__followup"]
    for stem in ("t", "i"):
        assert (tmp_path / f"{stem}a.png").read_bytes() == (tmp_path / f"{stem}b.png").read_bytes()


def test_section_renders_with_engine_and_reason(small_config, table, tmp_path):
    small_config["imputation"]["default_reason"] = "it was calibrated in the simulation study."
    missingness_table(small_config, table).to_csv(tmp_path / "miss.csv", index=False)
    completed = [table.fillna(40.0)]
    imputed_vs_observed_table(small_config, table, completed).to_csv(
        tmp_path / "cmp.csv", index=False
    )
    pd.DataFrame(
        {
            "iteration": [1],
            "variable": ["qpr_total__followup"],
            "mean": [1.0],
            "sd": [1.0],
            "imputation": [1],
            "engine": ["miceforest"],
        }
    ).to_csv(tmp_path / "1.trace.csv", index=False)
    model = {"cluster": "team_id", "impute": ["a", "b"], "predictors": ["treatment"]}
    (tmp_path / "model.json").write_text(json.dumps(model))
    traces = pd.read_csv(tmp_path / "1.trace.csv")
    trace_plot(small_config, traces, tmp_path / "t.png")
    imputed_vs_observed_plot(small_config, table, completed, tmp_path / "i.png")
    inputs = {
        "traces": [tmp_path / "1.trace.csv"],
        "imputation_model": tmp_path / "model.json",
        "missingness": tmp_path / "miss.csv",
        "imputed_vs_observed": tmp_path / "cmp.csv",
        "trace_figure": tmp_path / "t.png",
        "imputed_figure": tmp_path / "i.png",
    }
    html = render_report(small_config, [diagnostics_section(small_config, inputs)])
    assert "Missing data and imputation diagnostics" in html
    assert "miceforest" in html and "calibrated in the simulation study" in html
    assert "2 (50.0%)" in html  # qpr_total follow-up missing in the treatment arm
    assert ">C0" not in html and "C0<" not in html  # no individual identifiers
