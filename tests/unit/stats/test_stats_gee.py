"""Unit tests of the GEE kernel (trial.stats.gee); the agreement with geepack and with the
bias corrections written in R is in tests/reference/test_gee_vs_r.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.reference.binary_cases import case
from trial.stats._families import ModelFitError, ModelInputError
from trial.stats.gee import fit_gee, fit_gee_arrays


def test_non_positive_definite_working_correlation_is_an_error() -> None:
    """Under-dispersed cluster totals give alpha < -1/(n_j - 1): geeglm diverges there."""
    c = case("boundary")
    with pytest.raises(ModelFitError, match="not positive definite"):
        fit_gee(c.y, c.X, c.clusters)


def test_full_leverage_cluster_leaves_the_corrections_undefined() -> None:
    """A coefficient estimated from one cluster alone: I - H_jj is singular for that cluster."""
    c = case("trial")
    first = (c.clusters == c.clusters.iloc[0]).astype(float)
    X = c.X.assign(own=first)
    m = fit_gee(c.y, X, c.clusters, cov_type="robust")
    assert np.isnan(m.covariances.mancl_derouen).all()
    assert np.isnan(m.covariances.kauermann_carroll).all()
    assert np.isfinite(m.covariances.fay_graubard).all()  # its diagonal correction is bounded
    with pytest.raises(ModelFitError, match="full leverage"):
        fit_gee(c.y, X, c.clusters, cov_type="mancl-derouen")


def test_corrections_inflate_the_arm_variance() -> None:
    """Each correction scales up cluster residuals that the fit pulls towards zero."""
    c = case("trial")
    cov = fit_gee(c.y, c.X, c.clusters).covariances
    k = 1  # arm
    robust = cov.robust[k, k]
    assert robust < cov.kauermann_carroll[k, k] < cov.mancl_derouen[k, k]
    assert robust < cov.fay_graubard[k, k]


def test_wald_tests_use_clusters_minus_p() -> None:
    c = case("trial")
    m = fit_gee(c.y, c.X, c.clusters, cov_type="kauermann-carroll")
    df = c.clusters.nunique() - c.X.shape[1]
    one = m.contrast(pd.Series({"arm": 1.0}))
    assert one.df == df
    assert one.p == pytest.approx(2 * stats.t.sf(abs(one.t), df))
    two = m.f_test(pd.DataFrame([[1.0, 0.0], [0.0, 1.0]], columns=["arm", "stratum"]))
    b = m.params[["arm", "stratum"]].to_numpy()
    V = m.cov.loc[["arm", "stratum"], ["arm", "stratum"]].to_numpy()
    W = float(b @ np.linalg.solve(V, b))
    assert two.F == pytest.approx(W / 2) and two.den_df == df


def test_gaussian_gee_without_clustering_is_ols() -> None:
    """Independent clusters of one observation: alpha is 0 and beta is least squares."""
    rng = np.random.default_rng(4)
    n = 200
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    y = X @ np.array([1.0, 0.5, -0.3]) + rng.normal(size=n)
    m = fit_gee_arrays(y, X, np.arange(n), family="gaussian", cov_type="robust")
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(m.beta, ols, rtol=1e-10)
    assert m.alpha == 0.0
    # with singleton clusters the robust sandwich is White's HC0
    e = y - X @ ols
    bread = np.linalg.inv(X.T @ X)
    np.testing.assert_allclose(m.covariances.robust, bread @ (X.T * e**2) @ X @ bread, rtol=1e-8)
    # and Mancl-DeRouen is HC3 (residuals divided by 1 - h_ii)
    h = np.einsum("ij,jk,ik->i", X, bread, X)
    hc3 = bread @ (X.T * (e / (1 - h)) ** 2) @ X @ bread
    np.testing.assert_allclose(m.covariances.mancl_derouen, hc3, rtol=1e-8)


def test_row_order_does_not_matter() -> None:
    c = case("counts")
    m = fit_gee(c.y, c.X, c.clusters, family="poisson", offset=c.offset)
    perm = np.random.default_rng(2).permutation(len(c.y))
    a = fit_gee_arrays(
        c.y.to_numpy()[perm],
        c.X.to_numpy()[perm],
        c.clusters.to_numpy()[perm],
        family="poisson",
        offset=c.offset[perm],
    )
    np.testing.assert_allclose(a.beta, m.params, rtol=1e-9)
    np.testing.assert_allclose(a.cov, m.cov, rtol=1e-8)


def test_bad_input_is_named() -> None:
    c = case("trial")
    with pytest.raises(
        ModelInputError,
        match=r"^\d+ clusters for 4 coefficients: the sandwich needs more clusters than "
        r"coefficients \(t on J - p df\)$",
    ):
        fit_gee(c.y[:60], c.X[:60], c.clusters[:60])
    with pytest.raises(ModelInputError, match=r"^cov_type must be one of \('robust', .*'hc3'$"):
        fit_gee(c.y, c.X, c.clusters, cov_type="hc3")
    with pytest.raises(ModelInputError, match=r"^cov_type must be one of .*, got 'hc3'$"):
        fit_gee(c.y, c.X, c.clusters).covariances.get("hc3")
    with pytest.raises(ModelInputError, match="family"):
        fit_gee(c.y, c.X, c.clusters, family="gamma")
    with pytest.raises(ModelInputError, match="rank deficient"):
        fit_gee(c.y, c.X.assign(z=c.X["arm"] + c.X["stratum"]), c.clusters)


def test_fit_records_its_covariance_and_df_method() -> None:
    c = case("trial")
    m = fit_gee(c.y, c.X, c.clusters, cov_type="fay-graubard")
    assert (m.cov_type, m.df_method) == ("fay-graubard", "clusters-p")
    np.testing.assert_array_equal(m.cov.to_numpy(), m.covariances.fay_graubard)
    # the naive covariance is the scale times the inverse of sum_j D_j' R_j^-1 D_j
    assert np.all(np.diag(m.covariances.naive) > 0)


def test_one_pair_of_observations_estimates_the_correlation() -> None:
    """Singleton clusters and one cluster of two: geepack's moment estimate of the exchangeable
    correlation is r_a r_b / phi from the Pearson residuals of that one pair (by hand from the
    fitted coefficients), phi = sum r^2 / n."""
    rng = np.random.default_rng(11)
    n = 40
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ np.array([0.5, 1.0]) + rng.normal(size=n)
    clusters = np.r_[0, 0, np.arange(1, n - 1)]
    m = fit_gee_arrays(y, X, clusters, family="gaussian", cov_type="robust")
    r = y - X @ m.beta
    phi = r @ r / n
    assert m.scale == pytest.approx(phi, rel=1e-10)
    assert m.alpha == pytest.approx(r[0] * r[1] / phi, rel=1e-8)
    assert m.alpha != 0.0


def test_separation_is_an_error_not_an_estimate() -> None:
    """A covariate that separates the 0/1 outcome drives the fitted means to 0 and 1 (their
    variance underflows to 0 within the iterations)."""
    c = case("trial")
    X = c.X.assign(sep=c.y.to_numpy() - 0.5)
    with pytest.raises(
        ModelFitError,
        match=r"^fitted means on the boundary of the family's range \(separation\?\)$",
    ):
        fit_gee(c.y, X, c.clusters)
