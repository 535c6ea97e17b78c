"""The cost and effect regressions of one completed data set (:func:`fit_costs`).

The adjusted cost difference (follow-up cost on arm, baseline cost, strata and covariates) by
least squares (the estimator the bootstrap resamples), by a random-intercept mixed model with
small-sample df, and by a gamma GLM with log link and cluster-robust standard errors (ratio of
means and recycled-prediction difference); plus the least-squares incremental effect on the
effect scale, among the individuals whose effect score the declared estimands define
(:mod:`trial.analyses.estimands`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from trial.analyses.costs.spec import CostConfigError
from trial.analyses.costs.use import delivery_cost
from trial.analyses.design import Design, build_design, term_effect
from trial.analyses.estimands import score_defined
from trial.config.vocabulary import (
    COST,
    COST_BASELINE,
    TREATMENT,
    Config,
    arm_term,
    effect_scale,
    followup_column,
)
from trial.stats.bootstrap import weighted_ols_coefficient
from trial.stats.mixed import fit_random_intercept_model

__all__ = ["analysed_rows", "cost_design", "fit_costs"]


def analysed_rows(config: Config, table: pd.DataFrame, scale: str) -> np.ndarray:
    """Rows analysed for ``scale``: every row for cost; for the effect, the rows whose score the
    declared estimands define (:func:`trial.analyses.estimands.score_defined`)."""
    if scale == COST:
        return np.ones(len(table), dtype=bool)
    return score_defined(config, table)


def cost_design(config: Config, table: pd.DataFrame, scale: str) -> Design:
    """The design of ``scale`` on its analysed rows (:func:`analysed_rows`); the follow-up cost
    includes the intervention's delivery cost (:func:`trial.analyses.costs.use.delivery_cost`).

    Raises
    ------
    CostConfigError
        Missing values remain in the outcome or its covariates (the table is not completed).
    """
    rows = analysed_rows(config, table, scale)
    design = build_design(config, table, scale, rows)
    if scale == COST:
        design = replace(design, y=design.y + delivery_cost(config, table[rows]))
    if not (np.all(np.isfinite(design.X)) and np.all(np.isfinite(design.y))):
        raise CostConfigError(
            f"the {scale!r} analysis needs a completed table: missing values remain in "
            f"{followup_column(scale)!r} or its covariates"
        )
    return design


def _cluster_level_parameters(design: Design) -> int:
    """Intercept, arm and strata dummies: the parameters estimated between clusters."""
    constant = design.frame().groupby(design.clusters).nunique().le(1).all()
    return int(constant.sum())


def fit_costs(config: Config, table: pd.DataFrame) -> pd.DataFrame:
    """Cost and effect analyses of one completed data set (rows in the treatment-minus-reference
    direction; pooling turns them to the reported direction).

    Returns
    -------
    pandas.DataFrame
        One row per ``method``: ``mixed`` (random-intercept LMM of follow-up cost, the configured
        df method), ``ols`` (least squares, the bootstrap's estimator; variance left blank),
        ``glm_log_ratio`` (gamma GLM with log link, log ratio of means, cluster-robust variance),
        ``glm_difference`` (its recycled-prediction mean difference, delta-method variance),
        ``effect_ols`` (least-squares incremental effect on the effect scale), with
        ``estimate, variance, df, df_method, n_individuals, n_clusters`` and means by arm.
    """
    # the two modules used, not statsmodels.api (which imports every statsmodels subpackage)
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    df_method = config["analysis"]["df_method"]
    term = arm_term(config)
    design = cost_design(config, table, COST)
    y, column = design.y, design.column(term)
    n_clusters = int(pd.Series(design.clusters).nunique())
    base = {"n_individuals": len(y), "n_clusters": n_clusters}
    rows = []
    fit = fit_random_intercept_model(
        y, design.frame(), design.clusters, reml=True, df_method=df_method
    )
    rows.append(
        {
            "method": "mixed",
            **term_effect(fit, term).as_row(),
            "df_method": df_method,
            "icc": float(fit.icc),
            "at_boundary": bool(fit.at_boundary),
            **base,
        }
    )
    ols = float(weighted_ols_coefficient(y, design.X, np.ones(len(y)), column))
    rows.append(
        {
            "method": "ols",
            "estimate": ols,
            "variance": np.nan,
            "df": np.nan,
            "df_method": "",
            **base,
        }
    )
    codes = pd.factorize(pd.Series(design.clusters))[0]
    # On the log scale a linear baseline-cost term makes predictions explode for the highest
    # baseline costs; the GLM takes log(1 + baseline cost) instead (a power law in the mean).
    X = design.X.copy()
    X[:, design.column(COST_BASELINE)] = np.log1p(X[:, design.column(COST_BASELINE)])
    glm = GLM(y, X, family=families.Gamma(families.links.Log())).fit(
        cov_type="cluster", cov_kwds={"groups": codes}
    )
    cov = np.asarray(glm.cov_params())
    beta = np.asarray(glm.params)
    rows.append(
        {
            "method": "glm_log_ratio",
            "estimate": float(beta[column]),
            "variance": float(cov[column, column]),
            "df": float(n_clusters - 1),
            "df_method": "clusters - 1 (cluster-robust)",
            **base,
        }
    )
    X1, X0 = X.copy(), X.copy()
    X1[:, column], X0[:, column] = 1.0, 0.0
    mu1, mu0 = np.exp(X1 @ beta), np.exp(X0 @ beta)
    gradient = (mu1[:, None] * X1).mean(axis=0) - (mu0[:, None] * X0).mean(axis=0)
    rows.append(
        {
            "method": "glm_difference",
            "estimate": float(mu1.mean() - mu0.mean()),
            "variance": float(gradient @ cov @ gradient),
            "df": float(n_clusters - 1),
            "df_method": "clusters - 1 (cluster-robust)",
            **base,
        }
    )
    effect = cost_design(config, table, effect_scale(config))
    rows.append(
        {
            "method": "effect_ols",
            "estimate": float(
                weighted_ols_coefficient(
                    effect.y, effect.X, np.ones(len(effect.y)), effect.column(term)
                )
            ),
            "variance": np.nan,
            "df": np.nan,
            "df_method": "",
            **base,
            "n_individuals": len(effect.y),
        }
    )
    out = pd.DataFrame(rows)
    treated = table[TREATMENT].to_numpy() == 1
    out["mean_treatment"] = float(y[treated].mean())
    out["mean_reference"] = float(y[~treated].mean())
    out["cluster_level_parameters"] = _cluster_level_parameters(design)
    return out
