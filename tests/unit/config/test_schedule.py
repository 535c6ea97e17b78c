"""The schedule of a stepped-wedge or crossover design: conditions, checks and config errors."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from trial.analyses.stepped_wedge import schedule_from_clusters
from trial.config.load import ConfigError, load_config, validate_config
from trial.config.schedule import build_schedule, schedule_problems
from trial.data.validation import InputError

from ...conftest import ROOT

PERIODS = ["1", "2", "3", "4"]


@pytest.fixture(scope="module")
def stepped_config() -> dict:
    return load_config(ROOT / "config" / "stepped.yaml")


def test_a_stepped_wedge_schedule_is_a_staircase_counted_by_exposure():
    schedule = build_schedule("stepped_wedge", PERIODS, {"a": "2", "b": "3", "c": "4", "d": "3"})
    assert schedule.treated.astype(int).tolist() == [
        [0, 1, 1, 1],
        [0, 0, 1, 1],
        [0, 0, 0, 1],
        [0, 0, 1, 1],
    ]
    assert schedule.exposure.tolist() == [
        [0, 1, 2, 3],
        [0, 0, 1, 2],
        [0, 0, 0, 1],
        [0, 0, 1, 2],
    ]
    assert schedule.condition("b", "3") and not schedule.condition("c", "3")


def test_a_crossover_cluster_that_starts_treated_switches_to_the_reference():
    schedule = build_schedule(
        "crossover", ["1", "2"], {"a": "2", "b": "2"}, {"a": True, "b": False}
    )
    assert schedule.treated.astype(int).tolist() == [[1, 0], [0, 1]]
    assert schedule.exposure.tolist() == [[1, 0], [0, 1]]


@pytest.mark.parametrize(
    ("kind", "switch", "starts", "message"),
    [
        ("stepped_wedge", {"a": "1", "b": "2"}, None, "switches at the first period '1'"),
        ("stepped_wedge", {"a": "9", "b": "2"}, None, "period '9', which is not one of"),
        ("stepped_wedge", {"a": "2", "b": "3"}, {"a": True}, "'a' starts in the treatment"),
        ("stepped_wedge", {"a": "3", "b": "3"}, None, "no period has clusters in both"),
        ("stepped_wedge", {"a": "3"}, None, "at least two clusters are needed"),
        ("crossover", {"a": "2", "b": "2"}, None, "every cluster starts in the same condition"),
        ("parallel", {"a": "2", "b": "2"}, None, "a schedule belongs to a stepped_wedge"),
    ],
)
def test_each_unusable_schedule_is_named(kind, switch, starts, message):
    problems = schedule_problems(kind, PERIODS, switch, starts)
    assert any(message in p for p in problems), problems
    with pytest.raises(ValueError, match="cannot be analysed"):
        build_schedule(kind, PERIODS, switch, starts)


def test_a_usable_schedule_has_no_problem():
    assert schedule_problems("stepped_wedge", PERIODS, {"a": "2", "b": "4"}) == []


def _problems(config: dict) -> list[str]:
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    return error.value.problems


def test_a_parallel_design_with_periods_is_refused(example_config):
    config = copy.deepcopy(example_config)
    config["design"]["periods"] = ["1", "2"]
    assert _problems(config) == [
        "design/periods: only a stepped_wedge or crossover design has periods; this design is "
        "parallel"
    ]


def test_a_stepped_wedge_design_needs_its_period_and_schedule(stepped_config):
    config = copy.deepcopy(stepped_config)
    del config["design"]["schedule"]
    assert _problems(config) == ["design: 'schedule' is a required property"]


def test_config_checks_of_a_stepped_wedge_design_are_listed_together(stepped_config):
    config = copy.deepcopy(stepped_config)
    design = config["design"]
    design["treatment_arms"] = ["programme", "usual_care_plus"]
    design["arm_labels"]["usual_care_plus"] = "x"
    config["tables"]["wards"]["columns"]["first_condition"]["values"].append("usual_care_plus")
    config["tables"]["patients"]["columns"]["period"]["values"] = ["1", "2", "3", "5", "4"]
    design["schedule"] = {"column": "step"}
    problems = _problems(config)
    assert any("compares one treatment condition" in p for p in problems), problems
    assert any("must be design/periods" in p and "same order" in p for p in problems), problems
    assert any("design/schedule/column: column 'step' is not declared" in p for p in problems)


def test_a_schedule_in_the_config_is_checked_at_load(stepped_config):
    config = copy.deepcopy(stepped_config)
    config["design"]["schedule"] = {"clusters": {"W01": "1", "W02": "7"}}
    problems = _problems(config)
    assert any("'W01' switches at the first period" in p for p in problems), problems
    assert any("'W02' switches at period '7'" in p for p in problems), problems


def _wards(stepped_config) -> pd.DataFrame:
    from trial.data.validation import read_table

    return read_table(stepped_config, "wards")


def test_the_schedule_is_read_from_the_cluster_table(stepped_config):
    wards = _wards(stepped_config)
    schedule = schedule_from_clusters(stepped_config, wards)
    switch = wards["crossover_period"].astype(int).to_numpy()
    # hand rule: a ward is treated from its switching period on
    expected = np.arange(1, 6)[None, :] >= switch[:, None]
    assert schedule.clusters == tuple(wards["ward_id"])
    np.testing.assert_array_equal(schedule.treated, expected)


def test_bad_schedule_data_name_the_file_line_column_and_value(stepped_config):
    wards = _wards(stepped_config).astype(object)
    wards.loc[2, "crossover_period"] = None
    wards.loc[4, "first_condition"] = "other"
    with pytest.raises(InputError) as error:
        schedule_from_clusters(stepped_config, wards)
    assert [str(p) for p in error.value.problems] == [
        "wards.csv, line 6, column 'first_condition': value 'other'; expected the reference arm "
        "'usual_care' or the treatment arm 'programme' (the condition in the first period)",
        "wards.csv, line 4, column 'crossover_period'; expected the period at which cluster "
        "'W03' switches, one of design/periods ['1', '2', '3', '4', '5']",
    ]


def test_a_ward_starting_treated_in_a_stepped_wedge_is_refused(stepped_config):
    wards = _wards(stepped_config).astype(object)
    wards.loc[0, "first_condition"] = "programme"
    with pytest.raises(InputError, match="'W01' starts in the treatment condition"):
        schedule_from_clusters(stepped_config, wards)


def test_a_schedule_listed_in_the_config_must_cover_every_cluster(stepped_config):
    config = copy.deepcopy(stepped_config)
    wards = _wards(stepped_config)
    listed = dict(zip(wards["ward_id"], wards["crossover_period"].astype(str), strict=True))
    del listed["W05"]
    config["design"]["schedule"] = {"clusters": {**listed, "W99": "2"}}
    with pytest.raises(InputError) as error:
        schedule_from_clusters(config, wards)
    assert [str(p) for p in error.value.problems] == [
        "wards.csv, column 'ward_id': value 'W99'; expected a cluster of this table for every "
        "cluster under design/schedule/clusters",
        "wards.csv, line 6, column 'ward_id': value 'W05'; expected the period at which cluster "
        "'W05' switches under design/schedule/clusters, one of design/periods "
        "['1', '2', '3', '4', '5']",
    ]


def _raw_copy(tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(ROOT / "data" / "raw" / "stepped", raw)
    return raw


def _validation_problems(config, raw) -> list[str]:
    from trial.data.validation import validate_inputs

    with pytest.raises(InputError) as error:
        validate_inputs(config, raw)
    return [str(p) for p in error.value.problems]


def test_the_stepped_wedge_example_passes_validation(stepped_config):
    from trial.data.validation import validate_inputs

    counts = validate_inputs(stepped_config, ROOT / "data" / "raw" / "stepped")
    assert counts == {"wards": 12, "patients": 1200, "questionnaires": 2304}


def test_validation_checks_the_schedule_before_any_analysis(stepped_config, tmp_path):
    raw = _raw_copy(tmp_path)
    wards = pd.read_csv(raw / "wards.csv", dtype=str)
    wards.loc[0, "first_condition"] = "programme"
    wards.to_csv(raw / "wards.csv", index=False)
    assert _validation_problems(stepped_config, raw) == [
        "wards.csv, column 'crossover_period'; expected a schedule that can be analysed: "
        "cluster 'W01' starts in the treatment condition; in a stepped-wedge design every "
        "cluster starts in the reference condition"
    ]


def test_validation_needs_an_observed_outcome_in_each_condition_of_the_schedule(
    stepped_config, tmp_path
):
    raw = _raw_copy(tmp_path)
    patients = pd.read_csv(raw / "patients.csv", dtype=str)
    wards = pd.read_csv(raw / "wards.csv", dtype=str).set_index("ward_id")
    switch = patients["ward_id"].map(wards["crossover_period"]).astype(int)
    treated = set(patients.loc[patients["period"].astype(int) >= switch, "patient_id"])
    questionnaires = pd.read_csv(raw / "questionnaires.csv", dtype=str)
    # no 30-day questionnaire in any treated ward-period; every patient keeps a baseline row
    drop = questionnaires["patient_id"].isin(treated) & (questionnaires["visit"] == "day30")
    questionnaires[~drop].to_csv(raw / "questionnaires.csv", index=False)
    patients.loc[patients["patient_id"].isin(treated), "day30_status"] = "declined"
    patients.to_csv(raw / "patients.csv", index=False)
    assert _validation_problems(stepped_config, raw) == [
        "wards.csv, column 'first_condition': value 'programme'; expected an observed follow-up "
        "score of 'readiness' (the primary outcome) for at least one patient of every arm; "
        "questionnaires.csv has none at visit 'day30'"
    ]


def test_the_generator_of_a_stepped_wedge_needs_a_period_for_every_cluster(stepped_config):
    config = copy.deepcopy(stepped_config)
    config["synthetic"]["crossover"] = {"2": 3, "3": 3, "9": 3}
    config["synthetic"]["period_effects"]["0"] = 0.1
    assert _problems(config) == [
        "synthetic/crossover: '9' is not one of design/periods ['1', '2', '3', '4', '5']",
        "synthetic/period_effects: '0' is not one of design/periods ['1', '2', '3', '4', '5']",
        "synthetic/crossover: give the number of clusters switching at each period, 12 in all "
        "(synthetic/clusters); found 9",
    ]
