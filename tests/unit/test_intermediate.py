"""Tables passed between rules keep the config's text codes, and category coding never relies
on a reader's guess of a code's type."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from trial.intermediate import read_intermediate
from trial.vocabulary import numeric_predictors


@pytest.fixture()
def numbered(small_config):
    """The example config with its stratum coded "01", "02", "10" (numeric-looking text) and a
    covariate with the code "NA"."""
    config = copy.deepcopy(small_config)
    config["tables"]["teams"]["columns"]["trust"]["values"] = ["01", "02", "10"]
    config["tables"]["consumers"]["columns"]["gender"]["values"] = ["female", "male", "NA"]
    return config


def table(config) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "consumer_id": ["007", "008", "009", "010"],
            "team_id": ["001", "001", "002", "003"],
            "treatment": [1, 1, 0, 0],
            "arm": ["refocus", "refocus", "control", "control"],
            "trust": ["01", "01", "02", "10"],
            "age": [40, 41, np.nan, 43],
            "gender": ["male", "female", "male", "NA"],  # "NA" here is a code, not missing
        }
    )


def test_text_codes_are_read_back_as_written(numbered, tmp_path):
    path = tmp_path / "analysis_table.csv"
    table(numbered).to_csv(path, index=False)
    guessed = pd.read_csv(path)
    assert guessed["trust"].tolist() == [1, 1, 2, 10]  # what a guessing reader makes of them
    read = read_intermediate(numbered, path)
    for column in ("consumer_id", "team_id", "trust"):
        assert read[column].tolist() == table(numbered)[column].tolist(), column
    assert read["gender"].tolist() == ["male", "female", "male", "NA"]
    assert read["age"].isna().tolist() == [False, False, True, False]
    assert read["treatment"].dtype.kind == "i"


def test_strata_are_dummy_coded_from_the_declared_codes(numbered, tmp_path):
    path = tmp_path / "analysis_table.csv"
    table(numbered).to_csv(path, index=False)
    predictors = numeric_predictors(numbered, read_intermediate(numbered, path))
    assert predictors["trust[02]"].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert predictors["trust[10]"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert predictors["gender[NA]"].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_codes_read_as_numbers_stop_instead_of_coding_as_zero(numbered, tmp_path):
    path = tmp_path / "analysis_table.csv"
    table(numbered).to_csv(path, index=False)
    with pytest.raises(
        ValueError,
        match=r"column 'trust' holds \['1', '2'\], which are not among its declared codes",
    ):
        numeric_predictors(numbered, pd.read_csv(path))


def test_integer_read_codes_match_codes_without_zeros(numbered):
    frame = table(numbered).assign(trust=[1, 1, 2, 2])
    config = copy.deepcopy(numbered)
    config["tables"]["teams"]["columns"]["trust"]["values"] = ["1", "2"]
    assert numeric_predictors(config, frame)["trust[2]"].tolist() == [0.0, 0.0, 1.0, 1.0]
