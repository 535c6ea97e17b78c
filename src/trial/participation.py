"""Participation (implementation) effects and staff-level outcomes.

The analyses, each one workflow step:

* **Participation score** (:func:`participation_scores`): each treatment cluster's values over the
  parts of the intervention are combined into a score (their mean), classed high or low by the
  config's rule (at or above / above the median of treatment clusters) for the non-randomised
  comparison, and marked as having taken part when above 0. Reference clusters cannot take part
  (one-sided non-compliance) and have no score.
* **High vs low participation** (:func:`fit_participation`, :func:`staff_outcomes`): a
  random-intercept mixed model among treatment clusters only, with participation as a
  cluster-level factor plus the baseline value and strata, small-sample df. This comparison is
  **not randomised**: clusters chose how much to take part, so it may be confounded.
* **Instrumental-variable estimates** (:func:`two_stage_least_squares`,
  :func:`cluster_level_iv`, :func:`iv_bootstrap`), with randomised allocation as the instrument
  for the treatment received, in two versions:

  - *complier-average effect*: treatment received = the cluster **took part at all** (score
    above 0). Any participation counts as receipt, so the exclusion restriction (allocation
    affects outcomes only through the treatment received) asks only that a cluster that took no
    part gained nothing from its allocation; a median split would declare partial participants
    untreated and break it by construction.
  - *dose response*: treatment received = the **participation score** (0 = no part, 1 = full
    participation in every part), a continuous dose; the estimate is the effect per unit of score
    under the added assumption that the effect is linear in the score and zero at 0 (otherwise a
    weighted average of the effects of the doses received).

  Both assume, besides the exclusion restriction, that allocation was random (it was) and moved
  participation (one-sided: reference clusters cannot take part). They are estimates under these
  assumptions, not randomised comparisons. Allocation and participation are cluster-level, so
  the information comes from the clusters and every analysis counts its df in clusters:

  - ``2sls``: two-stage least squares on the individuals with baseline value, strata and
    covariates as exogenous regressors, cluster-robust covariance with the small-sample
    correction ``G/(G-1) (n-1)/(n-k)`` (linearmodels ``IV2SLS``, ``cov_type="clustered"``,
    ``debiased=True``), t on clusters minus cluster-level parameters (intercept, stratum
    dummies, the treatment received): the between-within df of the analysis model.
  - ``cluster_level``: the two-stage residual method of the cluster-level analysis
    (:func:`trial.sensitivity.cluster_mean_residuals`: follow-up regressed on baseline, strata
    and covariates without arm) then two-stage least squares of the clusters' mean residuals on
    their treatment received, instrumented by allocation, one row per cluster (each cluster
    weighted equally), model-based standard error and t on ``G - S - A + 1`` df, as for the
    adjusted cluster-level comparison.

  A cluster bootstrap (clusters resampled within arm and stratum by :mod:`trial.bootstrap`)
  gives percentile intervals; each replicate refits everything estimated from the data (the
  covariate adjustment or stage-1 residuals, the first stage and the reduced form), the
  treatment received being a fixed rule applied to each cluster's own participation. With
  multiple imputation the replicates of all completed datasets are pooled before taking
  percentiles (Schomaker and Heumann 2018, "MI boot pooled").

Staff outcomes (:func:`staff_outcomes`) are analysed on the observed staff data (complete cases
at follow-up, no imputation), adjusted for the staff member's baseline score where available
(missing baselines are set to the mean with a missingness indicator).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.bootstrap import ClusterLayout, bootstrap_cluster_counts
from trial.mixed import fit_random_intercept_model
from trial.pooling import pool_rubin
from trial.reporting import Section, fmt, p_text
from trial.scoring import score_scale
from trial.sensitivity import cluster_mean_residuals
from trial.validation import read_table
from trial.vocabulary import (
    TREATMENT,
    Config,
    allocation_strata,
    arm_term,
    baseline_column,
    contrast_label,
    contrast_sign,
    design_matrix,
    followup_column,
    outcome_scales,
    single_treatment_arm,
    strata_columns,
    unit_plural,
)

__all__ = [
    "HIGH",
    "IV_ANALYSES",
    "IV_METHODS",
    "RECEIVED",
    "IVFit",
    "ParticipationError",
    "cluster_level_iv",
    "fit_participation",
    "high_vs_low_possible",
    "iv_bootstrap",
    "participation_direction_label",
    "participation_scores",
    "participation_section",
    "pool_participation",
    "iv_contrast_label",
    "published_participation_table",
    "staff_analysis_table",
    "staff_outcomes",
    "two_stage_least_squares",
]

HIGH = "participation[high]"  # term name of the high-vs-low participation effect
RECEIVED = "received"  # term name of the treatment received in the instrumental-variable models
SCORE = "participation_score"
TOOK_PART = "took_part"

#: The instrumental-variable analyses: name -> (column of the scores table that is the
#: treatment received, what it means).
IV_ANALYSES = {
    "complier_average": (TOOK_PART, "took part at all (participation score above 0)"),
    "dose_response": (SCORE, "participation score (0 = none, 1 = full participation)"),
}
#: The instrumental-variable estimators, in report order.
IV_METHODS = {
    "2sls": "two-stage least squares on individuals, cluster-robust SE (CR1, debiased)",
    "cluster_level": "two-stage least squares on cluster-mean residuals (two-stage method)",
}


class ParticipationError(ValueError):
    """The participation data or configuration cannot define the analysis."""


# ---------------------------------------------------------------------------------------------
# Participation score
# ---------------------------------------------------------------------------------------------


def participation_scores(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per treatment cluster: its value per part, its score and high/low class.

    Parameters
    ----------
    config : dict
        Trial configuration with a ``participation`` section.
    raw_dir : path, optional
        Folder of the raw tables (default ``paths.raw``).

    Returns
    -------
    pandas.DataFrame
        Columns: cluster ID, stratum columns, one column per part, ``participation_score``
        (the mean over parts), ``took_part`` (1 when the score is above 0), ``high`` (1/0)
        and ``level`` (``"high"``/``"low"``; every cluster may fall in one class, see
        :func:`high_vs_low_possible`).

    Raises
    ------
    ParticipationError
        A treatment cluster lacks a part, or a reference cluster has participation rows.
    """
    design = config["design"]
    spec = config["participation"]
    cid = design["cluster_id"]
    clusters = read_table(config, design["cluster_table"], raw_dir)
    table = read_table(config, spec["table"], raw_dir)
    treated = clusters.loc[clusters[design["arm"]] == single_treatment_arm(config)]
    stray = sorted(set(table[cid]) - set(treated[cid]))
    if stray:
        raise ParticipationError(
            f"{spec['table']}: {len(stray)} cluster(s) not in the treatment arm have "
            f"participation rows (non-compliance must be one-sided): {stray}"
        )
    wide = table.pivot(index=cid, columns=spec["part"], values=spec["value"])
    wide = wide.reindex(treated[cid])
    missing = wide.isna()
    if missing.to_numpy().any():
        gaps = [
            f"{c} lacks {list(wide.columns[missing.loc[c].to_numpy()])}"
            for c in wide.index[missing.any(axis=1)]
        ]
        raise ParticipationError(
            f"{spec['table']}: every treatment cluster needs a {spec['value']!r} value for every "
            f"{spec['part']!r}; " + "; ".join(gaps)
        )
    wide.columns = [str(c) for c in wide.columns]
    score = wide.mean(axis=1)
    median = float(score.median())
    if spec["high_rule"] == "at_or_above_median":
        high = score >= median
    else:
        high = score > median
    out = treated[[cid, *design["strata"]]].set_index(cid).join(wide)
    out[SCORE] = score
    out[TOOK_PART] = (score > 0).astype(int)
    out["high"] = high.astype(int)
    out["level"] = np.where(high, "high", "low")
    return out.reset_index()


