"""Intraclass correlations, cluster sizes and design effects, for planning the next trial.

A treatment effect that differs between arms adds between-cluster variation, so an ICC computed
over both arms at follow-up overstates the clustering. Every ICC here is therefore either within
arm or conditional on arm, on the observed values, at baseline and at follow-up:

* ``within_arm_anova``: the one-way ANOVA estimator with arm as a fixed effect (clusters nested
  in arms; no other covariates)::

      ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW)
      n0 = (N - sum_a sum_{j in a} n_j^2 / N_a) / (k - A)

  with ``MSB`` the between-cluster mean square about each arm's mean (``k - A`` df), ``MSW`` the
  within-cluster mean square (``N - k`` df), ``k`` clusters, ``A`` arms, ``N`` individuals,
  ``N_a`` of them in arm ``a`` and ``n_j`` the cluster sizes; ``E(MSB) = s2_e + n0 s2_c``.
  Searle's variance-ratio interval (Searle 1971; exact for equal cluster sizes under the
  normal one-way model, approximate with ``n0`` otherwise)::

      F = MSB / MSW,  F_L = F / F_{1-a/2}(k-A, N-k),  F_U = F / F_{a/2}(k-A, N-k)
      ICC_L = (F_L - 1) / (F_L + n0 - 1),  ICC_U = (F_U - 1) / (F_U + n0 - 1)

* ``model_adjusted``: the cluster share of the variance in the analysis model (random intercept,
  REML) conditional on arm, strata, covariates and, at follow-up, the baseline value of the
  outcome, fitted to the individuals with every term observed.

Both get a cluster bootstrap percentile interval: clusters are drawn with replacement within
each arm and stratum (so every replicate keeps the design's numbers of clusters per arm and
stratum) and the estimator, including the model fit, is recomputed on every replicate.

Design effects use the ICC truncated at 0 (a negative estimate means no detectable clustering,
not a design effect below 1), the mean cluster size ``m`` and its coefficient of variation
``cv``: ``1 + (m - 1) ICC`` (equal sizes) and ``1 + ((cv^2 + 1) m - 1) ICC`` (unequal sizes;
Eldridge, Ashby and Kerry 2006).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.config.vocabulary import (
    Config,
    allocation_strata,
    baseline_column,
    design_matrix,
    followup_column,
    outcome_has_baseline,
    outcome_scales,
)
from trial.stats.bootstrap import ClusterLayout, bootstrap_cluster_counts
from trial.stats.mixed import (
    MixedModelError,
    cluster_sums,
    fit_random_intercept_arrays,
    fit_random_intercept_sums,
)

__all__ = [
    "AdjustedICC",
    "AnovaICC",
    "ClusterSizes",
    "DesignEffects",
    "ESTIMATORS",
    "adjusted_icc",
    "anova_icc",
    "cluster_size_summary",
    "design_effects",
    "icc_bootstrap",
    "icc_table",
]

#: The ICC estimators of the table, in report order, with their descriptions.
ESTIMATORS = {
    "within_arm_anova": "one-way ANOVA within arm (arm as a fixed effect, no other covariates)",
    "model_adjusted": "random-intercept model (REML) adjusted for arm, strata and covariates, "
    "and for the baseline value at follow-up",
}


def _codes(values: Any) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(pd.Series(values))
    return codes, len(uniques)


def _anova_icc_from_sums(
    n: np.ndarray, s: np.ndarray, q: np.ndarray, group: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ICC, MSB, MSW and n0 from per-cluster counts, sums, sums of squares and group codes.

    The arrays have the clusters on their last axis (a leading axis may index replicates).
    """
    k = n.shape[-1]
    N = n.sum(axis=-1)
    onehot = np.eye(n_groups)[np.broadcast_to(group, n.shape)]  # (..., k, A)
    n_g = np.einsum("...k,...ka->...a", n, onehot)
    s_g = np.einsum("...k,...ka->...a", s, onehot)
    n2_g = np.einsum("...k,...ka->...a", n**2, onehot)
    ss_between = np.sum(s**2 / n, axis=-1) - np.sum(s_g**2 / n_g, axis=-1)
    ss_within = q.sum(axis=-1) - np.sum(s**2 / n, axis=-1)
    msb = ss_between / (k - n_groups)
    msw = ss_within / (N - k)
    n0 = (N - np.sum(n2_g / n_g, axis=-1)) / (k - n_groups)
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    return icc, msb, msw, n0


class _Row:
    """A result whose fields are columns of a table row."""

    def as_row(self) -> dict[str, Any]:
        """The fields as a ``dict`` (column name -> value)."""
        return asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass


