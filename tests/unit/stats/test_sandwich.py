"""trial.stats.sandwich: CR2 with one observation per cluster is HC2 (statsmodels), and its
Satterthwaite df and HTZ test reduce to hand-computable forms on a balanced design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from trial.stats.sandwich import SandwichInputError, cr2_covariance


def _ols(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    return beta, y - X @ beta


def test_singleton_clusters_give_hc2():
    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(40), rng.normal(size=40), rng.integers(0, 2, 40)])
    y = X @ [1.0, 0.5, -0.3] + rng.normal(size=40) * (1 + X[:, 2])
    beta, e = _ols(X, y)
    cr2 = cr2_covariance(X, e, np.arange(40), beta)
    hc2 = sm.OLS(y, X).fit(cov_type="HC2").cov_params()
    np.testing.assert_allclose(cr2.cov, hc2, rtol=1e-10)


def test_difference_of_two_cluster_means_by_hand():
    """Two groups of G clusters of m rows, intercept and group indicator, no variation within
    clusters: a cluster's residuals are (mean_j - mean_g) 1, on which I - H_jj acts as
    1 - 1/G, so the CR2 variance of the difference of group means is
    sum_g sum_j (mean_j - mean_g)^2 / (G (G - 1)), the two-sample variance of cluster means,
    and with equal spread in both groups the Satterthwaite df are 2 (G - 1)."""
    G, m = 5, 4
    clusters = np.repeat(np.arange(2 * G), m)
    group = (clusters >= G).astype(float)
    offsets = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    y = np.repeat(np.concatenate([offsets, 3 + offsets]), m)
    X = np.column_stack([np.ones_like(group), group])
    beta, e = _ols(X, y)
    cr2 = cr2_covariance(X, e, clusters, beta)
    means = y.reshape(2 * G, m).mean(axis=1)
    by_hand = sum(np.var(means[g * G : (g + 1) * G], ddof=1) / G for g in (0, 1))
    c = cr2.contrast([0.0, 1.0])
    assert c.estimate == pytest.approx(3.0)
    assert c.se**2 == pytest.approx(by_hand)
    assert c.df == pytest.approx(2 * (G - 1))
    # a one-row Wald test is the squared t with the same df
    test = cr2.wald_test(np.array([[0.0, 1.0]]))
    assert test.F == pytest.approx(c.t**2)
    assert test.den_df == pytest.approx(c.df)
    # ... whose F(1, df) p-value is the two-sided t p-value, with Q = t^2 and nu = df (q = 1)
    assert test.p == pytest.approx(c.p, rel=1e-10)
    assert test.p == pytest.approx(2 * stats.t.sf(abs(c.t), c.df), rel=1e-10)
    assert test.Q == pytest.approx(c.t**2) and test.nu == pytest.approx(c.df)
    assert test.num_df == 1.0


def test_bad_input_is_refused():
    X = np.ones((4, 1))
    with pytest.raises(
        SandwichInputError, match="^X, residuals and clusters must describe the same n rows$"
    ):
        cr2_covariance(X, np.zeros(3), [1, 1, 2, 2], [0.0])
    with pytest.raises(SandwichInputError, match="^at least two clusters are needed, found 1$"):
        cr2_covariance(X, np.zeros(4), [1, 1, 1, 1], [0.0])
    with pytest.raises(SandwichInputError, match="^X and residuals must be complete and finite$"):
        cr2_covariance(X, np.array([0.0, np.nan, 0.0, 0.0]), [1, 1, 2, 2], [0.0])
    cov = cr2_covariance(pd.DataFrame({"a": np.ones(4)}), np.zeros(4), [1, 1, 2, 2], [0.0])
    with pytest.raises(
        SandwichInputError, match="^a contrast needs 1 weights, one per coefficient; got 2$"
    ):
        cov.contrast([1.0, 2.0])
    with pytest.raises(
        SandwichInputError,
        match=r"^contrast\(\) takes one contrast; use wald_test\(\) for several$",
    ):
        cov.contrast([[1.0], [2.0]])


def test_cluster_dummies_and_the_within_transformation_agree():
    """Pustejovsky and Tipton (2018, Theorem 2): with cluster fixed effects, CR2 and its
    Satterthwaite and HTZ tests of the other coefficients are the same whether the effects are
    dummy columns (each cluster's block of H then has an eigenvalue 1, dropped by the
    generalised inverse root) or absorbed by demeaning within clusters."""
    rng = np.random.default_rng(5)
    J, m = 8, 5
    cl = np.repeat(np.arange(J), m)
    x, z = rng.normal(size=J * m), rng.normal(size=J * m)
    y = 0.5 * x - 0.2 * z + rng.normal(size=J)[cl] + rng.normal(size=J * m) * (1 + 0.5 * (cl % 3))
    dummies = (cl[:, None] == np.arange(J)).astype(float)
    X = np.column_stack([dummies, x, z])
    beta, e = _ols(X, y)
    full = cr2_covariance(X, e, cl, beta)

    def demean(v):
        return v - pd.Series(v).groupby(cl).transform("mean").to_numpy()

    W = np.column_stack([demean(x), demean(z)])
    beta_w, e_w = _ols(W, demean(y))
    within = cr2_covariance(W, e_w, cl, beta_w)
    a = full.contrast(np.r_[np.zeros(J), 1.0, 0.0])
    b = within.contrast([1.0, 0.0])
    assert (a.estimate, a.se, a.df) == pytest.approx((b.estimate, b.se, b.df), rel=1e-10)
    ta = full.wald_test(np.column_stack([np.zeros((2, J)), np.eye(2)]))
    tb = within.wald_test(np.eye(2))
    assert (ta.F, ta.den_df, ta.p) == pytest.approx((tb.F, tb.den_df, tb.p), rel=1e-10)
