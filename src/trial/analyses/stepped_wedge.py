"""Analysis of a cross-sectional stepped-wedge or cluster-crossover trial.

Each cluster contributes different individuals in each period; which condition a cluster is in
during a period is set by the design's schedule (:mod:`trial.config.schedule`). The models, fitted
by the random-intercept engine :mod:`trial.stats.mixed` with its small-sample df:

``hussey_hughes``
    Hussey & Hughes (2007, Contemp Clin Trials 28:182): categorical period effects, the
    treatment indicator of the cluster-period and a random intercept per cluster,
    ``y ~ period + treatment + (1 | cluster)``.
``nested_exchangeable``
    Hooper et al (2016, Stat Med 35:4718) and Girling & Hemming (2016, Stat Med 35:2149): the
    same with a random intercept per cluster-period, ``+ (1 | cluster:period)``, so that the
    correlation between two individuals of one cluster is higher in the same period than in
    different periods.

Both may be adjusted, as a parallel trial's model is, for the outcome's baseline score (when the
outcome has one, :func:`trial.config.vocabulary.outcome_has_baseline`) and its covariates at
individual and cluster level (:func:`trial.config.vocabulary.outcome_covariates`, blanks handled as
declared).

With ``time_on_treatment`` the single treatment indicator is replaced by one indicator per
period of exposure (1 for the first treated period of a cluster, 2 for the next, ...): the
exposure-time indicator model (Kenny et al 2022, Stat Med 41:4311); the reported effect is the
mean of the exposure-time effects over the exposure periods the schedule contains, an estimand
that weights every exposure time equally. The model is compute-only; the report draws the
schedule (:func:`trial.report.design_figures.schedule_figure`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.config.schedule import Schedule, read_schedule
from trial.config.vocabulary import (
    Config,
    contrast_label,
    contrast_sign,
    covariate_columns,
    outcome_covariates,
    outcome_has_baseline,
    outcome_scales,
)
from trial.data.scoring import score_scale
from trial.data.validation import InputError, Problem, read_table
from trial.stats.mixed import ContrastResult, MixedModelFit, fit_random_intercept_model

MODELS = ("hussey_hughes", "nested_exchangeable")

# names of the model's terms (the periods' own labels follow "period:")
TREATMENT_TERM = "treatment"
EXPOSURE_TERM = "exposure:{}"
PERIOD_TERM = "period:{}"
BASELINE_TERM = "baseline"  # the outcome's baseline score (and the data column holding it)


@dataclass(frozen=True)
class SteppedWedgeFit:
    """The treatment effect of a stepped-wedge or crossover trial and the fit behind it.

    Attributes
    ----------
    model : str
        ``"hussey_hughes"`` or ``"nested_exchangeable"``.
    time_on_treatment : bool
        Whether the effect is the mean of exposure-time effects.
    effect : ContrastResult
        Treatment minus reference: estimate, SE, df, t, p and interval (the SE is Kenward-Roger
        adjusted under that df method).
    exposure_effects : tuple of ContrastResult
        Effect in the 1st, 2nd, ... period of exposure (time on treatment only; else empty).
    period_effects : pandas.Series
        Each period's mean difference from the first period (in the reference condition).
    variance_components : pandas.Series
        ``cluster``, ``cluster_period`` (nested-exchangeable only) and ``residual`` variances.
    icc_within_period, icc_between_period : float
        Correlation of two individuals of one cluster in the same and in different periods.
    cluster_autocorrelation : float
        Their ratio, the correlation of two cluster-period means of one cluster in the limit of
        large cluster-periods (the CAC of Hooper et al 2016); 1 under Hussey & Hughes.
    n_obs, n_clusters, n_periods : int
        Individuals analysed, clusters and periods.
    n_cells : int
        Cluster-periods with at least one individual analysed.
    n_excluded : int
        Individuals sampled but not analysed (outcome missing); counted, never dropped silently.
    at_boundary, converged : bool
        As in :class:`trial.stats.mixed.MixedModelFit`.
    fit : MixedModelFit
        The fitted model (every coefficient, covariances, df).
    """

    model: str
    time_on_treatment: bool
    effect: ContrastResult
    exposure_effects: tuple[ContrastResult, ...]
    period_effects: pd.Series
    variance_components: pd.Series
    icc_within_period: float
    icc_between_period: float
    cluster_autocorrelation: float
    n_obs: int
    n_clusters: int
    n_periods: int
    n_cells: int
    n_excluded: int
    at_boundary: bool
    converged: bool
    fit: MixedModelFit = field(repr=False)


def schedule_from_clusters(config: Config, clusters: pd.DataFrame) -> Schedule:
    """The schedule of a scheduled design (:func:`trial.config.schedule.read_schedule`).

    Raises
    ------
    InputError
        Naming the file, line, column and value of every problem of the schedule's data.
    """
    schedule, problems = read_schedule(config, clusters)
    if schedule is None:
        raise InputError([Problem(*p) for p in problems])
    return schedule


def design_data(
    config: Config, scale: str, raw_dir: str | Path | None = None
) -> tuple[Schedule, pd.DataFrame]:
    """The schedule and the cross-sectional table of ``scale``, read from the raw tables.

    Each table is read with its declared types (:func:`trial.data.validation.read_table`).
    """
    design = config["design"]
    names = [design["cluster_table"], design["individual_table"], config["scales"][scale]["table"]]
    tables = {name: read_table(config, name, raw_dir) for name in dict.fromkeys(names)}
    schedule = schedule_from_clusters(config, tables[design["cluster_table"]])
    return schedule, cross_sectional_table(config, tables, scale)


def cross_sectional_table(
    config: Config, tables: Mapping[str, pd.DataFrame], scale: str
) -> pd.DataFrame:
    """One row per individual sampled: cluster, period, follow-up score and adjustment values.

    The score of ``scale`` at the follow-up time point is scored from its items
    (:func:`trial.data.scoring.score_scale`), and so is its baseline score when the outcome's model
    holds one; an individual with no scorable follow-up (or baseline) score has a missing value
    and is counted as excluded by :func:`fit_stepped_wedge`. The outcome's covariates are taken
    from the individual table or, for a cluster-level covariate, the cluster table.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster``, ``period``, ``outcome`` (float, NaN when missing), then
        ``baseline`` (when the outcome has one) and each covariate as read.
    """
    design = config["design"]
    spec = config["scales"][scale]
    people = tables[design["individual_table"]]
    measures = tables[spec["table"]]
    ids = people[design["individual_id"]]

    def scores(time: str) -> np.ndarray:
        at = measures[measures[design["timepoint"]] == time]
        score = pd.Series(
            score_scale(at, spec).to_numpy(dtype=float),
            index=at[design["individual_id"]].to_numpy(),
        )
        return ids.map(score).to_numpy(dtype=float)

    data = pd.DataFrame(
        {
            "cluster": people[design["cluster_id"]].astype(str).to_numpy(),
            "period": people[design["period"]].astype(str).to_numpy(),
            "outcome": scores(design["followup"]),
        }
    )
    if outcome_has_baseline(config, scale):
        data[BASELINE_TERM] = scores(design["baseline"])
    clusters = tables[design["cluster_table"]]
    by_cluster = clusters.set_index(clusters[design["cluster_id"]].astype(str))
    for name in outcome_covariates(config, scale):
        if name in people.columns:
            data[name] = people[name].to_numpy()
        else:
            data[name] = data["cluster"].map(by_cluster[name]).to_numpy()
    return data


def adjusted_for(config: Config, scale: str) -> list[str]:
    """What the model of ``scale`` adjusts for besides period: ``baseline`` (its baseline score,
    when the outcome has one), then its covariates by name."""
    baseline = [BASELINE_TERM] if outcome_has_baseline(config, scale) else []
    return [*baseline, *outcome_covariates(config, scale)]


def analysable(data: pd.DataFrame) -> np.ndarray:
    """Which individuals the model analyses: an observed outcome and, when the model holds one,
    an observed baseline score (boolean array)."""
    keep = np.isfinite(data["outcome"].to_numpy(dtype=float))
    if BASELINE_TERM in data:
        keep &= np.isfinite(data[BASELINE_TERM].to_numpy(dtype=float))
    return keep


def adjustment_columns(config: Config, data: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Fixed effects beyond period and treatment: the baseline score (when the outcome's model
    holds one), then each covariate coded as in a parallel trial's model
    (:func:`trial.config.vocabulary.covariate_columns`: categories dummy-coded, blanks handled as
    declared). Empty (no columns) for an unadjusted model."""
    parts = [data[[BASELINE_TERM]].astype(float)] if BASELINE_TERM in data else []
    parts += [
        covariate_columns(config, name, data[name]) for name in outcome_covariates(config, scale)
    ]
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=data.index)


