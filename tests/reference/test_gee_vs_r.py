"""Compare trial.stats.gee with geepack::geeglm and with hand-written bias corrections in R.

Fixtures are produced by ``tests/reference/r/gee.R`` (versions in the fixture's header). The
Mancl-DeRouen, Kauermann-Carroll and Fay-Graubard covariances in the fixture are computed in R
from their published formulas with the full cluster matrices (the R packages that provide them
cannot be installed here); the script first checks that its uncorrected sandwich equals
geepack's. The Mancl-DeRouen covariance is also compared with statsmodels'
``cov_type="bias_reduced"`` (same fixed point with ``ddof_scale=0``).

Tolerance: 1e-5 relative for estimates, working correlation, scale, every covariance entry, t
statistics and interval limits; p-values 1e-7 absolute. (The observed agreement is 1e-8 or
better: both sides solve the same equations to ~1e-12.)
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tests.reference.binary_cases import DATA, case, fixture
from trial.stats.gee import COVARIANCES, GEEFit, fit_gee

RTOL = 1e-5
ATOL_P = 1e-7

FX = fixture("gee/geeglm.csv")
DATASETS = list(pd.unique(FX.dataset))
_CACHE: dict[str, GEEFit] = {}


def _inputs(name: str) -> tuple[pd.Series, pd.DataFrame, pd.Series, str, np.ndarray | None]:
    if name == "refocus":
        d = pd.read_csv(DATA.parent / "mixed" / "refocus.csv")
        X = pd.DataFrame(
            {"(Intercept)": 1.0, "arm": d.arm * 1.0, "baseline": d.baseline, "stratum": d.stratum}
        ).astype(float)
        return d.y, X, d.cluster, "gaussian", None
    c = case(name)
    return c.y, c.X, c.clusters, c.family, c.offset


def _fit(name: str) -> GEEFit:
    if name not in _CACHE:
        y, X, clusters, family, offset = _inputs(name)
        _CACHE[name] = fit_gee(y, X, clusters, family=family, offset=offset)
    return _CACHE[name]


def _ref(name: str, quantity: str) -> pd.Series:
    sel = FX[(FX.dataset == name) & (FX.quantity == quantity)]
    return pd.Series(sel.value.to_numpy(), index=sel.term.to_numpy())


def _matrix(name: str, quantity: str, terms: tuple[str, ...]) -> np.ndarray:
    ref = _ref(name, quantity)
    out = pd.DataFrame(np.nan, index=list(terms), columns=list(terms))
    for key, value in ref.items():
        row, col = key.split(":")
        out.loc[row, col] = value
    return out.to_numpy()


@pytest.mark.parametrize("name", DATASETS)
def test_estimates_correlation_and_scale(name: str) -> None:
    m = _fit(name)
    est = _ref(name, "estimate")
    np.testing.assert_allclose(m.params[est.index], est, rtol=RTOL)
    np.testing.assert_allclose(m.alpha, _ref(name, "alpha").iloc[0], rtol=RTOL)
    np.testing.assert_allclose(m.icc, m.alpha)
    np.testing.assert_allclose(m.scale, _ref(name, "scale").iloc[0], rtol=RTOL)
    se = _ref(name, "se_geepack")
    np.testing.assert_allclose(np.sqrt(np.diag(m.covariances.robust)), se[list(m.terms)], rtol=RTOL)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("kind", [k.replace("-", "_") for k in COVARIANCES])
def test_covariances(name: str, kind: str) -> None:
    m = _fit(name)
    ref = _matrix(name, f"cov_{kind}", m.terms)
    np.testing.assert_allclose(getattr(m.covariances, kind), ref, rtol=RTOL)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("kind", ["mancl-derouen", "kauermann-carroll", "fay-graubard"])
def test_t_inference_on_clusters_minus_p(name: str, kind: str) -> None:
    y, X, clusters, family, offset = _inputs(name)
    m = fit_gee(y, X, clusters, family=family, offset=offset, cov_type=kind)
    assert (m.df == clusters.nunique() - X.shape[1]).all()
    row = m.summary_table().set_index("term").loc["arm"]
    key = kind.replace("-", "_")
    np.testing.assert_allclose(row["t"], _ref(name, f"t_{key}").iloc[0], rtol=RTOL)
    np.testing.assert_allclose(row["p"], _ref(name, f"p_{key}").iloc[0], rtol=0, atol=ATOL_P)
    np.testing.assert_allclose(row["ci_low"], _ref(name, f"ci_low_{key}").iloc[0], rtol=RTOL)
    np.testing.assert_allclose(row["ci_high"], _ref(name, f"ci_high_{key}").iloc[0], rtol=RTOL)


@pytest.mark.parametrize("name", ["trial", "rare", "counts"])
def test_mancl_derouen_equals_statsmodels_bias_reduced(name: str) -> None:
    y, X, clusters, family, offset = _inputs(name)
    fam = sm.families.Binomial() if family == "binomial" else sm.families.Poisson()
    model = sm.GEE(
        y, X, groups=clusters, family=fam, cov_struct=sm.cov_struct.Exchangeable(), offset=offset
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(ddof_scale=0, ctol=1e-12, maxiter=500, cov_type="bias_reduced")
    m = _fit(name)
    np.testing.assert_allclose(m.params, res.params, rtol=RTOL)
    np.testing.assert_allclose(m.alpha, res.cov_struct.dep_params, rtol=RTOL)
    np.testing.assert_allclose(m.covariances.mancl_derouen, res.cov_params(), rtol=RTOL)