def high_vs_low_possible(scores: pd.DataFrame) -> bool:
    """Whether the treatment clusters fall in both classes (not so when, e.g., at least half of
    them took no part and the median score is 0); the instrumental-variable analyses do not
    need it."""
    return scores["high"].nunique() == 2


def participation_direction_label(config: Config) -> str:
    """Human-readable direction of the participation contrast."""
    design = config["design"]
    treated = design["arm_labels"][single_treatment_arm(config)]
    direction = config["participation"].get("direction", "high_minus_low")
    first, second = ("high", "low") if direction == "high_minus_low" else ("low", "high")
    return f"{first} minus {second} participation ({treated} {unit_plural(design, 'cluster')} only)"


def _participation_sign(config: Config) -> float:
    direction = config["participation"].get("direction", "high_minus_low")
    return 1.0 if direction == "high_minus_low" else -1.0


def _drop_constant(X: pd.DataFrame) -> pd.DataFrame:
    """Drop columns other than the intercept that do not vary (e.g. a stratum absent here)."""
    keep = [c for c in X.columns if c == "(Intercept)" or X[c].nunique() > 1]
    return X[keep]


def _high_vs_low(
    config: Config,
    y: pd.Series,
    X: pd.DataFrame,
    high: pd.Series,
    clusters: pd.Series,
) -> dict[str, Any]:
    """Mixed model among treatment clusters with the high/low factor in place of the arm."""
    X = X.copy()
    X.insert(1, HIGH, high.astype(float).to_numpy())
    X = X.drop(columns=[c for c in X.columns if c == arm_term(config)])
    used = y.notna() & X.notna().all(axis=1)
    X = _drop_constant(X[used])
    df_method = config["analysis"]["df_method"]
    fit = fit_random_intercept_model(
        y[used].to_numpy(float), X, clusters[used].to_numpy(), reml=True, df_method=df_method
    )
    return {
        "estimate": float(fit.params[HIGH]),
        "variance": float(fit.cov.loc[HIGH, HIGH]),
        "df": float(fit.df[HIGH]),
        "df_method": df_method,
        "n_individuals": int(used.sum()),
        "n_clusters": int(clusters[used].nunique()),
        "n_high_clusters": int(clusters[used & (high == 1)].nunique()),
        "at_boundary": bool(fit.at_boundary),
    }


