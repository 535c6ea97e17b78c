"""Pooling of the cost analyses over imputations, and the cost-effectiveness summary
(:func:`pool_costs`).

Multiple imputation and the bootstrap (Brand et al 2019, Stat Med 38:210-220) are combined by
**MI then bootstrap** ("MI-boot"): every completed data set is bootstrapped with the same
replicate numbers; per completed data set the point estimate is the least-squares estimate on the
data and its within-imputation variance is the variance of its bootstrap replicates; these are
pooled by Rubin's rules with Barnard-Rubin df whose complete-data df is the number of clusters
minus the cluster-level parameters (intercept, arm, strata). The percentile interval of all
``m x B`` replicates stacked ("pooled sample") is reported beside it and the stacked replicates
draw the cost-effectiveness plane and the acceptability curve. That is valid when the imputation
model is proper and congenial with the cost and effect regressions. Bootstrapping before
imputing (Brand et al's "bootstrap then single imputation", which needs no congeniality) would
need the imputation model refitted in every replicate and is not implemented.

The headline cost difference is the method named by ``costs.headline`` (one of
:data:`MEAN_DIFFERENCE_METHODS`; default: the two-stage bootstrap of the least-squares mean
difference, pooled by Rubin's rules); every other mean difference is compared with it and flagged
when it differs by more than ``costs.agreement``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trial.analyses.costs.spec import (
    CostConfigError,
    agreement_tolerance,
    bootstrap_spec,
    cost_direction,
    cost_sign,
    effect_sign,
    headline_method,
    wtp_grid,
)
from trial.config.vocabulary import Config, contrast_label, effect_scale
from trial.stats.pooling import PooledEstimate, pool_rubin

__all__ = ["MEAN_DIFFERENCE_METHODS", "RATIO_METHODS", "PooledCosts", "pool_costs"]


@dataclass(frozen=True)
class CostPooling:
    """What every pooled cost row reads: the per-imputation fits and the bootstrap replicates.

    Attributes
    ----------
    fits : pandas.DataFrame
        Every :func:`trial.analyses.costs.fits.fit_costs` row with its ``imputation`` (1..m).
    replicates : pandas.DataFrame
        Every bootstrap replicate, in imputation and replicate order.
    m, B : int
        Imputations; replicates per imputation (the fewest of any imputation).
    boot_var, boot_cov : pandas.DataFrame
        Variance and covariance of the replicates' cost and effect by imputation.
    df_boot : float
        Complete-data df of the bootstrap estimates: clusters minus cluster-level parameters.
    boot_label : str
        The resampling, as the report names it.
    sign : float
        +1 to report treatment minus reference, -1 for the reverse.
    alpha : float
        One minus the confidence level.
    cluster_label : str
        The config's word for a cluster.
    common : dict
        Columns every cost row carries: ``direction, contrast, n_clusters, n_individuals``.
    """

    fits: pd.DataFrame
    replicates: pd.DataFrame
    m: int
    B: int
    boot_var: pd.DataFrame
    boot_cov: pd.DataFrame
    df_boot: float
    boot_label: str
    sign: float
    alpha: float
    cluster_label: str
    common: Mapping[str, Any]

    def method(self, name: str) -> pd.DataFrame:
        """The fits of method ``name``, in imputation order."""
        return self.fits[self.fits["method"] == name].sort_values("imputation")


def _stack_fits(fits: Sequence[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([f.assign(imputation=i + 1) for i, f in enumerate(fits)], ignore_index=True)


def _sorted_replicates(replicates: pd.DataFrame, m: int) -> pd.DataFrame:
    """The replicates in imputation and replicate order, after checking they cover 1..m."""
    reps = replicates.sort_values(["imputation", "replicate"])
    if sorted(reps["imputation"].unique().tolist()) != list(range(1, m + 1)):
        raise CostConfigError(
            f"bootstrap replicates cover imputations {sorted(reps['imputation'].unique())}, "
            f"expected 1..{m}"
        )
    return reps


def cost_pooling(
    config: Config, fits: Sequence[pd.DataFrame], replicates: pd.DataFrame
) -> CostPooling:
    """Gather the fits and replicates of every imputation (see :func:`pool_costs`)."""
    stacked = _stack_fits(fits)
    m = len(fits)
    n_clusters = int(stacked["n_clusters"].max())
    reps = _sorted_replicates(replicates, m)
    B = int(reps.groupby("imputation").size().min()) if len(reps) else 0
    ols = stacked[stacked["method"] == "ols"]
    resampling = bootstrap_spec(config)["resampling"]
    direction = cost_direction(config)
    return CostPooling(
        fits=stacked,
        replicates=reps,
        m=m,
        B=B,
        boot_var=reps.groupby("imputation")[["cost", "effect"]].var(ddof=1),
        boot_cov=reps.groupby("imputation")[["cost", "effect"]].cov(ddof=1),
        df_boot=float(n_clusters - ols["cluster_level_parameters"].iloc[0]),
        boot_label=(
            "Two-stage cluster bootstrap with shrinkage"
            if resampling == "two-stage"
            else "One-stage cluster bootstrap"
        ),
        sign=cost_sign(config),
        alpha=config["analysis"]["alpha"],
        cluster_label=config["design"]["cluster_label"],
        common={
            "direction": direction,
            "contrast": contrast_label(config, direction),
            "n_clusters": n_clusters,
            "n_individuals": int(stacked["n_individuals"].max()),
        },
    )


def _row(method: str, label: str, estimand: str, pooled: Any, **extra: Any) -> dict[str, Any]:
    values = pooled.as_dict()
    return {
        "method": method,
        "label": label,
        "estimand": estimand,
        "estimate": values["estimate"],
        "se": values["se"],
        "ci_low": values["ci_low"],
        "ci_high": values["ci_high"],
        "df": values["df"],
        "p": values["p"],
        "fmi": values["fmi"],
        "mc_se": values["mc_se"],
        "m": values["m"],
        "df_complete": values["df_complete"],
        **extra,
    }


def _rubin(p: CostPooling, method: str) -> PooledEstimate:
    """Rubin's rules over a model-based method's estimates (in the reported direction) and
    variances, on its mean df."""
    fits = p.method(method)
    return pool_rubin(
        p.sign * fits["estimate"].to_numpy(),
        fits["variance"].to_numpy(),
        df_complete=float(fits["df"].mean()),
        alpha=p.alpha,
    )


def _mixed_model(p: CostPooling) -> dict[str, Any]:
    mixed = p.method("mixed")
    return _row(
        "mixed_model",
        f"Linear mixed model (random intercept for {p.cluster_label}), Rubin's rules",
        "mean difference",
        _rubin(p, "mixed"),
        df_method=f"{mixed['df_method'].iloc[0]}, Barnard-Rubin",
        ci_method="t",
        replicates=np.nan,
        n_boundary_fits=int(mixed["at_boundary"].astype(bool).sum()),
        **p.common,
    )


def _bootstrap_pooled(p: CostPooling) -> PooledEstimate:
    """Least-squares estimates with their bootstrap variances, by Rubin's rules."""
    return pool_rubin(
        p.sign * p.method("ols")["estimate"].to_numpy(),
        p.boot_var["cost"].to_numpy(),
        df_complete=p.df_boot,
        alpha=p.alpha,
    )


