"""Configs with several treatment arms: what is allowed and the errors for what is not."""

from __future__ import annotations

import copy

import pytest

from trial.config.load import ConfigError, load_config, validate_config
from trial.config.vocabulary import arms, single_treatment_arm

from ...conftest import ROOT

TRIO = ROOT / "config" / "trio.yaml"


@pytest.fixture()
def trio() -> dict:
    return copy.deepcopy(load_config(TRIO))


def _problems(config: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    return caught.value.problems


def test_arms_are_the_treatment_arms_then_the_reference(trio):
    assert arms(trio) == ["guided_self_help", "self_help_plus_groups", "usual_care"]
    with pytest.raises(ValueError, match="a two-arm design is needed"):
        single_treatment_arm(trio)


@pytest.mark.parametrize("section", ["costs", "audit", "participation", "sensitivity"])
def test_two_arm_sections_are_refused_with_several_treatment_arms(config, section):
    config["design"]["treatment_arms"] = ["refocus", "control"]
    config["design"]["reference_arm"] = "other"
    config["tables"]["teams"]["columns"]["arm"]["values"].append("other")
    config["design"]["arm_labels"]["other"] = "Other"
    problems = _problems(config)
    assert any(
        p.startswith(f"{section}: this section supports two-arm trials only") for p in problems
    ), problems


def test_reference_arm_cannot_be_a_treatment_arm(trio):
    trio["design"]["treatment_arms"] = ["guided_self_help", "usual_care"]
    assert (
        "design/treatment_arms: the reference_arm cannot also be a treatment arm"
        in _problems(trio)
    )


def test_unknown_treatment_arm_is_named(trio):
    trio["design"]["treatment_arms"] = ["guided_self_help", "self_help"]
    assert any(
        p.startswith("design/treatment_arms/1: 'self_help' is not one of the arm values")
        for p in _problems(trio)
    )


def test_published_figure_must_name_its_arm_when_there_are_several(trio):
    trio["analysis"]["outcomes"][0]["published"] = {
        "estimate": -1.0,
        "ci": [-2.0, 0.0],
        "direction": "treatment_minus_reference",
    }
    assert (
        "analysis/outcomes/0/published/arm: name the treatment arm that the published figure "
        "compares with the reference arm" in _problems(trio)
    )
    trio["analysis"]["outcomes"][0]["published"]["arm"] = "self_help_plus_groups"
    validate_config(trio)


def test_generator_effect_per_arm_must_cover_every_arm(trio):
    trio["synthetic"]["instruments"]["phq9"]["arm_effect"] = {"guided_self_help": -0.1}
    assert (
        "synthetic/instruments/phq9/arm_effect: give one effect per treatment arm "
        "['guided_self_help', 'self_help_plus_groups']; found ['guided_self_help']"
        in _problems(trio)
    )


def test_every_arm_of_a_three_arm_trial_needs_two_clusters(trio, tmp_path):
    import shutil

    import pandas as pd

    from trial.data.validation import InputError, validate_inputs

    raw = tmp_path / "raw"
    shutil.copytree(ROOT / "data" / "raw" / "trio", raw)
    practices = pd.read_csv(raw / "practices.csv")
    moved = practices.index[practices["allocation"] == "guided_self_help"][1:]
    practices.loc[moved, "allocation"] = "usual_care"  # one guided self-help practice is left
    practices.to_csv(raw / "practices.csv", index=False)
    with pytest.raises(InputError) as caught:
        validate_inputs(trio, raw)
    assert [str(p) for p in caught.value.problems] == [
        "practices.csv, column 'allocation': value 'guided_self_help'; "
        "expected at least 2 clusters in every arm; found 1"
    ]
