"""The committed calibration study and the default imputation engine it supports.

tests/reference/simulation/ holds the output of the workflow's simulation target on the example
config (command and commit in the README there): every replicate (replicates.csv.gz) and the
performance table with the decision rule (simulation_summary.csv). These tests check that the
files match the config's study (so they were made with it), that the table follows from the
replicates by the library's own summary and decision rule, that the config's default engine is
the one the rule prefers, and that the README names every cell the default engine fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trial.studies.simulation import (
    COMPLETE_CASE,
    judge_simulation,
    method_settings,
    simulation_cells,
    summarise_simulation,
)

FOLDER = Path(__file__).resolve().parent / "simulation"
SUMMARY = FOLDER / "simulation_summary.csv"
REPLICATES = FOLDER / "replicates.csv.gz"
README = FOLDER / "README.md"


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return pd.read_csv(SUMMARY)


def _reference_effect(config: dict) -> float:
    sim = config["simulation"]
    return max(abs(e) for e in sim["grid"]["effect_sd"]) * sim["trial"]["outcome"]["sd"]


def test_committed_results_match_the_config(summary, example_config):
    cells = simulation_cells(example_config)
    sd = example_config["simulation"]["trial"]["outcome"]["sd"]
    expected = {
        (cell, method)
        for method in example_config["simulation"]["methods"]
        for cell in method_settings(example_config, method)["cells"]
    }
    assert set(zip(summary["cell"], summary["method"], strict=True)) == expected
    for row in summary.itertuples():
        settings = method_settings(example_config, row.method)
        assert row.n_replicates + row.n_failed == settings["replicates"]
        assert row.true_effect == pytest.approx(cells[row.cell]["effect_sd"] * sd)
        if row.method != COMPLETE_CASE:
            assert (row.m, row.iterations) == (settings["m"], settings["iterations"])
    assert set(summary.loc[summary["true_effect"] == 0, "rejection_is"]) == {"type I error"}


def test_the_table_follows_from_the_replicates(summary, example_config):
    replicates = pd.read_csv(REPLICATES)
    alpha = example_config["analysis"]["alpha"]
    again = judge_simulation(
        summarise_simulation(replicates, alpha=alpha),
        reference_effect=_reference_effect(example_config),
        alpha=alpha,
    )
    merged = summary.merge(again, on=["cell", "method"], suffixes=("", "_again"))
    assert len(merged) == len(summary) == len(again)
    for column in summary.columns:
        if column in ("cell", "method"):
            continue
        ours, theirs = merged[column], merged[f"{column}_again"]
        if not pd.api.types.is_numeric_dtype(ours) or pd.api.types.is_bool_dtype(ours):
            assert (ours == theirs).all(), column
        else:
            assert np.allclose(ours, theirs, rtol=1e-5, atol=1e-12, equal_nan=True), column


def test_the_default_engine_is_the_one_the_rule_prefers(summary, example_config):
    engine = example_config["imputation"]["engine"]
    cells = set(simulation_cells(example_config))
    everywhere = [
        m
        for m in example_config["simulation"]["methods"]
        if m != COMPLETE_CASE and set(method_settings(example_config, m)["cells"]) == cells
    ]
    failures = {m: int(summary.loc[summary["method"] == m, "fail"].sum()) for m in everywhere}
    fewest = min(failures.values())
    best = [m for m, f in failures.items() if f == fewest]
    engines = {method_settings(example_config, m)["engine"] for m in best}
    assert engine in engines, failures


def test_the_readme_names_every_cell_the_default_engine_fails(summary, example_config):
    engine = example_config["imputation"]["engine"]
    text = README.read_text(encoding="utf-8")
    failed = summary[(summary["method"] == engine) & summary["fail"]]
    for cell in failed["cell"]:
        assert cell in text, f"{cell}: a failure of the default engine the README does not name"
    reason = example_config["imputation"]["default_reason"]
    assert "tests/reference/simulation" in reason