def _bootstrap_rubin(p: CostPooling) -> dict[str, Any]:
    return _row(
        "bootstrap_rubin",
        f"{p.boot_label}, least squares; MI then bootstrap, Rubin's rules",
        "mean difference",
        _bootstrap_pooled(p),
        df_method="clusters minus cluster-level parameters, Barnard-Rubin",
        ci_method="t",
        replicates=p.B,
        **p.common,
    )


def _bootstrap_percentile(p: CostPooling) -> dict[str, Any]:
    cost = p.replicates["cost"]
    lo_q, hi_q = np.quantile(p.sign * cost.to_numpy(), [p.alpha / 2, 1 - p.alpha / 2])
    return {
        "method": "bootstrap_percentile",
        "label": f"{p.boot_label}, least squares; MI then bootstrap, percentile interval "
        "of the stacked replicates",
        "estimand": "mean difference",
        "estimate": _bootstrap_pooled(p).estimate,
        "se": float(np.std(p.sign * cost, ddof=1)),
        "ci_low": float(lo_q),
        "ci_high": float(hi_q),
        "df": np.nan,
        "p": float(min(1.0, 2 * min((cost > 0).mean(), (cost < 0).mean()))),
        "fmi": np.nan,
        "mc_se": np.nan,
        "m": p.m,
        "df_complete": np.nan,
        "df_method": "",
        "ci_method": "percentile",
        "replicates": p.B,
        **p.common,
    }


def _glm_row(p: CostPooling, method: str, label: str, estimand: str, pooled: Any) -> dict[str, Any]:
    return _row(
        method,
        label,
        estimand,
        pooled,
        df_method=p.method(method)["df_method"].iloc[0] + ", Barnard-Rubin",
        ci_method="t",
        replicates=np.nan,
        **p.common,
    )


def _glm_difference(p: CostPooling) -> dict[str, Any]:
    return _glm_row(
        p,
        "glm_difference",
        "Gamma GLM, log link, cluster-robust SE: recycled-prediction difference, Rubin's rules",
        "mean difference",
        _rubin(p, "glm_difference"),
    )


