"""Analysis of a cross-sectional stepped-wedge or cluster-crossover trial.

Each cluster contributes different individuals in each period; which condition a cluster is in
during a period is set by the design's schedule (:mod:`trial.schedule`). The models, fitted by
the random-intercept engine :mod:`trial.mixed` with its small-sample df:

``hussey_hughes``
    Hussey & Hughes (2007, Contemp Clin Trials 28:182): categorical period effects, the
    treatment indicator of the cluster-period and a random intercept per cluster,
    ``y ~ period + treatment + (1 | cluster)``.
``nested_exchangeable``
    Hooper et al (2016, Stat Med 35:4718) and Girling & Hemming (2016, Stat Med 35:2149): the
    same with a random intercept per cluster-period, ``+ (1 | cluster:period)``, so that the
    correlation between two individuals of one cluster is higher in the same period than in
    different periods.

With ``time_on_treatment`` the single treatment indicator is replaced by one indicator per
period of exposure (1 for the first treated period of a cluster, 2 for the next, ...): the
exposure-time indicator model (Kenny et al 2022, Stat Med 41:4311); the reported effect is the
mean of the exposure-time effects over the exposure periods the schedule contains, an estimand
that weights every exposure time equally. The model is compute-only; the report draws the
schedule (:func:`trial.design_figures.schedule_figure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.mixed import ContrastResult, MixedModelFit, fit_random_intercept_model
from trial.schedule import Schedule, build_schedule, design_type, schedule_problems
from trial.scoring import score_scale
from trial.validation import read_table
from trial.vocabulary import Config, single_treatment_arm

MODELS = ("hussey_hughes", "nested_exchangeable")

# names of the model's terms (the periods' own labels follow "period:")
TREATMENT_TERM = "treatment"
EXPOSURE_TERM = "exposure:{}"
PERIOD_TERM = "period:{}"


class DesignDataError(ValueError):
    """The data disagree with the declared schedule; the message lists every problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} problem(s) with the design's data:\n"
            + "\n".join(f"  - {p}" for p in self.problems)
        )


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
    n_obs, n_clusters, n_periods : int
        Individuals analysed, clusters and periods.
    n_cells : int
        Cluster-periods with at least one individual analysed.
    n_excluded : int
        Individuals sampled but not analysed (outcome missing); counted, never dropped silently.
    at_boundary, converged : bool
        As in :class:`trial.mixed.MixedModelFit`.
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
    n_obs: int
    n_clusters: int
    n_periods: int
    n_cells: int
    n_excluded: int
    at_boundary: bool
    converged: bool
    fit: MixedModelFit = field(repr=False)


def schedule_from_clusters(config: Config, clusters: pd.DataFrame) -> Schedule:
    """The schedule of a scheduled design, read from the config and the cluster table.

    The switching period comes from ``design: schedule`` (a column of the cluster table, or a
    period per cluster in the config); the first condition is the cluster's arm (``design:
    arm``): the reference arm, or the treatment arm for a crossover cluster that starts treated.

    Raises
    ------
    DesignDataError
        Naming the table, row, column and value of every problem: a cluster with no schedule or
        one not in the table, an unknown period or arm, and the schedule's own problems
        (:func:`trial.schedule.schedule_problems`).
    """
    design = config["design"]
    kind = design_type(config)
    table = design["cluster_table"]
    file = config["tables"][table]["file"]
    ids = clusters[design["cluster_id"]].astype(str).to_numpy()
    reference, treated_arm = design["reference_arm"], single_treatment_arm(config)
    problems = []
    starts: dict[str, bool] = {}
    for row, (cluster, arm) in enumerate(zip(ids, clusters[design["arm"]], strict=True), 2):
        if arm not in (reference, treated_arm):
            problems.append(
                f"{file} row {row}, column {design['arm']!r}: value {arm!r}; expected the "
                f"reference arm {reference!r} or the treatment arm {treated_arm!r}"
            )
        starts[cluster] = arm == treated_arm
    schedule = design["schedule"]
    switch: dict[str, str] = {}
    if "column" in schedule:
        for row, (cluster, value) in enumerate(
            zip(ids, clusters[schedule["column"]], strict=True), 2
        ):
            if pd.isna(value) or str(value) == "":
                problems.append(
                    f"{file} row {row}, column {schedule['column']!r}: cluster {cluster!r} has no "
                    f"period; expected one of design/periods {list(design['periods'])}"
                )
            else:
                switch[cluster] = str(value)
        where = f"{file} column {schedule['column']!r}"
    else:
        listed = {str(k): str(v) for k, v in schedule["clusters"].items()}
        for row, cluster in enumerate(ids, 2):
            if cluster not in listed:
                problems.append(
                    f"{file} row {row}, column {design['cluster_id']!r}: cluster {cluster!r} has "
                    "no period under design/schedule/clusters"
                )
        problems += [
            f"design/schedule/clusters: {c!r} is not a cluster of {file}"
            for c in listed
            if c not in set(ids)
        ]
        switch = {c: listed[c] for c in ids if c in listed}
        where = "design/schedule/clusters"
    if problems:
        raise DesignDataError(problems)
    problems = schedule_problems(kind, design["periods"], switch, starts, where=where)
    if problems:
        raise DesignDataError(problems)
    return build_schedule(kind, design["periods"], switch, starts)


