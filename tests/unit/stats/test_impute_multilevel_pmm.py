"""Predictive mean matching in the multilevel engine (for skewed, non-negative columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trial.stats.impute.multilevel import impute_multilevel


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


def _brute_force_donors(fitted_obs, y_obs, fitted_mis, k, choice):
    """Reference: every distance, stable sort by distance over the stably sorted donors."""
    k = min(k, fitted_obs.size)
    order = np.argsort(fitted_obs, kind="stable")
    full = np.abs(fitted_mis[:, None] - fitted_obs[order][None, :])
    nearest = np.argsort(full, axis=1, kind="stable")[:, :k]
    return y_obs[order[nearest[np.arange(fitted_mis.size), choice]]]


def _check_against_brute_force(fitted_obs, fitted_mis, k, seed):
    from trial.stats.impute.multilevel import _match_donors

    y_obs = np.arange(fitted_obs.size, dtype=float)  # the donor's identity
    choice = np.random.default_rng(seed).integers(0, min(k, fitted_obs.size), fitted_mis.size)
    expected = _brute_force_donors(fitted_obs, y_obs, fitted_mis, k, choice)
    got = _match_donors(fitted_obs, y_obs, fitted_mis, k, np.random.default_rng(seed))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 10])
def test_donors_equal_brute_force_on_continuous_values(k):
    rng = np.random.default_rng(3 + k)
    _check_against_brute_force(rng.normal(size=3_000), rng.normal(scale=1.5, size=800), k, k)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("levels", [1, 2, 4, 25])
def test_donors_equal_brute_force_with_ties(k, levels):
    # Few distinct values: long runs of equal fitted values, equal distances on both sides of
    # a missing row (integers and half-integers), and missing values beyond both ends.
    rng = np.random.default_rng(100 * k + levels)
    fitted_obs = rng.integers(0, levels, 400).astype(float)
    fitted_mis = rng.integers(-2, 2 * levels + 2, 300) / 2.0
    _check_against_brute_force(fitted_obs, fitted_mis, k, k + levels)


@pytest.mark.parametrize("n_obs", [1, 2, 4, 6])
def test_donors_equal_brute_force_when_k_exceeds_the_observed_rows(n_obs):
    rng = np.random.default_rng(n_obs)
    fitted_obs = rng.integers(0, 3, n_obs).astype(float)
    fitted_mis = rng.normal(1, 2, 50).round(1)
    _check_against_brute_force(fitted_obs, fitted_mis, 7, n_obs)


def test_donors_by_hand():
    from trial.stats.impute.multilevel import _match_donors

    # Observed fitted values and their donor values; one missing row at 2.0 with k = 3.
    fitted_obs = np.array([5.0, 1.0, 3.0, 2.5, 1.0, 0.0])
    y_obs = np.array([50.0, 10.0, 30.0, 25.0, 11.0, 0.0])
    # Distances: 3, 1, 1, 0.5, 1, 2. Nearest: 2.5 (0.5); then the tie at 1 among 1.0 (row 1),
    # 1.0 (row 4) and 3.0: sorted order 1.0 (row 1), 1.0 (row 4), 3.0, so rows 1 then 4.
    donors = [25.0, 10.0, 11.0]
    rng = np.random.default_rng(0)
    choice = int(np.random.default_rng(0).integers(0, 3, 1)[0])
    got = _match_donors(fitted_obs, y_obs, np.array([2.0]), 3, rng)
    assert got[0] == donors[choice]
    # Every choice index maps to the stated donor.
    for seed in range(20):
        c = int(np.random.default_rng(seed).integers(0, 3, 1)[0])
        out = _match_donors(fitted_obs, y_obs, np.array([2.0]), 3, np.random.default_rng(seed))
        assert out[0] == donors[c]
