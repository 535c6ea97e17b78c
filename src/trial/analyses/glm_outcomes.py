"""The analysis model of a binomial or poisson outcome, fitted on one (completed) table.

The method is the config's ``analysis.non_gaussian.method``:

``glmm`` (default)
    Random-intercept GLMM (logit or log link) fitted by maximum likelihood with adaptive
    Gauss-Hermite quadrature, ``n_agq`` nodes per cluster (:func:`trial.stats.glmm.fit_glmm`);
    cluster-specific (conditional) log odds or log rate ratios, t on between-within df.
``gee``
    GEE with an exchangeable working correlation and the configured bias-corrected sandwich
    covariance (:func:`trial.stats.gee.fit_gee`); population-averaged log odds or log rate
    ratios, t on clusters minus coefficients.

For a binomial outcome the marginal risks under each treatment arm and under the reference arm
are standardised over the analysed individuals (:func:`trial.stats.marginal.standardise`,
integrating over the random intercept for a GLMM), giving the risk difference, risk ratio and
marginal odds ratio with their delta-method variances; they are pooled over imputations like
the model's coefficients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from trial.config.vocabulary import Config
from trial.stats.gee import fit_gee
from trial.stats.glmm import fit_glmm
from trial.stats.marginal import standardise

#: The ``measure`` column of each family's model coefficient.
MODEL_MEASURES = {"binomial": "log odds ratio", "poisson": "log rate ratio"}
#: Marginal measures of a binomial outcome: (config name, label, column stem, log scale).
MARGINAL_MEASURES = (
    ("odds_ratio", "marginal odds ratio", "log_marginal_or", True),
    ("risk_difference", "risk difference", "risk_difference", False),
    ("risk_ratio", "risk ratio", "log_risk_ratio", True),
)
# Gauss-Hermite nodes of the proportion-scale ICC integral
_N_NODES = 64


@dataclass(frozen=True)
class OutcomeModelFit:
    """A fitted binomial or poisson analysis model with what the fit tables record.

    Attributes
    ----------
    fit : trial.stats.glmm.GLMMFit or trial.stats.gee.GEEFit
        The labelled fit (``params``, ``cov``, ``df``, ``contrast``, ``f_test``).
    model : str
        Plain description of the model, e.g. ``GLMM (adaptive Gauss-Hermite, 10 nodes)``.
    df_method : str
        ``between-within`` (GLMM) or ``clusters-p`` (GEE).
    var_cluster : float
        Random-intercept variance on the link scale (GLMM); NaN for GEE.
    var_residual : float
        Level-1 variance of the latent logistic response, pi^2 / 3 (binomial GLMM); NaN
        otherwise.
    icc : float
        Binomial GLMM: ICC on the latent (logit) scale. GEE: the working correlation (for a
        binary outcome the ICC on the proportion scale). NaN for a poisson GLMM.
    icc_proportion : float
        ICC on the proportion scale: for a binomial GLMM, the variance over clusters of the
        risk at the average linear predictor of the analysed individuals over its Bernoulli
        variance, ``Var_b[expit(eta + b)] / (p (1 - p))`` with ``p = E_b[expit(eta + b)]``;
        for a binomial GEE the working correlation; NaN for poisson outcomes.
    converged, at_boundary : bool
    """

    fit: Any
    model: str
    df_method: str
    var_cluster: float
    var_residual: float
    icc: float
    icc_proportion: float
    converged: bool
    at_boundary: bool


def fit_outcome_model(
    config: Config, y: pd.Series, X: pd.DataFrame, clusters: Any, family: str
) -> OutcomeModelFit:
    """Fit the configured model of a binomial or poisson outcome (see the module docstring)."""
    spec = config["analysis"]["non_gaussian"]
    if spec["method"] == "gee":
        covariance = spec["gee_covariance"]
        gee = fit_gee(y, X, clusters, family=family, cov_type=covariance)
        alpha = float(gee.arrays.alpha)
        return OutcomeModelFit(
            fit=gee,
            model=f"GEE (exchangeable, {covariance} covariance)",
            df_method="clusters-p",
            var_cluster=math.nan,
            var_residual=math.nan,
            icc=alpha,
            icc_proportion=alpha if family == "binomial" else math.nan,
            converged=True,  # fit_gee raises unless it converged
            at_boundary=False,
        )
    n_agq = int(spec["n_agq"])
    glmm = fit_glmm(y, X, clusters, family=family, n_agq=n_agq, df_method="between-within")
    arrays = glmm.arrays
    binomial = family == "binomial"
    eta = float(np.mean(np.asarray(X, dtype=float) @ arrays.beta))
    return OutcomeModelFit(
        fit=glmm,
        model=("GLMM (Laplace)" if n_agq == 1 else f"GLMM (adaptive Gauss-Hermite, {n_agq} nodes)"),
        df_method="between-within",
        var_cluster=float(arrays.variance),
        var_residual=math.pi**2 / 3 if binomial else math.nan,
        icc=float(arrays.icc_latent) if binomial else math.nan,
        icc_proportion=proportion_icc(eta, arrays.theta) if binomial else math.nan,
        converged=bool(arrays.converged),
        at_boundary=bool(arrays.at_boundary),
    )


def proportion_icc(eta: float, theta: float) -> float:
    """ICC on the proportion scale of a logistic random-intercept model at linear predictor
    ``eta`` and random-intercept SD ``theta``: ``Var_b[expit(eta + b)] / (p (1 - p))``,
    ``p = E_b[expit(eta + b)]``, ``b ~ N(0, theta^2)`` (by Gauss-Hermite quadrature)."""
    z, w = np.polynomial.hermite_e.hermegauss(_N_NODES)
    w = w / w.sum()
    risk = special.expit(eta + theta * z)
    p = float(w @ risk)
    return float(w @ (risk - p) ** 2) / (p * (1.0 - p))


def marginal_columns(
    outcome_fit: OutcomeModelFit, X: pd.DataFrame, arm_columns: list[str], arm_column: str
) -> dict[str, float]:
    """Standardised risks of one treatment arm and of the reference arm, and their comparisons.

    The treated design sets ``arm_column`` to 1 and the other treatment arms' columns to 0; the
    reference design sets every treatment arm's column to 0. Each comparison is recorded on
    its analysis scale (the difference, or the log of a ratio) with its delta-method variance
    (``<stem>`` and ``<stem>_variance``), beside the two risks and the df.
    """
    treated = X.assign(**{c: 0.0 for c in arm_columns}).assign(**{arm_column: 1.0})
    reference = X.assign(**{c: 0.0 for c in arm_columns})
    risks = standardise(outcome_fit.fit, treated, reference)
    out = {
        "risk_treated": risks.risk_treated,
        "risk_reference": risks.risk_control,
        "marginal_df": risks.df,
    }
    for contrast, (_, _, stem, log) in zip(
        (risks.odds_ratio, risks.difference, risks.ratio), MARGINAL_MEASURES, strict=True
    ):
        out[stem] = math.log(contrast.estimate) if log else contrast.estimate
        out[f"{stem}_variance"] = contrast.se**2
    return out