def design_data(
    config: Config, scale: str, raw_dir: str | Path | None = None
) -> tuple[Schedule, pd.DataFrame]:
    """The schedule and the cross-sectional table of ``scale``, read from the raw tables.

    Each table is read with its declared types (:func:`trial.validation.read_table`).
    """
    design = config["design"]
    names = [design["cluster_table"], design["individual_table"], config["scales"][scale]["table"]]
    tables = {name: read_table(config, name, raw_dir) for name in dict.fromkeys(names)}
    schedule = schedule_from_clusters(config, tables[design["cluster_table"]])
    return schedule, cross_sectional_table(config, tables, scale)


def cross_sectional_table(
    config: Config, tables: Mapping[str, pd.DataFrame], scale: str
) -> pd.DataFrame:
    """One row per individual sampled: cluster, period, condition and follow-up score.

    The score of ``scale`` at the follow-up time point is scored from its items
    (:func:`trial.scoring.score_scale`); an individual with no scorable follow-up has a missing
    ``outcome`` and is counted as excluded by :func:`fit_stepped_wedge`.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster``, ``period``, ``outcome`` (float, NaN when missing).
    """
    design = config["design"]
    spec = config["scales"][scale]
    people = tables[design["individual_table"]]
    measures = tables[spec["table"]]
    followup = measures[measures[design["timepoint"]] == design["followup"]]
    scores = pd.Series(
        score_scale(followup, spec).to_numpy(dtype=float),
        index=followup[design["individual_id"]].to_numpy(),
    )
    return pd.DataFrame(
        {
            "cluster": people[design["cluster_id"]].astype(str).to_numpy(),
            "period": people[design["period"]].astype(str).to_numpy(),
            "outcome": people[design["individual_id"]].map(scores).to_numpy(dtype=float),
        }
    )


def design_columns(
    data: pd.DataFrame, schedule: Schedule, *, time_on_treatment: bool = False
) -> pd.DataFrame:
    """Fixed effects: intercept, a dummy per period after the first, treatment or exposure.

    ``data`` has columns ``cluster`` and ``period`` (labels of the schedule). Exposure columns
    are made for every exposure time the schedule holds.
    """
    ci = pd.Index(schedule.clusters).get_indexer(data["cluster"])
    pj = pd.Index(schedule.periods).get_indexer(data["period"])
    if (ci < 0).any() or (pj < 0).any():
        raise DesignDataError(["rows name a cluster or period that is not in the schedule"])
    columns: dict[str, Any] = {"(Intercept)": np.ones(len(data))}
    for j, label in enumerate(schedule.periods[1:], 1):
        columns[PERIOD_TERM.format(label)] = (pj == j).astype(float)
    if time_on_treatment:
        exposure = schedule.exposure[ci, pj]
        for k in range(1, int(schedule.exposure.max()) + 1):
            columns[EXPOSURE_TERM.format(k)] = (exposure == k).astype(float)
    else:
        columns[TREATMENT_TERM] = schedule.treated[ci, pj].astype(float)
    return pd.DataFrame(columns, index=data.index)


def fit_stepped_wedge(
    data: pd.DataFrame,
    schedule: Schedule,
    *,
    model: str = "nested_exchangeable",
    time_on_treatment: bool = False,
    df_method: str = "kenward-roger",
    alpha: float = 0.05,
) -> SteppedWedgeFit:
    """Fit the Hussey & Hughes or nested-exchangeable model to cross-sectional data.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per individual: ``cluster`` and ``period`` labels of the schedule and
        ``outcome`` (missing values are excluded and counted).
    schedule : Schedule
        Each cluster's condition in each period.
    model : {"hussey_hughes", "nested_exchangeable"}
        Random effects: cluster, or cluster and cluster-period.
    time_on_treatment : bool, default False
        Exposure-time indicators in place of one treatment indicator; the effect is their mean.
    df_method : {"kenward-roger", "satterthwaite", "between-within"}
        Denominator df (see :mod:`trial.mixed`).
    alpha : float, default 0.05
        Level of the confidence intervals.

    Returns
    -------
    SteppedWedgeFit
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    kept = data[np.isfinite(data["outcome"].to_numpy(dtype=float))]
    X = design_columns(kept, schedule, time_on_treatment=time_on_treatment)
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
        n_obs=fit.n_obs,
        n_clusters=fit.n_clusters,
        n_periods=int(kept["period"].nunique()),
        n_cells=int(kept.groupby(["cluster", "period"]).ngroups),
        n_excluded=len(data) - len(kept),
        at_boundary=fit.at_boundary,
        converged=fit.converged,
        fit=fit,
    )
