"""Covariates at both levels, per outcome, and declared handling of blank covariates.

The post-only reference trial (``tests/reference/data/post_only``) is copied and given a
cluster-level covariate (the teacher's years of experience, in the class table) and blanks in
the pupils' age; every model column is checked against one built by hand from the raw files.
"""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pandas as pd
import pytest

from trial.analyses.describe import baseline_table
from trial.analyses.imputation import check_imputation_model
from trial.analyses.outcomes import build_analysis_table, fit_outcomes
from trial.config.load import ConfigError, load_config, validate_config
from trial.config.vocabulary import design_matrix
from trial.data.validation import InputError, read_table, validate_inputs
from trial.stats.mixed import fit_random_intercept_model

from ...conftest import ROOT

DATA = ROOT / "tests" / "reference" / "data" / "post_only"
BLANK_ROWS = [3, 10, 11, 500]  # 0-based rows of pupils.csv whose age is blanked


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    folder = tmp_path_factory.mktemp("covariates")
    for name in ("pupils", "tests"):
        shutil.copy(DATA / f"{name}.csv", folder / f"{name}.csv")
    classes = pd.read_csv(DATA / "classes.csv", dtype=str)
    rng = np.random.default_rng(5)
    classes["teacher_years"] = rng.integers(0, 31, len(classes)).astype(str)
    classes.to_csv(folder / "classes.csv", index=False)
    pupils = pd.read_csv(DATA / "pupils.csv", dtype=str)
    pupils.loc[BLANK_ROWS, "age_months"] = ""
    pupils.to_csv(folder / "pupils.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def base() -> dict:
    config = load_config(DATA / "post_only.yaml")
    config["tables"]["classes"]["columns"]["teacher_years"] = {
        "type": "integer",
        "description": "Teacher's years of experience",
    }
    config["covariates"] = ["sex", "age_months", "teacher_years"]
    return config


def _with(base: dict, **missing: str) -> dict:
    config = copy.deepcopy(base)
    config["analysis"]["covariate_missing"] = missing
    validate_config(config)
    return config


def _problems(config: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    return str(caught.value)


def test_a_blank_covariate_without_declared_handling_stops_validation_naming_each_row(
    base, raw
):
    with pytest.raises(InputError) as caught:
        validate_inputs(base, raw)
    message = str(caught.value)
    for row in BLANK_ROWS:  # line 1 is the header
        assert f"pupils.csv, line {row + 2}, column 'age_months'" in message
    assert "analysis/covariate_missing: mean or indicator" in message
    validate_inputs(_with(base, age_months="mean"), raw)  # declared: accepted


def test_mean_handling_fills_blanks_with_the_observed_mean(base, raw):
    config = _with(base, age_months="mean")
    table = build_analysis_table(config, raw)
    X = design_matrix(config, table, "math")
    ages = pd.read_csv(raw / "pupils.csv")["age_months"]
    by_hand = ages.fillna(ages.mean()).to_numpy()
    np.testing.assert_allclose(X["age_months"].to_numpy(), by_hand, rtol=1e-15)
    assert "age_months[missing]" not in X


def test_indicator_handling_adds_the_missing_indicator_and_fits_that_model(base, raw):
    config = _with(base, age_months="indicator")
    table = build_analysis_table(config, raw)
    X = design_matrix(config, table, "math")
    indicator = np.zeros(len(table))
    indicator[BLANK_ROWS] = 1.0  # the analysis table keeps the pupils' file order
    np.testing.assert_array_equal(X["age_months[missing]"].to_numpy(), indicator)
    ages = pd.read_csv(raw / "pupils.csv")["age_months"]
    np.testing.assert_allclose(X["age_months"], ages.fillna(ages.mean()), rtol=1e-15)
    fits = fit_outcomes(config, table)
    assert (fits["n_excluded"] == 0).all()  # no pupil is dropped for a blank age
    fit = fit_random_intercept_model(
        table["math__followup"].to_numpy(float), X, table["class_id"].to_numpy()
    )
    assert fits["estimate"].iloc[0] == pytest.approx(fit.params["arm[tutoring]"], rel=1e-10)


def test_a_cluster_level_covariate_is_carried_per_cluster_and_imputed_as_one(base, raw):
    config = _with(base, age_months="indicator")
    table = build_analysis_table(config, raw)
    classes = read_table(config, "classes", raw).set_index("class_id")["teacher_years"]
    np.testing.assert_array_equal(
        table["teacher_years"].to_numpy(float), table["class_id"].map(classes).to_numpy(float)
    )
    X = design_matrix(config, table, "math")
    assert "teacher_years" in X
    model = check_imputation_model(config, table)
    assert "teacher_years" in model.cluster_level and "age_months" not in model.cluster_level
    assert "age_months[missing]" in model.predictors
    assert not model.data[model.predictors].isna().any().any()


def test_each_outcome_may_have_its_own_covariates(base, raw):
    config = _with(base, age_months="mean")
    config["analysis"]["outcomes"][0]["covariates"] = ["teacher_years"]
    validate_config(config)
    table = build_analysis_table(config, raw)
    X = design_matrix(config, table, "math")
    assert "teacher_years" in X and "age_months" not in X and "sex[girl]" not in X


def test_the_baseline_table_describes_cluster_covariates_at_cluster_level(base, raw):
    config = _with(base, age_months="mean")
    table = build_analysis_table(config, raw)
    described = baseline_table(config, table, read_table(config, "classes", raw))
    row = described[described["characteristic"] == "teacher years"]
    assert row["level"].tolist() == ["cluster"]
    ages = described[described["characteristic"] == "age months"]
    assert ages["level"].tolist() == ["individual"]
    # the missing count of each arm's ages is shown: four blanks in all
    assert sum(int(cell.split("; ")[1]) for cell in ages.iloc[0, 3:]) == len(BLANK_ROWS)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda c: c.update(covariates=["shoe_size"]),
            "covariates: 'shoe_size' is not a column of the individual table",
        ),
        (
            lambda c: c["analysis"].update(covariate_missing={"sex": "mean"}),
            "mean imputation needs a numeric covariate; 'sex' is type category",
        ),
        (
            lambda c: c["analysis"].update(covariate_missing={"wave": "indicator"}),
            "'wave' is not a covariate of any outcome's model",
        ),
        (
            lambda c: c["analysis"]["outcomes"][0].update(covariates=["school"]),
            "analysis/outcomes/0/covariates: 'school' is a stratum",
        ),
    ],
)
def test_covariate_config_mistakes_are_named(base, change, expected):
    config = copy.deepcopy(base)
    change(config)
    assert expected in _problems(config)