def _glm_log_ratio(p: CostPooling) -> dict[str, Any]:
    # turning the direction turns the sign of the log ratio (the ratio's reciprocal)
    pooled = _rubin(p, "glm_log_ratio")
    row = _glm_row(
        p,
        "glm_log_ratio",
        "Gamma GLM, log link, cluster-robust SE: ratio of means, Rubin's rules",
        "ratio of means",
        pooled,
    )
    for key in ("estimate", "ci_low", "ci_high"):
        row[key] = math.exp(row[key])
    row["se"] = np.nan  # a ratio's SE is on the log scale; the CI is exponentiated
    return row


RowBuilder = Callable[[CostPooling], dict[str, Any]]

#: The pooled mean cost differences, by the name ``costs.headline`` may give (the schema's enum
#: lists the same names), in the order of the report's rows.
MEAN_DIFFERENCE_METHODS: dict[str, RowBuilder] = {
    "mixed_model": _mixed_model,
    "bootstrap_rubin": _bootstrap_rubin,
    "bootstrap_percentile": _bootstrap_percentile,
    "glm_difference": _glm_difference,
}
#: The pooled cost rows on another scale, never the headline, after the mean differences.
RATIO_METHODS: dict[str, RowBuilder] = {"glm_log_ratio": _glm_log_ratio}


def compare_with_headline(config: Config, costs: pd.DataFrame) -> pd.DataFrame:
    """The cost rows, headline first, each mean difference compared with the headline.

    ``difference_in_headline_se`` is (estimate - headline estimate) / headline SE and
    ``se_ratio`` the row's SE over the headline's; ``agrees`` is False when either passes the
    configured tolerance (``costs.agreement``: ``estimate_se``, ``se_ratio``). Rows that are not
    a mean difference (the ratio of means) are not compared.
    """
    tolerance = agreement_tolerance(config)
    method = headline_method(config)
    if method not in MEAN_DIFFERENCE_METHODS or method not in set(costs["method"]):
        raise CostConfigError(
            f"costs/headline: {method!r} is not one of {tuple(MEAN_DIFFERENCE_METHODS)}"
        )
    head = costs.set_index("method").loc[method]
    out = pd.concat(
        [costs[costs["method"] == method], costs[costs["method"] != method]], ignore_index=True
    )
    out.insert(1, "headline", out["method"] == method)
    comparable = (out["estimand"] == "mean difference") & ~out["headline"]
    shift = (out["estimate"] - head["estimate"]) / head["se"]
    ratio = out["se"] / head["se"]
    out["difference_in_headline_se"] = shift.where(comparable)
    out["se_ratio"] = ratio.where(comparable)
    spread = np.maximum(ratio, 1.0 / ratio)
    agrees = (shift.abs() <= tolerance["estimate_se"]) & (spread <= tolerance["se_ratio"])
    out["agrees"] = agrees.where(comparable)
    return out


def pooled_cost_rows(config: Config, p: CostPooling) -> pd.DataFrame:
    """The adjusted cost difference by every method, headline first, with the arms' means."""
    builders = {**MEAN_DIFFERENCE_METHODS, **RATIO_METHODS}.values()
    costs = compare_with_headline(config, pd.DataFrame([build(p) for build in builders]))
    mixed = p.method("mixed")
    costs["mean_treatment"] = float(mixed["mean_treatment"].mean())
    costs["mean_reference"] = float(mixed["mean_reference"].mean())
    return costs


@dataclass(frozen=True)
class Increments:
    """The inputs of the cost-effectiveness summaries, treatment minus reference, the effect as
    benefit (its sign turned when a lower score is better).

    Attributes
    ----------
    dc, de : numpy.ndarray
        Stacked bootstrap replicates of incremental cost and effect.
    est_c, est_e : numpy.ndarray
        Least-squares incremental cost and effect of each imputation.
    var_c, var_e, cov_ce : numpy.ndarray
        Their bootstrap variances and covariance, per imputation.
    """

    dc: np.ndarray
    de: np.ndarray
    est_c: np.ndarray
    est_e: np.ndarray
    var_c: np.ndarray
    var_e: np.ndarray
    cov_ce: np.ndarray


def increments(config: Config, p: CostPooling) -> Increments:
    """The :class:`Increments` of the pooled fits and replicates."""
    e_sign = effect_sign(config)
    return Increments(
        dc=p.replicates["cost"].to_numpy(),
        de=e_sign * p.replicates["effect"].to_numpy(),
        est_c=p.method("ols")["estimate"].to_numpy(),
        est_e=e_sign * p.method("effect_ols")["estimate"].to_numpy(),
        var_c=p.boot_var["cost"].to_numpy(),
        var_e=p.boot_var["effect"].to_numpy(),
        cov_ce=e_sign * p.boot_cov.xs("cost", level=1)["effect"].to_numpy(),
    )


