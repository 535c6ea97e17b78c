"""Cluster-level analysis of a binary outcome: the two-stage residual method.

Hayes and Moulton (2017, chapters 9-10) analyse a cluster randomised trial by summarising each
cluster and comparing the summaries between arms with a t test, which keeps its level with few
clusters whatever the within-cluster correlation. Covariates are adjusted for in two stages:

1. a logistic regression of the outcome on an intercept and the covariates (baseline values,
   strata, ...) but **not** the arm, ignoring clustering, gives each individual's expected risk
   ``p_ij`` and each cluster's expected number of events ``e_j = sum_i p_ij``;
2. each cluster's observed events ``d_j`` (of ``n_j`` individuals) are compared with ``e_j``:

   * difference residual ``(d_j - e_j) / n_j``: the adjusted **risk difference** is the
     difference between arms of the mean difference residual, with the pooled-variance two-sample
     t interval;
   * ratio residual ``d_j / e_j``: the adjusted **risk ratio** is the ratio between arms of the
     geometric mean ratio residual, with the t interval for the difference of mean log ratio
     residuals, exponentiated. When some cluster has no event, ``zero_correction`` (0.5 by
     default) is added to every cluster's event count before logs are taken (the estimate then
     depends on that constant, which the result reports).

Without covariates stage 1 is an intercept only, ``e_j = n_j pbar``, and the analysis is the
t test of the cluster proportions (difference) or of their logs (ratio). The cluster summaries
get equal weight.

Degrees of freedom: ``J - 2`` (the two-sample t test), minus the number of cluster-level
parameters estimated in stage 1 (covariate columns constant within every cluster, such as
strata: their rank beyond the intercept), as Hayes and Moulton recommend for cluster-level
covariates.

Reference: Hayes RJ, Moulton LH (2017). Cluster Randomised Trials, 2nd edition. CRC Press,
sections 9.2 and 10.3 (Bennett S, Parpia T, Hayes R, Cousens S (2002), Int J Epidemiol
31:839-846, for the ratio residuals).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from trial.stats._families import FAMILIES, ModelFitError, ModelInputError, cluster_codes
from trial.stats.mixed.checks import _column_levels, _gram_rank

__all__ = [
    "ClusterLevelAnalysis",
    "ClusterLevelEffect",
    "ClusterSummaries",
    "cluster_level_binary",
]


@dataclass(frozen=True, eq=False)
class ClusterSummaries:
    """Per-cluster summaries, in the order of first appearance of the clusters.

    Attributes
    ----------
    clusters : numpy.ndarray
        Cluster labels.
    treated : numpy.ndarray of bool
    size, events : numpy.ndarray
        ``n_j`` and ``d_j``.
    proportion : numpy.ndarray
        ``d_j / n_j``.
    expected : numpy.ndarray
        ``e_j`` from stage 1.
    difference_residual, ratio_residual : numpy.ndarray
        ``(d_j - e_j) / n_j`` and ``(d_j + c) / e_j`` (``c`` the zero correction, or 0).
    """

    clusters: np.ndarray
    treated: np.ndarray
    size: np.ndarray
    events: np.ndarray
    proportion: np.ndarray
    expected: np.ndarray
    difference_residual: np.ndarray
    ratio_residual: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """The summaries as a table, one row per cluster."""
        return pd.DataFrame({k: getattr(self, k) for k in self.__dataclass_fields__})


@dataclass(frozen=True)
class ClusterLevelEffect:
    """An arm comparison of cluster-level residuals.

    Attributes
    ----------
    measure : str
        ``"risk difference"`` or ``"risk ratio"``.
    estimate : float
        Treated minus control (difference) or treated over control (ratio).
    se : float
        Standard error of the difference of means (of log ratio residuals for the ratio).
    df, t, p : float
        Degrees of freedom, t statistic and two-sided p-value.
    ci_low, ci_high : float
        ``1 - alpha`` interval on the natural scale.
    alpha : float
    mean_treated, mean_control : float
        Mean difference residual, or geometric mean ratio residual, of each arm.
    """

    measure: str
    estimate: float
    se: float
    df: float
    t: float
    p: float
    ci_low: float
    ci_high: float
    alpha: float
    mean_treated: float
    mean_control: float


@dataclass(frozen=True, eq=False)
class ClusterLevelAnalysis:
    """Result of :func:`cluster_level_binary`.

    Attributes
    ----------
    difference, ratio : ClusterLevelEffect
        Adjusted (or, without covariates, unadjusted) risk difference and risk ratio.
    summaries : ClusterSummaries
    n_clusters_treated, n_clusters_control : int
    n_cluster_level_covariates : int
        Cluster-level parameters of stage 1 (beyond the intercept), subtracted from the df.
    zero_correction : float
        The constant added to every cluster's events for the ratio (0 when no cluster has
        zero events).
    """

    difference: ClusterLevelEffect
    ratio: ClusterLevelEffect
    summaries: ClusterSummaries
    n_clusters_treated: int
    n_clusters_control: int
    n_cluster_level_covariates: int
    zero_correction: float


def _logistic(y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Fitted risks of an ordinary logistic regression of ``y`` on ``Z`` (Newton's method)."""
    fam = FAMILIES["binomial"]
    beta = np.zeros(Z.shape[1])
    for _ in range(100):
        mu, w, _ = fam.moments(Z @ beta)
        try:
            step = np.linalg.solve((Z.T * w) @ Z, Z.T @ (y - mu))
        except np.linalg.LinAlgError:  # every weight underflowed: the estimates diverge
            break
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12 * (1.0 + np.max(np.abs(beta))):
            return special.expit(Z @ beta)
    raise ModelFitError(
        "the stage-1 logistic regression did not converge: a covariate may separate the outcome"
    )


