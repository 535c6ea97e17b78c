"""The statistical kernels do not depend on the unit of measurement.

Multiplying the outcome by ``c`` (an outcome recorded in pence instead of pounds, QALYs in
thousandths) must multiply estimates, standard errors and confidence limits by ``c``, variance
components by ``c^2``, shift the log-likelihood by ``-dof log c``, and leave every df, t, F, p,
ICC and boundary flag unchanged. The same holds for a covariate multiplied by ``c`` (its
coefficient divides by ``c``). Checked at ``c = 1e-6`` and ``1e6`` against ``c = 1`` for every df
method, REML and ML, the single and the nested random-intercept model, a fit on the boundary,
and for Rubin's rules, D1 and the two-stage bootstrap's shrinkage.

The invariance is exact in exact arithmetic. Rounding takes the optimiser along a slightly
different path at each scale, so the tolerance ``RTOL`` is that of the optimum itself: the
nested model's search stops at a Newton decrement of 1e-12, which leaves its variance ratios
within a few 1e-7 of lme4's (the R reference tests allow 1e-5). p-values below 1e-12 are
compared in absolute terms.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trial.stats.bootstrap import (
    ClusterLayout,
    shrink_two_stage,
    shrinkage_factors,
    weighted_ols_coefficient,
)
from trial.stats.mixed import fit_random_intercept_model
from trial.stats.pooling import pool_d1, pool_rubin

DATA = Path(__file__).resolve().parents[2] / "reference" / "data" / "mixed"
SCALES = [1e-6, 1e6]
RTOL = 1e-5
ATOL_P = 1e-12

# (df method, REML)
FITS = [
    ("kenward-roger", True),
    ("satterthwaite", True),
    ("satterthwaite", False),
    ("between-within", True),
    ("between-within", False),
]


def _data(name: str) -> tuple[pd.Series, pd.DataFrame, pd.Series, pd.Series | None, list[str]]:
    """Outcome, design, clusters, nested labels and the terms of a multi-df test."""
    if name == "nlschools":  # MASS::nlschools, real data: 2287 pupils in 133 classes
        d = pd.read_csv(DATA / "nlschools.csv")
        X = pd.DataFrame({"(Intercept)": 1.0, "IQ": d.IQ, "SES": d.SES, "COMB": d.COMB, "GS": d.GS})
        return d.lang.astype(float), X, d["class"], None, ["IQ", "COMB", "GS"]
    if name == "boundary":  # cluster variance estimated as zero
        d = pd.read_csv(DATA / "boundary.csv")
        X = pd.DataFrame({"(Intercept)": 1.0, "arm": d.arm.astype(float), "x": d.x})
        return d.y, X, d.cluster, None, ["arm", "x"]
    d = pd.read_csv(DATA / "nested.csv")  # repeated measures of consumers within teams
    cols: dict[str, object] = {"(Intercept)": 1.0, "arm": d.arm.astype(float)}
    for t in range(1, 5):
        cols[f"time{t}"] = (d.time == t).astype(float)
    for t in range(1, 5):
        cols[f"arm:time{t}"] = d.arm * (d.time == t)
    return d.y, pd.DataFrame(cols), d.team, d.consumer, [f"arm:time{t}" for t in range(1, 5)]


_CACHE: dict[tuple, object] = {}


def _fit(name: str, method: str, reml: bool, c: float, covariate: float = 1.0):
    key = (name, method, reml, c, covariate)
    if key not in _CACHE:
        y, X, cl, ne, _ = _data(name)
        X = X.astype(float)
        X.iloc[:, 1:] *= covariate
        _CACHE[key] = fit_random_intercept_model(
            y * c, X, cl, nested=ne, reml=reml, df_method=method
        )
    return _CACHE[key]


def _same(a: object, b: object, what: str, rtol: float = RTOL, atol: float = 0.0) -> None:
    np.testing.assert_allclose(
        np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=atol, err_msg=what
    )


def _contrast_weights(X: pd.DataFrame) -> pd.Series:
    # a two-coefficient contrast: the last term minus half the second
    return pd.Series({X.columns[-1]: 1.0, X.columns[1]: -0.5})


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize(("method", "reml"), FITS)
@pytest.mark.parametrize("name", ["nlschools", "nested", "boundary"])
def test_outcome_unit_does_not_change_inference(name: str, method: str, reml: bool, c: float):
    ref = _fit(name, method, reml, 1.0)
    fit = _fit(name, method, reml, c)
    _same(
        fit.params / c,
        ref.params,
        "estimates scale with the outcome",
        atol=RTOL * ref.arrays.se.max(),
    )
    _same(np.asarray(fit.cov) / c**2, np.asarray(ref.cov), "covariance scales with c^2")
    _same(np.asarray(fit.cov_unadjusted) / c**2, np.asarray(ref.cov_unadjusted), "raw covariance")
    _same(fit.variance_components / c**2, ref.variance_components, "variance components")
    assert fit.icc == pytest.approx(ref.icc, rel=RTOL)
    assert fit.at_boundary == ref.at_boundary
    assert fit.converged == ref.converged
    dof = fit.n_obs - len(fit.params) if reml else fit.n_obs
    assert fit.loglik == pytest.approx(ref.loglik - dof * math.log(c), rel=1e-9, abs=1e-6)
    tab, tref = fit.summary_table(), ref.summary_table()
    for col in ("df", "t"):
        _same(tab[col], tref[col], f"per-coefficient {col}")
    _same(tab["p"], tref["p"], "per-coefficient p", atol=ATOL_P)
    _same(tab["se"] / c, tref["se"], "per-coefficient se")
    # an estimate or limit near zero is compared on the scale of its standard error
    for col in ("estimate", "ci_low", "ci_high"):
        _same(tab[col] / c, tref[col], f"per-coefficient {col}", atol=RTOL * tref["se"].max())

    y, X, *_, terms = _data(name)
    w = _contrast_weights(X)
    con, cref = fit.contrast(w), ref.contrast(w)
    for attr in ("df", "t"):
        _same(getattr(con, attr), getattr(cref, attr), f"contrast {attr}")
    _same(con.p, cref.p, "contrast p", atol=ATOL_P)
    _same(con.se / c, cref.se, "contrast se")
    for attr in ("estimate", "ci_low", "ci_high"):
        _same(getattr(con, attr) / c, getattr(cref, attr), f"contrast {attr}", atol=RTOL * cref.se)

    L = pd.DataFrame(
        np.eye(X.shape[1])[[list(X.columns).index(t) for t in terms]], columns=X.columns
    )
    ft, fref = fit.f_test(L), ref.f_test(L)
    for attr in ("F", "num_df", "den_df", "F_unscaled", "scale"):
        _same(getattr(ft, attr), getattr(fref, attr), f"F test {attr}")
    _same(ft.p, fref.p, "F test p", atol=ATOL_P)


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize(("method", "reml"), FITS)
@pytest.mark.parametrize("name", ["nlschools", "nested"])
def test_covariate_unit_does_not_change_inference(name: str, method: str, reml: bool, c: float):
    """Every non-intercept column times ``c``: coefficients divide by ``c``, inference is kept."""
    ref = _fit(name, method, reml, 1.0)
    fit = _fit(name, method, reml, 1.0, covariate=c)
    _same(fit.params.iloc[1:] * c, ref.params.iloc[1:], "slopes scale with 1 / c")
    _same(fit.params.iloc[0], ref.params.iloc[0], "intercept")
    _same(fit.variance_components, ref.variance_components, "variance components")
    tab, tref = fit.summary_table(), ref.summary_table()
    for col in ("df", "t", "p"):
        _same(tab[col], tref[col], f"per-coefficient {col}")


def test_between_within_levels_of_a_tiny_covariate() -> None:
    """A covariate varying within clusters stays a within-cluster term however small its unit.

    nlschools: the between-within df of IQ (varies within classes) is observations minus
    classes minus one within-class parameter each for IQ and SES, 2287 - 133 - 2 = 2152; COMB
    (constant within class) gets classes minus the class-level parameters, 133 - 3 = 130.
    """
    for c in (1e-12, 1.0, 1e12):
        fit = _fit("nlschools", "between-within", True, 1.0, covariate=c)
        assert fit.df["IQ"] == 2152 and fit.df["SES"] == 2152, c
        assert fit.df["COMB"] == 130 and fit.df["GS"] == 130, c


# -- pooling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize("df_complete", [12.0, math.inf])
def test_rubin_unit_free(c: float, df_complete: float) -> None:
    rng = np.random.default_rng(5)
    est = rng.normal(0.4, 0.1, size=7)
    var = rng.uniform(0.01, 0.03, size=7)
    ref = pool_rubin(est, var, df_complete=df_complete)
    res = pool_rubin(est * c, var * c**2, df_complete=df_complete)
    for attr in ("df", "t", "p", "riv", "lambda_", "fmi"):
        _same(getattr(res, attr), getattr(ref, attr), attr, rtol=1e-12)
    for attr in ("estimate", "se", "ci_low", "ci_high", "mc_se"):
        _same(getattr(res, attr) / c, getattr(ref, attr), attr, rtol=1e-12)
    for attr in ("within", "between", "total"):
        _same(getattr(res, attr) / c**2, getattr(ref, attr), attr, rtol=1e-12)


@pytest.mark.parametrize("c", SCALES)
@pytest.mark.parametrize("df_complete", [30.0, math.inf])
def test_d1_unit_free(c: float, df_complete: float) -> None:
    """One parameter in small units, one in large: D1 is invariant to each unit separately."""
    rng = np.random.default_rng(6)
    est = rng.normal([0.3, -0.2], 0.1, size=(6, 2))
    cov = np.array([[[0.02, 0.004], [0.004, 0.03]]] * 6) * rng.uniform(0.8, 1.2, size=(6, 1, 1))
    ref = pool_d1(est, cov, df_complete=df_complete)
    s = np.array([c, 1.0 / c])
    res = pool_d1(est * s, cov * np.outer(s, s), df_complete=df_complete)
    for attr in ("F", "den_df", "p", "riv"):
        _same(getattr(res, attr), getattr(ref, attr), attr, rtol=1e-9)


# -- two-stage bootstrap ----------------------------------------------------------------------


@pytest.mark.parametrize("c", SCALES)
def test_shrinkage_unit_free(c: float) -> None:
    rng = np.random.default_rng(8)
    sizes = rng.integers(3, 9, size=10)
    cl = np.repeat(np.arange(10), sizes)
    grp = np.repeat(np.arange(10) % 2, sizes)
    y = rng.normal(size=cl.size) + rng.normal(0, 0.5, size=10)[cl]
    layout = ClusterLayout.from_labels(cl, grp)
    ref, res = shrinkage_factors(y, layout), shrinkage_factors(y * c, layout)
    assert ref.c > 0  # the between-cluster variance is estimated as positive
    assert res.c == pytest.approx(ref.c, rel=1e-10)
    assert res.d == pytest.approx(ref.d, rel=1e-12)
    assert res.sigma2_between / c**2 == pytest.approx(ref.sigma2_between, rel=1e-10)
    assert res.sigma2_within / c**2 == pytest.approx(ref.sigma2_within, rel=1e-10)
    _same(shrink_two_stage(y * c, layout) / c, shrink_two_stage(y, layout), "shrunk data", 1e-10)
    X = np.column_stack([np.ones(cl.size), grp, rng.normal(size=cl.size) * c])
    W = rng.integers(0, 3, size=(4, cl.size))
    got = weighted_ols_coefficient(y * c, X, W, column=2)
    X1 = X.copy()
    X1[:, 2] /= c
    _same(got, weighted_ols_coefficient(y, X1, W, column=2), "weighted OLS slope", 1e-8)
