"""Repeated audit of individual records over time points, in a cluster-randomised trial.

Each audited individual belongs to one cluster and is audited at time points ``1..T``; at each
time point the record is either available (and its 0/1 items are scored) or not. The first
``intervention_starts_after`` time points precede the intervention. The config's ``audit:``
section names the table, its columns, the items and an optional composite score (the number, or
the share, of items documented).

Data flow (each step one workflow rule): raw audit table -> :func:`prepare_audit` (one long table
with arm, strata and composite; records not available counted per time point and arm) ->
:func:`summarise_by_time` (per time point and arm: proportion or mean with a cluster-robust CI),
:func:`fit_audit_models` (arm x time: a fixed-effects panel model with CR2 cluster-robust SEs
and a mixed model of the cluster-period means with an unstructured covariance over time for the
composite, and for the 0/1 items either a logistic GEE, :func:`fit_binary_model`, or those two
linear probability models, by ``audit.binary_model``). The figure and the report section are
in :mod:`trial.report.figures.audit` and :mod:`trial.report.sections.audit`.

Methods
-------
Per time point and arm
    The mean ``ybar`` of the records used, with the cluster-robust (CR1) standard error of a
    mean: ``se^2 = G/(G-1) * sum_g (sum_{i in g} (y_i - ybar))^2 / n^2`` over the ``G`` clusters
    of that arm contributing records, and a t interval on ``G - 1`` df. This equals
    ``sandwich::vcovCL(lm(y ~ 1), cluster = ~cluster, type = "HC0", cadjust = TRUE)`` in R.
Panel model (linearmodels ``PanelOLS``)
    ``y_it = a_i + sum_{t > 1} g_t [time = t] + sum_{t > 1} d_t [time = t] x treatment + e_it``
    with individual (entity) fixed effects ``a_i`` and time effects entered as indicators.
    Standard errors are CR2 cluster-robust by cluster (:mod:`trial.sandwich`); single terms get
    t tests on Satterthwaite (Bell-McCaffrey) df, the arm x time terms jointly the HTZ test
    (Pustejovsky and Tipton 2018), as R's clubSandwich computes them. The arm main effect and
    the strata are absorbed by the individual effects, so this model estimates only changes
    relative to the first time point.
Mixed model of cluster-period means (:func:`fit_mixed_model`)
    Each cluster's mean at each time point, with arm, strata, time and their interactions and
    an unstructured covariance of a cluster's period means: clusters may differ in level, in
    trajectory and in variability over time, so the arm x time terms are estimated between
    clusters, on clusters - cluster-level parameters df, and their joint test is Hotelling's
    ``T^2`` (exact under normality; Kenward-Roger reproduces it). With only cluster and
    individual random intercepts the arm x time terms would get thousands of df.
Binary model of the 0/1 items (:func:`fit_binary_model`)
    Logistic GEE with arm, strata, time and arm x time terms, the cluster as the unit, an
    exchangeable working correlation and a bias-corrected sandwich covariance (default
    Kauermann-Carroll), t on clusters - coefficients df: odds ratios (population-averaged)
    and the risk difference at the final time point standardised over the records audited
    then.
Final time point
    The difference between arms at the last time point (mixed model only) and the
    difference-in-differences: that difference minus the mean difference over the
    pre-intervention time points (``d_T - mean_{t pre} d_t``, with ``d_1 = 0``).

Kept as one module, over the 600-line guide: it is one analysis from the raw audit table to
its result tables, each public function one workflow rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.sandwich import cr2_covariance
from trial.stats.gee import fit_gee
from trial.stats.marginal import standardise
from trial.vocabulary import (
    Config,
    arm_term,
    contrast_label,
    single_treatment_arm,
    strata_columns,
)

__all__ = [
    "AuditData",
    "AuditInputError",
    "AuditMeasure",
    "RobustMean",
    "audit_measures",
    "cluster_robust_mean",
    "fit_audit_models",
    "fit_binary_model",
    "fit_mixed_model",
    "fit_panel_model",
    "prepare_audit",
    "summarise_by_time",
]

TREATMENT = "treatment"  # 0/1 indicator of the treatment arm in the long audit table
AVAILABLE = "available"  # True when the record could be audited


class AuditInputError(ValueError):
    """The audit data cannot support the requested summary or model; the message says why."""


@dataclass(frozen=True)
class AuditMeasure:
    """One analysed audit measure: a 0/1 item (a proportion) or the composite score (a mean)."""

    name: str
    label: str
    kind: str  # "proportion" or "mean"


@dataclass(frozen=True)
class AuditData:
    """The prepared audit.

    Attributes
    ----------
    long : pandas.DataFrame
        One row per audited individual and time point: ID, cluster, arm, ``treatment`` (0/1),
        strata, time, ``available`` (bool), the items and the composite (missing where the
        record was not available or, for the composite, where an item is missing).
    availability : pandas.DataFrame
        Per time point and arm (and a ``total`` row per arm): records, records available, not
        available, available with an item missing.
    """

    long: pd.DataFrame
    availability: pd.DataFrame


# ---------------------------------------------------------------------------------------------
# Configuration helpers
# ---------------------------------------------------------------------------------------------


def audit_measures(config: Config) -> list[AuditMeasure]:
    """The composite (when configured) followed by every item, with report labels."""
    spec = config["audit"]
    labels = spec.get("item_labels", {})
    measures = []
    composite = spec.get("composite")
    if composite:
        measures.append(AuditMeasure(composite["name"], composite["label"], "mean"))
    measures += [AuditMeasure(item, labels.get(item, item), "proportion") for item in spec["items"]]
    return measures


def _times(config: Config, long: pd.DataFrame) -> list[int]:
    return sorted(int(t) for t in long[config["audit"]["time"]].unique())


def _time_labels(config: Config, times: Sequence[int]) -> dict[int, str]:
    labels = config["audit"].get("time_labels")
    if labels is None:
        return {t: str(t) for t in times}
    if len(labels) != len(times):
        raise AuditInputError(
            f"audit/time_labels has {len(labels)} labels but the audit has {len(times)} time "
            f"points ({times})"
        )
    return dict(zip(times, labels, strict=True))


def _pre_post(config: Config, times: Sequence[int]) -> tuple[list[int], list[int]]:
    start = config["audit"]["intervention_starts_after"]
    pre = [t for t in times if t <= start]
    post = [t for t in times if t > start]
    if not post:
        raise AuditInputError(
            f"audit/intervention_starts_after is {start}, so none of the audit time points "
            f"{list(times)} follows the start of the intervention"
        )
    return pre, post


def _time_term(config: Config, t: int) -> str:
    return f"{config['audit']['time']}[{t}]"


def _interaction_term(config: Config, t: int) -> str:
    return f"{arm_term(config)}:{_time_term(config, t)}"


# ---------------------------------------------------------------------------------------------
# Ingest
# ---------------------------------------------------------------------------------------------


def prepare_audit(config: Config, audit: pd.DataFrame, clusters: pd.DataFrame) -> AuditData:
    """Join arm and strata to the audit, add the composite and count unavailable records.

    Parameters
    ----------
    config : dict
        Trial config with an ``audit`` section.
    audit : pandas.DataFrame
        The raw audit table (already validated against the config).
    clusters : pandas.DataFrame
        The cluster table (ID, arm, strata).

    Returns
    -------
    AuditData

    Raises
    ------
    AuditInputError
        An audited individual appears in more than one cluster, a cluster is not in the cluster
        table, or an available record has no item scored at all.
    """
    design = config["design"]
    spec = config["audit"]
    cid, id_col, time_col = design["cluster_id"], spec["id"], spec["time"]
    items = list(spec["items"])
    missing_columns = [
        c for c in [id_col, cid, time_col, spec["available"], *items] if c not in audit
    ]
    if missing_columns:
        raise AuditInputError(f"audit table lacks the columns {missing_columns}")
    long = audit[[id_col, cid, time_col, spec["available"], *items]].copy()
    per_id = long.groupby(id_col)[cid].nunique()
    if (per_id > 1).any():
        bad = list(per_id[per_id > 1].index[:5])
        raise AuditInputError(
            f"{int((per_id > 1).sum())} audited individuals appear in more than one "
            f"{design['cluster_label']} (e.g. {bad}); each must belong to one cluster"
        )
    arms = clusters.set_index(cid)[design["arm"]]
    unknown = sorted(set(long[cid]) - set(arms.index))
    if unknown:
        raise AuditInputError(f"audit {cid} values not in the cluster table: {unknown[:10]}")
    long[design["arm"]] = long[cid].map(arms)
    long[TREATMENT] = (long[design["arm"]] == single_treatment_arm(config)).astype(int)
    for stratum in design["strata"]:
        long[stratum] = long[cid].map(clusters.set_index(cid)[stratum])
    long[time_col] = long[time_col].astype(int)
    long[AVAILABLE] = long[spec["available"]] == spec["available_code"]
    values = long[items].astype(float)
    scored_unavailable = ~long[AVAILABLE] & values.notna().any(axis=1)
    if scored_unavailable.any():
        first = long.loc[scored_unavailable, [id_col, time_col]].iloc[0].tolist()
        raise AuditInputError(
            f"{int(scored_unavailable.sum())} records are marked not available but have items "
            f"scored (first: {id_col}={first[0]}, {time_col}={first[1]})"
        )
    long[items] = values
    none_scored = long[AVAILABLE] & values.isna().all(axis=1)
    if none_scored.any():
        first = long.loc[none_scored, [id_col, time_col]].iloc[0].tolist()
        raise AuditInputError(
            f"{int(none_scored.sum())} records are marked available but have no item scored "
            f"(first: {id_col}={first[0]}, {time_col}={first[1]})"
        )
    composite = spec.get("composite")
    if composite:
        score = values.sum(axis=1, min_count=len(items))  # missing if any item is missing
        if composite["method"] == "mean":
            score = score / len(items)
        long[composite["name"]] = score
    long = long.drop(columns=[spec["available"]])
    long = long.sort_values([id_col, time_col]).reset_index(drop=True)
    return AuditData(long=long, availability=_availability(config, long))


def _availability(config: Config, long: pd.DataFrame) -> pd.DataFrame:
    design = config["design"]
    spec = config["audit"]
    items = list(spec["items"])
    frame = long.assign(
        _item_missing=long[AVAILABLE] & long[items].isna().any(axis=1),
    )
    rows = []
    for arm in (single_treatment_arm(config), design["reference_arm"]):
        part = frame[frame[design["arm"]] == arm]
        groups = [(str(t), g) for t, g in part.groupby(spec["time"], sort=True)]
        for time, g in [*groups, ("total", part)]:
            n = len(g)
            n_available = int(g[AVAILABLE].sum())
            rows.append(
                {
                    "time": time,
                    "arm": arm,
                    "arm_label": design["arm_labels"][arm],
                    "n_records": n,
                    "n_available": n_available,
                    "n_not_available": n - n_available,
                    "pct_not_available": 100.0 * (n - n_available) / n if n else float("nan"),
                    "n_item_missing": int(g["_item_missing"].sum()),
                    "n_individuals": int(g[spec["id"]].nunique()),
                    "n_clusters": int(g[design["cluster_id"]].nunique()),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Per time point and arm
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RobustMean:
    """A mean with its cluster-robust (CR1) standard error and t interval.

    Attributes
    ----------
    estimate, se, df, ci_low, ci_high : float
        Mean, its CR1 standard error, the df of the t reference (clusters - 1) and the
        interval; NaN (but the mean) with fewer than two clusters.
    n, n_clusters : int
        Observations and clusters.
    """

    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    n: int
    n_clusters: int


def cluster_robust_mean(
    values: Sequence[float] | np.ndarray | pd.Series,
    clusters: Sequence[Any] | np.ndarray | pd.Series,
    *,
    alpha: float = 0.05,
) -> RobustMean:
    """Mean with a cluster-robust (CR1) standard error and a t interval on clusters - 1 df.

    Parameters
    ----------
    values : array-like
        Observations (no missing values).
    clusters : array-like
        Cluster label of each observation.
    alpha : float, default 0.05
        Level of the interval.

    Returns
    -------
    RobustMean
        With fewer than two clusters the SE, df and interval are NaN.

    Notes
    -----
    ``se^2 = G/(G-1) * sum_g (sum_{i in g} (y_i - ybar))^2 / n^2``: the sandwich variance of
    the intercept of ``y ~ 1`` with the CR1 cluster adjustment ``G/(G-1)``.
    """
    y = np.asarray(values, dtype=float)
    if y.ndim != 1 or len(y) != len(clusters):
        raise AuditInputError("values and clusters must be one-dimensional and of equal length")
    if not np.all(np.isfinite(y)):
        raise AuditInputError("values contain missing or infinite entries")
    n = len(y)
    if n == 0:
        raise AuditInputError("no observations to summarise")
    codes, uniques = pd.factorize(np.asarray(clusters, dtype=object))
    G = len(uniques)
    mean = float(y.mean())
    if G < 2:
        return RobustMean(mean, math.nan, math.nan, math.nan, math.nan, n, G)
    sums = np.bincount(codes, weights=y - mean, minlength=G)
    se = math.sqrt(G / (G - 1) * float(np.sum(sums**2))) / n
    q = float(stats.t.ppf(1 - alpha / 2, G - 1))
    return RobustMean(mean, se, float(G - 1), mean - q * se, mean + q * se, n, G)


def summarise_by_time(config: Config, long: pd.DataFrame) -> pd.DataFrame:
    """Proportion (items) or mean (composite) per measure, time point and arm, with CR1 CIs.

    Only available records with the measure scored are used; ``n_records`` counts them.
    """
    design = config["design"]
    spec = config["audit"]
    alpha = config["analysis"]["alpha"]
    times = _times(config, long)
    labels = _time_labels(config, times)
    pre, _ = _pre_post(config, times)
    rows = []
    for measure in audit_measures(config):
        for t in times:
            for arm in (single_treatment_arm(config), design["reference_arm"]):
                part = long[
                    (long[spec["time"]] == t)
                    & (long[design["arm"]] == arm)
                    & long[AVAILABLE]
                    & long[measure.name].notna()
                ]
                if part.empty:
                    raise AuditInputError(
                        f"no available records of {measure.name!r} at {spec['time']}={t} in arm "
                        f"{arm!r}"
                    )
                res = cluster_robust_mean(
                    part[measure.name], part[design["cluster_id"]], alpha=alpha
                )
                rows.append(
                    {
                        "measure": measure.name,
                        "measure_label": measure.label,
                        "kind": measure.kind,
                        "time": t,
                        "time_label": labels[t],
                        "period": "pre" if t in pre else "intervention",
                        "arm": arm,
                        "arm_label": design["arm_labels"][arm],
                        "estimate": res.estimate,
                        "se": res.se,
                        "df": res.df,
                        "ci_low": res.ci_low,
                        "ci_high": res.ci_high,
                        "n_records": res.n,
                        "n_clusters": res.n_clusters,
                        "method": "CR1 cluster-robust SE of the mean, t on clusters - 1 df",
                    }
                )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Arm x time models
# ---------------------------------------------------------------------------------------------


def _used(config: Config, long: pd.DataFrame, measure: str) -> pd.DataFrame:
    return long[long[AVAILABLE] & long[measure].notna()]


def _time_design(
    config: Config, data: pd.DataFrame, times: Sequence[int], treat: np.ndarray | None = None
) -> pd.DataFrame:
    """Time indicators and arm x time indicators (``treat`` overrides the records' arm)."""
    time = data[config["audit"]["time"]].to_numpy()
    if treat is None:
        treat = data[TREATMENT].to_numpy(dtype=float)
    cols = {_time_term(config, t): (time == t).astype(float) for t in times[1:]}
    cols |= {_interaction_term(config, t): treat * (time == t) for t in times[1:]}
    return pd.DataFrame(cols, index=data.index)


def _final_weights(config: Config, times: Sequence[int], *, with_arm: bool) -> dict[str, pd.Series]:
    """Weights of the final-time difference and of the difference-in-differences."""
    pre, _ = _pre_post(config, times)
    last = times[-1]
    weights: dict[str, pd.Series] = {}
    if with_arm:
        weights["difference_at_final_time"] = pd.Series(
            {arm_term(config): 1.0, _interaction_term(config, last): 1.0}
        )
    if pre:
        did = pd.Series({_interaction_term(config, last): 1.0})
        for t in pre:
            if t != times[0]:
                name = _interaction_term(config, t)
                did[name] = did.get(name, 0.0) - 1.0 / len(pre)
        weights["did_final_vs_pre"] = did
    return weights


def _row(
    config: Config,
    model: str,
    measure: AuditMeasure,
    quantity: str,
    term: str,
    time: int | None,
    est: float,
    se: float,
    df: float,
    df_method: str,
    counts: Mapping[str, int],
    scale: str = "difference",
) -> dict[str, Any]:
    alpha = config["analysis"]["alpha"]
    t = est / se if se > 0 else math.nan
    q = float(stats.t.ppf(1 - alpha / 2, df))
    low, high = est - q * se, est + q * se
    if scale == "odds ratio":  # est and se on the log scale; the interval is exponentiated
        est, low, high = math.exp(est), math.exp(low), math.exp(high)
    return {
        "model": model,
        "measure": measure.name,
        "measure_label": measure.label,
        "quantity": quantity,
        "term": term,
        "time": time,
        "contrast": contrast_label(config, "treatment_minus_reference"),
        "estimate": est,
        "se": se,
        "df": df,
        "t": t,
        "p": float(2 * stats.t.sf(abs(t), df)),
        "ci_low": low,
        "ci_high": high,
        "scale": scale,
        "df_method": df_method,
        **counts,
    }


@dataclass(frozen=True)
class ModelResult:
    """Tidy results of one arm x time model: estimates and the joint test."""

    estimates: pd.DataFrame
    test: dict[str, Any]


PANEL_DF_METHOD = (
    "CR2 cluster-robust SEs; t on Satterthwaite (Bell-McCaffrey) df, joint F by the HTZ "
    "Hotelling approximation"
)
MIXED_DF_METHOD = (
    "unstructured covariance of each cluster's period means; t on clusters - cluster-level "
    "parameters df, joint F by Hotelling's T-squared (exact under normality; Kenward-Roger "
    "reproduces it)"
)


def _within(frame: pd.DataFrame, entity: np.ndarray) -> pd.DataFrame:
    """Deviations from each entity's mean (the within transformation of a panel)."""
    return frame - frame.groupby(entity).transform("mean")


def fit_panel_model(config: Config, long: pd.DataFrame, measure: AuditMeasure) -> ModelResult:
    """Individual fixed effects, time effects and arm x time terms (linearmodels PanelOLS).

    Standard errors are CR2 cluster-robust (:mod:`trial.sandwich`), computed from the
    within-transformed design (the individual effects are nested in the clusters, so this equals
    CR2 with the effects as dummy columns); single terms are tested with t on the
    Satterthwaite (Bell-McCaffrey) df, the arm x time terms jointly by the HTZ test.
    """
    from linearmodels.panel import PanelOLS  # on use: only the audit model job needs it

    design = config["design"]
    spec = config["audit"]
    data = _used(config, long, measure.name)
    times = _times(config, data)
    X = _time_design(config, data, times)
    entity = data[spec["id"]].to_numpy()
    index = pd.MultiIndex.from_arrays(
        [entity, data[spec["time"]].to_numpy()], names=["entity", "time"]
    )
    y = pd.Series(data[measure.name].to_numpy(dtype=float), index=data.index, name=measure.name)
    G = int(data[design["cluster_id"]].nunique())
    if G < 3:
        raise AuditInputError(f"{measure.name}: at least three clusters needed, found {G}")
    res = PanelOLS(y.set_axis(index), X.set_axis(index), entity_effects=True).fit()
    params = res.params
    Xw = _within(X, entity)
    residuals = _within(y.to_frame(), entity).iloc[:, 0] - Xw @ params
    cr2 = cr2_covariance(Xw, residuals, data[design["cluster_id"]], params)
    counts = {
        "n_obs": int(res.nobs),
        "n_individuals": int(data[spec["id"]].nunique()),
        "n_clusters": G,
    }
    rows = []
    contrasts = {
        ("arm_x_time", t): pd.Series({_interaction_term(config, t): 1.0}) for t in times[1:]
    }
    contrasts |= {
        (quantity, None): w for quantity, w in _final_weights(config, times, with_arm=False).items()
    }
    for (quantity, t), w in contrasts.items():
        c = cr2.contrast(w)
        term = _interaction_term(config, t) if t is not None else ""
        rows.append(
            _row(
                config,
                "panel",
                measure,
                quantity,
                term,
                t if t is not None else times[-1],
                c.estimate,
                c.se,
                c.df,
                PANEL_DF_METHOD,
                counts,
            )
        )
    terms = [_interaction_term(config, t) for t in times[1:]]
    test = cr2.wald_test(pd.DataFrame(np.eye(len(terms)), columns=terms))
    joint = {
        "model": "panel",
        "measure": measure.name,
        "measure_label": measure.label,
        "hypothesis": "all arm x time terms are zero",
        "F": test.F,
        "num_df": test.num_df,
        "den_df": test.den_df,
        "p": test.p,
        "df_method": PANEL_DF_METHOD,
        **counts,
    }
    return ModelResult(pd.DataFrame(rows), joint)


def cluster_period_means(
    config: Config, long: pd.DataFrame, measure: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each cluster's mean of ``measure`` at each time point, and its cluster-level design.

    Returns
    -------
    means : pandas.DataFrame
        One row per cluster, one column per time point.
    design : pandas.DataFrame
        Per cluster: intercept, treatment indicator and strata columns.

    Raises
    ------
    AuditInputError
        A cluster has no record of ``measure`` at some time point (the grid must be complete).
    """
    cid = config["design"]["cluster_id"]
    time = config["audit"]["time"]
    data = _used(config, long, measure)
    means = data.pivot_table(index=cid, columns=time, values=measure, aggfunc="mean")
    means = means.reindex(columns=_times(config, long))
    empty = means.isna().stack()
    if empty.any():
        (cluster, t), n = empty[empty].index[0], int(empty.sum())
        raise AuditInputError(
            f"{measure}: {n} cluster x time cells have no audited record (first: {cid}={cluster}, "
            f"{time}={t}); the cluster-period model needs every cluster audited at every time"
        )
    first = data.groupby(cid).first().loc[means.index]
    design = pd.concat(
        [
            pd.DataFrame(
                {"(Intercept)": 1.0, arm_term(config): first[TREATMENT].astype(float)},
                index=means.index,
            ),
            strata_columns(config, first),
        ],
        axis=1,
    )
    return means, design


def fit_mixed_model(config: Config, long: pd.DataFrame, measure: AuditMeasure) -> ModelResult:
    """Cluster-period means with an unstructured covariance over time within cluster.

    Each cluster's vector of period means ``m_j`` (one entry per time point; every record
    weighted equally within its cluster and period, every cluster equally: a cluster-average
    effect) follows ``m_j = B' x_j + e_j`` with ``x_j`` the intercept, arm and strata and
    ``e_j ~ N(0, Sigma)``, ``Sigma`` unstructured: any variation of clusters over time (random
    cluster and cluster x time effects of any covariance) and the sampling error of the means.
    This is the linear mixed model ``m = arm * time + strata * time`` with an unstructured
    repeated-measures covariance per cluster (SAS ``REPEATED / TYPE=UN``). With every cluster
    observed at every time point its REML estimates are least squares per time point,
    ``Sigma_hat`` is the residual cross-products over ``nu = J - p`` (``p`` cluster-level
    parameters), each contrast of the arm effects over time has a t distribution on ``nu`` df,
    and the joint test of the ``q`` arm x time terms is Hotelling's ``T^2``:
    ``F = (nu - q + 1) / (nu q) T^2`` on ``(q, nu - q + 1)`` df, exact under normality; the
    Kenward-Roger F reproduces it in multivariate regression models (Kenward and Roger 1997,
    Biometrics 53:983; Birkes, Oregon State thesis 2007). Arm x time term ``t`` is the arm
    effect at time ``t`` minus that at the first time point.
    """
    spec = config["audit"]
    data = _used(config, long, measure.name)
    means, X = cluster_period_means(config, long, measure.name)
    times = list(means.columns)
    J, p = X.shape
    nu = J - np.linalg.matrix_rank(X.to_numpy())
    if nu < 1:
        raise AuditInputError(
            f"{measure.name}: {J} clusters cannot estimate {p} cluster-level parameters"
        )
    Xv, Y = X.to_numpy(dtype=float), means.to_numpy(dtype=float)
    bread = np.linalg.pinv(Xv.T @ Xv)
    B = bread @ Xv.T @ Y
    resid = Y - Xv @ B
    sigma = resid.T @ resid / nu
    arm = list(X.columns).index(arm_term(config))
    effect = pd.Series(B[arm], index=times)  # arm effect at each time point
    scale = float(bread[arm, arm])
    counts = {
        "n_obs": int(len(data)),
        "n_individuals": int(data[spec["id"]].nunique()),
        "n_clusters": J,
    }

    def contrast(weights: pd.Series) -> tuple[float, float]:
        w = weights.reindex(times).fillna(0.0).to_numpy()
        return float(w @ effect.to_numpy()), math.sqrt(scale * float(w @ sigma @ w))

    first = times[0]
    by_term = {_interaction_term(config, t): pd.Series({t: 1.0, first: -1.0}) for t in times[1:]}
    rows = []
    for t, (term, w) in zip(times[1:], by_term.items(), strict=True):
        est, se = contrast(w)
        rows.append(
            _row(
                config,
                "mixed",
                measure,
                "arm_x_time",
                term,
                t,
                est,
                se,
                float(nu),
                MIXED_DF_METHOD,
                counts,
            )
        )
    for quantity, weights in _final_weights(config, times, with_arm=True).items():
        w = pd.Series(0.0, index=times)
        for name, value in weights.items():
            if name == arm_term(config):
                w[first] += value
            else:
                w = w.add(by_term[name] * value, fill_value=0.0)
        est, se = contrast(w)
        rows.append(
            _row(
                config,
                "mixed",
                measure,
                quantity,
                "",
                times[-1],
                est,
                se,
                float(nu),
                MIXED_DF_METHOD,
                counts,
            )
        )
    L = np.array([by_term[term].reindex(times).fillna(0.0).to_numpy() for term in by_term])
    q = L.shape[0]
    b = L @ effect.to_numpy()
    T2 = float(b @ np.linalg.solve(scale * L @ sigma @ L.T, b))
    den = nu - q + 1
    F = (nu - q + 1) / (nu * q) * T2 if den > 0 else math.nan
    test = {
        "model": "mixed",
        "measure": measure.name,
        "measure_label": measure.label,
        "hypothesis": "all arm x time terms are zero",
        "F": F,
        "num_df": float(q),
        "den_df": float(den) if den > 0 else math.nan,
        "p": float(stats.f.sf(F, q, den)) if den > 0 else math.nan,
        "df_method": MIXED_DF_METHOD,
        **counts,
        "n_cluster_periods": int(Y.size),
    }
    return ModelResult(pd.DataFrame(rows), test)


BINARY_MODELS = ("gee", "linear")
DEFAULT_BINARY_MODEL = "gee"
DEFAULT_GEE_COVARIANCE = "kauermann-carroll"


def gee_df_method(covariance: str) -> str:
    """How the binary model's intervals are made, for the result tables."""
    return (
        f"logistic GEE, exchangeable working correlation within cluster; {covariance} "
        "bias-corrected sandwich covariance; t on clusters - coefficients df; risk difference "
        "standardised over the records at the final time point (delta method)"
    )


def binary_design(
    config: Config, data: pd.DataFrame, times: Sequence[int], treat: np.ndarray | None = None
) -> pd.DataFrame:
    """Design of the binary model: intercept, arm, strata, time and arm x time indicators.

    ``treat`` (0/1 per record) overrides the records' arm, for counterfactual predictions.
    """
    arm = data[TREATMENT].to_numpy(dtype=float) if treat is None else treat
    return pd.concat(
        [
            pd.DataFrame({"(Intercept)": 1.0, arm_term(config): arm}, index=data.index),
            strata_columns(config, data),
            _time_design(config, data, times, arm),
        ],
        axis=1,
    )


def fit_binary_model(config: Config, long: pd.DataFrame, measure: AuditMeasure) -> ModelResult:
    """Population-averaged logistic model of a 0/1 item with arm x time terms (GEE).

    ``logit P(y_it = 1) = b0 + b_arm x + strata + sum_{t > 1} g_t [time = t]
    + sum_{t > 1} d_t [time = t] x`` fitted by GEE (:func:`trial.stats.gee.fit_gee`) with the
    cluster as the unit: an exchangeable working correlation among all records of a cluster
    (records of one individual over time included), and a bias-corrected sandwich covariance
    (``audit.gee_covariance``, default Kauermann-Carroll) that stays valid whatever the true
    correlation within cluster and individual, with t on ``clusters - p`` df (Li and Redden
    2015). Reported, with the linear models' quantity names where the meaning carries over:

    * ``arm_x_time``: ``exp(d_t)``, the odds ratio between arms at time ``t`` over that at the
      first time point;
    * ``odds_ratio_at_final_time``: ``exp(b_arm + d_T)``, the population-averaged odds ratio
      between arms at the last time point (given the strata);
    * ``risk_difference_at_final_time``: the difference in risk at the last time point,
      standardised over the records audited then (every record predicted under each arm,
      :func:`trial.stats.marginal.standardise`), with a delta-method interval;
    * ``did_final_vs_pre``: the ratio of odds ratios, final time point against the mean log
      odds ratio of the pre-intervention time points;

    and the Wald F test of all arm x time terms on ``(T - 1, clusters - p)`` df. Odds-ratio rows
    give ``se`` and ``t`` on the log scale.
    """
    spec = config["audit"]
    design = config["design"]
    covariance = spec.get("gee_covariance", DEFAULT_GEE_COVARIANCE)
    alpha = config["analysis"]["alpha"]
    data = _used(config, long, measure.name)
    times = _times(config, data)
    X = binary_design(config, data, times)
    values = set(np.unique(data[measure.name].to_numpy(dtype=float)))
    if not values <= {0.0, 1.0}:
        raise AuditInputError(
            f"{measure.name}: the binary model needs 0/1 values, found {sorted(values)[:5]}"
        )
    fit = fit_gee(
        data[measure.name].to_numpy(dtype=float),
        X,
        data[design["cluster_id"]].to_numpy(),
        family="binomial",
        cov_type=covariance,
    )
    df_method = gee_df_method(covariance)
    counts = {
        "n_obs": int(fit.n_obs),
        "n_individuals": int(data[spec["id"]].nunique()),
        "n_clusters": int(fit.n_clusters),
    }
    columns = list(X.columns)

    def weights(named: Mapping[str, float]) -> np.ndarray:
        return np.array([named.get(c, 0.0) for c in columns])

    def log_odds_row(quantity: str, term: str, t: int, named: Mapping[str, float]) -> dict:
        c = fit.arrays.contrast(weights(named), alpha=alpha)
        return _row(
            config,
            "gee",
            measure,
            quantity,
            term,
            t,
            c.estimate,
            c.se,
            c.df,
            df_method,
            counts,
            scale="odds ratio",
        )

    last = times[-1]
    rows = [
        log_odds_row(
            "arm_x_time", _interaction_term(config, t), t, {_interaction_term(config, t): 1.0}
        )
        for t in times[1:]
    ]
    final = _final_weights(config, times, with_arm=True)
    rows.append(
        log_odds_row("odds_ratio_at_final_time", "", last, final["difference_at_final_time"])
    )
    at_last = data[data[spec["time"]] == last]
    n_last = len(at_last)
    risks = standardise(
        fit,
        binary_design(config, at_last, times, np.ones(n_last)),
        binary_design(config, at_last, times, np.zeros(n_last)),
        alpha=alpha,
    )
    rd = risks.difference
    rows.append(
        _row(
            config,
            "gee",
            measure,
            "risk_difference_at_final_time",
            "",
            last,
            rd.estimate,
            rd.se,
            rd.df,
            df_method,
            counts,
            scale="risk difference",
        )
    )
    if "did_final_vs_pre" in final:
        rows.append(log_odds_row("did_final_vs_pre", "", last, final["did_final_vs_pre"]))
    L = np.array([weights({_interaction_term(config, t): 1.0}) for t in times[1:]])
    f = fit.arrays.f_test(L)
    test = {
        "model": "gee",
        "measure": measure.name,
        "measure_label": measure.label,
        "hypothesis": "all arm x time terms are zero",
        "F": f.F,
        "num_df": f.num_df,
        "den_df": f.den_df,
        "p": f.p,
        "df_method": df_method,
        **counts,
    }
    return ModelResult(pd.DataFrame(rows), test)


def fit_audit_models(
    config: Config, long: pd.DataFrame, *, mixed_measures: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both arm x time models for every measure.

    Parameters
    ----------
    config : dict
        Trial config.
    long : pandas.DataFrame
        :attr:`AuditData.long`.
    mixed_measures : sequence of str, optional
        Measures fitted by the linear models that also get the mixed model (default: all).

    The composite gets the linear models (panel and mixed). The 0/1 items get the binary model
    (:func:`fit_binary_model`) when ``audit.binary_model`` is ``gee`` (the default), the
    linear (probability) models when it is ``linear``.

    Returns
    -------
    estimates, tests : pandas.DataFrame
        Tidy estimates (arm x time terms, difference at the final time point,
        difference-in-differences) and joint F tests, one row per model and measure.
    """
    binary_model = config["audit"].get("binary_model", DEFAULT_BINARY_MODEL)
    if binary_model not in BINARY_MODELS:
        raise AuditInputError(
            f"audit/binary_model must be one of {BINARY_MODELS}, got {binary_model!r}"
        )
    estimates, tests = [], []
    for measure in audit_measures(config):
        if measure.kind == "proportion" and binary_model == "gee":
            fits = [fit_binary_model(config, long, measure)]
        else:
            fits = [fit_panel_model(config, long, measure)]
            if mixed_measures is None or measure.name in mixed_measures:
                fits.append(fit_mixed_model(config, long, measure))
        for res in fits:
            estimates.append(res.estimates)
            tests.append(res.test)
    return pd.concat(estimates, ignore_index=True), pd.DataFrame(tests)


# ---------------------------------------------------------------------------------------------
# Figure and report section
# ---------------------------------------------------------------------------------------------


