"""The synthetic example: deterministic, as committed, and shaped as published."""

import filecmp
import json

import pandas as pd
import pytest

from trial.synthetic import generate_trial, write_example

from ..conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"


def test_regenerating_gives_the_committed_files_byte_for_byte(example_config, tmp_path):
    written = write_example(example_config, tmp_path)
    for path in written:
        assert filecmp.cmp(path, RAW / path.name, shallow=False), (
            f"{path.name} differs from the committed file"
        )


def test_another_seed_gives_other_data(config):
    config["seed"] = config["seed"] + 1
    other = generate_trial(config)["consumer_measures"]
    committed = pd.read_csv(RAW / "consumer_measures.csv")
    assert not other.iloc[:, 2:].astype(float).equals(committed.iloc[:, 2:].astype(float))


def test_sizes_are_as_published(example_config):
    teams = pd.read_csv(RAW / "teams.csv")
    consumers = pd.read_csv(RAW / "consumers.csv")
    assert teams["arm"].value_counts().to_dict() == {"refocus": 14, "control": 13}
    assert teams["trust"].nunique() == 2
    assert len(consumers) == 403
    assert (consumers["followup_status"] == "completed").sum() == 297
    assert len(pd.read_csv(RAW / "staff.csv")) == 532
    audit = pd.read_csv(RAW / "casenote_audit.csv")
    assert audit["audit_id"].nunique() == 950 and len(audit) == 950 * 7


def test_followup_loss_is_missing_at_random_on_age(example_config):
    # the generating model makes younger consumers more likely to be lost (log-odds -0.35/SD)
    consumers = pd.read_csv(RAW / "consumers.csv")
    lost = consumers["followup_status"] != "completed"
    assert consumers.loc[lost, "age"].mean() < consumers.loc[~lost, "age"].mean()


def test_truth_matches_the_generating_parameters(example_config):
    truth = json.loads((RAW / "truth.json").read_text())
    costs = example_config["synthetic"]["costs"]
    expected = sum(s["mean"] * s["unit_cost"] for s in costs["services"].values()) * (
        costs["arm_ratio_followup"] - 1
    )
    assert truth["costs"]["treatment_minus_reference"] == pytest.approx(expected)
    # a single-item outcome with no clipping in practice: its true effect is the shift itself
    assert truth["outcomes"]["functioning"]["arm_minus_reference"]["refocus"] == pytest.approx(
        6.96, abs=0.05
    )


TRIO_CONFIG = ROOT / "config" / "trio.yaml"
TRIO_RAW = ROOT / "data" / "raw" / "trio"


def test_three_arm_example_regenerates_byte_for_byte(tmp_path):
    from trial.config import load_config

    written = write_example(load_config(TRIO_CONFIG), tmp_path)
    for path in written:
        assert filecmp.cmp(path, TRIO_RAW / path.name, shallow=False), path.name


def test_three_arm_truth_follows_each_arms_shift():
    from trial.config import load_config

    config = load_config(TRIO_CONFIG)
    truth = json.loads((TRIO_RAW / "truth.json").read_text())["outcomes"]
    # self-efficacy has one shift (0.3 item units) for both arms: equal truths, near the shift
    # (a mean of items, slightly attenuated by rounding and clipping to 1-10)
    same = truth["self_efficacy"]["arm_minus_reference"]
    assert same["guided_self_help"] == same["self_help_plus_groups"]
    assert same["guided_self_help"] == pytest.approx(0.3, abs=0.03)
    # PHQ-9 has a shift per arm: each arm's truth is near 9 items x its shift, in order
    shifts = config["synthetic"]["instruments"]["phq9"]["arm_effect"]
    phq = truth["phq9"]["arm_minus_reference"]
    for arm, shift in shifts.items():
        assert phq[arm] == pytest.approx(9 * shift, rel=0.2)
    assert phq["self_help_plus_groups"] < phq["guided_self_help"] < 0
    arms = pd.read_csv(TRIO_RAW / "practices.csv")["allocation"].value_counts().to_dict()
    assert arms == {"usual_care": 11, "guided_self_help": 11, "self_help_plus_groups": 11}
