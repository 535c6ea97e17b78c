"""The audit's data: the prepared long table, its availability counts and the summaries per
time point and arm.

Each audited individual belongs to one cluster and is audited at time points ``1..T``; at each
time point the record is either available (and its 0/1 items are scored) or not. The first
``intervention_starts_after`` time points precede the intervention. The config's ``audit:``
section names the table, its columns, the items and an optional composite score (the number, or
the share, of items documented).

:func:`prepare_audit` joins arm and strata to the raw audit table, adds the composite and counts
the records not available per time point and arm; :func:`summarise_by_time` gives, per time point
and arm, the mean ``ybar`` of the records used with the cluster-robust (CR1) standard error of a
mean: ``se^2 = G/(G-1) * sum_g (sum_{i in g} (y_i - ybar))^2 / n^2`` over the ``G`` clusters of
that arm contributing records, and a t interval on ``G - 1`` df. This equals
``sandwich::vcovCL(lm(y ~ 1), cluster = ~cluster, type = "HC0", cadjust = TRUE)`` in R.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.config.vocabulary import Config, arm_term, single_treatment_arm

__all__ = [
    "AVAILABLE",
    "TREATMENT",
    "AuditData",
    "AuditInputError",
    "AuditMeasure",
    "RobustMean",
    "audit_measures",
    "audit_times",
    "cluster_robust_mean",
    "interaction_term",
    "pre_post_times",
    "prepare_audit",
    "summarise_by_time",
    "time_labels",
    "time_term",
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


def audit_times(config: Config, long: pd.DataFrame) -> list[int]:
    """The audit's time points in ``long``, in order."""
    return sorted(int(t) for t in long[config["audit"]["time"]].unique())


def time_labels(config: Config, times: Sequence[int]) -> dict[int, str]:
    """Report label of each time point (``audit.time_labels``, else the number)."""
    labels = config["audit"].get("time_labels")
    if labels is None:
        return {t: str(t) for t in times}
    if len(labels) != len(times):
        raise AuditInputError(
            f"audit/time_labels has {len(labels)} labels but the audit has {len(times)} time "
            f"points ({times})"
        )
    return dict(zip(times, labels, strict=True))


def pre_post_times(config: Config, times: Sequence[int]) -> tuple[list[int], list[int]]:
    """The time points before and after the start of the intervention."""
    start = config["audit"]["intervention_starts_after"]
    pre = [t for t in times if t <= start]
    post = [t for t in times if t > start]
    if not post:
        raise AuditInputError(
            f"audit/intervention_starts_after is {start}, so none of the audit time points "
            f"{list(times)} follows the start of the intervention"
        )
    return pre, post


def time_term(config: Config, t: int) -> str:
    """Name of the indicator of time point ``t``."""
    return f"{config['audit']['time']}[{t}]"


def interaction_term(config: Config, t: int) -> str:
    """Name of the arm x time term of time point ``t``."""
    return f"{arm_term(config)}:{time_term(config, t)}"


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
    times = audit_times(config, long)
    labels = time_labels(config, times)
    pre, _ = pre_post_times(config, times)
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
