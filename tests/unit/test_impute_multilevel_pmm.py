"""Predictive mean matching in the multilevel engine (for skewed, non-negative columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trial.impute.multilevel import impute_multilevel


@pytest.fixture()
def data():
    rng = np.random.default_rng(5)
    n = 300
    cluster = np.repeat(np.arange(20), 15)
    x = rng.normal(size=n)
    cost = np.exp(7 + 0.8 * x + rng.normal(0, 0.8, n) + rng.normal(0, 0.2, 20)[cluster])
    cost[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame({"cluster": cluster, "x": x, "cost": cost})


def test_matched_imputations_are_observed_values(data):
    result = impute_multilevel(
        data, cluster="cluster", impute=["cost"], predictors=["x"], seed=1, iterations=3,
        mean_match=["cost"],
    )  # fmt: skip
    missing = data["cost"].isna()
    imputed = result.completed.loc[missing, "cost"]
    assert imputed.isin(data.loc[~missing, "cost"]).all()
    assert (imputed > 0).all()
    # donors follow the predictor: imputations for high x exceed those for low x
    x = data.loc[missing, "x"]
    assert imputed[x > 1].median() > 2 * imputed[x < -1].median()


def test_normal_draws_without_matching_can_leave_the_observed_range(data):
    result = impute_multilevel(
        data, cluster="cluster", impute=["cost"], predictors=["x"], seed=1, iterations=3
    )
    imputed = result.completed.loc[data["cost"].isna(), "cost"]
    assert (imputed < 0).any()  # why costs are matched rather than drawn from a normal


def test_nearest_donor_with_one_candidate():
    # y = 10 * x exactly within one cluster of 50: the nearest prediction is the nearest x
    x = np.linspace(0, 1, 50)
    y = 10 * x
    y[[10, 30]] = np.nan
    frame = pd.DataFrame({"cluster": 0, "x": x, "y": y})
    frame.loc[5:6, "cluster"] = 1  # two clusters, so the cluster variance is estimable
    result = impute_multilevel(
        frame, cluster="cluster", impute=["y"], predictors=["x"], seed=3, iterations=2,
        mean_match=["y"], mean_match_candidates=1,
    )  # fmt: skip
    got = result.completed.loc[[10, 30], "y"].to_numpy()
    neighbours = [{10 * x[9], 10 * x[11]}, {10 * x[29], 10 * x[31]}]
    assert got[0] in neighbours[0] and got[1] in neighbours[1]


def test_matching_needs_a_level1_imputed_column(data):
    with pytest.raises(ValueError, match="mean_match"):
        impute_multilevel(
            data, cluster="cluster", impute=["cost"], predictors=["x"], seed=1,
            mean_match=["x"],
        )  # fmt: skip


def test_donor_matching_in_blocks_equals_the_full_distance_matrix():
    """Blocking bounds memory on large trials; it must not change which donor is drawn."""
    import numpy as np

    from trial.impute.multilevel import _match_donors

    rng = np.random.default_rng(3)
    fitted_obs, y_obs = rng.normal(size=30_000), rng.normal(size=30_000)
    fitted_mis = rng.normal(size=2_500)  # 2,500 x 30,000 distances: four blocks
    k = 5
    choice = np.random.default_rng(9).integers(0, k, fitted_mis.size)
    full = np.abs(fitted_mis[:, None] - fitted_obs[None, :])
    nearest = np.argpartition(full, k - 1, axis=1)[:, :k]
    expected = y_obs[nearest[np.arange(fitted_mis.size), choice]]
    got = _match_donors(fitted_obs, y_obs, fitted_mis, k, np.random.default_rng(9))
    assert np.array_equal(got, expected)
