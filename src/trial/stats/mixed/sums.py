"""The model with one random intercept fitted from per-cluster sums, for cluster bootstraps.

:func:`cluster_sums` computes each cluster's sufficient statistics once;
:func:`fit_random_intercept_sums` fits a replicate in which each cluster enters any number of
times from those sums, in time proportional to the number of clusters rather than of rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from trial.stats.mixed.checks import _check_method
from trial.stats.mixed.fit import _checked_arrays
from trial.stats.mixed.results import (
    MixedModelArrayFit,
    MixedModelConvergenceWarning,
    MixedModelInputError,
)
from trial.stats.mixed.single import _fit_single_stats, _single_from_sums

__all__ = ["ClusterSums", "cluster_sums", "fit_random_intercept_sums"]


@dataclass(frozen=True, eq=False)
class ClusterSums:
    """Per-cluster sufficient statistics of the model with one random intercept.

    Built by :func:`cluster_sums`; fitted, with each cluster entering any number of times, by
    :func:`fit_random_intercept_sums`. With ``W = [X y]`` (``P = p + 1`` columns):

    Attributes
    ----------
    sizes : numpy.ndarray, shape (J,)
        Observations per cluster.
    sums : numpy.ndarray, shape (J, P)
        Cluster sums of the rows of ``W``.
    grams : numpy.ndarray, shape (J, P * P)
        Each cluster's ``W_j'W_j``, flattened.
    """

    sizes: np.ndarray
    sums: np.ndarray
    grams: np.ndarray


def cluster_sums(y: np.ndarray, X: np.ndarray, clusters: np.ndarray) -> ClusterSums:
    """Per-cluster sufficient statistics of a random-intercept model.

    Parameters
    ----------
    y, X, clusters
        As for :func:`fit_random_intercept_arrays` (no nested term); clusters are numbered by
        their codes in increasing order.

    Returns
    -------
    ClusterSums
    """
    yv, Xv, (codes, J), _ = _checked_arrays(y, X, clusters, None)
    n, p = Xv.shape
    W = np.empty((n, p + 1))
    W[:, :p] = Xv
    W[:, p] = yv
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=J).astype(float)
    bounds = np.concatenate(([0], np.cumsum(sizes))).astype(np.intp)
    Ws = W[order]
    sums = np.add.reduceat(Ws, bounds[:-1], axis=0)
    grams = np.stack([Ws[a:b].T.dot(Ws[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    return ClusterSums(sizes, sums, grams.reshape(J, -1))


def fit_random_intercept_sums(
    sums: ClusterSums,
    counts: np.ndarray | None = None,
    *,
    reml: bool = True,
    df_method: str | None = "kenward-roger",
) -> MixedModelArrayFit:
    """Fit a random-intercept model from per-cluster sums, each cluster entering ``counts`` times.

    The entry point for a cluster bootstrap: a replicate in which cluster ``j`` is drawn
    ``counts[j]`` times is fitted from :func:`cluster_sums` of the original data in time
    proportional to the number of clusters, not of observations. The fit is that of
    :func:`fit_random_intercept_arrays` on the data with every copy of a drawn cluster as a
    cluster of its own (equal up to rounding: sums are added in another order).

    Parameters
    ----------
    sums : ClusterSums
    counts : numpy.ndarray of int, shape (J,), optional
        Times each cluster enters (0 leaves it out). Default: once each.
    reml : bool, default True
    df_method : {"kenward-roger", "satterthwaite"} or None
        Between-within df need the rows (which columns vary within clusters) and are not
        available here. None: the estimates without small-sample inference (``df`` NaN,
        ``cov`` the unadjusted covariance, no contrasts or F tests), for callers that use only
        the estimates, e.g. bootstrap replicates of the ICC (the Kenward-Roger step costs
        about as much as the rest of the fit).

    Returns
    -------
    MixedModelArrayFit

    Raises
    ------
    MixedModelInputError, MixedModelFitError
        As :func:`fit_random_intercept_arrays`.
    """
    if df_method is not None:
        _check_method(reml, df_method)
    if df_method == "between-within":
        raise MixedModelInputError(
            "between-within df need the rows of X; fit with fit_random_intercept_arrays"
        )
    J = sums.sizes.size
    if counts is None:
        picked = np.arange(J)
        gram = sums.grams.sum(axis=0)
    else:
        c = np.asarray(counts)
        if c.shape != (J,) or c.dtype.kind not in "iu" or (c < 0).any():
            raise MixedModelInputError(f"counts must be {J} non-negative integers")
        picked = np.repeat(np.arange(J), c)
        gram = c.dot(sums.grams)
    nj = sums.sizes[picked]
    n = int(nj.sum())
    P = sums.sums.shape[1]
    if picked.size < 2:
        raise MixedModelInputError(
            "at least two clusters are needed to estimate a cluster variance"
        )
    if n <= P:
        raise MixedModelInputError(f"too few observations ({n}) for {P - 1} fixed effects")
    st = _single_from_sums(nj, sums.sums[picked], gram.reshape(P, P), n)
    fit, warn = _fit_single_stats(st, reml, df_method, None)
    if warn is not None:
        warnings.warn(warn, MixedModelConvergenceWarning, stacklevel=2)
    return fit


