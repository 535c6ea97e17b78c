"""Input checks and fit verification shared by the single and nested fits.

Integer codes of cluster labels, the numerical rank of the design, the level at which each
column varies, the df method, and the checks of the score equations and of the gradient that
every fit passes before it is returned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg.lapack import dsyev as _dsyev

from trial.stats.mixed.results import MixedModelFitError, MixedModelInputError

DF_METHODS = ("kenward-roger", "satterthwaite", "between-within")

_LOG_2PI = math.log(2.0 * math.pi)
# lme4's isSingular() tolerance on theta (random-effect sd / residual sd).
_SINGULAR_THETA_TOL = 1e-4
# eigenvalue ratio of the column-scaled X'X below which X counts as rank deficient (a singular
# value ratio of 1e-7, lme4's tolerance)
_RANK_TOL = 1e-14
# reductions without the dispatch of the ndarray methods (these run on small arrays many times)
_add = np.add.reduce
_min = np.minimum.reduce


def _column_levels(Xs: np.ndarray, cstarts: np.ndarray, gstarts: np.ndarray | None) -> np.ndarray:
    """Finest grouping level at which each column of the (sorted) design varies.

    0: constant overall; 1: constant within clusters; 2: constant within nested subgroups
    (nested model only); last level: varies within the finest grouping.
    """
    # relative to each column's own magnitude, so that the unit of a covariate does not matter
    tol = 1e-10 * np.max(np.abs(Xs), axis=0)

    def constant_within(starts: np.ndarray) -> np.ndarray:
        rng = np.maximum.reduceat(Xs, starts, axis=0) - np.minimum.reduceat(Xs, starts, axis=0)
        return np.all(rng <= tol, axis=0)

    overall = (Xs.max(axis=0) - Xs.min(axis=0)) <= tol
    within_c = constant_within(cstarts)
    last = 2 if gstarts is None else 3
    levels = np.full(Xs.shape[1], last)
    if gstarts is not None:
        levels[constant_within(gstarts)] = 2
    levels[within_c] = 1
    levels[overall] = 0
    return levels


def _gram_rank(G: np.ndarray) -> int:
    """Numerical rank of ``X`` from its Gram matrix ``X'X``.

    The columns are scaled to unit length and eigenvalues of the scaled Gram matrix below
    ``_RANK_TOL`` times the largest count as zero: a singular-value ratio of ``1e-7``, the
    tolerance of lme4's rank check of the fixed-effect design. (Working on ``X'X`` avoids a
    factorisation of the ``n x p`` design.)
    """
    dg = G.diagonal()
    if not _min(dg) > 0:
        nonzero = dg > 0
        if not nonzero.any():
            return 0
        G = G[np.ix_(nonzero, nonzero)]
        dg = G.diagonal()
    s = 1.0 / np.sqrt(dg)
    Gs = G * s * s[:, None]
    ev, _, info = _dsyev(Gs, compute_v=0)
    if info != 0:
        ev = np.linalg.eigvalsh(Gs)
    return int(np.count_nonzero(ev > ev[-1] * _RANK_TOL))


def _check_score(score: np.ndarray, scale: np.ndarray) -> None:
    """The fixed effects must solve the GLS normal equations to near machine precision."""
    if np.count_nonzero(np.abs(score) > 1e-8 * (scale + 1e-300)):
        raise MixedModelFitError("fixed effects do not solve the GLS normal equations")


def _check_gradient(
    g: Sequence[float], gam: Sequence[float], boundary: Sequence[bool], J: int, n: int
) -> str | None:
    """Check the (projected) gradient of the criterion in the variance ratios at the optimum.

    Raises :class:`MixedModelFitError` when it is clearly not zero; returns a warning message
    when it passes only the loose tolerance, else ``None``.
    """
    worst = 0.0
    for gr, ga, bd in zip(g, gam, boundary, strict=True):
        if bd:
            if gr < -1e-6 * (1.0 + n):
                raise MixedModelFitError(
                    "a variance component was set to zero although the criterion decreases "
                    "away from zero"
                )
            continue
        worst = max(worst, abs(float(gr)) * max(float(ga), 1e-8) / (1.0 + J))
    if worst > 1e-3:
        raise MixedModelFitError(f"gradient at the optimum is not zero (scaled {worst:.2e})")
    if worst > 1e-6:
        return f"mixed model optimum verified only to a scaled gradient of {worst:.2e}"
    return None


def _codes(labels: Any, n: int, what: str) -> tuple[np.ndarray, int]:
    """Integer codes ``0..J-1`` of arbitrary hashable labels, and ``J``."""
    if isinstance(labels, pd.Series | pd.Index):
        # factorising the NumPy values is much faster than an Arrow-backed Series
        labels = labels.to_numpy()
    elif not isinstance(labels, np.ndarray):
        labels = np.asarray(labels, dtype=object)
    if labels.ndim != 1:
        raise MixedModelInputError(f"{what} must be one-dimensional")
    if labels.shape[0] != n:
        raise MixedModelInputError(f"{what} has length {labels.shape[0]} but y has length {n}")
    if labels.dtype.kind in "iu":
        return _int_codes(labels, what)
    codes, uniques = pd.factorize(labels, sort=False, use_na_sentinel=True)
    if codes.size and codes.min() < 0:
        raise MixedModelInputError(f"{what} contains missing labels")
    return codes.astype(np.intp, copy=False), len(uniques)


def _int_codes(codes: np.ndarray, what: str, negative: bool = True) -> tuple[np.ndarray, int]:
    """Dense codes ``0..J-1`` (in increasing order of the given integers), and ``J``.

    With ``negative=False`` negative integers are rejected.
    """
    if codes.size == 0:
        return codes.astype(np.intp), 0
    lo, hi = int(_min(codes)), int(np.maximum.reduce(codes))
    if lo < 0 and not negative:
        raise MixedModelInputError(f"{what} contains negative codes")
    if lo >= 0 and hi < 2 * codes.size + 64:
        codes = codes.astype(np.intp, copy=False)
        present = np.bincount(codes) > 0
        if np.count_nonzero(present) == present.size:
            return codes, hi + 1
        dense = np.cumsum(present) - 1
        return dense[codes], int(dense[-1]) + 1
    uniques, inverse = np.unique(codes, return_inverse=True)
    return inverse.astype(np.intp, copy=False).reshape(-1), int(uniques.size)


def _check_method(reml: bool, df_method: str) -> None:
    if df_method not in DF_METHODS:
        raise MixedModelInputError(f"df_method must be one of {DF_METHODS}, got {df_method!r}")
    if df_method == "kenward-roger" and not reml:
        raise MixedModelInputError(
            "Kenward-Roger df are defined for REML fits only (as in lmerTest); use reml=True "
            "or another df_method"
        )