# ---------------------------------------------------------------------------------------------
# Instrumental-variable estimators
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IVFit:
    """An instrumental-variable estimate of the effect of the treatment received.

    Attributes
    ----------
    estimate, se, df, ci_low, ci_high, p : float
        Estimate, standard error, df of the t reference, confidence interval and two-sided p.
    first_stage : float
        Coefficient of the instrument in the first stage (the difference in treatment received
        between arms; with one-sided non-compliance, its mean in the treatment arm).
    itt : float
        Coefficient of the instrument in the reduced form (the intention-to-treat effect);
        ``estimate = itt / first_stage``.
    n_individuals, n_clusters : int
        Individuals and clusters analysed.
    """

    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p: float
    first_stage: float
    itt: float
    n_individuals: int
    n_clusters: int

    @property
    def variance(self) -> float:
        """``se ** 2``."""
        return self.se**2

    def as_dict(self) -> dict[str, Any]:
        """The fields and the variance as a plain ``dict``."""
        return {**asdict(self), "variance": self.variance}


def _t_inference(estimate: float, se: float, df: float, alpha: float) -> dict[str, float]:
    q = float(stats.t.ppf(1 - alpha / 2, df))
    return {
        "ci_low": estimate - q * se,
        "ci_high": estimate + q * se,
        "p": float(2 * stats.t.sf(abs(estimate / se), df)),
    }


def two_stage_least_squares(
    y: np.ndarray,
    exog: pd.DataFrame,
    received: np.ndarray,
    instrument: np.ndarray,
    clusters: np.ndarray,
    *,
    df: float | None = None,
    alpha: float = 0.05,
) -> IVFit:
    """Two-stage least squares on individuals with a cluster-robust covariance.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Outcome.
    exog : pandas.DataFrame, shape (n, p)
        Exogenous regressors including the intercept column.
    received : ndarray, shape (n,)
        Treatment received (endogenous): 0/1 or a dose, 0 wherever ``instrument`` is 0.
    instrument : ndarray, shape (n,)
        Randomised allocation (0/1).
    clusters : ndarray, shape (n,)
        Cluster labels for the cluster-robust covariance (linearmodels ``IV2SLS``,
        ``cov_type="clustered"``, ``debiased=True``: CR1 with ``G/(G-1) (n-1)/(n-k)``).
    df : float, optional
        Degrees of freedom of the t reference; default: clusters minus cluster-level
        parameters (every column of ``exog`` constant within clusters, plus the treatment
        received).
    alpha : float, default 0.05
        Level of the confidence interval.

    Returns
    -------
    IVFit
    """
    from linearmodels.iv import IV2SLS

    codes = pd.factorize(pd.Series(clusters))[0]
    endog = pd.DataFrame({RECEIVED: received.astype(float)}, index=exog.index)
    instr = pd.DataFrame({"instrument": instrument.astype(float)}, index=exog.index)
    res = IV2SLS(pd.Series(y, index=exog.index), exog, endog, instr).fit(
        cov_type="clustered", clusters=codes, debiased=True
    )
    if df is None:
        frame = exog.assign(_c=codes)
        level = [c for c in exog.columns if (frame.groupby("_c")[c].nunique() <= 1).all()]
        df = float(len(np.unique(codes)) - len(level) - 1)
    estimate = float(res.params[RECEIVED])
    se = float(res.std_errors[RECEIVED])
    Z = np.column_stack([exog.to_numpy(float), instrument])
    first = np.linalg.lstsq(Z, received, rcond=None)[0][-1]
    itt = np.linalg.lstsq(Z, y, rcond=None)[0][-1]
    return IVFit(
        estimate=estimate,
        se=se,
        df=float(df),
        **_t_inference(estimate, se, df, alpha),
        first_stage=float(first),
        itt=float(itt),
        n_individuals=int(len(y)),
        n_clusters=int(len(np.unique(codes))),
    )


