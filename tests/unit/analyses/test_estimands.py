"""trial.analyses.estimands: the declared strategies act on exactly the individuals with each
event, are counted by hand, and impossible declarations are refused with a message naming them."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from trial.analyses.describe import flow_counts
from trial.analyses.estimands import (
    EstimandDataError,
    handling_table,
    prepare_for_imputation,
    score_defined,
    undefined_after_events,
)
from trial.analyses.outcomes import build_analysis_table
from trial.config.load import ConfigError, validate_config
from trial.config.vocabulary import COST_FOLLOWUP, followup_column
from trial.report.sections.estimands import methods_paragraphs

from ...conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"


def _tiny() -> pd.DataFrame:
    """Six individuals: two died, one too unwell, one withdrew, two completed."""
    return pd.DataFrame(
        {
            "consumer_id": ["a", "b", "c", "d", "e", "f"],
            "arm": ["refocus", "control", "refocus", "control", "refocus", "control"],
            "followup_status": ["died", "died", "too_unwell", "withdrew", "completed", "completed"],
            followup_column("qpr_total"): [np.nan, np.nan, np.nan, np.nan, 40.0, 35.0],
            followup_column("functioning"): [np.nan, np.nan, np.nan, np.nan, 60.0, 55.0],
            COST_FOLLOWUP: [1200.0, 300.0, np.nan, np.nan, 5000.0, 7000.0],
        }
    )


def test_while_alive_scores_are_cleared_after_imputation_and_nothing_else(small_config):
    table = _tiny()
    completed = table.fillna(99.0)  # stand-in for imputed values
    out = undefined_after_events(small_config, table, completed)
    died = table["followup_status"] == "died"
    for scale in ("qpr_total", "functioning"):
        column = followup_column(scale)
        assert out.loc[died, column].isna().all()
        assert (out.loc[~died, column] == completed.loc[~died, column]).all()
    # costs are kept: their while-alive strategy uses the recorded costs
    assert (out[COST_FOLLOWUP] == completed[COST_FOLLOWUP]).all()
    assert list(score_defined(small_config, table)) == [False, False, True, True, True, True]


def test_composite_sets_the_declared_value_before_imputation(small_config):
    event = small_config["estimands"]["intercurrent_events"][0]
    event["outcomes"] = "composite"
    event["composite_values"] = {"qpr_total": 0.0, "functioning": 1.0}
    small_config["estimands"]["intercurrent_events"][0].pop("costs")
    out = prepare_for_imputation(small_config, _tiny().drop(columns=COST_FOLLOWUP))
    died = out["followup_status"] == "died"
    assert (out.loc[died, followup_column("qpr_total")] == 0.0).all()
    assert (out.loc[died, followup_column("functioning")] == 1.0).all()
    assert out.loc[~died, followup_column("qpr_total")].isna().sum() == 2  # c, d untouched


def test_a_while_alive_cost_that_was_not_recorded_is_an_error(config):
    table = _tiny()
    table.loc[1, COST_FOLLOWUP] = np.nan
    with pytest.raises(EstimandDataError, match=r"1 individuals .* \['b'\].*while_alive"):
        prepare_for_imputation(config, table)
    # treatment policy for the same event would impute it: no error
    config["estimands"]["intercurrent_events"][0].update(costs="hypothetical")
    prepare_for_imputation(config, table)


def test_handling_counts_by_hand(small_config):
    table = _tiny()
    got = handling_table(small_config, table).set_index(["event", "arm"])
    assert got.loc[("death", "refocus"), "n"] == 1
    assert got.loc[("death", "control"), "n"] == 1
    assert got.loc[("too_unwell", "refocus"), "n"] == 1
    assert got.loc[("too_unwell", "control"), "n"] == 0
    assert got.loc[("", "control"), "n"] == 1  # withdrew: missing data
    assert got.loc[("", "control"), "status"] == "withdrew"
    assert "left out" in got.loc[("death", "refocus"), "outcomes_handling"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outcomes": "treatment_policy"}, "treatment_policy needs the value to exist"),
        ({"status": ["departed"]}, "'departed' is not one of the followup_status codes"),
        ({"status": ["completed"]}, "code of a completed follow-up"),
        ({"outcomes": "composite"}, "give the follow-up score of every outcome scale"),
        ({"terminal": False}, "while_alive applies to terminal events"),
    ],
)
def test_impossible_declarations_are_refused(config, change, message):
    config["estimands"]["intercurrent_events"][0].update(change)
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_costs_strategy_is_required_with_costs(config):
    config["estimands"]["intercurrent_events"][1].pop("costs")
    with pytest.raises(ConfigError, match="declare their strategy"):
        validate_config(config)


def test_example_deaths_are_excluded_from_outcomes_but_costed(example_config):
    table = build_analysis_table(example_config)
    consumers = pd.read_csv(RAW / "consumers.csv")
    died = table["followup_status"] == "died"
    assert died.sum() == (consumers["followup_status"] == "died").sum() == 8
    assert table.loc[died, COST_FOLLOWUP].notna().all()  # costs while alive, recorded
    teams = pd.read_csv(RAW / "teams.csv")
    flow = flow_counts(example_config, table, teams).set_index(["stage", "arm"])["n"]
    for arm in ("refocus", "control"):
        n_died = int((died & (table["arm"] == arm)).sum())
        stage = "excluded from outcome analyses: Death before the 12-month follow-up"
        assert flow[(stage, arm)] == n_died
        assert flow[("analysed (multiple imputation, intention to treat)", arm)] == (
            flow[("assessed at baseline", arm)] - n_died
        )


def test_without_estimands_nothing_is_excluded_and_the_text_says_mar(config):
    plain = copy.deepcopy(config)
    plain.pop("estimands")
    validate_config(plain)
    table = _tiny()
    assert score_defined(plain, table).all()
    paragraphs = methods_paragraphs(plain)
    assert len(paragraphs) == 1 and "missing at random" in paragraphs[0]["text"]


