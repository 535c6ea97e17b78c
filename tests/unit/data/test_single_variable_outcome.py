"""Single-variable outcomes: a numeric column declared as the outcome, not a one-item scale."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from trial.config.load import ConfigError, load_config, validate_config
from trial.data.scoring import score_scale
from trial.data.validation import InputError, validate_inputs

from ...conftest import ROOT

DATA = ROOT / "tests" / "reference" / "data" / "post_only"


@pytest.fixture(scope="module")
def base() -> dict:
    return load_config(DATA / "post_only.yaml")


def _problems(config: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    return str(caught.value)


def test_the_score_is_the_column_itself_with_its_decimals():
    rows = pd.DataFrame({"math": [506.2, None, 611.0]})
    got = score_scale(rows, {"table": "t", "label": "m", "column": "math"})
    pd.testing.assert_series_equal(got, pd.Series([506.2, float("nan"), 611.0], name="math"))


def test_items_and_column_together_or_neither_are_refused_with_one_clear_line(base):
    both = copy.deepcopy(base)
    both["scales"]["math"].update(items=["q1"], item_range=[0, 1], method="sum", min_fraction=1)
    neither = copy.deepcopy(base)
    neither["scales"]["math"].pop("column")
    for config in (both, neither):
        message = _problems(config)
        assert "scales/math: declare either items, item_range, method and min_fraction" in message


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("score", "'score' is not declared in table 'tests'"),
        ("wave", "'wave' is declared type category; an outcome column must be type number"),
    ],
)
def test_the_outcome_column_must_be_a_declared_number(base, column, expected):
    config = copy.deepcopy(base)
    config["scales"]["math"]["column"] = column
    assert expected in _problems(config)


def test_a_non_number_in_the_outcome_column_is_named_by_file_row_and_column(base, tmp_path):
    for name in ("classes", "pupils", "tests"):
        frame = pd.read_csv(DATA / f"{name}.csv", dtype=str)
        if name == "tests":
            frame.loc[4, "math"] = "61O.5"  # a letter O typed for a zero
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    with pytest.raises(InputError) as caught:
        validate_inputs(base, tmp_path)
    message = str(caught.value)
    assert "tests.csv" in message and "math" in message and "61O.5" in message
    assert "line 6" in message and "expected a number" in message