@dataclass(frozen=True)
class AnovaICC(_Row):
    """One-way ANOVA ICC within groups with Searle's interval (:func:`anova_icc`).

    The estimate and limits may be negative (less variation between clusters than expected by
    chance); they are not truncated. ``msb``, ``msw``: mean squares between and within
    clusters; ``F = msb / msw``; ``n0`` the effective cluster size; ``k`` clusters, ``A``
    groups, ``N`` individuals.
    """

    icc: float
    ci_low: float
    ci_high: float
    msb: float
    msw: float
    F: float
    n0: float
    k: int
    A: int
    N: int


@dataclass(frozen=True)
class AdjustedICC(_Row):
    """ICC of a random-intercept model (:func:`adjusted_icc`); ``at_boundary``: the cluster
    variance was estimated at 0."""

    icc: float
    var_cluster: float
    var_residual: float
    at_boundary: bool


@dataclass(frozen=True)
class ClusterSizes(_Row):
    """Clusters, individuals and the distribution of cluster sizes
    (:func:`cluster_size_summary`)."""

    n_clusters: int
    n_individuals: int
    size_mean: float
    size_sd: float
    size_cv: float
    size_min: float
    size_median: float
    size_max: float


@dataclass(frozen=True)
class DesignEffects(_Row):
    """Design effects for equal and unequal sizes from the ICC truncated at 0
    (:func:`design_effects`)."""

    icc_truncated: float
    deff_equal: float
    deff_unequal: float


def anova_icc(
    y: np.ndarray,
    clusters: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    alpha: float = 0.05,
) -> AnovaICC:
    """One-way ANOVA ICC (within groups, e.g. arms) with Searle's variance-ratio interval.

    Parameters
    ----------
    y : ndarray, shape (N,)
        Observed values (no missing values).
    clusters : ndarray, shape (N,)
        Cluster labels.
    groups : ndarray, shape (N,), optional
        Group (arm) of each row, constant within cluster: the between-cluster mean square is
        taken about each group's mean, with ``k - A`` df. ``None``: one group.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    AnovaICC
    """
    y = np.asarray(y, float)
    if not np.all(np.isfinite(y)):
        raise ValueError("anova_icc: y has missing or infinite values; drop them first")
    codes, k = _codes(clusters)
    group_rows = np.zeros(len(y), int) if groups is None else _codes(groups)[0]
    per_cluster = pd.Series(group_rows).groupby(codes).agg(["min", "max"])
    if (per_cluster["min"] != per_cluster["max"]).any():
        raise ValueError("anova_icc: a cluster spans more than one group")
    group = per_cluster["min"].to_numpy()
    A = int(group.max()) + 1
    if k - A < 1 or len(y) <= k:
        raise ValueError(
            f"anova_icc: need more clusters than groups and more values than clusters "
            f"(got {k} clusters, {A} groups, {len(y)} values)"
        )
    n = np.bincount(codes, minlength=k).astype(float)
    s = np.bincount(codes, weights=y, minlength=k)
    q = np.bincount(codes, weights=y**2, minlength=k)
    # centre first: sums of squares of large values lose precision
    shift = y.mean()
    q = q - 2 * shift * s + n * shift**2
    s = s - n * shift
    icc, msb, msw, n0 = (float(v) for v in _anova_icc_from_sums(n, s, q, group, A))
    N = float(n.sum())
    F = msb / msw
    FL = F / stats.f.ppf(1 - alpha / 2, k - A, N - k)
    FU = F / stats.f.ppf(alpha / 2, k - A, N - k)
    return AnovaICC(
        icc=icc,
        ci_low=(FL - 1) / (FL + n0 - 1),
        ci_high=(FU - 1) / (FU + n0 - 1),
        msb=msb,
        msw=msw,
        F=F,
        n0=n0,
        k=k,
        A=A,
        N=int(N),
    )


def adjusted_icc(y: np.ndarray, X: np.ndarray, clusters: np.ndarray) -> AdjustedICC:
    """ICC of a random-intercept model (REML) with fixed effects ``X``."""
    codes, _ = _codes(clusters)
    fit = fit_random_intercept_arrays(
        np.asarray(y, float), np.asarray(X, float), codes, reml=True, df_method="between-within"
    )
    return AdjustedICC(
        icc=float(fit.icc),
        var_cluster=float(fit.variance_components[0]),
        var_residual=float(fit.variance_components[-1]),
        at_boundary=bool(fit.at_boundary),
    )


