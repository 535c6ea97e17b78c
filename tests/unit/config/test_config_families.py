"""Outcome families in config: defaults, and the errors for outcomes a family cannot model."""

from __future__ import annotations

import copy

import pytest

from trial.config.load import ConfigError, load_config, validate_config
from trial.config.vocabulary import outcome_family, outcome_measures

from ...conftest import ROOT

TRIO = ROOT / "config" / "trio.yaml"


@pytest.fixture()
def trio() -> dict:
    return copy.deepcopy(load_config(TRIO))


def _with_binary(config: dict, **outcome) -> dict:
    """TRIO with a 0/1 secondary outcome ``remission`` scored from one item."""
    config["scales"]["remission"] = {
        "table": "questionnaires",
        "label": "Remission",
        "items": ["remitted"],
        "item_range": [0, 1],
        "method": "sum",
        "min_fraction": 1,
    }
    config["analysis"]["outcomes"].append(
        {
            "scale": "remission",
            "role": "secondary",
            "direction": "treatment_minus_reference",
            "family": "binomial",
            **outcome,
        }
    )
    return config


def _problems(config: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    return caught.value.problems


def test_gaussian_is_the_default_family_and_the_glmm_the_default_method(trio):
    assert {o["family"] for o in trio["analysis"]["outcomes"]} == {"gaussian"}
    assert trio["analysis"]["non_gaussian"] == {
        "method": "glmm",
        "n_agq": 10,
        "gee_covariance": "kauermann-carroll",
    }
    assert outcome_measures(trio, "phq9") == []


def test_a_binomial_outcome_reports_all_measures_unless_told(trio):
    config = _with_binary(trio)
    validate_config(config)
    assert outcome_family(config, "remission") == "binomial"
    assert outcome_measures(config, "remission") == ["odds_ratio", "risk_difference", "risk_ratio"]
    config["analysis"]["outcomes"][-1]["measures"] = ["risk_difference"]
    assert outcome_measures(config, "remission") == ["risk_difference"]


def test_a_non_canonical_link_is_refused(trio):
    config = _with_binary(trio, link="log")
    assert _problems(config) == [
        "analysis/outcomes/4/link: 'log' is not fitted for family 'binomial'; only its "
        "canonical link 'logit' is"
    ]


def test_a_binomial_outcome_must_be_coded_0_1(trio):
    config = _with_binary(trio)
    config["scales"]["remission"]["item_range"] = [0, 3]
    assert _problems(config) == [
        "analysis/outcomes/4: a binomial outcome is coded 0/1; scale 'remission' has "
        "item_range [0, 3], expected [0, 1]"
    ]


def test_a_non_gaussian_outcome_is_one_variable(trio):
    trio["analysis"]["outcomes"][1]["family"] = "poisson"  # gad7: seven items
    assert _problems(trio) == [
        "analysis/outcomes/1: a poisson outcome is one variable; scale 'gad7' must have one "
        "item, method sum or mean and no rescale"
    ]


def test_measures_belong_to_binomial_outcomes(trio):
    trio["analysis"]["outcomes"][0]["measures"] = ["risk_ratio"]
    assert _problems(trio) == [
        "analysis/outcomes/0/measures: only a binomial outcome has summary measures"
    ]


def test_an_unknown_method_is_refused_by_the_schema(trio):
    trio["analysis"]["non_gaussian"]["method"] = "gee-exchangeable"
    assert any(p.startswith("analysis/non_gaussian/method:") for p in _problems(trio))


def test_linear_only_sections_refuse_a_binomial_primary(config):
    config["scales"]["remission"] = {
        "table": next(iter(config["scales"].values()))["table"],
        "label": "Remission",
        "items": ["remitted"],
        "item_range": [0, 1],
        "method": "sum",
        "min_fraction": 1,
    }
    for outcome in config["analysis"]["outcomes"]:
        outcome["role"] = "secondary"
    config["analysis"]["outcomes"].append(
        {"scale": "remission", "role": "primary", "direction": "treatment_minus_reference"}
    )
    validate_config(copy.deepcopy(config))  # gaussian: accepted
    config["analysis"]["outcomes"][-1]["family"] = "binomial"
    problems = _problems(config)
    for section in ("participation", "costs"):
        assert any(
            p.startswith(
                f"{section}: its analyses fit linear models, and outcome(s) "
                "['remission'] are binomial or poisson"
            )
            for p in problems
        ), (section, problems)
    # a binomial primary outcome has sensitivity analyses of its own, delta on the log odds
    assert not any(p.startswith("sensitivity") for p in problems), problems
    config["analysis"]["outcomes"][-1]["family"] = "poisson"
    config["scales"]["remission"]["item_range"] = [0, 5]
    problems = _problems(config)
    assert any(
        p.startswith("sensitivity: its analyses fit linear models, and outcome(s) ['remission']")
        for p in problems
    )
    assert any(p.startswith("sensitivity/delta: delta adjustment") for p in problems), problems
    del config["sensitivity"]["delta"]
    assert not any(p.startswith("sensitivity/delta") for p in _problems(config))
