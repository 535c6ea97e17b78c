"""Cluster bootstraps for cluster-randomised trials: one-stage and two-stage with shrinkage.

A bootstrap replicate is represented by a vector of **frequency weights**, one per individual:
how many times the individual's row enters the resampled data set. Every estimator used here
(weighted least squares) then needs only ``w' f(x)`` sums, so thousands of replicates are a few
matrix products (:func:`weighted_ols_coefficient`).

Resampling schemes (Davison and Hinkley 1997, section 3.8, "strategies" for hierarchical data):

``"cluster"`` (one stage)
    Clusters are drawn with replacement, separately within each resampling group (e.g. arm x
    randomisation stratum, so every replicate keeps the design's allocation); every individual of
    a drawn cluster enters once per draw. This is the plain cluster bootstrap, and the special
    case checked against R's ``boot`` package (``boot(..., strata = group)`` on cluster rows).
``"two-stage"``
    Clusters are drawn as above, then individuals are drawn with replacement within each drawn
    cluster (as many as the cluster has). Drawing at both stages counts the within-cluster
    variance twice (once through the spread of the cluster means, once through the second
    stage), so the data are first **shrunk** (Davison and Hinkley 1997; Gomes et al 2012):

    .. math::

        \\tilde y_{ij} = m_g + c\\,(\\bar y_i - m_g) + d\\,(y_{ij} - \\bar y_i),

    with ``m_g`` the (individual-weighted) mean of the cluster's resampling group, ``ybar_i`` the
    cluster mean, and ``c``, ``d`` chosen so that the bootstrap distribution reproduces the
    moment (one-way ANOVA) estimates of the between- and within-cluster variance, pooled over
    groups: ``d^2 = N / (N - J)`` (so the mean squared within-cluster residual equals the
    within-cluster mean square) and ``c^2 = sigma_b^2 / S_b`` with ``S_b`` the mean squared
    deviation of cluster means from their group mean and
    ``sigma_b^2 = max(0, (MSB - MSW) / n_0)``. For equal cluster sizes this is Davison and
    Hinkley's choice; ``c = 0`` when the between-cluster variance is estimated as zero. For a
    regression estimator the factors are estimated from the residuals of the fitted model and
    applied to the outcome and the covariates alike (so the fitted relation is kept and the
    residual's between- and within-cluster variances are reproduced); the same draws are used
    for all columns. Shrinkage keeps each group's mean.

Reproducibility: replicate ``r`` draws from a generator seeded by
``trial.seeding.derive_seed(seed, *keys, r)``, so it is the same whichever replicates are
computed together, in any order, in any number of chunks.

References
----------
Davison AC, Hinkley DV (1997). Bootstrap Methods and their Application. Cambridge University
Press, section 3.8.
Gomes M, Grieve R, Nixon R, Ng ES-W, Carpenter J, Thompson SG (2012). Methods for covariate
adjustment in cost-effectiveness analysis that use cluster randomised trials. Health Economics
21:1101-1118; Gomes M, Ng ES-W, Grieve R, Nixon R, Carpenter J, Thompson SG (2012). Developing
appropriate methods for cost-effectiveness analysis of cluster randomized trials. Medical
Decision Making 32:350-361.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from trial.progress import progress
from trial.seeding import derive_rng

__all__ = [
    "ClusterLayout",
    "Resampling",
    "ShrinkageFactors",
    "bootstrap_cluster_counts",
    "bootstrap_weights",
    "cluster_draw_counts",
    "replicate_weights",
    "shrink_two_stage",
    "shrinkage_factors",
    "weighted_ols_coefficient",
]

Resampling = Literal["cluster", "two-stage"]


class BootstrapInputError(ValueError):
    """The data cannot be bootstrapped as asked (e.g. a group with a single cluster)."""


@dataclass(frozen=True)
class ClusterLayout:
    """Who belongs to which cluster and which cluster to which resampling group.

    Build it with :meth:`from_labels`.

    Attributes
    ----------
    cluster : numpy.ndarray of int, shape (n,)
        Cluster code (0..J-1) of each individual.
    group : numpy.ndarray of int, shape (J,)
        Resampling-group code of each cluster (clusters are drawn within groups).
    sizes : numpy.ndarray of int, shape (J,)
        Individuals per cluster.
    members : numpy.ndarray of int, shape (n,)
        Individual indices ordered by cluster.
    member_start : numpy.ndarray of int, shape (J,)
        Position in ``members`` of each cluster's first individual.
    slot_start, slot_size : numpy.ndarray of int, shape (J,)
        For the ``J`` cluster draws of a replicate (one per cluster slot, slots ordered by
        group), the first position in ``group_order`` of the slot's group and its group size.
    group_order : numpy.ndarray of int, shape (J,)
        Cluster codes ordered by group.
    """

    cluster: np.ndarray
    group: np.ndarray
    sizes: np.ndarray
    members: np.ndarray
    member_start: np.ndarray
    slot_start: np.ndarray
    slot_size: np.ndarray
    group_order: np.ndarray

    @property
    def n(self) -> int:
        """Number of individuals."""
        return int(self.cluster.size)

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return int(self.sizes.size)

    @classmethod
    def from_labels(
        cls,
        clusters: Sequence[Hashable] | np.ndarray | pd.Series,
        groups: Sequence[Hashable] | np.ndarray | pd.Series | None = None,
    ) -> ClusterLayout:
        """Layout from per-individual cluster labels and (optional) resampling-group labels.

        Parameters
        ----------
        clusters : array-like, shape (n,)
            Cluster label of each individual.
        groups : array-like, shape (n,), optional
            Resampling group of each individual (e.g. arm and stratum); must be constant within
            a cluster. Without it, all clusters form one group.

        Raises
        ------
        BootstrapInputError
            A group label varies within a cluster, or a group holds fewer than two clusters.
        """
        # factorised as arrays: a Series of text labels would first be converted to a string
        # column, which cost more than the rest of the layout (the codes are the same)
        cluster_codes, cluster_labels = pd.factorize(np.asarray(clusters), sort=True)
        n = cluster_codes.size
        if n == 0 or (cluster_codes < 0).any():
            raise BootstrapInputError("cluster labels must be present for every individual")
        J = cluster_labels.size
        if groups is None:
            group_codes = np.zeros(n, dtype=np.int64)
        else:
            group_codes, _ = pd.factorize(np.asarray(groups), sort=True)
            if (group_codes < 0).any():
                raise BootstrapInputError("resampling-group labels must be present for everyone")
        group = np.zeros(J, dtype=np.int64)
        group[cluster_codes[::-1]] = group_codes[::-1]  # each cluster's first group code
        varies = np.bincount(cluster_codes, weights=group[cluster_codes] != group_codes) > 0
        if varies.any():
            bad = [str(cluster_labels[c]) for c in np.flatnonzero(varies)]
            raise BootstrapInputError(f"resampling group varies within cluster(s) {bad}")
        group_sizes = np.bincount(group)
        if (group_sizes[group_sizes > 0] < 2).any():
            raise BootstrapInputError(
                "every resampling group needs at least two clusters to be resampled; "
                f"clusters per group: {group_sizes.tolist()}"
            )
        sizes = np.bincount(cluster_codes, minlength=J)
        members = np.argsort(cluster_codes, kind="stable")
        member_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        group_order = np.argsort(group, kind="stable")
        first_of_group = np.concatenate([[0], np.cumsum(group_sizes)[:-1]])
        slot_group = group[group_order]
        return cls(
            cluster=cluster_codes.astype(np.int64),
            group=group,
            sizes=sizes,
            members=members,
            member_start=member_start,
            slot_start=first_of_group[slot_group],
            slot_size=group_sizes[slot_group],
            group_order=group_order,
        )

    def group_of_individual(self) -> np.ndarray:
        """Resampling-group code of each individual."""
        return self.group[self.cluster]


@dataclass(frozen=True)
class ShrinkageFactors:
    """Shrinkage factors of one column and the variance components they reproduce.

    Attributes
    ----------
    c, d : float
        Factors applied to cluster-mean deviations and within-cluster residuals.
    sigma2_between, sigma2_within : float
        Moment estimates of the between- and within-cluster variance (pooled over groups).
    """

    c: float
    d: float
    sigma2_between: float
    sigma2_within: float


def shrinkage_factors(values: np.ndarray, layout: ClusterLayout) -> ShrinkageFactors:
    """Two-stage bootstrap shrinkage factors of one column (see the module docstring).

    Parameters
    ----------
    values : numpy.ndarray, shape (n,)
        The column, complete.
    layout : ClusterLayout
        Clusters and resampling groups.

    Returns
    -------
    ShrinkageFactors
    """
    y = np.asarray(values, dtype=float)
    n_i = layout.sizes.astype(float)
    N, J = float(layout.n), layout.n_clusters
    G = int(np.unique(layout.group).size)
    cluster_mean = np.bincount(layout.cluster, weights=y, minlength=J) / n_i
    group_total = np.bincount(layout.group, weights=cluster_mean * n_i)
    group_n = np.bincount(layout.group, weights=n_i)
    group_mean = group_total / group_n
    dev = cluster_mean - group_mean[layout.group]
    ssw = float(np.sum((y - cluster_mean[layout.cluster]) ** 2))
    ssb = float(np.sum(n_i * dev**2))
    msw = ssw / (N - J) if N > J else 0.0
    msb = ssb / (J - G)
    n0 = (N - float(np.sum(n_i**2 / group_n[layout.group]))) / (J - G)
    sigma2_b = max(0.0, (msb - msw) / n0)
    s_b = float(np.mean(dev**2))
    c = float(np.sqrt(sigma2_b / s_b)) if s_b > 0 else 0.0
    d = float(np.sqrt(N / (N - J))) if N > J else 1.0
    return ShrinkageFactors(c=c, d=d, sigma2_between=sigma2_b, sigma2_within=msw)


def shrink_two_stage(
    values: np.ndarray | pd.DataFrame,
    layout: ClusterLayout,
    factors: ShrinkageFactors | None = None,
) -> np.ndarray:
    """Shrunk copy of the data for the two-stage bootstrap.

    Parameters
    ----------
    values : array-like, shape (n,) or (n, k)
        Columns to shrink (outcomes and the covariates that vary within clusters).
    layout : ClusterLayout
    factors : ShrinkageFactors, optional
        Common factors for every column. For a regression, pass the factors of its residuals
        (:func:`shrinkage_factors` of ``y - X beta``): shrinking outcome and covariates alike
        keeps their regression and shrinks exactly the residual's cluster structure, which is
        what the coefficient's variance depends on. Without it each column gets its own.

    Returns
    -------
    numpy.ndarray
        Same shape as ``values``: ``m_g + c (ybar_i - m_g) + d (y_ij - ybar_i)`` per column.
    """
    array = np.asarray(values, dtype=float)
    flat = array.ndim == 1
    columns = array[:, None] if flat else array
    if not np.all(np.isfinite(columns)):
        raise BootstrapInputError("values to shrink must be complete and finite")
    out = np.empty_like(columns)
    n_i = layout.sizes.astype(float)
    for k in range(columns.shape[1]):
        y = columns[:, k]
        f = factors if factors is not None else shrinkage_factors(y, layout)
        cluster_mean = np.bincount(layout.cluster, weights=y, minlength=layout.n_clusters) / n_i
        group_mean = np.bincount(layout.group, weights=cluster_mean * n_i) / np.bincount(
            layout.group, weights=n_i
        )
        m = group_mean[layout.group][layout.cluster]
        ybar = cluster_mean[layout.cluster]
        out[:, k] = m + f.c * (ybar - m) + f.d * (y - ybar)
    return out[:, 0] if flat else out


def _cluster_draws(rng: np.random.Generator, layout: ClusterLayout) -> np.ndarray:
    """Stage 1: times each cluster is drawn, as many draws within each group as it has."""
    u = rng.random(layout.n_clusters)
    picked = layout.group_order[layout.slot_start + (u * layout.slot_size).astype(np.int64)]
    return np.bincount(picked, minlength=layout.n_clusters)


def replicate_weights(
    rng: np.random.Generator, layout: ClusterLayout, resampling: Resampling
) -> np.ndarray:
    """Frequency weights of one bootstrap replicate.

    Parameters
    ----------
    rng : numpy.random.Generator
        The replicate's own generator.
    layout : ClusterLayout
    resampling : {"cluster", "two-stage"}

    Returns
    -------
    numpy.ndarray of int, shape (n,)
        Times each individual enters the replicate.
    """
    draws = _cluster_draws(rng, layout)
    if resampling == "cluster":
        return draws[layout.cluster]
    if resampling != "two-stage":
        raise BootstrapInputError(
            f"resampling must be 'cluster' or 'two-stage', not {resampling!r}"
        )
    # stage 2: each draw of cluster i takes n_i individuals of i with replacement
    cluster_of_draw = np.repeat(np.arange(layout.n_clusters), draws * layout.sizes)
    u2 = rng.random(cluster_of_draw.size)
    position = layout.member_start[cluster_of_draw] + (u2 * layout.sizes[cluster_of_draw]).astype(
        np.int64
    )
    return np.bincount(layout.members[position], minlength=layout.n)


def bootstrap_weights(
    layout: ClusterLayout,
    replicates: Iterable[int],
    *,
    seed: int,
    keys: Sequence[object],
    resampling: Resampling,
    dtype: type = np.int64,
) -> np.ndarray:
    """Frequency weights of the named replicates, each from its own derived generator.

    Parameters
    ----------
    layout : ClusterLayout
    replicates : iterable of int
        Replicate numbers (e.g. one chunk's range).
    seed : int
        The trial seed.
    keys : sequence
        Names of the bootstrap (e.g. ``("cost_bootstrap", imputation)``); replicate ``r`` uses
        ``derive_seed(seed, *keys, r)``.
    resampling : {"cluster", "two-stage"}
    dtype : numpy dtype, default int64
        Of the result: ``float`` for weights that enter a matrix product (as in
        :func:`weighted_ols_coefficient`) saves converting a replicates x individuals matrix.

    Returns
    -------
    numpy.ndarray of ``dtype``, shape (len(replicates), n)
    """
    replicates = list(replicates)
    out = np.empty((len(replicates), layout.n), dtype=dtype)
    for b, r in enumerate(progress(replicates, "bootstrap draws")):
        out[b] = replicate_weights(derive_rng(seed, *keys, r), layout, resampling)
    return out


def bootstrap_cluster_counts(
    layout: ClusterLayout, replicates: Iterable[int], *, seed: int, keys: Sequence[object]
) -> np.ndarray:
    """Times each cluster is drawn in the named one-stage (``"cluster"``) replicates.

    The draws of :func:`bootstrap_weights` with ``resampling="cluster"`` (same generators), per
    cluster rather than per individual: :func:`cluster_draw_counts` of those weights, without
    forming a replicates x individuals matrix.

    Returns
    -------
    numpy.ndarray of int, shape (len(replicates), J)
        Column ``j`` is cluster code ``j`` of the layout.
    """
    rows = [
        _cluster_draws(derive_rng(seed, *keys, r), layout)
        for r in progress(replicates, "bootstrap draws")
    ]
    if not rows:
        return np.zeros((0, layout.n_clusters), dtype=np.int64)
    return np.vstack(rows)


def weighted_ols_coefficient(
    y: np.ndarray, X: np.ndarray, weights: np.ndarray, column: int
) -> np.ndarray:
    """One coefficient of a frequency-weighted least-squares fit, for many weight vectors.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
    X : numpy.ndarray, shape (n, p)
        Design matrix (with an intercept column if wanted).
    weights : numpy.ndarray, shape (B, n) or (n,)
        Frequency weights, one row per replicate.
    column : int
        Index of the coefficient in ``X``.

    Returns
    -------
    numpy.ndarray, shape (B,) (or a float array of shape () for one weight vector)
        ``[(X'WX)^{-1} X'Wy]_column`` per row of ``weights``; NaN where ``X'WX`` is singular.
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    W = np.asarray(weights, dtype=float)
    single = W.ndim == 1
    W = np.atleast_2d(W)
    n, p = X.shape
    outer = (X[:, :, None] * X[:, None, :]).reshape(n, p * p)
    xtx = (W @ outer).reshape(-1, p, p)
    xty = W @ (X * y[:, None])
    result = np.full(W.shape[0], np.nan)
    ok = np.linalg.matrix_rank(xtx) == p
    if ok.any():
        result[ok] = np.linalg.solve(xtx[ok], xty[ok][..., None])[:, column, 0]
    return result[0] if single else result


def cluster_draw_counts(layout: ClusterLayout, weights: np.ndarray) -> np.ndarray:
    """Times each cluster was drawn in each replicate, from one-stage frequency weights.

    Parameters
    ----------
    layout : ClusterLayout
    weights : numpy.ndarray, shape (B, n)
        Frequency weights of ``B`` one-stage (``"cluster"``) replicates, as from
        :func:`bootstrap_weights`: every individual of a cluster carries its cluster's count.

    Returns
    -------
    numpy.ndarray of int, shape (B, J)
        Column ``j`` is cluster code ``j`` of the layout.
    """
    return np.asarray(weights)[:, layout.members[layout.member_start]]