def icc_bootstrap(
    y: np.ndarray,
    clusters: np.ndarray,
    *,
    replicates: int,
    seed: int,
    keys: Sequence[object],
    groups: np.ndarray | None = None,
    strata: np.ndarray | None = None,
    X: np.ndarray | None = None,
    alpha: float = 0.05,
) -> tuple[float, float, int]:
    """Stratified cluster bootstrap percentile interval of an ICC.

    Clusters are drawn with replacement within each resampling stratum by the shared cluster
    bootstrap (:mod:`trial.stats.bootstrap`, one stage), replicate ``r`` from
    ``derive_seed(seed, *keys, r)``; a cluster drawn twice enters as two clusters.

    Parameters
    ----------
    y, clusters, groups
        As for :func:`anova_icc`.
    replicates : int
        Number of bootstrap replicates.
    seed : int
        The trial seed.
    keys : sequence
        Names of this bootstrap (e.g. population, outcome, time point and estimator).
    strata : ndarray, shape (N,), optional
        Resampling stratum of each row (constant within cluster; e.g. arm and randomisation
        stratum). Default: ``groups`` (or no stratification without groups).
    X : ndarray, shape (N, p), optional
        Fixed effects: the interval is then of :func:`adjusted_icc`, refitted on every
        replicate (from per-cluster sums, :func:`trial.stats.mixed.fit_random_intercept_sums`);
        otherwise of the within-group ANOVA ICC.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    (float, float, int)
        Lower and upper percentile limits, and the number of replicates that gave an estimate
        (a replicate whose model cannot be fitted, e.g. a rank-deficient design, is left out).
    """
    y = np.asarray(y, float)
    strata = groups if strata is None else strata
    layout = ClusterLayout.from_labels(clusters, strata)
    # the layout codes clusters in sorted label order; the groups follow the same codes
    group_rows = np.zeros(len(y), int) if groups is None else _codes(groups)[0]
    group = pd.Series(group_rows).groupby(layout.cluster).first().to_numpy()
    counts = bootstrap_cluster_counts(layout, range(replicates), seed=seed, keys=keys)
    k = layout.n_clusters
    if X is None:
        # a cluster drawn t times enters t times: repeat each replicate's clusters by count
        n = layout.sizes.astype(float)
        centred = y - y.mean()
        s = np.bincount(layout.cluster, weights=centred, minlength=k)
        q = np.bincount(layout.cluster, weights=centred**2, minlength=k)
        picked = np.stack([np.repeat(np.arange(k), row) for row in counts])
        icc = _anova_icc_from_sums(
            n[picked], s[picked], q[picked], group[picked], int(group.max()) + 1
        )[0]
    else:
        # a replicate is fitted from per-cluster sums, each drawn cluster entering as often as
        # it was drawn (the fit of the resampled rows, in time independent of their number)
        sums = cluster_sums(y, np.asarray(X, float), layout.cluster)
        icc = np.full(replicates, np.nan)
        for b, row in enumerate(counts):
            try:
                icc[b] = fit_random_intercept_sums(sums, row, df_method=None).icc
            except MixedModelError:
                continue
    ok = icc[np.isfinite(icc)]
    lo, hi = np.quantile(ok, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi), int(len(ok))


def cluster_size_summary(sizes: np.ndarray) -> ClusterSizes:
    """Number of clusters and individuals, mean, SD, CV, min, median and max cluster size."""
    m = np.asarray(sizes, float)
    mean = float(m.mean())
    sd = float(m.std(ddof=1)) if len(m) > 1 else 0.0
    return ClusterSizes(
        n_clusters=int(len(m)),
        n_individuals=int(m.sum()),
        size_mean=mean,
        size_sd=sd,
        size_cv=sd / mean,
        size_min=float(m.min()),
        size_median=float(np.median(m)),
        size_max=float(m.max()),
    )


def design_effects(icc: float, sizes: np.ndarray) -> DesignEffects:
    """Design effects for equal and unequal cluster sizes, from the ICC truncated at 0.

    ``1 + (m - 1) ICC+`` and ``1 + ((cv^2 + 1) m - 1) ICC+`` with ``ICC+ = max(ICC, 0)``, ``m``
    the mean size and ``cv`` the coefficient of variation of the sizes (SD with divisor
    ``k - 1``).
    """
    s = cluster_size_summary(sizes)
    m, cv = s.size_mean, s.size_cv
    truncated = max(float(icc), 0.0)
    return DesignEffects(
        icc_truncated=truncated,
        deff_equal=1 + (m - 1) * truncated,
        deff_unequal=1 + ((cv**2 + 1) * m - 1) * truncated,
    )


