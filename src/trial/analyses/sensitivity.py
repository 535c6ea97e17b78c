"""Sensitivity analyses of the primary outcome.

* **Complete case**: the primary analysis model on the observed data only.
* **Unadjusted**: arm only (no baseline value, strata or covariates), on the completed datasets.
* **Cluster-level** (:func:`cluster_mean_residuals`, then
  :func:`~trial.stats.two_stage.cluster_level_fit`): the two-stage method for an adjusted
  cluster-level analysis (Hayes and Moulton 2017, *Cluster Randomised Trials*, 2nd ed.). Stage 1
  regresses the individual follow-up values on the baseline value, strata and covariates by
  least squares, *without* arm; stage 2 averages the residuals per cluster and compares the
  arms' cluster-mean residuals with a t test, unweighted (each cluster counts once: a
  cluster-average contrast) and weighted by the number of individuals (an individual-average
  contrast). The t test's df are reduced by the cluster-level parameters that stage 1 estimated,
  as Hayes and Moulton prescribe: with ``G`` clusters, ``S`` strata and ``A`` arms,
  ``df = G - A - (S - 1) = G - S - A + 1``; individual-level covariates (the baseline value)
  cost none. Run on each completed dataset and pooled.
* **Re-randomisation test** (:func:`~trial.stats.permutation.stratified_permutation_test`): the
  statistic is the unweighted two-stage statistic above computed on the **observed** data
  (complete cases, no imputation), so that nothing in it depends on the observed allocation
  except the grouping of the clusters (stage 1 has no arm). Its null distribution is the set of
  allocations the randomisation could have produced: the same number of treatment clusters in
  each stratum. It tests the sharp null that allocation changes no individual's follow-up value
  nor whether it is observed. The p-value is exact when every allocation is enumerated (as a
  convolution of per-stratum sums, when there are at most ``max_enumerated``); otherwise
  allocations are sampled and the p-value is a Monte Carlo estimate reported with its Monte
  Carlo SE.
* **Delta adjustment** (:func:`delta_adjustment`): missing not at random. After imputation, the
  imputed follow-up values of one arm are shifted by ``delta`` (outcome units) and the primary
  analysis is refitted and pooled, over a grid of deltas; no extra imputation is run. The
  tipping point is the delta at which a confidence limit crosses zero (linear interpolation on the
  grid).

A **binary** (binomial) primary outcome has the same analyses where they can be made honestly:
complete case and unadjusted by the configured GLMM or GEE (log odds ratio); the cluster-level
analysis by the two-stage residual method for proportions
(:func:`~trial.stats.cluster_level.cluster_level_binary` through :func:`cluster_risk_residuals`:
stage 1 a logistic regression without arm, the risk difference from the difference residuals and
the log risk ratio from the log ratio residuals, each with the t test on ``G - 2`` df less the
cluster-level stage-1 parameters); and the re-randomisation test with the cluster-level risk
difference as its statistic. That statistic, rather than a GLMM log odds ratio, because stage 1
has no arm: every allocation's statistic is a difference of means of the same cluster residuals,
so the null distribution is enumerated or sampled at the cost of sums, with no model refitted per
allocation (a refit GLMM, tens of thousands of times, would test the same sharp null at great
cost). The delta adjustment of a binary outcome is made in the imputation draw itself: each
imputed 0/1 value is redrawn from its final latent draw with the log odds of a 1 shifted by
delta (:func:`~trial.stats.impute.binary.shifted_draw`), and the GLMM or GEE refitted and pooled on
the log odds ratio.

Pooled rows use Rubin's rules with Barnard-Rubin df, the complete-data df being the model's
small-sample df (mixed model) or ``G - S - A + 1`` (cluster-level analysis).

Kept as one module, over the 600-line guide: the kernels it needs are in
:mod:`trial.stats.two_stage` and :mod:`trial.stats.permutation`, its figures and report section in
:mod:`trial.report`; what remains is one analysis per workflow rule (sensitivity rows,
re-randomisation test, delta adjustment) and the residuals they share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.analyses.design import term_effect
from trial.analyses.estimands import score_defined
from trial.analyses.glm_outcomes import MODEL_MEASURES, fit_outcome_model
from trial.config.vocabulary import (
    TREATMENT,
    Config,
    arm_term,
    contrast_label,
    contrast_sign,
    design_matrix,
    followup_column,
    outcome_family,
    primary_outcome,
    single_treatment_arm,
    stratum_labels,
)
from trial.seeding import derive_rng
from trial.stats.cluster_level import ClusterLevelAnalysis, cluster_level_binary
from trial.stats.impute.binary import shifted_draw
from trial.stats.mixed import fit_random_intercept_model
from trial.stats.permutation import PermutationResult, stratified_permutation_test
from trial.stats.pooling import pool_rubin
from trial.stats.two_stage import ClusterLevelFit, cluster_level_fit, two_stage_df

__all__ = [
    "ArmEffectFit",
    "ClusterLevelFit",
    "ClusterResiduals",
    "PermutationResult",
    "cluster_level_fit",
    "cluster_mean_residuals",
    "cluster_risk_residuals",
    "delta_adjustment",
    "rerandomisation_test",
    "sensitivity_analyses",
    "stratified_permutation_test",
    "tipping_points",
    "two_stage_df",
]


def _primary(config: Config) -> tuple[str, float, str]:
    scale = primary_outcome(config)
    direction = next(o for o in config["analysis"]["outcomes"] if o["scale"] == scale)["direction"]
    return scale, contrast_sign(direction), direction


@dataclass(frozen=True)
class ArmEffectFit:
    """One analysis of one dataset: the arm effect that :func:`sensitivity_analyses` pools.

    Attributes
    ----------
    estimate, variance, df : float
        Treatment minus reference, its variance and the complete-data df.
    df_method : str
        How ``df`` was found.
    n_individuals, n_clusters : int
        Individuals and clusters analysed.
    """

    estimate: float
    variance: float
    df: float
    df_method: str
    n_individuals: int
    n_clusters: int


def _mixed_fit(
    config: Config,
    table: pd.DataFrame,
    X: pd.DataFrame,
    y: pd.Series,
    family: str = "gaussian",
) -> ArmEffectFit:
    """The arm effect of the primary analysis model of ``family`` on the rows of ``table``
    where ``y`` and ``X`` are observed: the linear mixed model for a gaussian outcome, the
    configured GLMM or GEE (:func:`~trial.analyses.glm_outcomes.fit_outcome_model`, log-odds or
    log-rate scale) otherwise."""
    used = y.notna() & X.notna().all(axis=1)
    cid = config["design"]["cluster_id"]
    clusters = table.loc[used, cid].to_numpy()
    if family == "gaussian":
        df_method = config["analysis"]["df_method"]
        fit = fit_random_intercept_model(
            y[used].to_numpy(float), X[used], clusters, reml=True, df_method=df_method
        )
    else:
        outcome_fit = fit_outcome_model(config, y[used], X[used], clusters, family)
        fit, df_method = outcome_fit.fit, outcome_fit.df_method
    return ArmEffectFit(
        **term_effect(fit, arm_term(config)).as_row(),
        df_method=df_method,
        n_individuals=int(used.sum()),
        n_clusters=int(table.loc[used, cid].nunique()),
    )


@dataclass(frozen=True)
class ClusterResiduals:
    """Stage 1 of the two-stage analysis.

    Attributes
    ----------
    clusters : pandas.DataFrame
        Indexed by cluster ID: ``residual`` (mean residual), ``n`` (individuals used),
        ``treated`` (0/1) and ``stratum`` (strata values joined by ``/``; ``all`` without
        strata). Clusters with no usable row are absent.
    cluster_level_parameters : int
        Stage-1 parameters constant within clusters (the intercept, stratum dummies and any
        cluster-level covariate): the rank of those columns.
    """

    clusters: pd.DataFrame
    cluster_level_parameters: int

    @property
    def df(self) -> int:
        """:func:`two_stage_df` of a two-arm comparison of these clusters."""
        return two_stage_df(len(self.clusters), self.cluster_level_parameters)


def cluster_mean_residuals(config: Config, table: pd.DataFrame, scale: str) -> ClusterResiduals:
    """Stage 1 of the two-stage analysis: each cluster's mean residual, size, arm and stratum.

    Least squares of the follow-up value on the analysis model's terms other than arm
    (intercept, baseline value, strata, covariates), on the rows where all are observed.
    """
    design = config["design"]
    cid = design["cluster_id"]
    X = design_matrix(config, table, scale).drop(columns=[arm_term(config)])
    y = table[followup_column(scale)].astype(float)
    used = (y.notna() & X.notna().all(axis=1)).to_numpy()
    Xu = X[used].to_numpy(float)
    beta = np.linalg.lstsq(Xu, y[used].to_numpy(), rcond=None)[0]
    resid = y[used].to_numpy() - Xu @ beta
    rows = table.loc[used, [cid, TREATMENT, *design["strata"]]]  # only the columns used below
    codes = rows[cid].to_numpy()
    out = (
        pd.DataFrame({"residual": resid, "n": 1, cid: codes})
        .groupby(cid)
        .agg(residual=("residual", "mean"), n=("n", "sum"))
    )
    by_cluster = rows.groupby(cid)
    out["treated"] = by_cluster[TREATMENT].first().astype(int)
    out["stratum"] = stratum_labels(config, by_cluster[design["strata"]].first())
    constant = X[used].groupby(codes).nunique().le(1).all().to_numpy()
    level = int(np.linalg.matrix_rank(Xu[:, constant])) if constant.any() else 0
    return ClusterResiduals(out, level)


def cluster_risk_residuals(
    config: Config, table: pd.DataFrame, scale: str
) -> tuple[ClusterResiduals, ClusterLevelAnalysis]:
    """The two-stage analysis of a binary outcome
    (:func:`~trial.stats.cluster_level.cluster_level_binary`) with the analysis model's terms
    other than intercept and arm as stage-1 covariates, on the rows where all are observed.

    Returns
    -------
    residuals : ClusterResiduals
        Per cluster the **difference residual** ``(d_j - e_j) / n_j`` as ``residual`` (observed
        minus expected events over the cluster size, the expected events from a logistic
        regression without arm), with ``n``, ``treated`` and ``stratum`` as in
        :func:`cluster_mean_residuals`.
    analysis : trial.stats.cluster_level.ClusterLevelAnalysis
        The risk difference and risk ratio with their t intervals.
    """
    design = config["design"]
    cid = design["cluster_id"]
    X = design_matrix(config, table, scale).drop(columns=["(Intercept)", arm_term(config)])
    y = table[followup_column(scale)].astype(float)
    used = (y.notna() & X.notna().all(axis=1)).to_numpy()
    rows = table.loc[used]
    analysis = cluster_level_binary(
        y[used],
        rows[TREATMENT],
        rows[cid],
        covariates=X[used] if X.shape[1] else None,
        alpha=config["analysis"]["alpha"],
    )
    s = analysis.summaries
    frame = pd.DataFrame(
        {
            "residual": s.difference_residual,
            "n": s.size.astype(int),
            "treated": s.treated.astype(int),
        },
        index=pd.Index(s.clusters, name=cid),
    )
    strata = stratum_labels(config, rows.groupby(cid)[design["strata"]].first())
    frame["stratum"] = strata.reindex(frame.index).to_numpy()
    return ClusterResiduals(frame, analysis.n_cluster_level_covariates + 1), analysis


def _pooled_row(
    name: str, description: str, fits: Sequence[ArmEffectFit], sign: float, alpha: float
) -> dict[str, Any]:
    est = np.array([f.estimate for f in fits]) * sign
    var = np.array([f.variance for f in fits])
    df = float(np.mean([f.df for f in fits]))
    if len(fits) == 1:
        q = float(stats.t.ppf(1 - alpha / 2, df))
        se = math.sqrt(var[0])
        pooled = {
            "estimate": est[0],
            "se": se,
            "df": df,
            "ci_low": est[0] - q * se,
            "ci_high": est[0] + q * se,
            "p": float(2 * stats.t.sf(abs(est[0] / se), df)),
            "fmi": math.nan,
        }
    else:
        p = pool_rubin(est, var, df_complete=df, alpha=alpha)
        pooled = {
            k: getattr(p, k) for k in ("estimate", "se", "df", "ci_low", "ci_high", "p", "fmi")
        }
    return {
        "analysis": name,
        "description": description,
        **pooled,
        "df_method": fits[0].df_method,
        "n_imputations": len(fits) if len(fits) > 1 else 0,
        "n_clusters": int(max(f.n_clusters for f in fits)),
        "n_individuals": int(max(f.n_individuals for f in fits)),
    }


def sensitivity_analyses(
    config: Config, observed: pd.DataFrame, completed: Sequence[pd.DataFrame]
) -> pd.DataFrame:
    """Complete-case, unadjusted and cluster-level analyses of the primary outcome.

    Parameters
    ----------
    config : dict
        Trial configuration.
    observed : pandas.DataFrame
        The analysis table before imputation.
    completed : sequence of pandas.DataFrame
        The completed datasets.

    Returns
    -------
    pandas.DataFrame
        One row per analysis: estimate, SE, df, CI, p, FMI (pooled rows), df method, counts,
        in the primary outcome's reported direction (``contrast`` column).
    """
    scale, sign, direction = _primary(config)
    alpha = config["analysis"]["alpha"]
    y_col = followup_column(scale)
    family = outcome_family(config, scale)
    if family not in ("gaussian", "binomial"):
        raise ValueError(
            f"sensitivity analyses of a {family} primary outcome are not available "
            "(gaussian and binomial only)"
        )
    model = "Mixed model" if family == "gaussian" else _glm_name(config)
    rows = []
    X = design_matrix(config, observed, scale)
    cc = _mixed_fit(config, observed, X, observed[y_col].astype(float), family)
    rows.append(
        _pooled_row(
            "complete_case",
            "Primary model (arm, baseline, strata, covariates) on observed data only",
            [cc],
            sign,
            alpha,
        )
    )
    unadjusted = []
    for table in completed:
        Xu = design_matrix(config, table, scale)[["(Intercept)", arm_term(config)]]
        unadjusted.append(_mixed_fit(config, table, Xu, table[y_col].astype(float), family))
    rows.append(
        _pooled_row(
            "unadjusted",
            f"{model} with arm only (no baseline, strata or covariates), imputed",
            unadjusted,
            sign,
            alpha,
        )
    )
    if family == "binomial":
        for row in rows:
            row["measure"] = MODEL_MEASURES[family]
        rows += _cluster_level_binary_rows(config, completed, scale, sign, alpha)
        out = pd.DataFrame(rows)
        out.insert(2, "outcome", scale)
        out.insert(3, "contrast", contrast_label(config, direction))
        return out[[*out.columns[:4], "measure", *out.columns[4:-1]]]
    for weighted in (False, True):
        fits = []
        for table in completed:
            stage1 = cluster_mean_residuals(config, table, scale)
            cm = stage1.clusters
            fit = cluster_level_fit(
                cm["residual"].to_numpy(),
                cm["treated"].to_numpy(),
                cm["n"].to_numpy() if weighted else None,
                df=stage1.df,
            )
            fits.append(
                ArmEffectFit(
                    estimate=fit.estimate,
                    variance=fit.variance,
                    df=fit.df,
                    df_method="clusters - strata - arms + 1",
                    n_individuals=int(cm["n"].sum()),
                    n_clusters=len(cm),
                )
            )
        rows.append(
            _pooled_row(
                "cluster_level_weighted" if weighted else "cluster_level_unweighted",
                "Two-stage cluster-level analysis: follow-up regressed on baseline, strata and "
                "covariates without arm, cluster-mean residuals compared between arms, "
                + (
                    "weighted by cluster size (individual-average)"
                    if weighted
                    else "unweighted (cluster-average)"
                )
                + ", imputed",
                fits,
                sign,
                alpha,
            )
        )
    out = pd.DataFrame(rows)
    out.insert(2, "outcome", scale)
    out.insert(3, "contrast", contrast_label(config, direction))
    return out


def _glm_name(config: Config) -> str:
    return "GEE" if config["analysis"]["non_gaussian"]["method"] == "gee" else "GLMM"


def _cluster_level_binary_rows(
    config: Config, completed: Sequence[pd.DataFrame], scale: str, sign: float, alpha: float
) -> list[dict[str, Any]]:
    """The two-stage cluster-level risk difference and log risk ratio of a binary primary
    outcome (:func:`cluster_risk_residuals`), each pooled over the completed datasets."""
    per_measure: dict[str, list[ArmEffectFit]] = {"difference": [], "ratio": []}
    for table in completed:
        residuals, analysis = cluster_risk_residuals(config, table, scale)
        n = int(residuals.clusters["n"].sum())
        for key, effect in (("difference", analysis.difference), ("ratio", analysis.ratio)):
            per_measure[key].append(
                ArmEffectFit(
                    # the ratio is compared on the log scale, where its t interval is made
                    estimate=effect.estimate if key == "difference" else math.log(effect.estimate),
                    variance=effect.se**2,
                    df=effect.df,
                    df_method="clusters - 2 - cluster-level stage-1 parameters",
                    n_individuals=n,
                    n_clusters=len(residuals.clusters),
                )
            )
    stage = (
        "Two-stage cluster-level analysis: logistic regression of follow-up on baseline, strata "
        "and covariates without arm, observed and expected events per cluster, "
    )
    return [
        {
            **_pooled_row(
                "cluster_level_risk_difference",
                stage + "mean difference residual (observed - expected) / size compared between "
                "arms (unweighted t test), imputed",
                per_measure["difference"],
                sign,
                alpha,
            ),
            "measure": "risk difference",
        },
        {
            **_pooled_row(
                "cluster_level_risk_ratio",
                stage + "mean log ratio residual log(observed / expected) compared between arms "
                "(unweighted t test; 0.5 added to every cluster's events when one has none), "
                "imputed",
                per_measure["ratio"],
                sign,
                alpha,
            ),
            "measure": "log risk ratio",
        },
    ]


# ---------------------------------------------------------------------------------------------
# Re-randomisation test
# ---------------------------------------------------------------------------------------------


def rerandomisation_test(
    config: Config, observed: pd.DataFrame
) -> tuple[dict[str, Any], np.ndarray]:
    """Stratified re-randomisation test of the primary outcome on the observed data.

    Parameters
    ----------
    config : dict
        Trial configuration with a ``sensitivity`` section.
    observed : pandas.DataFrame
        The analysis table before imputation; the statistic uses its complete cases, so that no
        imputation made with the observed allocation enters it.

    Returns
    -------
    summary : dict
        Statistic (in the primary outcome's reported direction), p, method (``exact`` or
        ``monte_carlo``), the Monte Carlo SE of p, number of allocations, clusters per stratum
        and arm, and quantiles of the null distribution.
    null : ndarray
        The statistic under every enumerated (or sampled) allocation, same direction.
    """
    design = config["design"]
    scale, sign, direction = _primary(config)
    if outcome_family(config, scale) == "binomial":
        clusters = cluster_risk_residuals(config, observed, scale)[0].clusters
        statistic = (
            "Difference between arms in the mean over clusters of the difference residual "
            "(observed minus expected events over cluster size, the expected events from a "
            "logistic regression of follow-up on baseline, strata and covariates, without arm): "
            "the cluster-level risk difference"
        )
    else:
        clusters = cluster_mean_residuals(config, observed, scale).clusters
        statistic = (
            "Difference between arms in the mean over clusters of the cluster-mean residual "
            "(follow-up regressed on baseline, strata and covariates, without arm)"
        )
    spec = config["sensitivity"]
    result = stratified_permutation_test(
        clusters["residual"].to_numpy(),
        clusters["stratum"].to_numpy(),
        clusters["treated"].to_numpy(),
        max_enumerated=spec["max_enumerated"],
        permutations=spec["permutations"],
        rng=derive_rng(config["seed"], "rerandomisation", scale),
    )
    layout = clusters.groupby(["stratum", "treated"]).size()
    null = sign * result.null
    quantiles = [0.005, 0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975, 0.995]
    summary = {
        "outcome": scale,
        "contrast": contrast_label(config, direction),
        "statistic": sign * result.statistic,
        "p": result.p,
        "method": result.method,
        "mc_se": result.mc_se,
        "n_allocations": result.n_allocations,
        "data": "observed (complete cases, no imputation)",
        "n_individuals": int(clusters["n"].sum()),
        "n_clusters": int(len(clusters)),
        "clusters_by_stratum_and_arm": {
            f"{stratum} / {single_treatment_arm(config) if t else design['reference_arm']}": int(n)
            for (stratum, t), n in layout.items()
        },
        "description": (
            f"{statistic} on the observed data; allocations keep the number of treatment "
            "clusters in each stratum. "
            "Null hypothesis: allocation changes no individual's follow-up value nor whether it "
            "is observed."
        ),
    }
    summary["null_quantiles"] = {
        f"{q:g}": float(v) for q, v in zip(quantiles, np.quantile(null, quantiles), strict=True)
    }
    return summary, null


# ---------------------------------------------------------------------------------------------
# Delta adjustment (missing not at random)
# ---------------------------------------------------------------------------------------------


def delta_adjustment(
    config: Config,
    observed: pd.DataFrame,
    completed: Sequence[pd.DataFrame],
    latent: Sequence[pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Primary analysis with the imputed follow-up values of one arm shifted by delta.

    A gaussian primary outcome has its imputed values shifted by ``delta`` outcome units. A
    binomial one has each imputed 0/1 value redrawn with the log odds of a 1 shifted by ``delta``
    (:func:`trial.stats.impute.binary.shifted_draw` on the imputation's final latent draw: same
    parameters, same residual, so ``delta = 0`` gives the completed dataset back); the analysis
    model (GLMM or GEE) is refitted on each redrawn dataset and pooled on the log odds ratio.

    Parameters
    ----------
    config : dict
        Trial configuration with ``sensitivity.delta`` (``arms``, ``grid``).
    observed : pandas.DataFrame
        The analysis table before imputation (marks which follow-up values were imputed).
    completed : sequence of pandas.DataFrame
        The completed datasets (rows in the same order as ``observed``).
    latent : sequence of pandas.DataFrame, optional
        For a binomial primary outcome, each completed dataset's
        :attr:`~trial.stats.impute.base.ImputationResult.latent` table (``row`` positions in
        ``observed``), in the order of ``completed``.

    Returns
    -------
    pandas.DataFrame
        One row per shifted arm and delta: pooled estimate, SE, df, CI, p, FMI, number of
        shifted values, in the primary outcome's reported direction; ``delta_scale`` says what
        ``delta`` is measured in (``outcome units`` or ``log odds``).

    Raises
    ------
    ValueError
        A poisson primary outcome; a binomial one without latent draws for every imputed value,
        or whose draws do not reproduce the completed dataset; rows out of order.
    """
    design = config["design"]
    scale, sign, direction = _primary(config)
    family = outcome_family(config, scale)
    if family not in ("gaussian", "binomial"):
        raise ValueError(
            f"delta adjustment of a {family} primary outcome is not available: a gaussian "
            "outcome is shifted in outcome units and a binomial one on the log-odds scale"
        )
    alpha = config["analysis"]["alpha"]
    y_col = followup_column(scale)
    # imputed values (a score that the estimand leaves undefined stays missing: not shifted)
    imputed = observed[y_col].isna().to_numpy() & score_defined(config, observed)
    ids = observed[design["individual_id"]].to_numpy()
    if family == "binomial" and (latent is None or len(latent) != len(completed)):
        raise ValueError(
            "delta adjustment of a binomial primary outcome redraws the imputed values from the "
            "imputation's latent draws: one latent table per completed dataset is needed"
        )
    designs = []
    for k, table in enumerate(completed):
        if not np.array_equal(table[design["individual_id"]].to_numpy(), ids):
            raise ValueError(
                "a completed dataset's rows do not match the analysis table's order; delta "
                "adjustment needs the same individuals in the same order"
            )
        draws = (
            _latent_of(latent[k], table, y_col, imputed, k)
            if family == "binomial" and latent is not None
            else None
        )
        designs.append((table, design_matrix(config, table, scale), draws))
    rows = []
    for arm in config["sensitivity"]["delta"]["arms"]:
        in_arm = (observed[design["arm"]] == arm).to_numpy()
        shift = (imputed & in_arm).astype(float)
        for delta in config["sensitivity"]["delta"]["grid"]:
            fits = []
            for table, X, draws in designs:
                y = table[y_col].astype(float)
                if family == "binomial":
                    at, eta, e = draws
                    chosen = in_arm[at]
                    y = y.copy()
                    y.iloc[at[chosen]] = shifted_draw(eta[chosen], e[chosen], delta)
                else:
                    y = y + delta * shift
                fits.append(_mixed_fit(config, table, X, y, family))
            row = _pooled_row(f"delta[{arm}]", "", fits, sign, alpha)
            rows.append(
                {
                    "arm_shifted": arm,
                    "arm_label": design["arm_labels"][arm],
                    "delta": float(delta),
                    "delta_scale": "log odds" if family == "binomial" else "outcome units",
                    "n_shifted": int(shift.sum()),
                    **{
                        k: row[k]
                        for k in (
                            "estimate",
                            "se",
                            "df",
                            "ci_low",
                            "ci_high",
                            "p",
                            "fmi",
                            "df_method",
                            "n_clusters",
                            "n_individuals",
                        )
                    },
                }
            )
    out = pd.DataFrame(rows)
    out.insert(0, "outcome", scale)
    out.insert(1, "contrast", contrast_label(config, direction))
    return out


