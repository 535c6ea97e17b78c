"""Compare trial.stats.marginal with standardised risks computed by hand in R.

The R side (``tests/reference/r/glmm.R`` for the GLMM at nAGQ 10, ``tests/reference/r/gee.R``
for GEE with the Mancl-DeRouen covariance) sets the arm column to 1 and 0 for every analysed
individual, integrates the predicted risk over the random intercept with ``integrate()`` (or
predicts at a random intercept of 0), and takes delta-method standard errors from numDeriv's
Jacobian, t intervals on the between-within (GLMM) or J - p (GEE) df. The Python side uses
Gauss-Hermite quadrature and analytic gradients.

Tolerance: 1e-5 relative for risks, contrasts, standard errors and interval limits; 1e-4
relative for p-values (a p-value's relative error is about |t| times that of t). The Python
fit and lme4's differ by up to ~5e-6 relative, which bounds the agreement of everything
computed from them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.reference.binary_cases import case, fixture
from trial.stats.gee import fit_gee
from trial.stats.glmm import fit_glmm
from trial.stats.marginal import StandardisedRisks, counterfactual_designs, standardise

RTOL = 1e-5
RTOL_P = 1e-4
GLMM = fixture("glmm/glmer.csv")
GEE = fixture("gee/geeglm.csv")
DATASETS = ["trial", "unequal", "rare"]
MEASURES = {"difference": "difference", "ratio": "ratio", "odds_ratio": "odds_ratio"}


def _check(res: StandardisedRisks, ref: pd.Series, prefix: str, with_p: bool) -> None:
    def close(actual: float, key: str, rtol: float = RTOL) -> None:
        np.testing.assert_allclose(actual, ref[prefix + key], rtol=rtol, err_msg=prefix + key)

    close(res.risk_treated, "risk_treated")
    close(res.risk_control, "risk_control")
    if prefix + "se_treated" in ref:
        close(res.se_treated, "se_treated")
        close(res.se_control, "se_control")
    for key in MEASURES:
        c = getattr(res, key)
        close(c.estimate, f"{key}_estimate")
        close(c.se, f"{key}_se")
        close(c.ci_low, f"{key}_ci_low")
        close(c.ci_high, f"{key}_ci_high")
        if with_p:
            close(c.p, f"{key}_p", RTOL_P)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("random_effects", ["integrated", "zero"])
def test_glmm_standardised_risks(name: str, random_effects: str) -> None:
    c = case(name)
    m = fit_glmm(c.y, c.X, c.clusters, n_agq=10)
    res = standardise(m, *counterfactual_designs(c.X, "arm"), random_effects=random_effects)
    assert res.df == m.df["arm"]
    sel = GLMM[(GLMM.dataset == name) & (GLMM.nagq == 10)]
    ref = pd.Series(sel.value.to_numpy(), index=sel.quantity.to_numpy())
    _check(res, ref, f"marginal_{random_effects}_", with_p=True)


@pytest.mark.parametrize("name", DATASETS)
def test_gee_standardised_risks(name: str) -> None:
    c = case(name)
    m = fit_gee(c.y, c.X, c.clusters, cov_type="mancl-derouen")
    res = standardise(m, *counterfactual_designs(c.X, "arm"))
    assert res.df == c.clusters.nunique() - c.X.shape[1]
    assert res.random_effects == "none"
    sel = GEE[GEE.dataset == name]
    ref = pd.Series(sel.value.to_numpy(), index=sel.quantity.to_numpy())
    _check(res, ref, "marginal_", with_p=False)