def cluster_level_iv(
    residual: np.ndarray,
    received: np.ndarray,
    instrument: np.ndarray,
    *,
    df: float,
    n_individuals: int,
    alpha: float = 0.05,
) -> IVFit:
    """Two-stage least squares on one row per cluster (e.g. cluster-mean residuals).

    The just-identified regression of ``residual`` on an intercept and ``received``,
    instrumented by an intercept and ``instrument``; each cluster counts once. The estimate is
    the Wald ratio of the difference between arms in mean residual to the difference in mean
    treatment received; its covariance is the model-based 2SLS one,
    ``s^2 (Z'X)^-1 Z'Z (X'Z)^-1`` with ``s^2`` the residual sum of squares over ``G - 2``, and
    the t reference has ``df`` degrees of freedom (``G - S - A + 1`` after a stage-1
    adjustment for ``S`` strata).

    Parameters
    ----------
    residual, received, instrument : ndarray, shape (G,)
        Per cluster: outcome (mean residual), treatment received, allocation (0/1).
    df : float
        Degrees of freedom of the t reference.
    n_individuals : int
        Individuals behind the cluster means (reported only).
    alpha : float, default 0.05
        Level of the confidence interval.

    Returns
    -------
    IVFit
    """
    r = np.asarray(residual, float)
    d = np.asarray(received, float)
    z = np.asarray(instrument, float)
    G = len(r)
    X = np.column_stack([np.ones(G), d])
    Z = np.column_stack([np.ones(G), z])
    ZX = Z.T @ X
    if abs(np.linalg.det(ZX)) < 1e-12 * max(1.0, float(np.abs(ZX).max())) ** 2:
        raise ParticipationError(
            "the treatment received does not differ between arms: the instrumental-variable "
            "effect is not identified"
        )
    beta = np.linalg.solve(ZX, Z.T @ r)
    e = r - X @ beta
    inv = np.linalg.inv(ZX)
    cov = float(e @ e / (G - 2)) * inv @ (Z.T @ Z) @ inv.T
    estimate, se = float(beta[1]), float(np.sqrt(cov[1, 1]))
    treated = z == 1
    return IVFit(
        estimate=estimate,
        se=se,
        df=float(df),
        **_t_inference(estimate, se, df, alpha),
        first_stage=float(d[treated].mean() - d[~treated].mean()),
        itt=float(r[treated].mean() - r[~treated].mean()),
        n_individuals=int(n_individuals),
        n_clusters=G,
    )


def iv_bootstrap(
    y: np.ndarray,
    exog: np.ndarray,
    received: np.ndarray,
    instrument: np.ndarray,
    clusters: np.ndarray,
    strata: np.ndarray,
    *,
    method: str,
    replicates: int,
    seed: int,
    keys: Sequence[object],
) -> np.ndarray:
    """Cluster bootstrap replicates of an instrumental-variable estimate.

    Clusters are drawn with replacement within each resampling stratum (arm x randomisation
    stratum, so every replicate keeps the design's numbers of clusters per arm and stratum) by
    :func:`trial.bootstrap.bootstrap_weights`; replicate ``r`` draws from
    ``derive_seed(seed, *keys, r)``. Every replicate refits the whole estimator on the drawn
    clusters: for ``"2sls"`` the two-stage least squares with its covariate coefficients; for
    ``"cluster_level"`` the stage-1 regression (follow-up on ``exog`` without arm), the
    clusters' mean residuals and the cluster-level 2SLS. The estimators are sums of per-cluster
    cross-products, each counted as often as its cluster was drawn (O(clusters p^2) per
    replicate instead of O(n p^2)).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Outcome.
    exog : ndarray, shape (n, p)
        Exogenous regressors including the intercept (not the arm).
    received, instrument, clusters : ndarray, shape (n,)
        As for :func:`two_stage_least_squares` (``received`` and ``instrument`` constant within
        cluster for ``"cluster_level"``).
    strata : ndarray, shape (n,)
        Resampling stratum of each row (constant within cluster).
    method : {"2sls", "cluster_level"}
        The estimator (:data:`IV_METHODS`).
    replicates : int
        Number of bootstrap replicates.
    seed : int
        The trial seed.
    keys : sequence
        Names of this bootstrap.

    Returns
    -------
    ndarray, shape (replicates,)
        Replicate estimates; NaN where a replicate could not identify the effect (e.g. no
        cluster that took part was drawn, or a singular stage-1 design).
    """
    if method not in IV_METHODS:
        raise ValueError(f"method must be one of {list(IV_METHODS)}, not {method!r}")
    W = np.asarray(exog, float)
    y = np.asarray(y, float)
    d = np.asarray(received, float)
    z = np.asarray(instrument, float)
    layout = ClusterLayout.from_labels(clusters, strata)
    times = bootstrap_cluster_counts(layout, range(replicates), seed=seed, keys=keys).astype(float)
    code = layout.cluster
    J = layout.n_clusters

    def per_cluster(values: np.ndarray) -> np.ndarray:
        """Per-cluster sums of each row's values: shape (J, ...)."""
        out = np.zeros((J, *values.shape[1:]))
        np.add.at(out, code, values)
        return out

    out = np.full(replicates, np.nan)
    if method == "2sls":
        X = np.column_stack([W, d])
        Z = np.column_stack([W, z])
        zx = per_cluster(Z[:, :, None] * X[:, None, :])
        zy = per_cluster(Z * y[:, None])
        A = np.einsum("bj,jkl->bkl", times, zx)
        b = times @ zy
        ok = np.linalg.matrix_rank(A) == A.shape[1]
        out[ok] = np.linalg.solve(A[ok], b[ok][..., None])[:, -1, 0]
        return out
    xtx = per_cluster(W[:, :, None] * W[:, None, :])
    xty = per_cluster(W * y[:, None])
    sum_w = per_cluster(W)
    sum_y = per_cluster(y)
    n = layout.sizes.astype(float)
    dj = per_cluster(d) / n
    zj = per_cluster(z) / n
    A = np.einsum("bj,jkl->bkl", times, xtx)
    ok = np.linalg.matrix_rank(A) == A.shape[1]
    beta = np.full((replicates, W.shape[1]), np.nan)
    beta[ok] = np.linalg.solve(A[ok], (times @ xty)[ok][..., None])[..., 0]
    resid = (sum_y[None, :] - beta @ sum_w.T) / n[None, :]  # (B, J) cluster-mean residuals
    t1, t0 = times * zj, times * (1 - zj)
    with np.errstate(invalid="ignore", divide="ignore"):
        itt = (t1 * resid).sum(1) / t1.sum(1) - (t0 * resid).sum(1) / t0.sum(1)
        first = (t1 @ dj) / t1.sum(1) - (t0 @ dj) / t0.sum(1)
        est = itt / first
    good = ok & np.isfinite(est) & (np.abs(first) > 1e-12)
    out[good] = est[good]
    return out


