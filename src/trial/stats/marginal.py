"""Marginal (standardised) risks, risk difference, risk ratio and odds ratio from a fitted model.

Standardisation over the analysed individuals (g-computation): every analysed individual is
given the treatment, then the control condition (two counterfactual designs, usually the
analysis design with the arm column set to 1 and to 0), the model's predicted risk is averaged
over the individuals, and the two averages are compared:

.. math::

    \\hat p_a = \\frac{1}{n} \\sum_i \\int \\mathrm{expit}(x_i^{(a)\\prime}\\hat\\beta + o_i
    + \\hat\\theta z)\\,\\phi(z)\\,dz,

the risk difference ``p_1 - p_0``, the risk ratio ``p_1 / p_0`` and the marginal odds ratio
``[p_1 / (1 - p_1)] / [p_0 / (1 - p_0)]``.

For a random-intercept GLMM (:mod:`trial.stats.glmm`) the default
``random_effects="integrated"`` integrates the prediction over the random-intercept
distribution (the integral above, by Gauss-Hermite quadrature with 64 nodes): the risks are
population-averaged, the same estimand as a GEE's, and differ from the conditional odds ratio
``exp(beta_arm)``, which is larger in absolute value (non-collapsibility).
``random_effects="zero"`` predicts for a cluster whose random intercept is 0 (what
``predict(fit, re.form = NA)`` gives in R): a conditional summary, not a population average.
For a GEE (:mod:`trial.stats.gee`) the prediction is the marginal mean ``expit(x' beta)``.

Intervals are delta-method intervals on t: the gradient of each risk with respect to the model
parameters (``beta``, and ``theta`` for the integrated GLMM risks) is analytic, the covariance
is the fit's (for the GLMM the inverse Hessian in ``(beta, theta)``, for GEE the covariance the
fit uses for inference); the risk difference gets its interval on the identity scale, the risk
and odds ratios on the log scale. The df are the fit's df for the treatment coefficient (the
smallest df among the columns in which the two designs differ) unless given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from trial.stats._families import ModelInputError

__all__ = [
    "MarginalContrast",
    "StandardisedRisks",
    "counterfactual_designs",
    "standardise",
]

RANDOM_EFFECTS = ("integrated", "zero")
# Gauss-Hermite nodes for integrating the predicted risk over the random intercept
_N_NODES = 64


@dataclass(frozen=True)
class MarginalContrast:
    """One comparison of the standardised risks.

    Attributes
    ----------
    measure : str
        ``"risk difference"``, ``"risk ratio"`` or ``"odds ratio"``.
    estimate : float
        On the natural scale (a difference, or a ratio).
    se : float
        Standard error on the scale of the interval: the difference itself, the log of a ratio.
    log_scale : bool
        Whether ``se``, ``t`` and the interval were computed on the log scale.
    df, t, p : float
        Degrees of freedom, t statistic (against 0, or against 1 for ratios) and two-sided p.
    ci_low, ci_high : float
        ``1 - alpha`` interval on the natural scale.
    alpha : float
    """

    measure: str
    estimate: float
    se: float
    log_scale: bool
    df: float
    t: float
    p: float
    ci_low: float
    ci_high: float
    alpha: float


@dataclass(frozen=True)
class StandardisedRisks:
    """Standardised risks under treatment and control and their comparisons.

    Attributes
    ----------
    risk_treated, risk_control : float
        Average predicted risk of the analysed individuals under each condition.
    se_treated, se_control : float
        Their delta-method standard errors.
    covariance : float
        Delta-method covariance of the two risks.
    difference, ratio, odds_ratio : MarginalContrast
        Risk difference (treated minus control), risk ratio and odds ratio (treated over
        control).
    df : float
        Degrees of freedom of the t intervals.
    n_obs : int
        Number of individuals standardised over.
    random_effects : str
        ``"integrated"`` or ``"zero"`` for a GLMM, ``"none"`` for a GEE.
    """

    risk_treated: float
    risk_control: float
    se_treated: float
    se_control: float
    covariance: float
    difference: MarginalContrast
    ratio: MarginalContrast
    odds_ratio: MarginalContrast
    df: float
    n_obs: int
    random_effects: str


def counterfactual_designs(X: Any, column: int | str) -> tuple[Any, Any]:
    """Copies of the design with ``column`` set to 1 (treated) and to 0 (control).

    Parameters
    ----------
    X : pandas.DataFrame or numpy.ndarray, shape (n, p)
        The analysis design.
    column : str or int
        The treatment column: a name for a DataFrame, an index for an array. Terms built from
        it (interactions) must be rebuilt by the caller, who then passes both designs to
        :func:`standardise` directly.

    Returns
    -------
    (X_treated, X_control)
    """
    if isinstance(X, pd.DataFrame):
        if column not in X.columns:
            raise ModelInputError(f"no column {column!r} in the design")
        return X.assign(**{str(column): 1.0}), X.assign(**{str(column): 0.0})
    Xa = np.array(X, dtype=float)
    X1, X0 = Xa.copy(), Xa.copy()
    X1[:, column] = 1.0
    X0[:, column] = 0.0
    return X1, X0


def _contrast(
    measure: str,
    value: float,
    grad: np.ndarray,
    cov: np.ndarray,
    log: bool,
    df: float,
    alpha: float,
) -> MarginalContrast:
    var = float(grad @ cov @ grad)
    se = math.sqrt(var) if var > 0 else float("nan")
    centre = math.log(value) if log else value
    t = centre / se
    q = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    lo, hi = centre - q * se, centre + q * se
    if log:
        lo, hi = math.exp(lo), math.exp(hi)
    p = float(2.0 * stats.t.sf(abs(t), df))
    return MarginalContrast(measure, value, se, log, df, t, p, lo, hi, alpha)


def standardise(
    fit: Any,
    X_treated: Any,
    X_control: Any,
    *,
    offset: np.ndarray | None = None,
    random_effects: str = "integrated",
    df: float | None = None,
    alpha: float = 0.05,
) -> StandardisedRisks:
    """Standardised risks, risk difference, risk ratio and odds ratio with delta-method CIs.

    Parameters
    ----------
    fit : GLMMFit, GLMMArrayFit, GEEFit or GEEArrayFit
        A binomial (logit) fit.
    X_treated, X_control : pandas.DataFrame or numpy.ndarray, shape (n, p)
        The analysed individuals' design under treatment and under control, columns in the
        fit's order (see :func:`counterfactual_designs`).
    offset : numpy.ndarray, shape (n,), optional
        The fit's offset for these individuals.
    random_effects : {"integrated", "zero"}
        For a GLMM: integrate the predictions over the random intercept (population-averaged
        risks, the default) or predict at a random intercept of 0. Ignored for GEE.
    df : float, optional
        Degrees of freedom of the t intervals; by default the fit's df of the treatment
        coefficient (the smallest df of the columns in which the two designs differ).
    alpha : float, default 0.05
        Level of the intervals.

    Returns
    -------
    StandardisedRisks
    """
    arr = getattr(fit, "arrays", fit)
    if getattr(arr, "family", None) != "binomial":
        raise ModelInputError("standardised risks need a binomial (logit) fit")
    if random_effects not in RANDOM_EFFECTS:
        raise ModelInputError(
            f"random_effects must be one of {RANDOM_EFFECTS}, got {random_effects!r}"
        )
    X1 = np.asarray(X_treated, dtype=float)
    X0 = np.asarray(X_control, dtype=float)
    p = arr.beta.size
    if X1.shape != X0.shape or X1.ndim != 2 or X1.shape[1] != p:
        raise ModelInputError(
            f"the two designs must have the same shape (n, {p}); got {X1.shape} and {X0.shape}"
        )
    n = X1.shape[0]
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    differs = np.any(X1 != X0, axis=0)
    if not differs.any():
        raise ModelInputError("the treated and control designs are identical")
    if df is None:
        df = float(np.min(arr.df[differs]))

    glmm = hasattr(arr, "theta")
    if glmm and random_effects == "integrated" and arr.theta > 0:
        z, w = np.polynomial.hermite_e.hermegauss(_N_NODES)
        w = w / w.sum()
        theta = arr.theta
        cov = arr.cov_full if not arr.at_boundary else None
    else:
        z, w, theta = np.zeros(1), np.ones(1), 0.0
        cov = None
    if cov is None or not np.all(np.isfinite(cov)):
        cov = np.zeros((p + 1, p + 1))
        cov[:p, :p] = arr.cov
    risks, grads = [], []
    for X in (X1, X0):
        mu = special.expit((X @ arr.beta + off)[:, None] + theta * z)  # (n, K)
        dmu = mu * (1.0 - mu)
        risks.append(float(np.mean(mu @ w)))
        grads.append(np.r_[X.T @ (dmu @ w) / n, np.mean(dmu @ (w * z))])
    (r1, r0), (g1, g0) = risks, grads
    cov12 = float(g1 @ cov @ g0)
    re_label = "none" if not glmm else random_effects
    return StandardisedRisks(
        risk_treated=r1,
        risk_control=r0,
        se_treated=math.sqrt(float(g1 @ cov @ g1)),
        se_control=math.sqrt(float(g0 @ cov @ g0)),
        covariance=cov12,
        difference=_contrast("risk difference", r1 - r0, g1 - g0, cov, False, df, alpha),
        ratio=_contrast("risk ratio", r1 / r0, g1 / r1 - g0 / r0, cov, True, df, alpha),
        odds_ratio=_contrast(
            "odds ratio",
            (r1 / (1 - r1)) / (r0 / (1 - r0)),
            g1 / (r1 * (1 - r1)) - g0 / (r0 * (1 - r0)),
            cov,
            True,
            df,
            alpha,
        ),
        df=df,
        n_obs=n,
        random_effects=re_label,
    )
