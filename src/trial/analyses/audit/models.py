"""The audit's linear arm x time models of one measure: a fixed-effects panel model
(:func:`fit_panel_model`) and a mixed model of the cluster-period means (:func:`fit_mixed_model`),
with the pieces the binary model shares (the time design, the final-time weights, the tidy row).

Panel model (linearmodels ``PanelOLS``)
    ``y_it = a_i + sum_{t > 1} g_t [time = t] + sum_{t > 1} d_t [time = t] x treatment + e_it``
    with individual (entity) fixed effects ``a_i`` and time effects entered as indicators.
    Standard errors are CR2 cluster-robust by cluster (:mod:`trial.stats.sandwich`); single terms
    get t tests on Satterthwaite (Bell-McCaffrey) df, the arm x time terms jointly the HTZ test
    (Pustejovsky and Tipton 2018), as R's clubSandwich computes them. The arm main effect and
    the strata are absorbed by the individual effects, so this model estimates only changes
    relative to the first time point.
Mixed model of cluster-period means
    Each cluster's mean at each time point, with arm, strata, time and their interactions and
    an unstructured covariance of a cluster's period means: clusters may differ in level, in
    trajectory and in variability over time, so the arm x time terms are estimated between
    clusters, on clusters - cluster-level parameters df, and their joint test is Hotelling's
    ``T^2`` (exact under normality; Kenward-Roger reproduces it). With only cluster and
    individual random intercepts the arm x time terms would get thousands of df.
Final time point
    The difference between arms at the last time point (mixed model only) and the
    difference-in-differences: that difference minus the mean difference over the
    pre-intervention time points (``d_T - mean_{t pre} d_t``, with ``d_1 = 0``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.analyses.audit.data import (
    AVAILABLE,
    TREATMENT,
    AuditInputError,
    AuditMeasure,
    audit_times,
    interaction_term,
    pre_post_times,
    time_term,
)
from trial.config.vocabulary import Config, arm_term, contrast_label, strata_columns
from trial.stats.sandwich import cr2_covariance

__all__ = [
    "MIXED_DF_METHOD",
    "PANEL_DF_METHOD",
    "JointTest",
    "ModelResult",
    "cluster_period_means",
    "estimate_row",
    "final_weights",
    "fit_mixed_model",
    "fit_panel_model",
    "time_design",
    "used_records",
]


def used_records(config: Config, long: pd.DataFrame, measure: str) -> pd.DataFrame:
    """The available records with ``measure`` scored."""
    return long[long[AVAILABLE] & long[measure].notna()]


def time_design(
    config: Config, data: pd.DataFrame, times: Sequence[int], treat: np.ndarray | None = None
) -> pd.DataFrame:
    """Time indicators and arm x time indicators (``treat`` overrides the records' arm)."""
    time = data[config["audit"]["time"]].to_numpy()
    if treat is None:
        treat = data[TREATMENT].to_numpy(dtype=float)
    cols = {time_term(config, t): (time == t).astype(float) for t in times[1:]}
    cols |= {interaction_term(config, t): treat * (time == t) for t in times[1:]}
    return pd.DataFrame(cols, index=data.index)


def final_weights(config: Config, times: Sequence[int], *, with_arm: bool) -> dict[str, pd.Series]:
    """Weights of the final-time difference and of the difference-in-differences."""
    pre, _ = pre_post_times(config, times)
    last = times[-1]
    weights: dict[str, pd.Series] = {}
    if with_arm:
        weights["difference_at_final_time"] = pd.Series(
            {arm_term(config): 1.0, interaction_term(config, last): 1.0}
        )
    if pre:
        did = pd.Series({interaction_term(config, last): 1.0})
        for t in pre:
            if t != times[0]:
                name = interaction_term(config, t)
                did[name] = did.get(name, 0.0) - 1.0 / len(pre)
        weights["did_final_vs_pre"] = did
    return weights


def estimate_row(
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
    """One tidy estimate: t interval and p on ``df``; an odds ratio's estimate and interval are
    exponentiated from the log scale."""
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
class JointTest:
    """The F test that all arm x time terms of one model of one measure are zero.

    Attributes
    ----------
    model : str
        ``panel``, ``mixed`` or ``gee``.
    measure : AuditMeasure
    F, num_df, den_df, p : float
        The statistic, its numerator and denominator df, and its p-value.
    df_method : str
        How the df were found, for the result tables.
    n_obs, n_individuals, n_clusters : int
        Records, individuals and clusters of the fit.
    n_cluster_periods : int, optional
        Cluster-period means analysed (the mixed model of those means only).
    """

    model: str
    measure: AuditMeasure
    F: float
    num_df: float
    den_df: float
    p: float
    df_method: str
    n_obs: int
    n_individuals: int
    n_clusters: int
    n_cluster_periods: int | None = None

    def as_row(self) -> dict[str, Any]:
        """The test as a row of the tests table."""
        row = {
            "model": self.model,
            "measure": self.measure.name,
            "measure_label": self.measure.label,
            "hypothesis": "all arm x time terms are zero",
            "F": self.F,
            "num_df": self.num_df,
            "den_df": self.den_df,
            "p": self.p,
            "df_method": self.df_method,
            "n_obs": self.n_obs,
            "n_individuals": self.n_individuals,
            "n_clusters": self.n_clusters,
        }
        if self.n_cluster_periods is not None:
            row["n_cluster_periods"] = self.n_cluster_periods
        return row


@dataclass(frozen=True)
class ModelResult:
    """Tidy results of one arm x time model: estimates and the joint test."""

    estimates: pd.DataFrame
    test: JointTest


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

    Standard errors are CR2 cluster-robust (:mod:`trial.stats.sandwich`), computed from the
    within-transformed design (the individual effects are nested in the clusters, so this equals
    CR2 with the effects as dummy columns); single terms are tested with t on the
    Satterthwaite (Bell-McCaffrey) df, the arm x time terms jointly by the HTZ test.
    """
    from linearmodels.panel import PanelOLS  # on use: only the audit model job needs it

    design = config["design"]
    spec = config["audit"]
    data = used_records(config, long, measure.name)
    times = audit_times(config, data)
    X = time_design(config, data, times)
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
        ("arm_x_time", t): pd.Series({interaction_term(config, t): 1.0}) for t in times[1:]
    }
    contrasts |= {
        (quantity, None): w for quantity, w in final_weights(config, times, with_arm=False).items()
    }
    for (quantity, t), w in contrasts.items():
        c = cr2.contrast(w)
        term = interaction_term(config, t) if t is not None else ""
        rows.append(
            estimate_row(
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
    terms = [interaction_term(config, t) for t in times[1:]]
    test = cr2.wald_test(pd.DataFrame(np.eye(len(terms)), columns=terms))
    joint = JointTest(
        "panel", measure, test.F, test.num_df, test.den_df, test.p, PANEL_DF_METHOD, **counts
    )
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
    data = used_records(config, long, measure)
    means = data.pivot_table(index=cid, columns=time, values=measure, aggfunc="mean")
    means = means.reindex(columns=audit_times(config, long))
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
    data = used_records(config, long, measure.name)
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
    by_term = {interaction_term(config, t): pd.Series({t: 1.0, first: -1.0}) for t in times[1:]}
    rows = []
    for t, (term, w) in zip(times[1:], by_term.items(), strict=True):
        est, se = contrast(w)
        rows.append(
            estimate_row(
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
    for quantity, weights in final_weights(config, times, with_arm=True).items():
        w = pd.Series(0.0, index=times)
        for name, value in weights.items():
            if name == arm_term(config):
                w[first] += value
            else:
                w = w.add(by_term[name] * value, fill_value=0.0)
        est, se = contrast(w)
        rows.append(
            estimate_row(
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
    test = JointTest(
        "mixed",
        measure,
        F,
        float(q),
        float(den) if den > 0 else math.nan,
        float(stats.f.sf(F, q, den)) if den > 0 else math.nan,
        MIXED_DF_METHOD,
        **counts,
        n_cluster_periods=int(Y.size),
    )
    return ModelResult(pd.DataFrame(rows), test)
