"""Tables passed between rules keep their types and the config's text codes, and category coding
never relies on a reader's guess of a code's type."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trial.config.vocabulary import numeric_predictors
from trial.data.intermediate import read_intermediate, write_intermediate


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
    path = tmp_path / "analysis_table.parquet"
    write_intermediate(numbered, table(numbered), path)
    read = read_intermediate(numbered, path)
    for column in ("consumer_id", "team_id", "trust", "arm"):
        assert read[column].tolist() == table(numbered)[column].tolist(), column
    assert read["gender"].tolist() == ["male", "female", "male", "NA"]  # a code, not missing
    assert read["age"].isna().tolist() == [False, False, True, False]
    assert read["treatment"].dtype.kind == "i"
    assert read["trust"].dtype == object  # as trial.data.validation.read_table gives text columns


def test_declared_codes_are_stored_as_text_for_any_reader(numbered, tmp_path):
    path = tmp_path / "analysis_table.parquet"
    write_intermediate(numbered, table(numbered).assign(trust=["1", "1", "2", "10"]), path)
    schema = pq.read_schema(path)
    for column in ("consumer_id", "team_id", "trust", "gender"):
        assert schema.field(column).type == pa.string(), column
    assert schema.field("treatment").type == pa.int64()
    assert pd.read_parquet(path)["trust"].tolist() == ["1", "1", "2", "10"]
    write_intermediate(numbered, table(numbered).assign(gender=np.nan), path)  # no value at all
    assert pq.read_schema(path).field("gender").type == pa.string()
    assert read_intermediate(numbered, path)["gender"].isna().all()


def test_types_and_full_precision_survive_the_round_trip(numbered, tmp_path):
    frame = pd.DataFrame(
        {
            "estimate": [1 / 3, 0.1 + 0.2, -2.5e-17],
            "converged": [True, False, True],
            "n": [1, 2, 3],
            "term": ["a", "b", None],
        }
    )
    path = tmp_path / "fits.parquet"
    write_intermediate(numbered, frame, path)
    read = read_intermediate(numbered, path)
    assert read["estimate"].tolist() == frame["estimate"].tolist()  # bit for bit, not to %.12g
    assert read["converged"].dtype == bool and read["n"].dtype.kind == "i"
    assert read["term"].isna().tolist() == [False, False, True]


def test_the_same_table_gives_the_same_bytes_anywhere(numbered, tmp_path):
    paths = [tmp_path / "a" / "1.parquet", tmp_path / "b" / "c" / "1.parquet"]
    for path in paths:
        write_intermediate(numbered, table(numbered), path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    metadata = pq.read_metadata(paths[0])
    text = repr(metadata.metadata) + metadata.created_by
    assert str(tmp_path) not in text and not re.search(r"\b20\d\d-\d\d-\d\d", text)


def test_a_number_in_a_declared_text_column_is_not_written(numbered, tmp_path):
    frame = table(numbered).assign(trust=["01", 2, "02", "10"])
    with pytest.raises(
        TypeError,
        match=r"^analysis_table\.parquet: column 'trust' is declared as text in the config but "
        r"holds 2 \(int\) on row 1$",
    ):
        write_intermediate(numbered, frame, tmp_path / "analysis_table.parquet")
    assert not (tmp_path / "analysis_table.parquet").exists()


def test_strata_are_dummy_coded_from_the_declared_codes(numbered, tmp_path):
    path = tmp_path / "analysis_table.parquet"
    write_intermediate(numbered, table(numbered), path)
    predictors = numeric_predictors(numbered, read_intermediate(numbered, path))
    assert predictors["trust[02]"].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert predictors["trust[10]"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert predictors["gender[NA]"].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_codes_read_as_numbers_stop_instead_of_coding_as_zero(numbered, tmp_path):
    path = tmp_path / "analysis_table.csv"  # what a reader guessing types from a CSV makes
    table(numbered).to_csv(path, index=False)
    assert pd.read_csv(path)["trust"].tolist() == [1, 1, 2, 10]
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
