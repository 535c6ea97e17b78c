"""Stratified re-randomisation (permutation) test of a difference in mean cluster values.

The null distribution is the set of allocations the randomisation could have produced: the
observed number of treatment clusters in every stratum. The p-value is exact when every
allocation is enumerated (as a convolution of per-stratum sums, when there are at most
``max_enumerated``); otherwise allocations are sampled and the p-value is a Monte Carlo
estimate reported with its Monte Carlo SE.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["PermutationResult", "stratified_permutation_test"]


@dataclass(frozen=True, eq=False)
class PermutationResult:
    """Summary of a stratified re-randomisation test.

    Attributes
    ----------
    statistic : float
        The observed statistic.
    p : float
        Two-sided p-value.
    method : str
        ``"exact"`` when every allocation was enumerated, ``"monte_carlo"`` when allocations
        were sampled.
    n_allocations : int
        Allocations enumerated or sampled.
    mc_se : float
        Monte Carlo SE of ``p``: 0 when exact, ``sqrt(p (1 - p) / n_allocations)`` when sampled.
    null : numpy.ndarray
        The statistic under every enumerated (or sampled) allocation.
    """

    statistic: float
    p: float
    method: str
    n_allocations: int
    mc_se: float
    null: np.ndarray


def _allocation_count(strata: np.ndarray, treated: np.ndarray) -> int:
    count = 1
    for s in np.unique(strata):
        in_s = strata == s
        count *= math.comb(int(in_s.sum()), int(treated[in_s].sum()))
    return count


def stratified_permutation_test(
    values: np.ndarray,
    strata: np.ndarray,
    treated: np.ndarray,
    *,
    max_enumerated: int,
    permutations: int,
    rng: np.random.Generator,
) -> PermutationResult:
    """Re-randomisation test of the difference in mean cluster values between arms.

    The statistic is ``mean(values[treated]) - mean(values[~treated])``; the allocations are
    those with the observed number of treatment clusters in every stratum.

    Parameters
    ----------
    values : ndarray, shape (G,)
        One value per cluster (e.g. its mean covariate-adjusted residual).
    strata : ndarray, shape (G,)
        Randomisation stratum of each cluster.
    treated : ndarray of bool or 0/1, shape (G,)
        Observed allocation.
    max_enumerated : int
        Enumerate all allocations exactly when there are at most this many.
    permutations : int
        Number of sampled allocations otherwise (p = (1 + #extreme) / (1 + permutations)).
    rng : numpy.random.Generator
        Source of the sampled allocations.

    Returns
    -------
    PermutationResult
    """
    v = np.asarray(values, float)
    s = np.asarray(strata)
    t = np.asarray(treated).astype(bool)
    n1, n0 = int(t.sum()), int((~t).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError("both arms need at least one cluster for a re-randomisation test")
    total = float(v.sum())
    observed = float(v[t].mean() - v[~t].mean())
    tol = 1e-9 * max(1.0, float(np.abs(v).max()))
    count = _allocation_count(s, t)
    if count <= max_enumerated:
        sums = np.zeros(1)
        for level in np.unique(s):
            idx = np.flatnonzero(s == level)
            k = int(t[idx].sum())
            combos = np.array(list(itertools.combinations(range(len(idx)), k)), dtype=int)
            part = v[idx][combos].sum(axis=1) if k else np.zeros(1)
            sums = (sums[:, None] + part[None, :]).ravel()
        null = sums / n1 - (total - sums) / n0
        p = float(np.mean(np.abs(null) >= abs(observed) - tol))
        return PermutationResult(
            statistic=observed,
            p=p,
            method="exact",
            n_allocations=int(len(null)),
            mc_se=0.0,
            null=null,
        )
    null = np.empty(permutations)
    groups = [np.flatnonzero(s == level) for level in np.unique(s)]
    for b in range(permutations):
        alloc = np.zeros(len(v), bool)
        for idx in groups:
            alloc[rng.permutation(idx)[: int(t[idx].sum())]] = True
        null[b] = v[alloc].mean() - v[~alloc].mean()
    p = float((1 + np.sum(np.abs(null) >= abs(observed) - tol)) / (1 + permutations))
    return PermutationResult(
        statistic=observed,
        p=p,
        method="monte_carlo",
        n_allocations=permutations,
        mc_se=math.sqrt(p * (1 - p) / permutations),
        null=null,
    )