def cost_effectiveness_table(config: Config, p: CostPooling) -> pd.DataFrame:
    """Incremental cost and effect (Rubin's rules and percentile intervals), the ICER and the
    probability of each quadrant of the cost-effectiveness plane."""
    alpha = p.alpha
    inc = increments(config, p)
    dc, de = inc.dc, inc.de
    cost_pooled = pool_rubin(inc.est_c, inc.var_c, df_complete=p.df_boot, alpha=alpha)
    effect_pooled = pool_rubin(inc.est_e, inc.var_e, df_complete=p.df_boot, alpha=alpha)
    quadrants = {
        "prob_more_effective_less_costly": float(np.mean((de > 0) & (dc < 0))),
        "prob_more_effective_more_costly": float(np.mean((de > 0) & (dc >= 0))),
        "prob_less_effective_less_costly": float(np.mean((de <= 0) & (dc < 0))),
        "prob_less_effective_more_costly": float(np.mean((de <= 0) & (dc >= 0))),
    }

    def interval_row(quantity: str, pooled: Any, draws: np.ndarray) -> dict[str, Any]:
        return {
            "quantity": quantity,
            "estimate": pooled.estimate,
            "ci_low": pooled.ci_low,
            "ci_high": pooled.ci_high,
            "df": pooled.df,
            "pct_low": float(np.quantile(draws, alpha / 2)),
            "pct_high": float(np.quantile(draws, 1 - alpha / 2)),
        }

    no_interval = dict.fromkeys(("ci_low", "ci_high", "df", "pct_low", "pct_high"), np.nan)
    point_estimates = {"icer": cost_pooled.estimate / effect_pooled.estimate, **quadrants}
    ce = pd.DataFrame(
        [
            interval_row("incremental_cost", cost_pooled, dc),
            interval_row("incremental_effect", effect_pooled, de),
            *({"quantity": k, "estimate": v, **no_interval} for k, v in point_estimates.items()),
        ]
    )
    ce["effect_scale"] = effect_scale(config)
    ce["replicates"] = p.B
    ce["m"] = p.m
    return ce


def acceptability_table(config: Config, p: CostPooling) -> pd.DataFrame:
    """Probability cost-effective and incremental net benefit by willingness to pay."""
    alpha = p.alpha
    inc = increments(config, p)
    rows = []
    for wtp in wtp_grid(config):
        inb = wtp * inc.de - inc.dc
        variances = wtp**2 * inc.var_e + inc.var_c - 2 * wtp * inc.cov_ce
        pooled_inb = pool_rubin(
            wtp * inc.est_e - inc.est_c, variances, df_complete=p.df_boot, alpha=alpha
        )
        rows.append(
            {
                "wtp": float(wtp),
                "prob_cost_effective": float(np.mean(inb > 0)),
                "inb": pooled_inb.estimate,
                "inb_se": pooled_inb.se,
                "inb_ci_low": pooled_inb.ci_low,
                "inb_ci_high": pooled_inb.ci_high,
                "inb_df": pooled_inb.df,
                "inb_pct_low": float(np.quantile(inb, alpha / 2)),
                "inb_pct_high": float(np.quantile(inb, 1 - alpha / 2)),
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PooledCosts:
    """The pooled cost analysis.

    Attributes
    ----------
    costs : pandas.DataFrame
        Adjusted cost difference by method, in the configured direction, headline first.
    cost_effectiveness : pandas.DataFrame
        Incremental cost and effect, ICER, quadrant probabilities.
    ceac : pandas.DataFrame
        Probability cost-effective and incremental net benefit by willingness to pay.
    """

    costs: pd.DataFrame
    cost_effectiveness: pd.DataFrame
    ceac: pd.DataFrame


def pool_costs(
    config: Config, fits: Sequence[pd.DataFrame], replicates: pd.DataFrame
) -> PooledCosts:
    """Pool the cost analyses over imputations; cost-effectiveness from the joint bootstrap.

    Parameters
    ----------
    config : dict
    fits : sequence of pandas.DataFrame
        :func:`trial.analyses.costs.fits.fit_costs` per imputation, in imputation order (1..m).
    replicates : pandas.DataFrame
        All :func:`trial.analyses.costs.bootstrap.bootstrap_costs` chunks, concatenated.

    Returns
    -------
    PooledCosts
    """
    p = cost_pooling(config, fits, replicates)
    return PooledCosts(
        costs=pooled_cost_rows(config, p),
        cost_effectiveness=cost_effectiveness_table(config, p),
        ceac=acceptability_table(config, p),
    )
