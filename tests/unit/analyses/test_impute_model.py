"""The check that the imputation model holds every analysis-model term."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import trial.analyses.imputation as impute_model
import trial.analyses.outcomes as analysis
from trial.analyses.imputation import (
    ImputationModelError,
    analysis_model_terms,
    check_imputation_model,
    imputation_model,
    missing_terms,
)


@pytest.fixture()
def table():
    """A small analysis table of the example's shape (6 clusters, 2 strata)."""
    rng = np.random.default_rng(1)
    n = 60
    cluster = np.repeat([f"T{j}" for j in range(6)], 10)
    arm = np.where(np.repeat(np.arange(6) % 2, 10) == 1, "refocus", "control")
    frame = pd.DataFrame(
        {
            "consumer_id": [f"C{i:03d}" for i in range(n)],
            "team_id": cluster,
            "treatment": (arm == "refocus").astype(int),
            "arm": arm,
            "trust": np.where(np.repeat(np.arange(6) < 3, 10), "SLaM", "2gether"),
            "age": rng.integers(18, 66, n),
            "gender": rng.choice(["female", "male"], n),
            "ethnicity": rng.choice(["white", "black", "asian", "mixed_other"], n),
        }
    )
    for scale in ("qpr_total", "functioning"):
        frame[f"{scale}__baseline"] = rng.normal(40, 10, n)
        follow = rng.normal(40, 10, n)
        follow[rng.random(n) < 0.25] = np.nan
        frame[f"{scale}__followup"] = follow
    return frame


def test_the_workflow_model_passes_and_holds_every_term(small_config, table):
    model = check_imputation_model(small_config, table)
    assert model.cluster == "team_id"
    assert "treatment" in model.predictors and "trust[2gether]" in model.predictors
    assert {"qpr_total__baseline", "qpr_total__followup"} <= set(model.impute)
    kinds = {(t.outcome, t.kind) for t in analysis_model_terms(small_config, table)}
    for scale in ("qpr_total", "functioning"):
        for kind in ("outcome", "arm", "baseline", "stratum", "cluster"):
            assert (scale, kind) in kinds


def test_a_model_without_the_stratum_is_refused_naming_it(small_config, table):
    model = imputation_model(small_config, table)
    without = dataclasses.replace(
        model, predictors=[p for p in model.predictors if not p.startswith("trust")]
    )
    problems = missing_terms(analysis_model_terms(small_config, table), without)
    assert len(problems) == 2  # one per outcome
    assert all("stratum 'trust' (column 'trust[2gether]')" in p for p in problems)


def test_a_model_without_baseline_or_arm_is_refused(small_config, table):
    model = imputation_model(small_config, table)
    without = dataclasses.replace(
        model,
        predictors=[p for p in model.predictors if p != "treatment"],
        impute=[c for c in model.impute if c != "functioning__baseline"],
        blocks=[],
    )
    problems = missing_terms(analysis_model_terms(small_config, table), without)
    assert any("'functioning'" in p and "baseline 'functioning__baseline'" in p for p in problems)
    assert sum("arm 'arm' (column 'treatment')" in p for p in problems) == 2


def test_the_workflow_imputes_each_outcome_with_its_baseline(small_config, table):
    model = imputation_model(small_config, table)
    assert model.blocks == [
        ["qpr_total__baseline", "qpr_total__followup"],
        ["functioning__baseline", "functioning__followup"],
    ]
    # each score's model holds the cluster means of its partner and of the auxiliary variables
    assert model.cluster_means["qpr_total__followup"] == [
        "qpr_total__baseline",
        "age",
        "gender[male]",
    ]
    assert {"treatment", "trust[2gether]"} <= set(model.cluster_level)
    split = dataclasses.replace(
        model,
        blocks=[
            ["qpr_total__baseline", "functioning__baseline"],
            ["qpr_total__followup", "functioning__followup"],
        ],
    )
    problems = missing_terms(analysis_model_terms(small_config, table), split)
    assert len(problems) == 2 and all("another block" in p for p in problems)
    small_config["imputation"]["blocks"] = "all"
    assert imputation_model(small_config, table).blocks == [model.impute]


def test_a_different_cluster_is_refused(small_config, table):
    model = dataclasses.replace(imputation_model(small_config, table), cluster="consumer_id")
    problems = missing_terms(analysis_model_terms(small_config, table), model)
    assert problems and "clusters by 'team_id'" in problems[0]


def test_a_covariate_absent_from_the_table_stops_the_run(small_config, table):
    small_config["covariates"] = ["ethnicity"]
    with pytest.raises(ImputationModelError, match="'ethnicity' named by the config"):
        check_imputation_model(small_config, table.drop(columns="ethnicity"))


def test_a_covariate_with_gaps_stops_the_run_naming_it(small_config, table):
    small_config["covariates"] = ["age"]
    table.loc[[3, 7], "age"] = np.nan
    with pytest.raises(ImputationModelError) as error:
        check_imputation_model(small_config, table)
    assert "covariate 'age' has 2 missing value(s)" in str(error.value)


def test_a_term_added_to_the_analysis_model_is_checked(small_config, table, monkeypatch):
    original = impute_model.design_matrix

    def with_cost(config, frame, scale):
        return original(config, frame, scale).assign(cost_baseline=0.0)

    monkeypatch.setattr(impute_model, "design_matrix", with_cost)
    with pytest.raises(ImputationModelError, match="term 'cost_baseline' is not in the imputation"):
        check_imputation_model(small_config, table)


def test_imputation_stops_before_any_engine_runs(small_config, table, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the engine ran")

    monkeypatch.setattr(analysis, "impute_multilevel", fail)
    small_config["imputation"]["engine"] = "multilevel"
    small_config["covariates"] = ["age"]
    table.loc[0, "age"] = np.nan
    with pytest.raises(ImputationModelError, match="covariate 'age'"):
        analysis.impute_analysis_table(small_config, table, 1)


def test_configured_extra_columns_must_be_in_the_table(config, table):
    from trial.config.vocabulary import imputed_extra_columns

    extra = imputed_extra_columns(config)
    if not extra:
        pytest.skip("the example config imputes no extra columns")
    config["analysis"]["outcomes"] = config["analysis"]["outcomes"][:1]
    with pytest.raises(ImputationModelError, match=f"column {extra[0]!r} named by the config"):
        check_imputation_model(config, table)


def test_m_of_1_with_missing_values_is_refused_naming_them(small_config, table):
    small_config["imputation"]["m"] = 1
    n_missing = int(table["qpr_total__followup"].isna().sum())
    assert n_missing > 0
    with pytest.raises(ImputationModelError) as caught:
        check_imputation_model(small_config, table)
    (problem,) = caught.value.problems
    assert "imputation.m is 1" in problem
    assert f"qpr_total__followup ({n_missing})" in problem
    assert "at least 2" in problem


def test_complete_data_need_m_of_1_and_are_not_imputed(small_config, table):
    complete = table.fillna({"qpr_total__followup": 40.0, "functioning__followup": 40.0})
    with pytest.raises(ImputationModelError, match="nothing to impute"):
        check_imputation_model(small_config, complete)  # m as configured, above 1
    small_config["imputation"]["m"] = 1
    model = check_imputation_model(small_config, complete)
    assert not model.n_missing.any()
    result = analysis.impute_analysis_table(small_config, complete, 1, model)
    pd.testing.assert_frame_equal(result.completed, complete)
    assert result.engine == "none" and result.trace.empty