def design_columns(
    data: pd.DataFrame, schedule: Schedule, *, time_on_treatment: bool = False
) -> pd.DataFrame:
    """Fixed effects: intercept, a dummy per period after the first, treatment or exposure.

    ``data`` has columns ``cluster`` and ``period`` (labels of the schedule). Exposure columns
    are made for every exposure time the schedule holds.
    """
    treated = schedule.treated_at(data["cluster"].tolist(), data["period"].tolist())
    ci, pj = schedule.cells(data["cluster"].tolist(), data["period"].tolist())
    columns: dict[str, Any] = {"(Intercept)": np.ones(len(data))}
    for j, label in enumerate(schedule.periods[1:], 1):
        columns[PERIOD_TERM.format(label)] = (pj == j).astype(float)
    if time_on_treatment:
        exposure = schedule.exposure[ci, pj]
        for k in range(1, int(schedule.exposure.max()) + 1):
            columns[EXPOSURE_TERM.format(k)] = (exposure == k).astype(float)
    else:
        columns[TREATMENT_TERM] = treated.astype(float)
    return pd.DataFrame(columns, index=data.index)


def fit_stepped_wedge(
    data: pd.DataFrame,
    schedule: Schedule,
    *,
    model: str = "nested_exchangeable",
    time_on_treatment: bool = False,
    df_method: str = "kenward-roger",
    alpha: float = 0.05,
    adjustment: pd.DataFrame | None = None,
) -> SteppedWedgeFit:
    """Fit the Hussey & Hughes or nested-exchangeable model to cross-sectional data.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per individual: ``cluster`` and ``period`` labels of the schedule and
        ``outcome``, and ``baseline`` when the model holds it (individuals missing either are
        excluded and counted, :func:`analysable`).
    schedule : Schedule
        Each cluster's condition in each period.
    model : {"hussey_hughes", "nested_exchangeable"}
        Random effects: cluster, or cluster and cluster-period.
    time_on_treatment : bool, default False
        Exposure-time indicators in place of one treatment indicator; the effect is their mean.
    df_method : {"kenward-roger", "satterthwaite", "between-within"}
        Denominator df (see :mod:`trial.stats.mixed`).
    alpha : float, default 0.05
        Level of the confidence intervals.
    adjustment : pandas.DataFrame, optional
        Further fixed effects, one row per row of ``data`` (:func:`adjustment_columns`).

    Returns
    -------
    SteppedWedgeFit

    Raises
    ------
    ValueError
        When an adjustment column has a blank among the analysed individuals (a covariate whose
        blanks the config does not say how to handle; the data check refuses it first).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    keep = analysable(data)
    kept = data[keep]
    X = design_columns(kept, schedule, time_on_treatment=time_on_treatment)
    if adjustment is not None and adjustment.shape[1]:
        extra = adjustment[keep]
        blank = [c for c in extra.columns if extra[c].isna().any()]
        if blank:
            raise ValueError(f"adjustment columns {blank} have blanks among the analysed rows")
        X = pd.concat([X, extra.set_axis(X.index)], axis=1)
    nested = kept["period"] if model == "nested_exchangeable" else None
    fit = fit_random_intercept_model(
        kept["outcome"], X, kept["cluster"], nested=nested, df_method=df_method
    )
    if time_on_treatment:
        terms = [t for t in X.columns if t.startswith(EXPOSURE_TERM.format(""))]
        exposure = tuple(fit.contrast(pd.Series({t: 1.0}), alpha) for t in terms)
        effect = fit.contrast(pd.Series(1.0 / len(terms), index=terms), alpha)
    else:
        exposure = ()
        effect = fit.contrast(pd.Series({TREATMENT_TERM: 1.0}), alpha)
    periods = [PERIOD_TERM.format(p) for p in schedule.periods[1:]]
    period_effects = pd.Series(
        [0.0, *fit.params[periods].to_numpy()], index=list(schedule.periods), name="estimate"
    )
    vc = fit.variance_components.rename({"nested": "cluster_period"})
    total = float(vc.sum())
    between = float(vc["cluster"]) / total
    within = between + float(vc.get("cluster_period", 0.0)) / total
    return SteppedWedgeFit(
        model=model,
        time_on_treatment=time_on_treatment,
        effect=effect,
        exposure_effects=exposure,
        period_effects=period_effects,
        variance_components=vc,
        icc_within_period=within,
        icc_between_period=between,
        cluster_autocorrelation=between / within if within > 0 else np.nan,
        n_obs=fit.n_obs,
        n_clusters=fit.n_clusters,
        n_periods=int(kept["period"].nunique()),
        n_cells=int(kept.groupby(["cluster", "period"]).ngroups),
        n_excluded=len(data) - len(kept),
        at_boundary=fit.at_boundary,
        converged=fit.converged,
        fit=fit,
    )


def sensitivity_models(model: str, time_on_treatment: bool) -> list[tuple[str, bool]]:
    """The sensitivity analyses of a primary model: the other random-effects structure with the
    same treatment effect, then the other form of the treatment effect (one indicator or
    exposure-time indicators) with the same random effects.

    Returns
    -------
    list of (model, time_on_treatment)
    """
    other = next(m for m in MODELS if m != model)
    return [(other, time_on_treatment), (model, not time_on_treatment)]


@dataclass(frozen=True)
class DesignAnalysis:
    """Every outcome of a stepped-wedge or crossover trial, analysed as the config says.

    Attributes
    ----------
    schedule : Schedule
        Each cluster's condition in each period.
    counts : pandas.DataFrame
        Individuals analysed (with an outcome of the primary scale) per cluster (rows, in
        schedule order) and period (columns).
    flow : pandas.DataFrame
        Clusters and individuals per period and condition (:func:`period_flow`), primary scale.
    fits : dict of str to SteppedWedgeFit
        The fit of each outcome scale, primary first.
    sensitivity : dict of str to tuple of SteppedWedgeFit
        Each outcome's fits of the :func:`sensitivity_models` of the design's model.
    """

    schedule: Schedule
    counts: pd.DataFrame
    flow: pd.DataFrame
    fits: dict[str, SteppedWedgeFit]
    sensitivity: dict[str, tuple[SteppedWedgeFit, ...]] = field(default_factory=dict)


def analyse_design(config: Config, raw_dir: str | Path | None = None) -> DesignAnalysis:
    """Fit the design's model (``design: model, time_on_treatment``) to every outcome, and its
    sensitivity analyses (:func:`sensitivity_models`).

    Parameters
    ----------
    config : dict
        A validated config of a stepped-wedge or crossover design.
    raw_dir : path, optional
        Folder of the raw tables (default: ``paths: raw``).
    """
    design = config["design"]
    model = design.get("model", "nested_exchangeable")
    time_on_treatment = bool(design.get("time_on_treatment", False))
    variants = [(model, time_on_treatment), *sensitivity_models(model, time_on_treatment)]
    fits, sensitivity = {}, {}
    schedule = data = None
    for scale in reversed(outcome_scales(config)):  # the primary last: its data make the counts
        schedule, data = design_data(config, scale, raw_dir)
        adjustment = adjustment_columns(config, data, scale)
        fitted = tuple(
            fit_stepped_wedge(
                data,
                schedule,
                model=name,
                time_on_treatment=exposure,
                df_method=config["analysis"]["df_method"],
                alpha=config["analysis"]["alpha"],
                adjustment=adjustment,
            )
            for name, exposure in variants
        )
        fits[scale], sensitivity[scale] = fitted[0], fitted[1:]
    assert schedule is not None and data is not None  # the schema asks for one outcome at least
    analysed = data[analysable(data)]
    counts = (
        pd.crosstab(analysed["cluster"], analysed["period"])
        .reindex(index=list(schedule.clusters), columns=list(schedule.periods))
        .fillna(0)
        .astype(int)
    )
    order = outcome_scales(config)
    flow = period_flow(config, schedule, data)
    return DesignAnalysis(
        schedule=schedule,
        counts=counts,
        flow=flow,
        fits={scale: fits[scale] for scale in order},
        sensitivity={scale: sensitivity[scale] for scale in order},
    )


def period_flow(config: Config, schedule: Schedule, data: pd.DataFrame) -> pd.DataFrame:
    """Clusters and individuals of each period in each condition, the flow of a scheduled design.

    Parameters
    ----------
    config : dict
        The config (arm codes and labels).
    schedule : Schedule
        Each cluster's condition in each period.
    data : pandas.DataFrame
        One row per individual sampled (:func:`cross_sectional_table`).

    Returns
    -------
    pandas.DataFrame
        One row per period and condition (reference first): ``period``, ``arm``, ``arm_label``,
        ``n_clusters`` (in that condition in that period), ``n_sampled``, ``n_analysed`` (with
        an outcome, and a baseline score when the model holds one, :func:`analysable`) and
        ``n_excluded`` (without).
    """
    design = config["design"]
    arms = [design["reference_arm"], *design["treatment_arms"]]
    treated = schedule.treated_at(data["cluster"].tolist(), data["period"].tolist())
    observed = analysable(data)
    period = data["period"].to_numpy()
    rows = []
    for j, label in enumerate(schedule.periods):
        for condition, arm in enumerate(arms):
            here = (period == label) & (treated == bool(condition))
            rows.append(
                {
                    "period": label,
                    "arm": arm,
                    "arm_label": design["arm_labels"][arm],
                    "n_clusters": int((schedule.treated[:, j] == bool(condition)).sum()),
                    "n_sampled": int(here.sum()),
                    "n_analysed": int((here & observed).sum()),
                    "n_excluded": int((here & ~observed).sum()),
                }
            )
    return pd.DataFrame(rows)


def effects_table(config: Config, analysis: DesignAnalysis) -> pd.DataFrame:
    """The design's model: one row per outcome (and per period of exposure with time on
    treatment).

    The effect is reported in each outcome's declared direction; columns: outcome, effect
    (``treatment``; with time on treatment ``exposure mean`` and ``exposure <k>``), model,
    time_on_treatment, contrast, adjusted_for (:func:`adjusted_for`), estimate, se, df,
    df_method, ci_low, ci_high, p, the variance components, the within- and between-period ICCs,
    the cluster autocorrelation (cac), n_obs, n_clusters, n_periods, n_cells, n_excluded,
    at_boundary.
    """
    return pd.DataFrame(
        [row for scale, fit in analysis.fits.items() for row in _effect_rows(config, scale, fit)]
    )


def sensitivity_table(config: Config, analysis: DesignAnalysis) -> pd.DataFrame:
    """The sensitivity analyses of every outcome (:func:`sensitivity_models`), in the columns of
    :func:`effects_table`."""
    return pd.DataFrame(
        [
            row
            for scale, fits in analysis.sensitivity.items()
            for fit in fits
            for row in _effect_rows(config, scale, fit)
        ]
    )


def _effect_rows(config: Config, scale: str, fit: SteppedWedgeFit) -> list[dict[str, Any]]:
    """The rows of one fit in :func:`effects_table`."""
    direction = next(o["direction"] for o in config["analysis"]["outcomes"] if o["scale"] == scale)
    sign = contrast_sign(direction)
    effects = [("exposure mean" if fit.time_on_treatment else "treatment", fit.effect)]
    effects += [(f"exposure {k}", e) for k, e in enumerate(fit.exposure_effects, 1)]
    rows = []
    for name, effect in effects:
        low, high = sorted((sign * effect.ci_low, sign * effect.ci_high))
        rows.append(
            {
                "outcome": scale,
                "effect": name,
                "model": fit.model,
                "time_on_treatment": fit.time_on_treatment,
                "contrast": contrast_label(config, direction),
                "adjusted_for": "; ".join(adjusted_for(config, scale)),
                "estimate": sign * effect.estimate,
                "se": effect.se,
                "df": effect.df,
                "df_method": effect.df_method,
                "ci_low": low,
                "ci_high": high,
                "p": effect.p,
                "var_cluster": float(fit.variance_components["cluster"]),
                "var_cluster_period": float(fit.variance_components.get("cluster_period", np.nan)),
                "var_residual": float(fit.variance_components["residual"]),
                "icc_within_period": fit.icc_within_period,
                "icc_between_period": fit.icc_between_period,
                "cac": fit.cluster_autocorrelation,
                "n_obs": fit.n_obs,
                "n_clusters": fit.n_clusters,
                "n_periods": fit.n_periods,
                "n_cells": fit.n_cells,
                "n_excluded": fit.n_excluded,
                "at_boundary": fit.at_boundary,
            }
        )
    return rows
