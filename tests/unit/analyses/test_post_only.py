"""Post-only outcomes: an outcome's model holds its baseline value only when the config says so.

The bundled three-arm example (TRIO) is read twice: as configured (ANCOVA on the week-0 score)
and with its baseline wave removed (post-only). Every post-only quantity is checked against
the same data read the ANCOVA way, or against a hand calculation.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from trial.analyses.describe import baseline_table, flow_counts
from trial.analyses.imputation import analysis_model_terms, check_imputation_model
from trial.analyses.outcomes import build_analysis_table, standardising_sd
from trial.config.load import ConfigError, load_config, validate_config
from trial.config.vocabulary import (
    baseline_column,
    design_matrix,
    followup_column,
    outcome_has_baseline,
    score_columns,
)
from trial.data.validation import read_table

from ...conftest import ROOT

RAW = ROOT / "data" / "raw" / "trio"


@pytest.fixture(scope="module")
def ancova() -> dict:
    return load_config(ROOT / "config" / "trio.yaml")


def _post_only(config: dict) -> dict:
    out = copy.deepcopy(config)
    out["design"].pop("baseline")
    validate_config(out)
    return out


@pytest.fixture(scope="module")
def post_only(ancova) -> dict:
    return _post_only(ancova)


@pytest.fixture(scope="module")
def tables(ancova, post_only) -> tuple[pd.DataFrame, pd.DataFrame]:
    return build_analysis_table(ancova, RAW), build_analysis_table(post_only, RAW)


def test_the_outcome_spec_decides_and_defaults_to_the_design(ancova, post_only):
    assert outcome_has_baseline(ancova, "phq9") and not outcome_has_baseline(post_only, "phq9")
    mixed = copy.deepcopy(ancova)
    mixed["analysis"]["outcomes"][1]["baseline"] = False  # gad7 post-only, the rest ANCOVA
    validate_config(mixed)
    assert score_columns(mixed, "gad7") == [followup_column("gad7")]
    assert score_columns(mixed, "phq9") == [baseline_column("phq9"), followup_column("phq9")]
    assert outcome_has_baseline(mixed, "cost")  # not an outcome: the design's wave decides


def test_post_only_table_has_the_same_follow_up_and_no_baseline(tables, post_only):
    with_baseline, without = tables
    assert not any(c.endswith("__baseline") for c in without.columns)
    for scale in ("phq9", "gad7", "swemwbs", "self_efficacy"):
        pd.testing.assert_series_equal(
            with_baseline[followup_column(scale)], without[followup_column(scale)]
        )


def test_design_matrix_has_the_baseline_term_only_with_ancova(tables, ancova, post_only):
    with_baseline, without = tables
    X_ancova = design_matrix(ancova, with_baseline, "phq9")
    X_post = design_matrix(post_only, without, "phq9")
    assert baseline_column("phq9") in X_ancova
    assert list(X_post.columns) == [c for c in X_ancova.columns if c != baseline_column("phq9")]
    pd.testing.assert_frame_equal(X_post, X_ancova.drop(columns=[baseline_column("phq9")]))


def test_post_only_imputation_model_imputes_follow_up_alone_and_holds_every_term(
    tables, post_only
):
    _, without = tables
    config = copy.deepcopy(post_only)
    model = check_imputation_model(config, without)
    scales = ("phq9", "gad7", "swemwbs", "self_efficacy")
    assert model.impute == [followup_column(s) for s in scales]
    assert [list(b) for b in model.blocks] == [[c] for c in model.impute]
    kinds = {t.kind for t in analysis_model_terms(config, without)}
    assert "baseline" not in kinds and {"outcome", "arm", "stratum", "covariate"} <= kinds


def test_standardising_sd_is_the_reference_arms_follow_up_sd_without_baseline(
    tables, ancova, post_only
):
    with_baseline, without = tables
    got = standardising_sd(post_only, without, "phq9")
    usual = without.loc[without["allocation"] == "usual_care", "phq9__followup"].dropna()
    by_hand = np.sqrt(((usual - usual.mean()) ** 2).sum() / (len(usual) - 1))
    assert got["sd_standardise"] == pytest.approx(by_hand, rel=1e-12)
    assert np.isnan(got["sd_baseline"])
    ancova_sd = standardising_sd(ancova, with_baseline, "phq9")
    assert ancova_sd["sd_standardise"] == ancova_sd["sd_baseline"]
    assert ancova_sd["sd_baseline"] == pytest.approx(with_baseline["phq9__baseline"].std())


def test_flow_and_baseline_table_speak_of_recruitment_not_a_baseline_wave(tables, post_only):
    _, without = tables
    clusters = read_table(post_only, "practices", RAW)
    flow = flow_counts(post_only, without, clusters)
    assert not flow["stage"].str.contains("baseline").any()
    recruited = flow[(flow["level"] == "individual") & (flow["stage"] == "recruited")]
    counts = without["allocation"].value_counts()
    assert dict(zip(recruited["arm"], recruited["n"], strict=True)) == counts.to_dict()
    table = baseline_table(post_only, without, clusters)
    assert not table["characteristic"].str.contains("at baseline").any()
    assert table["characteristic"].str.contains("age").any()  # covariates are still described


def _problems(config: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    return str(caught.value)


def test_a_baseline_asked_for_without_a_baseline_wave_is_refused(post_only):
    config = copy.deepcopy(post_only)
    config["analysis"]["outcomes"][0]["baseline"] = True
    assert "analysis/outcomes/0/baseline" in _problems(config)


def test_sections_that_adjust_for_baseline_need_the_baseline_wave(example_config):
    config = copy.deepcopy(example_config)
    config["design"].pop("baseline")
    message = _problems(config)
    for section in ("costs", "participation", "staff"):
        assert f"{section}: this section's analyses adjust for baseline values" in message


@pytest.mark.parametrize(("m", "ok"), [(3, False), (4, True), (1, True)])
def test_three_arms_need_enough_imputations_for_the_joint_test(ancova, m, ok):
    config = copy.deepcopy(ancova)
    config["imputation"]["m"] = m
    if ok:
        validate_config(config)
    else:
        assert "needs 2 (m - 1) > 4, i.e. m of at least 4; found 3" in _problems(config)


def test_icc_of_a_post_only_outcome_is_at_follow_up_only_and_equals_ancovas(tables, ancova):
    """Without a baseline wave there is no baseline ICC; the follow-up ICC within arm does not
    involve the baseline and so equals the ANCOVA config's."""
    from trial.analyses.icc import icc_table

    with_baseline, without = tables
    config = copy.deepcopy(ancova)
    config["icc"] = {"bootstrap": 0}
    config["analysis"]["outcomes"] = config["analysis"]["outcomes"][:1]
    config.pop("multiplicity")  # its families name the outcomes dropped above
    post = _post_only(config)
    got = icc_table(post, without)
    want = icc_table(config, with_baseline)
    assert set(got["timepoint"]) == {"followup"}
    assert set(want["timepoint"]) == {"baseline", "followup"}
    key = ["estimator", "timepoint"]
    anova = got[got["estimator"] == "anova"].set_index(key)["icc"]
    np.testing.assert_allclose(anova, want.set_index(key).loc[anova.index, "icc"], rtol=1e-12)