# ---------------------------------------------------------------------------------------------
# Per-imputation fits and pooling
# ---------------------------------------------------------------------------------------------


def fit_participation(
    config: Config, table: pd.DataFrame, scores: pd.DataFrame, index: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """High-vs-low and instrumental-variable fits of every outcome on one completed dataset.

    Parameters
    ----------
    config : dict
        Trial configuration.
    table : pandas.DataFrame
        A completed dataset (or the observed analysis table).
    scores : pandas.DataFrame
        Output of :func:`participation_scores`.
    index : int
        Imputation number (names the bootstrap's random streams).

    Returns
    -------
    fits : pandas.DataFrame
        One row per analysis (``high_vs_low``, then each of :data:`IV_ANALYSES` by each of
        :data:`IV_METHODS`) and outcome: estimate, variance, df and counts, in the raw (high
        minus low; received minus not) direction; for the instrumental-variable rows also the
        first stage and the ITT coefficient.
    bootstrap : pandas.DataFrame
        ``outcome``, ``analysis``, ``method``, ``replicate``, ``estimate``: cluster bootstrap
        replicates of the instrumental-variable estimates.
    """
    design = config["design"]
    cid = design["cluster_id"]
    alpha = config["analysis"]["alpha"]
    reps = int(config["participation"].get("bootstrap", 0))
    by_cluster = scores.set_index(cid)
    high = table[cid].map(by_cluster["high"])
    treated = (table[TREATMENT] == 1).to_numpy()
    strata = allocation_strata(config, table)
    rows, boots = [], []
    for scale in outcome_scales(config):
        X = design_matrix(config, table, scale)
        y = table[followup_column(scale)].astype(float)
        if high_vs_low_possible(scores):
            nonrand = _high_vs_low(
                config, y[treated], X[treated], high[treated], table.loc[treated, cid]
            )
            rows.append(
                {"analysis": "high_vs_low", "method": "mixed_model", "outcome": scale, **nonrand}
            )
        exog = X.drop(columns=[arm_term(config)])
        used = (y.notna() & exog.notna().all(axis=1)).to_numpy()
        stage1 = cluster_mean_residuals(config, table, scale)
        residuals = stage1.clusters
        n_used = int(used.sum())
        for analysis, (column, _) in IV_ANALYSES.items():
            received = table[cid].map(by_cluster[column]).fillna(0.0).to_numpy(float)
            received = received * table[TREATMENT].to_numpy(float)
            fits = {
                "2sls": two_stage_least_squares(
                    y[used].to_numpy(float),
                    exog[used],
                    received[used],
                    table.loc[used, TREATMENT].to_numpy(float),
                    table.loc[used, cid].to_numpy(),
                    alpha=alpha,
                ),
                "cluster_level": cluster_level_iv(
                    residuals["residual"].to_numpy(),
                    residuals.index.map(by_cluster[column]).fillna(0.0).to_numpy(float)
                    * residuals["treated"].to_numpy(float),
                    residuals["treated"].to_numpy(float),
                    df=stage1.df,
                    n_individuals=int(residuals["n"].sum()),
                    alpha=alpha,
                ),
            }
            for method, fit in fits.items():
                rows.append(
                    {
                        "analysis": analysis,
                        "method": method,
                        "outcome": scale,
                        "estimate": fit.estimate,
                        "variance": fit.variance,
                        "df": fit.df,
                        "df_method": "between-within"
                        if method == "2sls"
                        else "clusters - strata - arms + 1",
                        "n_individuals": fit.n_individuals if method == "2sls" else n_used,
                        "n_clusters": fit.n_clusters,
                        "n_high_clusters": int(scores["high"].sum()),
                        "n_took_part": int(scores[TOOK_PART].sum()),
                        "first_stage": fit.first_stage,
                        "itt": fit.itt,
                    }
                )
                if reps:
                    est = iv_bootstrap(
                        y[used].to_numpy(float),
                        exog[used].to_numpy(float),
                        received[used],
                        table.loc[used, TREATMENT].to_numpy(float),
                        table.loc[used, cid].to_numpy(),
                        strata[used].to_numpy(),
                        method=method,
                        replicates=reps,
                        seed=config["seed"],
                        keys=("iv_bootstrap", scale, analysis, method, index),
                    )
                    boots.append(
                        pd.DataFrame(
                            {
                                "outcome": scale,
                                "analysis": analysis,
                                "method": method,
                                "replicate": np.arange(1, reps + 1),
                                "estimate": est,
                            }
                        )
                    )
    columns = ["outcome", "analysis", "method", "replicate", "estimate"]
    boot = pd.concat(boots, ignore_index=True) if boots else pd.DataFrame(columns=columns)
    return pd.DataFrame(rows), boot


def iv_contrast_label(config: Config, analysis: str, direction: str) -> str:
    """Human-readable contrast of an instrumental-variable estimate, in ``direction``."""
    design = config["design"]
    if analysis == "complier_average":
        treated = design["arm_labels"][single_treatment_arm(config)]
        return (
            contrast_label(config, direction)
            + f", among {unit_plural(design, 'individual')} of "
            + f"{unit_plural(design, 'cluster')} that would take part "
            + f"in {treated} (compliers)"
        )
    return contrast_label(config, direction) + ", per unit of participation score (0 to 1)"


def pool_participation(
    config: Config,
    fits: Sequence[pd.DataFrame],
    bootstraps: Sequence[pd.DataFrame],
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pool the per-imputation participation fits by Rubin's rules (Barnard-Rubin df).

    Parameters
    ----------
    config : dict
        Trial configuration.
    fits, bootstraps : sequence of pandas.DataFrame
        Outputs of :func:`fit_participation`, one per imputation.
    outcomes : pandas.DataFrame, optional
        The pooled arm effects (``outcomes.csv``); supplies each outcome's baseline SD.

    Returns
    -------
    pandas.DataFrame
        One row per analysis, method and outcome, in the reported direction (``direction`` and
        ``contrast`` columns), with the pooled estimate, SE, df, CI, p, FMI, and for the
        instrumental-variable estimates the bootstrap percentile interval, the mean first
        stage and ITT coefficient. ``basis`` says what each rests on: ``non-randomised`` (high
        vs low) or ``instrumental variable`` (randomisation as the instrument, under the
        assumptions stated in the report).
    """
    alpha = config["analysis"]["alpha"]
    arm_direction = {o["scale"]: o["direction"] for o in config["analysis"]["outcomes"]}
    roles = {o["scale"]: o["role"] for o in config["analysis"]["outcomes"]}
    stacked = pd.concat([f.assign(imputation=i + 1) for i, f in enumerate(fits)], ignore_index=True)
    boot = pd.concat(list(bootstraps), ignore_index=True) if bootstraps else pd.DataFrame()
    sd = {} if outcomes is None else outcomes.set_index("outcome")["sd_baseline"].to_dict()
    analyses = [("high_vs_low", "mixed_model")]
    analyses += [(a, m) for a in IV_ANALYSES for m in IV_METHODS]
    rows = []
    for analysis, method in analyses:
        iv = analysis != "high_vs_low"
        for scale in outcome_scales(config):
            part = stacked[
                (stacked["analysis"] == analysis)
                & (stacked["method"] == method)
                & (stacked["outcome"] == scale)
            ]
            if part.empty:  # high vs low when every cluster fell in one class (see the report)
                continue
            if not iv:
                sign = _participation_sign(config)
                direction = config["participation"].get("direction", "high_minus_low")
                contrast = participation_direction_label(config)
            else:
                sign = contrast_sign(arm_direction[scale])
                direction = arm_direction[scale]
                contrast = iv_contrast_label(config, analysis, direction)
            pooled = pool_rubin(
                sign * part["estimate"].to_numpy(),
                part["variance"].to_numpy(),
                df_complete=float(part["df"].mean()),
                alpha=alpha,
            )
            row = {
                "analysis": analysis,
                "method": method,
                "basis": "instrumental variable" if iv else "non-randomised",
                "outcome": scale,
                "label": config["scales"][scale]["label"],
                "role": roles[scale],
                "population": "individuals",
                "direction": direction,
                "contrast": contrast,
                **{k: v for k, v in pooled.as_dict().items() if k != "alpha"},
                "df_method": part["df_method"].iloc[0],
                "n_clusters": int(part["n_clusters"].max()),
                "n_individuals": int(part["n_individuals"].max()),
                "n_high_clusters": int(part["n_high_clusters"].max()),
                "sd_baseline": sd.get(scale, math.nan),
                "boot_low": math.nan,
                "boot_high": math.nan,
                "n_boot": 0,
                "first_stage": math.nan,
                "itt": math.nan,
            }
            if iv:
                row["first_stage"] = float(part["first_stage"].mean())
                row["itt"] = float(sign * part["itt"].mean())
                if len(boot):
                    chosen = (
                        (boot["outcome"] == scale)
                        & (boot["analysis"] == analysis)
                        & (boot["method"] == method)
                    )
                    reps = sign * boot.loc[chosen, "estimate"].dropna()
                    if len(reps):
                        lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
                        row.update(boot_low=float(lo), boot_high=float(hi), n_boot=len(reps))
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Staff outcomes
# ---------------------------------------------------------------------------------------------


def staff_analysis_table(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per staff member: cluster, arm, strata, baseline and follow-up staff scores.

    Parameters
    ----------
    config : dict
        Trial configuration with ``staff.outcomes``.
    raw_dir : path, optional
        Folder of the raw tables.

    Returns
    -------
    pandas.DataFrame
        Columns: staff ID, cluster ID, ``treatment``, arm, strata and
        ``<scale>__baseline`` / ``<scale>__followup`` for every staff outcome.
    """
    design = config["design"]
    staff = config["staff"]
    cid = design["cluster_id"]
    clusters = read_table(config, design["cluster_table"], raw_dir)
    people = read_table(config, staff["table"], raw_dir)[[staff["id"], cid]]
    table = people.merge(
        clusters[[cid, design["arm"], *design["strata"]]],
        on=cid,
        how="left",
        validate="many_to_one",
    )
    table.insert(2, TREATMENT, (table[design["arm"]] == single_treatment_arm(config)).astype(int))
    for outcome in staff.get("outcomes", []):
        scale = outcome["scale"]
        spec = config["scales"][scale]
        measures = read_table(config, spec["table"], raw_dir)
        for time, column in (
            (design["baseline"], baseline_column(scale)),
            (design["followup"], followup_column(scale)),
        ):
            rows = measures[measures[design["timepoint"]] == time]
            scored = pd.Series(score_scale(rows, spec).to_numpy(), index=rows[staff["id"]])
            table[column] = table[staff["id"]].map(scored)
    return table


def _staff_design(config: Config, table: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Intercept, arm, baseline (mean-filled with an indicator where missing) and strata."""
    base = table[baseline_column(scale)].astype(float)
    X = pd.DataFrame(
        {"(Intercept)": 1.0, arm_term(config): table[TREATMENT].astype(float)}, index=table.index
    )
    X[baseline_column(scale)] = base.fillna(base.mean())
    if base.isna().any():
        X[f"{baseline_column(scale)}[missing]"] = base.isna().astype(float)
    return pd.concat([X, strata_columns(config, table)], axis=1)


def staff_outcomes(
    config: Config, table: pd.DataFrame, scores: pd.DataFrame | None
) -> pd.DataFrame:
    """Arm effect and (non-randomised) participation effect of every staff outcome.

    Parameters
    ----------
    config : dict
        Trial configuration.
    table : pandas.DataFrame
        Output of :func:`staff_analysis_table`.
    scores : pandas.DataFrame or None
        Output of :func:`participation_scores` (``None`` skips the participation effect).

    Returns
    -------
    pandas.DataFrame
        One row per analysis (``arm``, ``high_vs_low``) and staff outcome: estimate, SE, df,
        CI, p, contrast, counts and the model-based ICC.
    """
    design = config["design"]
    cid = design["cluster_id"]
    alpha = config["analysis"]["alpha"]
    df_method = config["analysis"]["df_method"]
    rows = []
    for outcome in config["staff"].get("outcomes", []):
        scale = outcome["scale"]
        y = table[followup_column(scale)].astype(float)
        X = _staff_design(config, table, scale)
        used = y.notna()
        n_missing_baseline = int(table.loc[used, baseline_column(scale)].isna().sum())
        analyses = [("arm", used, X, arm_term(config))]
        if scores is not None and high_vs_low_possible(scores):
            high = table[cid].map(scores.set_index(cid)["high"])
            Xp = X.copy()
            Xp[arm_term(config)] = high.fillna(0).to_numpy(float)
            Xp = Xp.rename(columns={arm_term(config): HIGH})
            analyses.append(("high_vs_low", used & (table[TREATMENT] == 1), Xp, HIGH))
        for analysis, rows_used, design_X, term in analyses:
            Xu = _drop_constant(design_X[rows_used])
            fit = fit_random_intercept_model(
                y[rows_used].to_numpy(float),
                Xu,
                table.loc[rows_used, cid].to_numpy(),
                reml=True,
                df_method=df_method,
            )
            res = fit.contrast(pd.Series({term: 1.0}), alpha=alpha)
            if analysis == "arm":
                sign = contrast_sign(outcome["direction"])
                direction = outcome["direction"]
                contrast = contrast_label(config, direction)
            else:
                sign = _participation_sign(config)
                direction = config["participation"].get("direction", "high_minus_low")
                contrast = participation_direction_label(config)
            est = sign * res.estimate
            lo, hi = sorted((sign * res.ci_low, sign * res.ci_high))
            rows.append(
                {
                    "analysis": analysis,
                    "randomised": analysis == "arm",
                    "outcome": scale,
                    "label": config["scales"][scale]["label"],
                    "population": "staff",
                    "direction": direction,
                    "contrast": contrast,
                    "estimate": est,
                    "se": res.se,
                    "df": res.df,
                    "ci_low": lo,
                    "ci_high": hi,
                    "p": res.p,
                    "df_method": df_method,
                    "n_clusters": int(table.loc[rows_used, cid].nunique()),
                    "n_individuals": int(rows_used.sum()),
                    "n_missing_baseline": n_missing_baseline,
                    "icc_model": float(fit.icc),
                    "at_boundary": bool(fit.at_boundary),
                    "sd_baseline": float(table[baseline_column(scale)].std()),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Report section
# ---------------------------------------------------------------------------------------------


def published_participation_table(
    config: Config,
    participation: pd.DataFrame,
    staff: pd.DataFrame | None,
    truth: Mapping[str, Any] | None,
) -> pd.DataFrame:
    """Published participation figures beside this run's, in this run's direction.

    The true value is ``high_minus_low_participation`` from the synthetic example's truth file
    (turned to the configured direction) where the truth file has the outcome.
    """
    own = config["participation"].get("direction", "high_minus_low")
    frames = [participation[participation["analysis"] == "high_vs_low"]]
    if staff is not None and len(staff):
        frames.append(staff[staff["analysis"] == "high_vs_low"])
    ours = pd.concat(frames, ignore_index=True).set_index("outcome")
    rows = []
    for pub in config["participation"].get("published", []):
        scale = pub["scale"]
        sign = 1.0 if pub["direction"] == own else -1.0
        lo, hi = sorted(sign * np.asarray(pub["ci"], dtype=float))
        row = {
            "outcome": config["scales"][scale]["label"],
            "contrast": participation_direction_label(config),
            "published": f"{sign * pub['estimate']:.2f} ({lo:.1f} to {hi:.1f})",
            "published_direction": pub["direction"].replace("_", " "),
            "published_stated": f"{pub['estimate']:g} ({pub['ci'][0]:g} to {pub['ci'][1]:g})",
            "published_p": p_text(pub.get("p"), pub.get("p_bound", "=")),
            "this_run": "not analysed",
            "this_run_p": "",
            "true_value": None,
        }
        if scale in ours.index:
            r = ours.loc[scale]
            row["this_run"] = f"{fmt(r['estimate'])} ({fmt(r['ci_low'])} to {fmt(r['ci_high'])})"
            row["this_run_p"] = p_text(float(r["p"]))
        outcome_truth = (truth or {}).get("outcomes", {}).get(scale, {})
        if "high_minus_low_participation" in outcome_truth:
            t = outcome_truth["high_minus_low_participation"]
            row["true_value"] = round(t if own == "high_minus_low" else -t, 2)
        rows.append(row)
    return pd.DataFrame(rows)


def participation_section(config: Config, inputs: Mapping[str, Any]) -> Section:
    """Report section: participation scores, high vs low, instrumental-variable estimates,
    staff outcomes."""
    design = config["design"]
    scores = pd.read_csv(inputs["participation_scores"])
    pooled = pd.read_csv(inputs["participation"])
    staff = pd.read_csv(inputs["staff_outcomes"]) if inputs.get("staff_outcomes") else None
    truth = None
    if inputs.get("truth"):
        truth = json.loads(Path(inputs["truth"][0]).read_text(encoding="utf-8"))
    parts = [
        c
        for c in scores.columns
        if c not in {design["cluster_id"], *design["strata"], SCORE, TOOK_PART, "high", "level"}
    ]
    levels = []
    for level in ("high", "low"):
        sub = scores[scores["level"] == level]
        levels.append(
            {
                "level": level,
                "n": len(sub),
                "score_mean": float(sub[SCORE].mean()),
                "score_min": float(sub[SCORE].min()),
                "score_max": float(sub[SCORE].max()),
                "parts": {p: float(sub[p].mean()) for p in parts},
            }
        )
    true_values = (truth or {}).get("outcomes", {})
    truth_key = {"complier_average": "complier_average_effect", "dose_response": "dose_effect"}
    iv_rows = []
    for r in pooled[pooled["basis"] == "instrumental variable"].to_dict("records"):
        t = true_values.get(r["outcome"], {}).get(truth_key[r["analysis"]])
        if t is not None and r["direction"] != "treatment_minus_reference":
            t = -t
        iv_rows.append({**r, "true_value": t})
    rank = {
        **{name: i for i, name in enumerate(IV_ANALYSES)},
        **{name: i for i, name in enumerate(IV_METHODS)},
        **{name: i for i, name in enumerate(outcome_scales(config))},
    }
    iv_rows.sort(key=lambda r: (rank[r["analysis"]], rank[r["outcome"]], rank[r["method"]]))
    context = {
        "parts": parts,
        "levels": levels,
        "threshold": float(scores[SCORE].median()),
        "rule": config["participation"]["high_rule"].replace("_", " "),
        "n_treated": len(scores),
        "high_vs_low_possible": high_vs_low_possible(scores),
        "n_took_part": int(scores[TOOK_PART].sum()),
        "high_vs_low": pooled[pooled["analysis"] == "high_vs_low"].to_dict("records"),
        "iv": iv_rows,
        "iv_analyses": {k: v[1] for k, v in IV_ANALYSES.items()},
        "iv_methods": IV_METHODS,
        "staff": [] if staff is None else staff.to_dict("records"),
        "published": [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in published_participation_table(config, pooled, staff, truth).to_dict("records")
        ],
        "has_truth": truth is not None,
        "n_boot_per_imputation": int(config["participation"].get("bootstrap", 0)),
    }
    return Section(
        "participation",
        "Participation: non-randomised comparison, instrumental-variable estimates, staff outcomes",
        "participation.html.j2",
        context,
    )