def _fixed_effects(
    config: Config, table: pd.DataFrame, scale: str, time: str, covariates: bool
) -> pd.DataFrame:
    """Arm(s), strata, covariates and (at follow-up) the baseline value: the analysis model."""
    spec = config if covariates else {**config, "covariates": []}
    X = design_matrix(spec, table, scale)
    if time == "baseline":
        X = X.drop(columns=[baseline_column(scale)])
    return X


def _rows_for(
    config: Config,
    table: pd.DataFrame,
    scale: str,
    time: str,
    *,
    population: str,
    covariates: bool,
    replicates: int,
    alpha: float,
) -> list[dict[str, Any]]:
    design = config["design"]
    cid = design["cluster_id"]
    column = baseline_column(scale) if time == "baseline" else followup_column(scale)
    X = _fixed_effects(config, table, scale, time, covariates)
    blank: dict[str, Any] = {"icc": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    blank.update(ci_method="", n0=math.nan, msb=math.nan, msw=math.nan)
    blank.update(var_cluster=math.nan, var_residual=math.nan, at_boundary=False)
    estimates: dict[str, tuple[pd.Series, dict[str, Any]]] = {}
    for estimator in ESTIMATORS:
        used = table[column].notna()
        Xu = None
        if estimator == "model_adjusted":
            used &= X.notna().all(axis=1)
            present = X[used].loc[:, (X[used] != 0).any(axis=0)]  # a stratum level absent here
            Xu = present.to_numpy(float)
        y = table.loc[used, column].to_numpy(float)
        cl = table.loc[used, cid].to_numpy()
        arm = table.loc[used, design["arm"]].to_numpy()
        if Xu is None:
            res = anova_icc(y, cl, groups=arm, alpha=alpha)
            df_between, df_within = res.k - res.A, res.N - res.k
            values = {
                **blank,
                **{k: getattr(res, k) for k in ("icc", "ci_low", "ci_high", "n0", "msb", "msw")},
                "ci_method": f"Searle variance-ratio, F({df_between}, {df_within}), n0",
            }
        else:
            values = {**blank, **adjusted_icc(y, Xu, cl).as_row()}
        values.update(boot_low=math.nan, boot_high=math.nan, n_boot=0)
        if replicates:
            lo, hi, ok = icc_bootstrap(
                y,
                cl,
                groups=arm,
                strata=allocation_strata(config, table.loc[used]).to_numpy(),
                X=Xu,
                replicates=replicates,
                seed=config["seed"],
                keys=("icc_bootstrap", population, scale, time, estimator),
                alpha=alpha,
            )
            values.update(boot_low=lo, boot_high=hi, n_boot=ok)
        estimates[estimator] = (used, values)

    rows = []
    for estimator, (rows_used, values) in estimates.items():
        sizes = table.loc[rows_used, cid].value_counts().to_numpy()
        rows.append(
            {
                "outcome": scale,
                "label": config["scales"][scale]["label"],
                "population": population,
                "timepoint": time,
                "estimator": estimator,
                **values,
                **cluster_size_summary(sizes).as_row(),
                **design_effects(values["icc"], sizes).as_row(),
            }
        )
    return rows


def icc_table(
    config: Config,
    observed: pd.DataFrame,
    staff: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """ICCs with intervals, cluster sizes and design effects of every outcome and time point.

    Parameters
    ----------
    config : dict
        Trial configuration (``icc.bootstrap`` replicates; ``seed``).
    observed : pandas.DataFrame
        The analysis table before imputation (individual outcomes).
    staff : pandas.DataFrame, optional
        The staff analysis table (staff outcomes; no individual covariates).

    Returns
    -------
    pandas.DataFrame
        One row per population, outcome, time point and estimator (:data:`ESTIMATORS`).
    """
    alpha = config["analysis"]["alpha"]
    reps = int(config.get("icc", {}).get("bootstrap", 0))
    sources: list[tuple[str, pd.DataFrame, Sequence[str], bool]] = [
        ("individuals", observed, outcome_scales(config), True)
    ]
    if staff is not None:
        scales = [o["scale"] for o in config["staff"]["outcomes"]]
        sources.append(("staff", staff, scales, False))
    rows = []
    for population, table, scales, covariates in sources:
        for scale in scales:
            has_baseline = outcome_has_baseline(config, scale)
            for time in ("baseline", "followup") if has_baseline else ("followup",):
                rows += _rows_for(
                    config,
                    table,
                    scale,
                    time,
                    population=population,
                    covariates=covariates,
                    replicates=reps,
                    alpha=alpha,
                )
    return pd.DataFrame(rows)


