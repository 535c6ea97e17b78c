"""Instrumental-variable estimators of the effect of the treatment received, with clusters.

Randomised allocation is the instrument for the treatment received (a 0/1 receipt or a dose),
both constant within clusters in a cluster-randomised trial:

* :func:`two_stage_least_squares`: two-stage least squares on individuals with a cluster-robust
  covariance (linearmodels ``IV2SLS``, ``cov_type="clustered"``, ``debiased=True``), t on
  clusters minus cluster-level parameters;
* :func:`cluster_level_iv`: two-stage least squares on one row per cluster (e.g. the
  cluster-mean residuals of a two-stage analysis), model-based covariance;
* :func:`iv_bootstrap`: cluster bootstrap replicates of either, every replicate refitting the
  whole estimator.

The analyses that choose the treatment received and the instrument, and what the estimates
mean, are in :mod:`trial.analyses.participation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.stats.bootstrap import ClusterLayout, bootstrap_cluster_counts

__all__ = [
    "METHODS",
    "RECEIVED",
    "IVFit",
    "IVIdentificationError",
    "cluster_level_iv",
    "iv_bootstrap",
    "two_stage_least_squares",
]

RECEIVED = "received"  # term name of the treatment received in the instrumental-variable models
#: The estimators :func:`iv_bootstrap` can replicate.
METHODS = ("2sls", "cluster_level")


class IVIdentificationError(ValueError):
    """The instrument does not move the treatment received: the effect is not identified."""


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


def _constant_within(values: np.ndarray, codes: np.ndarray) -> bool:
    """Whether ``values`` is constant within each group of ``codes`` (0..G-1, none missing)."""
    first = np.zeros(codes.max() + 1, dtype=values.dtype)
    first[codes[::-1]] = values[::-1]  # each group's first value (the last write wins)
    return bool((values == first[codes]).all())


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
    # linearmodels' 2SLS estimator and clustered covariance are called directly rather than
    # through IV2SLS(...).fit(): the fit also builds a results object (labelled residual and
    # fitted series, R-squared, F test, the LIML kappa for the overidentification tests) that
    # is not used here and took most of the time of each fit on large trials. The arrays and
    # arguments are those fit() passes (unit weights, kappa 1), so the numbers are the same.
    from linearmodels.iv import IV2SLS
    from linearmodels.iv.covariance import ClusteredCovariance

    codes = pd.factorize(pd.Series(clusters))[0]
    W = exog.to_numpy(float)
    X = np.column_stack([W, received.astype(float)])
    Z = np.column_stack([W, instrument.astype(float)])
    for matrix, name in ((X, "regressors (exogenous, received)"), (Z, "instruments")):
        if np.linalg.matrix_rank(matrix) < matrix.shape[1]:
            raise ValueError(f"two-stage least squares: the {name} do not have full column rank")
    y2 = np.asarray(y, float)[:, None]
    params = IV2SLS.estimate_parameters(X, y2, Z, 1)
    cov = ClusteredCovariance(X, y2, Z, params, clusters=codes, debiased=True, kappa=1).cov
    if df is None:
        level = [j for j in range(W.shape[1]) if _constant_within(W[:, j], codes)]
        df = float(len(np.unique(codes)) - len(level) - 1)
    estimate = float(params[-1, 0])
    se = float(np.sqrt(cov[-1, -1]))
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
        raise IVIdentificationError(
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
    :func:`trial.stats.bootstrap.bootstrap_cluster_counts`; replicate ``r`` draws from
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
        The estimator (:data:`METHODS`).
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
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, not {method!r}")
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
        # bincount adds the rows in order, as np.add.at does (the same sums), many times faster
        flat = values.reshape(len(values), -1)
        sums = [np.bincount(code, weights=flat[:, k], minlength=J) for k in range(flat.shape[1])]
        return np.stack(sums, axis=1).reshape(J, *values.shape[1:])

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
