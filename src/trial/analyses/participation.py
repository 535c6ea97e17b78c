"""Participation (implementation) effects: score, high vs low, instrumental variables, pooling.

The analyses, each one workflow step:

* **Participation score** (:func:`participation_scores`): each treatment cluster's values over the
  parts of the intervention are combined into a score (their mean), classed high or low by the
  config's rule (at or above / above the median of treatment clusters) for the non-randomised
  comparison, and marked as having taken part when above 0. Reference clusters cannot take part
  (one-sided non-compliance) and have no score.
* **High vs low participation** (:func:`fit_participation`,
  :func:`trial.analyses.staff.staff_outcomes`): a random-intercept mixed model among treatment
  clusters only, with participation as a cluster-level factor plus the baseline value and strata,
  small-sample df. This comparison is **not randomised**: clusters chose how much to take part,
  so it may be confounded.
* **Instrumental-variable estimates** (the estimators of :mod:`trial.stats.iv`), with
  randomised allocation as the instrument for the treatment received, in two versions:

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
    (:func:`trial.analyses.sensitivity.cluster_mean_residuals`: follow-up regressed on baseline,
    strata and covariates without arm) then two-stage least squares of the clusters' mean residuals
    on their treatment received, instrumented by allocation, one row per cluster (each cluster
    weighted equally), model-based standard error and t on ``G - S - A + 1`` df, as for the
    adjusted cluster-level comparison.

  A cluster bootstrap (clusters resampled within arm and stratum by :mod:`trial.stats.bootstrap`)
  gives percentile intervals; each replicate refits everything estimated from the data (the
  covariate adjustment or stage-1 residuals, the first stage and the reduced form), the
  treatment received being a fixed rule applied to each cluster's own participation. With
  multiple imputation the replicates of all completed datasets are pooled before taking
  percentiles (Schomaker and Heumann 2018, "MI boot pooled").

Staff outcomes (:mod:`trial.analyses.staff`) use the high-vs-low factor of this module.

Its estimators are in :mod:`trial.stats.iv`, the staff outcomes in :mod:`trial.analyses.staff`, and
the table of published figures and the report section in :mod:`trial.report.sections.participation`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.analyses.design import term_effect
from trial.analyses.sensitivity import cluster_mean_residuals
from trial.config.vocabulary import (
    TREATMENT,
    Config,
    allocation_strata,
    arm_term,
    contrast_label,
    contrast_sign,
    design_matrix,
    followup_column,
    outcome_scales,
    single_treatment_arm,
    unit_plural,
)
from trial.data.validation import read_table
from trial.stats.iv import (
    RECEIVED,
    IVFit,
    cluster_level_iv,
    iv_bootstrap,
    two_stage_least_squares,
)
from trial.stats.mixed import fit_random_intercept_model
from trial.stats.pooling import pool_rubin

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
    "pool_participation",
    "iv_contrast_label",
    "two_stage_least_squares",
]

HIGH = "participation[high]"  # term name of the high-vs-low participation effect
SCORE = "participation_score"
TOOK_PART = "took_part"

#: The instrumental-variable analyses: name -> (column of the scores table that is the
#: treatment received, what it means).
IV_ANALYSES = {
    "complier_average": (TOOK_PART, "took part at all (participation score above 0)"),
    "dose_response": (SCORE, "participation score (0 = none, 1 = full participation)"),
}
#: The instrumental-variable estimators (:mod:`trial.stats.iv`), in report order.
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
        **term_effect(fit, HIGH).as_row(),
        "df_method": df_method,
        "n_individuals": int(used.sum()),
        "n_clusters": int(clusters[used].nunique()),
        "n_high_clusters": int(clusters[used & (high == 1)].nunique()),
        "at_boundary": bool(fit.at_boundary),
    }


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
        y_used, exog_used = y[used].to_numpy(float), exog[used]
        allocated = table.loc[used, TREATMENT].to_numpy(float)
        cluster_used = table.loc[used, cid].to_numpy()
        for analysis, (column, _) in IV_ANALYSES.items():
            received = table[cid].map(by_cluster[column]).fillna(0.0).to_numpy(float)
            received = received * table[TREATMENT].to_numpy(float)
            fits = {
                "2sls": two_stage_least_squares(
                    y_used, exog_used, received[used], allocated, cluster_used, alpha=alpha
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
                        y_used,
                        exog_used.to_numpy(float),
                        received[used],
                        allocated,
                        cluster_used,
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
# Report section
# ---------------------------------------------------------------------------------------------


