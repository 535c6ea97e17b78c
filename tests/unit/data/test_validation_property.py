"""Random corruption of any cell of any input never gives a traceback or a silent pass that
changes the data: validation either accepts a still-valid value or raises InputError."""

import shutil

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trial.data.validation import InputError, read_table, table_columns, validate_inputs

from ...conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"
TABLES = [
    "teams.csv",
    "consumers.csv",
    "consumer_measures.csv",
    "staff_rated.csv",
    "unit_costs.csv",
    "participation.csv",
]

junk = st.one_of(
    st.text(max_size=6),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "NA", "nan", "null", '"', "'", ";", "\t", "é", "1e309", "0x10", " 1 "]),
)


def check_corruption(tmp_path_factory, example_config, table, row, column, value):
    folder = tmp_path_factory.mktemp("raw")
    for path in RAW.glob("*.csv"):
        shutil.copy(path, folder / path.name)
    frame = pd.read_csv(folder / table, dtype=str, keep_default_na=False)
    row, column = row % len(frame), column % frame.shape[1]
    frame.iat[row, column] = value
    frame.to_csv(folder / table, index=False)
    config = {**example_config, "paths": {**example_config["paths"], "raw": str(folder)}}
    try:
        validate_inputs(config)
    except InputError as error:
        assert error.problems and all(p.file for p in error.problems)
        return
    # Accepted: the corrupted value must read back as a value of the declared type equal to
    # what was written (e.g. " 1 " for 1), never be dropped or turned into something else; a
    # word such as "nan" or "NA" is never taken for a missing value.
    name = next(n for n, spec in config["tables"].items() if spec["file"] == table)
    typed = read_table(config, name, folder)
    cell = typed.iat[row, column]
    if value.strip() == "":
        assert pd.isna(cell), (table, row, column, value)
        return
    assert not pd.isna(cell), (table, row, column, value)
    kind = table_columns(config, name)[frame.columns[column]]["type"]
    if kind in ("integer", "number"):
        assert float(cell) == float(value.strip()), (table, row, column, value, cell)
    elif kind != "date":
        assert cell == value, (table, row, column, value, cell)


cells = {
    "table": st.sampled_from(TABLES),
    "row": st.integers(0, 30),
    "column": st.integers(0, 40),
    "value": junk,
}


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(**cells)
def test_corruption_never_crashes_or_passes_silently(
    tmp_path_factory, example_config, table, row, column, value
):
    check_corruption(tmp_path_factory, example_config, table, row, column, value)


@pytest.mark.slow
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(**cells)
def test_corruption_never_crashes_or_passes_silently_many(
    tmp_path_factory, example_config, table, row, column, value
):
    check_corruption(tmp_path_factory, example_config, table, row, column, value)
