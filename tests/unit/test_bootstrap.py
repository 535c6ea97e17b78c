"""trial.bootstrap: shrinkage by hand (Davison and Hinkley's balanced case), the two-stage
bootstrap variance against its closed form, frequency-weighted least squares against repeated
rows, and reproducibility whatever the chunking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trial.bootstrap import (
    BootstrapInputError,
    ClusterLayout,
    bootstrap_weights,
    shrink_two_stage,
    shrinkage_factors,
    weighted_ols_coefficient,
)


def balanced(a: int = 8, b: int = 5, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clusters = np.repeat(np.arange(a), b)
    y = 2.0 * rng.standard_normal(a)[clusters] + rng.standard_normal(a * b) + 10
    return y, clusters


def test_shrinkage_factors_balanced_by_hand():
    y, clusters = balanced()
    a, b = 8, 5
    layout = ClusterLayout.from_labels(clusters)
    means = np.array([y[clusters == i].mean() for i in range(a)])
    ssw = sum(((y[clusters == i] - means[i]) ** 2).sum() for i in range(a))
    msw = ssw / (a * (b - 1))
    msb = b * ((means - y.mean()) ** 2).sum() / (a - 1)
    sigma_b = (msb - msw) / b
    f = shrinkage_factors(y, layout)
    assert f.sigma2_within == pytest.approx(msw)
    assert f.sigma2_between == pytest.approx(sigma_b)
    assert f.d == pytest.approx(np.sqrt(b / (b - 1)))
    assert f.c == pytest.approx(np.sqrt(sigma_b / np.mean((means - y.mean()) ** 2)))


def test_shrinkage_keeps_group_means_and_zero_between_variance_gives_c_zero():
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(10), 6)
    groups = np.where(clusters < 5, "x", "y")
    y = rng.standard_normal(60)  # no cluster effect: sigma_b estimated at (or near) zero
    layout = ClusterLayout.from_labels(clusters, groups)
    shrunk = shrink_two_stage(y, layout)
    for g in ("x", "y"):
        assert shrunk[groups == g].mean() == pytest.approx(y[groups == g].mean())
    constant = np.repeat(rng.standard_normal(10), 6) * 0 + 5.0 + rng.standard_normal(60) * 0
    assert shrinkage_factors(constant, layout).c == 0.0


def test_two_stage_variance_of_mean_matches_closed_form():
    """Balanced, one group: Var*(mean) = (sigma_b^2 + sigma_w^2 / b) / a exactly, by design."""
    y, clusters = balanced(a=10, b=6, seed=7)
    layout = ClusterLayout.from_labels(clusters)
    f = shrinkage_factors(y, layout)
    expected = (f.sigma2_between + f.sigma2_within / 6) / 10
    shrunk = shrink_two_stage(y, layout)
    weights = bootstrap_weights(layout, range(4000), seed=5, keys=("t",), resampling="two-stage")
    means = weights @ shrunk / weights.sum(axis=1)
    # relative SE of a variance from B draws of a ~normal statistic: sqrt(2 / B) = 2.2%
    assert np.var(means, ddof=1) == pytest.approx(expected, rel=0.08)
    # without shrinkage: (1/a) [S_b + SSW / (a b^2)], the within variance entering twice
    cluster_means = pd.Series(y).groupby(clusters).mean().to_numpy()
    ssw = float(((y - cluster_means[clusters]) ** 2).sum())
    raw_expected = (np.var(cluster_means) + ssw / (10 * 36)) / 10
    raw = weights @ y / weights.sum(axis=1)
    assert np.var(raw, ddof=1) == pytest.approx(raw_expected, rel=0.08)


def test_cluster_bootstrap_variance_of_mean_matches_closed_form():
    """One stage, equal sizes: Var*(mean) = S_b / a with S_b the 1/a variance of cluster means."""
    y, clusters = balanced(a=12, b=4, seed=11)
    layout = ClusterLayout.from_labels(clusters)
    cluster_means = pd.Series(y).groupby(clusters).mean().to_numpy()
    expected = np.var(cluster_means) / 12
    weights = bootstrap_weights(layout, range(4000), seed=5, keys=("c",), resampling="cluster")
    means = weights @ y / weights.sum(axis=1)
    assert np.var(means, ddof=1) == pytest.approx(expected, rel=0.08)


def test_weights_keep_cluster_and_group_totals():
    clusters = np.repeat(np.arange(9), [3, 4, 5, 3, 4, 5, 2, 2, 6])
    groups = np.where(clusters < 4, "a", "b")
    layout = ClusterLayout.from_labels(clusters, groups)
    w = bootstrap_weights(layout, range(20), seed=2, keys=("k",), resampling="two-stage")
    for row in w:
        drawn = np.bincount(clusters, weights=row) / layout.sizes
        # individuals drawn per cluster are multiples of its size; clusters per group are fixed
        assert np.allclose(drawn, np.round(drawn))
        assert np.round(drawn)[:4].sum() == 4 and np.round(drawn)[4:].sum() == 5


def test_weighted_ols_equals_repeated_rows():
    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(30), rng.integers(0, 2, 30), rng.standard_normal(30)])
    y = rng.standard_normal(30)
    w = rng.integers(0, 3, 30)
    rows = np.repeat(np.arange(30), w)
    expected = np.linalg.lstsq(X[rows], y[rows], rcond=None)[0][1]
    assert weighted_ols_coefficient(y, X, w, 1) == pytest.approx(expected, rel=1e-10)
    singular = np.zeros(30)
    singular[:2] = 1
    assert np.isnan(weighted_ols_coefficient(y, X, np.vstack([w, singular]), 1)[1])


def test_replicates_do_not_depend_on_chunking():
    clusters = np.repeat(np.arange(6), 4)
    layout = ClusterLayout.from_labels(clusters, clusters < 3)
    whole = bootstrap_weights(layout, range(10), seed=9, keys=("c", 1), resampling="two-stage")
    parts = [
        bootstrap_weights(layout, r, seed=9, keys=("c", 1), resampling="two-stage")
        for r in (range(7, 10), range(0, 3), range(3, 7))
    ]
    np.testing.assert_array_equal(whole, np.vstack([parts[1], parts[2], parts[0]]))


def test_layout_errors_are_named():
    with pytest.raises(BootstrapInputError, match="at least two clusters"):
        ClusterLayout.from_labels([1, 1, 2, 2, 3], ["a", "a", "a", "a", "b"])
    with pytest.raises(BootstrapInputError, match="varies within cluster"):
        ClusterLayout.from_labels([1, 1, 2, 2], ["a", "b", "a", "a"])
    layout = ClusterLayout.from_labels([1, 1, 2, 2])
    with pytest.raises(BootstrapInputError, match="resampling must be"):
        bootstrap_weights(layout, range(1), seed=1, keys=(), resampling="three-stage")
