"""Compare trial.stats.glmm with lme4::glmer on committed data.

Fixtures are produced by ``tests/reference/r/glmm.R`` (versions in the fixture's header); R is
not needed to run these tests. Five datasets (``tests/reference/data/glmm/make_data.py``): a
34-cluster binary trial, a boundary fit (cluster variance 0), very unequal cluster sizes
(1-300, five singletons), rare events (3%, 17 of 40 clusters without events) and Poisson counts
with an offset; each at nAGQ 1 (Laplace) and 10, one also at 25.

Tolerances (stated once, used throughout):

* fixed effects, standard errors, theta and the cluster variance: 1e-4 relative (the observed
  agreement is 3e-5 or better); a zero reference (boundary) is matched to 1e-6 absolute;
* the covariance of (beta, theta) from the Hessian, including theta's variance: 1e-3 relative
  (lme4 takes it from finite differences of its deviance with step 1e-4);
* conditional modes of the random intercepts: 1e-4 relative, 1e-5 absolute (a mode near 0
  moves with the estimates, which the reference optimiser finds to ~5e-6 relative);
* log-likelihood: 1e-6 absolute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln, xlogy

from tests.reference.binary_cases import DATASETS, case, fixture
from trial.stats.glmm import GLMMFit, fit_glmm

RTOL = 1e-4
RTOL_COV = 1e-3
ATOL_ZERO = 1e-6
ATOL_MODE = 1e-5
ATOL_LOGLIK = 1e-6

FX = fixture("glmm/glmer.csv")
FITS = [
    (name, int(agq))
    for name in DATASETS
    for agq in sorted(FX.loc[FX.dataset == name, "nagq"].unique())
]
_CACHE: dict[tuple[str, int], GLMMFit] = {}


def _fit(name: str, agq: int) -> GLMMFit:
    if (name, agq) not in _CACHE:
        c = case(name)
        _CACHE[name, agq] = fit_glmm(
            c.y, c.X, c.clusters, family=c.family, offset=c.offset, n_agq=agq
        )
    return _CACHE[name, agq]


def _ref(name: str, agq: int, quantity: str) -> pd.Series:
    sel = FX[(FX.dataset == name) & (FX.nagq == agq) & (FX.quantity == quantity)]
    return pd.Series(sel.value.to_numpy(), index=sel.term.to_numpy())


@pytest.mark.parametrize(("name", "agq"), FITS)
def test_estimates_and_standard_errors(name: str, agq: int) -> None:
    m = _fit(name, agq)
    est = _ref(name, agq, "estimate")
    np.testing.assert_allclose(m.params[est.index], est, rtol=RTOL, err_msg="estimate")
    se = _ref(name, agq, "se")
    se_py = np.sqrt(np.diag(m.cov.loc[se.index, se.index]))
    np.testing.assert_allclose(se_py, se, rtol=RTOL, err_msg="se")


@pytest.mark.parametrize(("name", "agq"), FITS)
def test_variance_component_and_boundary(name: str, agq: int) -> None:
    m = _fit(name, agq)
    theta = float(_ref(name, agq, "theta").iloc[0])
    variance = float(_ref(name, agq, "variance").iloc[0])
    np.testing.assert_allclose(m.theta, theta, rtol=RTOL, atol=ATOL_ZERO)
    np.testing.assert_allclose(m.variance, variance, rtol=RTOL, atol=ATOL_ZERO)
    assert m.at_boundary == bool(_ref(name, agq, "singular").iloc[0])
    assert m.converged


@pytest.mark.parametrize(("name", "agq"), FITS)
def test_loglik(name: str, agq: int) -> None:
    m = _fit(name, agq)
    ll = float(_ref(name, agq, "loglik").iloc[0])
    if m.family == "poisson" and agq > 1:
        # lme4's logLik with nAGQ > 1 leaves out the saturated model's log-likelihood (its
        # deviance residuals are relative to it); the proper marginal log-likelihood is ours
        y = case(name).y.to_numpy(dtype=float)
        ll += float(np.sum(xlogy(y, y) - y - gammaln(y + 1.0)))
    assert abs(m.loglik - ll) < ATOL_LOGLIK, (m.loglik, ll)


@pytest.mark.parametrize(("name", "agq"), FITS)
def test_covariance_with_theta(name: str, agq: int) -> None:
    m = _fit(name, agq)
    if m.at_boundary:
        # lme4's Hessian at theta ~ 0 has no usable theta row; the beta block is tested above
        assert np.isnan(m.arrays.cov_full[-1]).all()
        return
    ref = _ref(name, agq, "cov_full")
    names = list(m.terms) + ["theta"]
    got = pd.DataFrame(m.arrays.cov_full, index=names, columns=names)
    for key, value in ref.items():
        row, col = key.split(":")
        np.testing.assert_allclose(got.loc[row, col], value, rtol=RTOL_COV, err_msg=key)


@pytest.mark.parametrize(("name", "agq"), FITS)
def test_conditional_modes(name: str, agq: int) -> None:
    m = _fit(name, agq)
    ref = _ref(name, agq, "ranef")
    labels = pd.unique(case(name).clusters)  # the order of the cluster codes
    got = pd.Series(m.cluster_effects, index=labels)
    np.testing.assert_allclose(got[ref.index], ref, rtol=RTOL, atol=ATOL_MODE)
