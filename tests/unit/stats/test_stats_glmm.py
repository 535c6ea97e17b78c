"""Unit tests of the random-intercept GLMM kernel (trial.stats.glmm).

The agreement with lme4 is in tests/reference/test_glmm_vs_r.py; these tests check the parts
that an R comparison at the optimum cannot isolate: the analytic gradient, the quadrature
against direct numerical integration, the GLM limit, the df rules, the Wald tests and the
input checks.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import integrate, stats
from scipy.special import expit

from tests.reference.binary_cases import case
from trial.stats._families import FAMILIES, ModelFitError, ModelInputError
from trial.stats.glmm import _glm, _Problem, _step_in_se, fit_glmm, fit_glmm_arrays


def _problem(name: str, n_agq: int) -> _Problem:
    c = case(name)
    y = c.y.to_numpy(dtype=float)
    X = c.X.to_numpy()
    codes = pd.factorize(c.clusters)[0]
    off = np.zeros(y.size) if c.offset is None else c.offset
    return _Problem(y, X, off, codes, int(codes.max()) + 1, FAMILIES[c.family], n_agq)


@pytest.mark.parametrize(("name", "n_agq"), [("trial", 1), ("unequal", 7), ("counts", 5)])
def test_analytic_gradient_matches_finite_differences(name: str, n_agq: int) -> None:
    pr = _problem(name, n_agq)
    rng = np.random.default_rng(1)
    par = np.r_[rng.normal(0.0, 0.3, pr.p), 0.8]
    _, g = pr.evaluate(par)
    h = 1e-5
    fd = np.empty_like(par)
    for k in range(par.size):
        e = np.zeros_like(par)
        e[k] = h
        fd[k] = (pr.evaluate(par + e, grad=False)[0] - pr.evaluate(par - e, grad=False)[0]) / (
            2 * h
        )
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)


def test_adaptive_quadrature_matches_direct_integration() -> None:
    """With 25 nodes the AGQ log-likelihood is the integral over the random effect."""
    c = case("rare")
    pr = _problem("rare", 25)
    beta = np.array([-3.5, -0.4, 0.5])
    theta = 0.9
    ll_agq = pr.evaluate(np.r_[beta, theta], grad=False)[0]
    X = c.X.to_numpy()
    y = c.y.to_numpy(dtype=float)
    eta0 = X @ beta
    exact = 0.0
    for label in pd.unique(c.clusters):
        idx = (c.clusters == label).to_numpy()

        def integrand(b: float, idx: np.ndarray = idx) -> float:
            p = expit(eta0[idx] + b)
            lik = np.prod(np.where(y[idx] == 1, p, 1 - p))
            return lik * stats.norm.pdf(b, scale=theta)

        exact += math.log(integrate.quad(integrand, -12 * theta, 12 * theta, epsabs=0)[0])
    assert abs(ll_agq - exact) < 1e-6
    # Laplace is an approximation: it differs from the integral by much more
    ll_laplace = _problem("rare", 1).evaluate(np.r_[beta, theta], grad=False)[0]
    assert abs(ll_laplace - exact) > 1e-3


@pytest.mark.parametrize("name", ["trial", "counts"])
def test_theta_zero_is_the_glm(name: str) -> None:
    c = case(name)
    fam = sm.families.Binomial() if c.family == "binomial" else sm.families.Poisson()
    glm = sm.GLM(c.y, c.X, family=fam, offset=c.offset).fit()
    pr = _problem(name, 5)
    ll = pr.evaluate(np.r_[glm.params.to_numpy(), 0.0], grad=False)[0]
    assert ll == pytest.approx(glm.llf, abs=1e-8)
    # the GLM fit that starts the optimiser and decides the boundary (offset included)
    beta, ll_glm, info = _glm(pr)
    np.testing.assert_allclose(beta, glm.params, rtol=1e-10)
    assert ll_glm == pytest.approx(glm.llf, abs=1e-8)
    np.testing.assert_allclose(np.linalg.inv(info), glm.cov_params(), rtol=1e-5)


def test_boundary_fit_is_the_glm() -> None:
    c = case("boundary")
    m = fit_glmm(c.y, c.X, c.clusters, n_agq=5)
    assert m.at_boundary and m.theta == 0.0
    glm = sm.GLM(c.y, c.X, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(m.params, glm.params, rtol=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(m.cov)), glm.bse, rtol=1e-5)
    assert np.isnan(m.arrays.cov_full[-1]).all()


def test_between_within_df() -> None:
    c = case("trial")
    m = fit_glmm(c.y, c.X, c.clusters, n_agq=1)
    J, n = c.clusters.nunique(), len(c.y)
    # intercept, arm and stratum are cluster-level (3 parameters); x varies within clusters
    assert m.df.to_dict() == {"(Intercept)": J - 3, "arm": J - 3, "stratum": J - 3, "x": n - J - 1}
    tab = m.summary_table().set_index("term")
    q = stats.t.ppf(0.975, J - 3)
    assert tab.loc["arm", "ci_high"] == pytest.approx(m.params["arm"] + q * tab.loc["arm", "se"])
    other = fit_glmm(c.y, c.X, c.clusters, n_agq=1, df_method="residual")
    assert (other.df == n - 4).all()
    np.testing.assert_array_equal(other.params, m.params)
    z = fit_glmm(c.y, c.X, c.clusters, n_agq=1, df_method="z")
    assert np.isinf(z.df).all()
    assert z.summary_table().set_index("term").loc["arm", "p"] == pytest.approx(
        2 * stats.norm.sf(abs(m.params["arm"]) / tab.loc["arm", "se"])
    )


def test_contrasts_and_wald_tests() -> None:
    c = case("trial")
    m = fit_glmm(c.y, c.X, c.clusters, n_agq=3)
    one = m.contrast(pd.Series({"arm": 1.0}))
    assert one.estimate == m.params["arm"]
    assert one.df == m.df["arm"]
    assert one.df_method == "between-within" and m.f_test([0, 1, 0, 0]).df_method == one.df_method
    assert (m.arrays.n_clusters, m.arrays.n_obs) == (c.clusters.nunique(), len(c.y))
    f1 = m.f_test(pd.DataFrame([[1.0]], columns=["arm"]))
    assert f1.F == pytest.approx(one.t**2)
    assert f1.p == pytest.approx(one.p)
    # two coefficients: Wald statistic by hand, F on (2, smallest df)
    L = pd.DataFrame([[1.0, 0.0], [0.0, 1.0]], columns=["arm", "x"])
    b = m.params[["arm", "x"]].to_numpy()
    V = m.cov.loc[["arm", "x"], ["arm", "x"]].to_numpy()
    W = float(b @ np.linalg.solve(V, b))
    f2 = m.f_test(L)
    assert f2.F == pytest.approx(W / 2) and f2.den_df == m.df["arm"]
    assert f2.p == pytest.approx(stats.f.sf(W / 2, 2, m.df["arm"]))
    z = fit_glmm(c.y, c.X, c.clusters, n_agq=3, df_method="z")
    assert z.f_test(L).p == pytest.approx(stats.chi2.sf(W, 2), rel=1e-6)
    diff = m.contrast(pd.Series({"arm": 1.0, "stratum": -1.0}))
    cv = m.cov
    var = cv.loc["arm", "arm"] + cv.loc["stratum", "stratum"] - 2 * cv.loc["arm", "stratum"]
    assert diff.se == pytest.approx(math.sqrt(var))


def test_row_order_and_labels_do_not_matter() -> None:
    c = case("unequal")
    m = fit_glmm(c.y, c.X, c.clusters, n_agq=4)
    perm = np.random.default_rng(3).permutation(len(c.y))
    codes = pd.factorize(c.clusters)[0] * 7 + 100
    a = fit_glmm_arrays(c.y.to_numpy()[perm], c.X.to_numpy()[perm], codes[perm], n_agq=4)
    np.testing.assert_allclose(a.beta, m.params, rtol=1e-7)
    np.testing.assert_allclose(a.se, np.sqrt(np.diag(m.cov)), rtol=1e-6)
    assert a.theta == pytest.approx(m.theta, rel=1e-7)


def test_bad_input_is_named() -> None:
    c = case("trial")
    y = c.y.to_numpy(dtype=float).copy()
    y[5] = 2.0
    with pytest.raises(ModelInputError, match="row 5"):
        fit_glmm(y, c.X, c.clusters)
    with pytest.raises(ModelInputError, match="non-negative integer"):
        fit_glmm(-c.y, c.X, c.clusters, family="poisson")
    X = c.X.copy()
    X.loc[7, "x"] = np.nan
    with pytest.raises(ModelInputError, match="row 7, x"):
        fit_glmm(c.y, X, c.clusters)
    with pytest.raises(ModelInputError, match="two clusters"):
        fit_glmm(c.y, c.X, np.zeros(len(c.y), dtype=int))
    with pytest.raises(ModelInputError, match="n_agq"):
        fit_glmm(c.y, c.X, c.clusters, n_agq=26)
    with pytest.raises(ModelInputError, match="df_method"):
        fit_glmm(c.y, c.X, c.clusters, df_method="kenward-roger")
    with pytest.raises(ModelInputError, match="family"):
        fit_glmm(c.y, c.X, c.clusters, family="gamma")
    with pytest.raises(ModelInputError, match="rank deficient"):
        fit_glmm(c.y, c.X.assign(x2=2 * c.X["x"]), c.clusters)


def test_separation_is_an_error_not_an_estimate() -> None:
    c = case("trial")
    X = c.X.assign(x=np.where(c.y == 1, 1.0, -1.0) + 0.01 * c.X["x"])
    with pytest.raises(
        ModelFitError,
        match=r"^the GLM fit did not converge: an estimate may be infinite \(separation\)$",
    ):
        fit_glmm(c.y, X, c.clusters, n_agq=1)


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_covariate_units_do_not_change_the_fit(scale: float) -> None:
    """A covariate in other units (x * scale) scales its coefficient and standard error by
    1 / scale and leaves every other estimate, standard error and the likelihood as they were:
    the Newton direction's eigenvalue floor, the convergence test (steps in standard errors)
    and the Hessian's finite-difference steps (fractions of a standard error) must not depend
    on the units."""
    c = case("trial")
    ref = fit_glmm(c.y, c.X, c.clusters, n_agq=3)
    got = fit_glmm(c.y, c.X.assign(x=c.X.x * scale), c.clusters, n_agq=3)
    unit = pd.Series(1.0, index=c.X.columns)
    unit["x"] = scale
    np.testing.assert_allclose(got.params * unit, ref.params, rtol=1e-7)
    np.testing.assert_allclose(
        np.sqrt(np.diag(got.cov)) * unit, np.sqrt(np.diag(ref.cov)), rtol=1e-6
    )
    np.testing.assert_allclose(got.df, ref.df)
    assert got.arrays.theta == pytest.approx(ref.arrays.theta, rel=1e-7)
    assert got.arrays.loglik == pytest.approx(ref.arrays.loglik, rel=1e-12)
    assert got.arrays.n_iter == ref.arrays.n_iter
    assert got.arrays.converged is True


def test_newton_steps_are_measured_in_standard_errors() -> None:
    """The convergence measure is max |d_k| / se_k with se from B^-1 (B minus the Hessian)
    when B is positive definite, else in the units of the guess passed in."""
    d = np.array([0.1, 0.1])
    guess = np.array([1.0, 2.0])
    step, se = _step_in_se(d, np.array([[4.0, 0.0], [0.0, 0.01]]), guess)
    np.testing.assert_allclose(se, [0.5, 10.0])
    assert step == pytest.approx(0.2)
    with np.errstate(invalid="ignore"):  # the square root of a negative variance
        step, se = _step_in_se(d, np.array([[4.0, 0.0], [0.0, -1.0]]), guess)
    np.testing.assert_array_equal(se, guess)
    assert step == pytest.approx(0.1)


def test_a_step_above_the_tolerance_is_reported(monkeypatch) -> None:
    """A fit whose last Newton step is above the convergence tolerance but below the failure
    bound is returned with ``converged`` False and a warning that gives the step; above the
    failure bound it is an error. (The tolerances are tightened so that the optimiser cannot
    meet them on real data.)"""
    from trial.stats import glmm

    c = case("trial")
    monkeypatch.setattr(glmm, "_STEP_TOL", 1e-300)
    with pytest.warns(
        glmm.GLMMConvergenceWarning,
        match=r"^GLMM fit: the last Newton step was \S+ standard errors \(converged below "
        r"1e-300\)$",
    ):
        m = fit_glmm(c.y, c.X, c.clusters, n_agq=1)
    assert not m.arrays.converged
    assert m.arrays.n_iter == 200  # the iteration limit
    # still the optimum: the same estimates and covariance as the converged fit
    monkeypatch.undo()
    ref = fit_glmm(c.y, c.X, c.clusters, n_agq=1)
    se = np.sqrt(np.diag(ref.cov))
    np.testing.assert_allclose(m.params, ref.params, rtol=0, atol=1e-5 * se.min())
    np.testing.assert_allclose(m.cov, ref.cov, rtol=1e-4)
    monkeypatch.setattr(glmm, "_STEP_TOL", 1e-300)
    monkeypatch.setattr(glmm, "_STEP_FAIL", 1e-300)
    with pytest.raises(
        ModelFitError,
        match=r"^the fit did not converge: the last Newton step was \S+ standard errors$",
    ):
        fit_glmm(c.y, c.X, c.clusters, n_agq=1)
