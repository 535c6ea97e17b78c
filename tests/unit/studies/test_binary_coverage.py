"""The binary coverage study's data and summary (the study itself is a slow reference test)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trial.studies.binary_coverage import EFFECT, simulate_trial, summarise


def test_summary_by_hand():
    rows = pd.DataFrame(
        {
            "clusters": 20,
            "analysis": "complete data",
            "estimate": [EFFECT + 0.1, EFFECT - 0.3, EFFECT + 0.5, EFFECT],
            "se": [0.2, 0.3, 0.2, 0.3],
            "covered": [1.0, 1.0, 0.0, 1.0],
        }
    )
    row = summarise(rows).iloc[0]
    assert row["bias"] == pytest.approx(0.075)
    assert row["empirical_se"] == pytest.approx(np.std([0.1, -0.3, 0.5, 0.0], ddof=1))
    assert row["bias_mc_se"] == pytest.approx(row["empirical_se"] / 2)
    assert row["model_se"] == pytest.approx(0.25)
    assert row["coverage"] == 0.75
    assert row["coverage_mc_se"] == pytest.approx(math.sqrt(0.75 * 0.25 / 4))


def test_simulated_trial_is_randomised_by_cluster_and_missing_at_random():
    table, complete = simulate_trial(40, np.random.default_rng(3), missing=0.25)
    per_cluster = table.groupby("cluster")["arm"].agg(["min", "max"])
    assert (per_cluster["min"] == per_cluster["max"]).all()  # the arm is a cluster property
    assert per_cluster["min"].sum() == 20  # half the clusters in each arm
    lost = table["y"].isna()
    assert 0.15 < lost.mean() < 0.35
    assert table.loc[lost, "x"].mean() > table.loc[~lost, "x"].mean()  # MAR on x
    np.testing.assert_array_equal(table.loc[~lost, "y"], complete[~lost.to_numpy()])
