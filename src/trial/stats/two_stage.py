"""Stage 2 of Hayes and Moulton's two-stage cluster-level analysis: arms compared on cluster means.

Hayes and Moulton (2017, *Cluster Randomised Trials*, 2nd ed.): stage 1 (in the analyses that
use it) regresses the individual values on the covariates without arm; stage 2 compares the
arms' cluster means of the residuals with a t test (:func:`cluster_level_fit`), whose df are
reduced by the cluster-level parameters stage 1 estimated (:func:`two_stage_df`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ClusterLevelFit", "cluster_level_fit", "two_stage_df"]


@dataclass(frozen=True)
class ClusterLevelFit:
    """A difference between arms in (weighted) cluster means, with its t reference.

    Attributes
    ----------
    estimate : float
        Treatment minus reference.
    variance : float
        Its variance (two-sample, pooled, divisor ``G - 2``).
    df : float
        Degrees of freedom of the t reference.
    """

    estimate: float
    variance: float
    df: float

    @property
    def se(self) -> float:
        """Standard error: the square root of :attr:`variance`."""
        return math.sqrt(self.variance)


def cluster_level_fit(
    means: np.ndarray,
    treated: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    df: float | None = None,
) -> ClusterLevelFit:
    """Difference in (weighted) cluster means between two arms, with a t reference.

    Parameters
    ----------
    means : ndarray, shape (G,)
        One value per cluster (its mean outcome, or its mean stage-1 residual).
    treated : ndarray, shape (G,)
        1 for treatment clusters, 0 for reference clusters.
    weights : ndarray, shape (G,), optional
        Weights (e.g. cluster sizes) of a weighted least-squares regression of the mean on arm;
        ``None`` gives the ordinary two-sample t test with pooled variance.
    df : float, optional
        Degrees of freedom of the t reference. The variance is always the two-sample (pooled,
        divisor ``G - 2``) variance; ``df`` lowers only the reference distribution's df, as for
        Hayes and Moulton's two-stage analysis. Default ``G - 2``.

    Returns
    -------
    ClusterLevelFit
    """
    y = np.asarray(means, float)
    t = np.asarray(treated, float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, float)
    X = np.column_stack([np.ones_like(y), t])
    XtW = X.T * w
    beta = np.linalg.solve(XtW @ X, XtW @ y)
    resid = y - X @ beta
    sigma2 = float(np.sum(w * resid**2) / (len(y) - 2))
    cov = sigma2 * np.linalg.inv(XtW @ X)
    return ClusterLevelFit(
        estimate=float(beta[1]),
        variance=float(cov[1, 1]),
        df=float(len(y) - 2 if df is None else df),
    )


def two_stage_df(n_clusters: int, cluster_level_parameters: int, n_arms: int = 2) -> int:
    """Hayes and Moulton's df of a two-stage cluster-level comparison.

    The two-sample t test's ``G - A`` df less one for each cluster-level parameter of stage 1
    other than the intercept: ``G - A + 1 - p``, with ``p`` the stage-1 parameters constant
    within clusters (intercept and ``S - 1`` stratum dummies, so ``G - S - A + 1`` with strata
    only). Individual-level covariates such as the baseline value cost none.
    """
    return int(n_clusters - n_arms + 1 - cluster_level_parameters)