def _t_compare(
    measure: str, values: np.ndarray, treated: np.ndarray, df: float, alpha: float, log: bool
) -> ClusterLevelEffect:
    """Treated minus control difference of the mean of ``values`` with the pooled-variance
    two-sample t interval on ``df``; exponentiated (a ratio of geometric means) if ``log``."""
    a, b = values[treated], values[~treated]
    diff = float(a.mean() - b.mean())
    pooled = (np.sum((a - a.mean()) ** 2) + np.sum((b - b.mean()) ** 2)) / (a.size + b.size - 2)
    se = math.sqrt(pooled * (1.0 / a.size + 1.0 / b.size))
    t = diff / se
    q = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    p = float(2.0 * stats.t.sf(abs(t), df))
    out = np.array([diff, diff - q * se, diff + q * se, a.mean(), b.mean()])
    if log:
        out = np.exp(out)
    est, lo, hi, mt, mc = (float(v) for v in out)
    return ClusterLevelEffect(measure, est, se, df, t, p, lo, hi, alpha, mt, mc)


def cluster_level_binary(
    y: Sequence[float] | np.ndarray | pd.Series,
    treated: Sequence[float] | np.ndarray | pd.Series,
    clusters: Sequence[Hashable] | np.ndarray | pd.Series,
    *,
    covariates: pd.DataFrame | np.ndarray | None = None,
    zero_correction: float = 0.5,
    alpha: float = 0.05,
) -> ClusterLevelAnalysis:
    """Risk difference and risk ratio by the two-stage cluster-level method.

    Parameters
    ----------
    y : array-like, shape (n,)
        0/1 outcome.
    treated : array-like, shape (n,)
        1 for individuals of treatment clusters, 0 for control clusters (constant within
        cluster).
    clusters : array-like, shape (n,)
        Cluster labels.
    covariates : pandas.DataFrame or numpy.ndarray, shape (n, q), optional
        Stage-1 covariates, without intercept and without the arm (strata as indicator
        columns, baseline values, ...). ``None`` gives the unadjusted analysis.
    zero_correction : float, default 0.5
        Added to every cluster's event count for the ratio when some cluster has no event.
    alpha : float, default 0.05
        Level of the intervals.

    Returns
    -------
    ClusterLevelAnalysis
    """
    yv = np.asarray(y, dtype=float)
    n = yv.shape[0]
    FAMILIES["binomial"].check(yv)
    arm = np.asarray(treated, dtype=float)
    if arm.shape != (n,) or not np.all((arm == 0) | (arm == 1)):
        raise ModelInputError(f"treated must be 0/1 of shape ({n},)")
    codes, labels = cluster_codes(clusters, n)
    J = labels.size
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    arm_c = np.add.reduceat(arm[order], starts) / np.diff(np.r_[starts, n])
    if not np.all((arm_c == 0) | (arm_c == 1)):
        bad = labels[np.flatnonzero((arm_c > 0) & (arm_c < 1))[0]]
        raise ModelInputError(f"cluster {bad!r} has individuals in both arms")
    is_t = arm_c == 1
    n_t, n_c = int(is_t.sum()), int((~is_t).sum())
    if n_t < 2 or n_c < 2:
        raise ModelInputError(
            f"the t test needs at least two clusters per arm (treated {n_t}, control {n_c})"
        )
    Z = np.ones((n, 1))
    names = None
    if covariates is not None:
        names = list(covariates.columns) if isinstance(covariates, pd.DataFrame) else None
        C = np.asarray(covariates, dtype=float).reshape(n, -1)
        if not np.isfinite(C).all():
            row, col = np.argwhere(~np.isfinite(C))[0]
            label = names[col] if names else f"column {col}"
            raise ModelInputError(f"covariates have a missing value in row {row}, {label}")
        Z = np.column_stack([Z, C])
        if _gram_rank(Z.T @ Z) < Z.shape[1]:
            raise ModelInputError("the stage-1 covariates (with an intercept) are rank deficient")
    fitted = _logistic(yv, Z)
    sums = np.add.reduceat(np.column_stack([yv, fitted, np.ones(n)])[order], starts, axis=0)
    d, e, m = sums[:, 0], sums[:, 1], sums[:, 2]
    # cluster-level stage-1 parameters beyond the intercept reduce the df
    levels = _column_levels(Z[order], starts, None)
    between = np.flatnonzero(levels <= 1)
    q_c = _gram_rank(Z[order][:, between].T @ Z[order][:, between]) - 1
    df = float(J - 2 - q_c)
    if df < 1:
        raise ModelInputError(f"no degrees of freedom left ({J} clusters, {q_c} cluster-level)")
    dres = (d - e) / m
    cz = zero_correction if np.any(d == 0) else 0.0
    rres = (d + cz) / e
    difference = _t_compare("risk difference", dres, is_t, df, alpha, log=False)
    ratio = _t_compare("risk ratio", np.log(rres), is_t, df, alpha, log=True)
    summaries = ClusterSummaries(
        clusters=np.asarray(labels),
        treated=is_t,
        size=m,
        events=d,
        proportion=d / m,
        expected=e,
        difference_residual=dres,
        ratio_residual=rres,
    )
    return ClusterLevelAnalysis(difference, ratio, summaries, n_t, n_c, int(q_c), cz)