def _latent_of(
    latent: pd.DataFrame, table: pd.DataFrame, y_col: str, imputed: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions, latent linear predictors and residuals of the imputed values of ``y_col`` in
    completed dataset ``k`` (0-based), checked to cover every imputed value and to reproduce
    the completed values."""
    mine = latent[latent["variable"] == y_col]
    at = mine["row"].to_numpy(dtype=np.intp)
    keep = imputed[at]
    at, eta, e = at[keep], mine["eta"].to_numpy(float)[keep], mine["e"].to_numpy(float)[keep]
    if not np.array_equal(np.sort(at), np.flatnonzero(imputed)):
        raise ValueError(
            f"completed dataset {k + 1}: the latent draws of {y_col!r} cover "
            f"{at.size} of its {int(imputed.sum())} imputed values"
        )
    if not np.array_equal(shifted_draw(eta, e, 0.0), table[y_col].to_numpy(float)[at]):
        raise ValueError(
            f"completed dataset {k + 1}: the latent draws of {y_col!r} do not reproduce its "
            "imputed values (files from different imputation runs?)"
        )
    return at, eta, e


def tipping_points(delta: pd.DataFrame) -> pd.DataFrame:
    """Per shifted arm, the deltas at which a confidence limit crosses zero.

    Between consecutive grid points where the lower (or upper) limit changes sign, the crossing
    is found by linear interpolation. Crossings nearest to delta = 0 come first.

    Parameters
    ----------
    delta : pandas.DataFrame
        Output of :func:`delta_adjustment`.

    Returns
    -------
    pandas.DataFrame
        ``arm_shifted``, ``limit`` (``ci_low``/``ci_high``), ``tipping_delta``; an arm with no
        crossing inside the grid has one row with ``tipping_delta`` NaN.
    """
    rows = []
    for arm, part in delta.groupby("arm_shifted", sort=False):
        part = part.sort_values("delta")
        d = part["delta"].to_numpy()
        found = []
        for limit in ("ci_low", "ci_high"):
            v = part[limit].to_numpy()
            for k in range(len(d) - 1):
                if v[k] == 0 or np.sign(v[k]) != np.sign(v[k + 1]):
                    x = d[k] + (0 - v[k]) * (d[k + 1] - d[k]) / (v[k + 1] - v[k])
                    found.append({"arm_shifted": arm, "limit": limit, "tipping_delta": float(x)})
        if not found:
            found.append({"arm_shifted": arm, "limit": "", "tipping_delta": math.nan})
        found.sort(key=lambda r: abs(r["tipping_delta"]) if r["limit"] else math.inf)
        rows.extend(found)
    return pd.DataFrame(rows)
