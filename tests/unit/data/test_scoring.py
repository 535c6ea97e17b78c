"""Scoring rules on hand-made responses, each worked out by hand in the comments."""

import math

import numpy as np
import pandas as pd
import pytest

from trial.data.scoring import score_scale

SUM4 = {"items": ["a", "b", "c", "d"], "item_range": [0, 4], "method": "sum", "min_fraction": 0.75}


def score(rows, scale):
    return score_scale(pd.DataFrame(rows, dtype=float), scale).tolist()


def test_sum_complete_and_prorated():
    # complete: 1+2+3+4 = 10; one of four missing: mean(1,2,3) * 4 = 8
    assert score([{"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 1, "b": 2, "c": 3, "d": None}], SUM4) == [
        10.0,
        8.0,
    ]


def test_sum_with_too_few_items_is_missing_not_zero():
    # two of four answered = 50% < 75%: the score is missing, never a partial sum
    result = score([{"a": 4, "b": 4, "c": None, "d": None}], SUM4)
    assert math.isnan(result[0])


def test_reverse_keyed_item():
    # b is reversed on 0-4: 0 -> 4, so 1 + 4 + 3 + 4 = 12
    scale = {**SUM4, "reverse": ["b"]}
    assert score([{"a": 1, "b": 0, "c": 3, "d": 4}], scale) == [12.0]


def test_reverse_keying_on_a_range_not_starting_at_zero():
    # range 1-4: reversed x = 5 - x; items 1, (5-1)=4 -> 5
    scale = {
        "items": ["a", "b"],
        "item_range": [1, 4],
        "method": "sum",
        "min_fraction": 1.0,
        "reverse": ["b"],
    }
    assert score([{"a": 1, "b": 1}], scale) == [5.0]


def test_mean_rescaled_to_0_100():
    # mean of (2, 3) = 2.5 on 0-4 -> 62.5 on 0-100
    scale = {
        "items": ["a", "b"],
        "item_range": [0, 4],
        "method": "mean",
        "min_fraction": 0.5,
        "rescale": [0, 100],
    }
    assert score([{"a": 2, "b": 3}], scale) == [62.5]


GATED = {
    "items": ["r1", "r2", "r3", "r4"],
    "gate": ["g1", "g2", "g3", "g4"],
    "item_range": [0, 4],
    "method": "gated_mean",
    "min_fraction": 0.5,
    "rescale": [0, 100],
}


def test_gated_mean_uses_only_important_items():
    # important: items 1, 2 (gate 1); items 3, 4 not important (their ratings ignored)
    # mean(4, 2) = 3 -> 75 on 0-100
    row = {"g1": 1, "g2": 1, "g3": 0, "g4": 0, "r1": 4, "r2": 2, "r3": 0, "r4": None}
    assert score([row], GATED) == [75.0]


def test_items_not_important_are_not_missing_data():
    # one important item, rated: 1 of 1 applicable answered (100%) -> 4/4 -> 100
    row = {"g1": 1, "g2": 0, "g3": 0, "g4": 0, "r1": 4, "r2": None, "r3": None, "r4": None}
    assert score([row], GATED) == [100.0]


def test_gated_mean_threshold_counts_missing_gates_as_applicable():
    # gates: 1, missing, missing, 0 -> 3 applicable, 1 rated: 33% < 50% -> missing
    row = {"g1": 1, "g2": None, "g3": None, "g4": 0, "r1": 2, "r2": None, "r3": None, "r4": None}
    assert math.isnan(score([row], GATED)[0])
    # gates: 1, 1, missing, 0 -> 3 applicable, 2 rated = 67% -> mean(2, 4) = 3 -> 75
    row = {"g1": 1, "g2": 1, "g3": None, "g4": 0, "r1": 2, "r2": 4, "r3": None, "r4": None}
    assert score([row], GATED) == [75.0]


def test_no_important_item_gives_missing_score():
    row = {"g1": 0, "g2": 0, "g3": 0, "g4": 0, "r1": None, "r2": None, "r3": None, "r4": None}
    assert math.isnan(score([row], GATED)[0])


def test_index_is_kept():
    frame = pd.DataFrame(
        {"a": [1.0, 2.0], "b": [1.0, 2.0], "c": [1.0, 2.0], "d": [1.0, 2.0]}, index=[7, 3]
    )
    assert list(score_scale(frame, SUM4).index) == [7, 3]


@pytest.mark.parametrize("n_missing,expected", [(0, 40.0), (1, 40.0), (3, 40.0), (4, np.nan)])
def test_prorating_threshold_on_a_15_item_total(n_missing, expected):
    # 15 items all scored 8/3 would be fractional; use all 2s plus ... simpler: all items 8/3?
    # Every answered item is 8/3 -> prorated total 15 * 8/3 = 40 whatever the gaps, until fewer
    # than 80% (12 of 15) are answered.
    items = [f"i{k}" for k in range(15)]
    scale = {"items": items, "item_range": [0, 4], "method": "sum", "min_fraction": 0.8}
    row = {i: (None if k < n_missing else 8 / 3) for k, i in enumerate(items)}
    result = score([row], scale)[0]
    assert (math.isnan(result) and math.isnan(expected)) or result == pytest.approx(expected)
