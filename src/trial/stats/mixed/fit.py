"""The public entry points: check the inputs, then fit the single or nested model."""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

from trial.stats.mixed.checks import _add, _check_method, _codes, _int_codes
from trial.stats.mixed.nested import _fit_nested
from trial.stats.mixed.results import (
    MixedModelArrayFit,
    MixedModelConvergenceWarning,
    MixedModelInputError,
)
from trial.stats.mixed.single import _fit_single
from trial.stats.mixed.view import MixedModelFit

__all__ = ["fit_random_intercept_arrays", "fit_random_intercept_model"]


def _fit(
    y: np.ndarray,
    X: np.ndarray,
    ccode: np.ndarray,
    J: int,
    gcode: np.ndarray | None,
    reml: bool,
    df_method: str,
) -> MixedModelArrayFit:
    """Fit on validated arrays; issues the convergence warning to the caller's caller."""
    n, p = X.shape
    if J < 2:
        raise MixedModelInputError(
            "at least two clusters are needed to estimate a cluster variance"
        )
    if n <= p + 1:
        raise MixedModelInputError(f"too few observations ({n}) for {p} fixed effects")
    if gcode is None:
        fit, warn = _fit_single(y, X, ccode, J, reml, df_method)
    else:
        fit, warn = _fit_nested(y, X, ccode, J, gcode, reml, df_method)
    if warn is not None:
        warnings.warn(warn, MixedModelConvergenceWarning, stacklevel=3)
    return fit


def fit_random_intercept_arrays(
    y: np.ndarray,
    X: np.ndarray,
    clusters: np.ndarray,
    *,
    nested: np.ndarray | None = None,
    reml: bool = True,
    df_method: str = "kenward-roger",
) -> MixedModelArrayFit:
    """Fit a random-intercept linear mixed model on plain arrays.

    The lean entry point: no labels and no pandas objects, for callers that fit many models
    (imputations, outcomes, bootstrap or simulation replicates). The model, estimates and
    degrees of freedom are those of :func:`fit_random_intercept_model`.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
        Outcome.
    X : numpy.ndarray, shape (n, p)
        Fixed-effect design, including an intercept column if one is wanted. Must have full
        column rank.
    clusters : numpy.ndarray of int, shape (n,)
        Non-negative integer cluster codes (random intercept ``(1 | cluster)``); codes that do
        not occur are ignored, so any non-negative integer identifiers may be used.
    nested : numpy.ndarray of int, shape (n,), optional
        Integer codes of a second random intercept nested within cluster
        (``(1 | cluster:nested)``), interpreted within cluster.
    reml : bool, default True
        REML (default) or maximum likelihood.
    df_method : {"kenward-roger", "satterthwaite", "between-within"}
        Denominator df method (see the module docstring).

    Returns
    -------
    MixedModelArrayFit

    Raises
    ------
    MixedModelInputError
        Mismatched shapes, missing or infinite values, non-integer or negative codes, a
        rank-deficient ``X``, fewer than two clusters, too few observations, or an unknown
        ``df_method``.
    MixedModelFitError
        The optimum could not be found or verified.
    """
    _check_method(reml, df_method)
    yv, Xv, (ccode, J), (gcode, _) = _checked_arrays(y, X, clusters, nested)
    return _fit(yv, Xv, ccode, J, gcode, reml, df_method)


def _checked_arrays(
    y: np.ndarray, X: np.ndarray, clusters: np.ndarray, nested: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, int], tuple[np.ndarray | None, int]]:
    """Outcome and design as float arrays, dense cluster (and nested) codes with their counts."""
    yv = np.asarray(y, dtype=float)
    Xv = np.asarray(X, dtype=float)
    if yv.ndim != 1:
        raise MixedModelInputError("y must be one-dimensional")
    n = yv.shape[0]
    if Xv.ndim != 2 or Xv.shape[0] != n:
        raise MixedModelInputError(f"X must have shape ({n}, p), got {Xv.shape}")
    if Xv.shape[1] == 0:
        raise MixedModelInputError("X has no columns")
    # a sum is finite when every term is (it may also overflow, then check term by term)
    if not (math.isfinite(_add(yv)) and math.isfinite(_add(Xv, axis=None))):
        if not np.isfinite(yv).all():
            raise MixedModelInputError("y contains missing or infinite values")
        if not np.isfinite(Xv).all():
            bad = np.flatnonzero(~np.all(np.isfinite(Xv), axis=0)).tolist()
            raise MixedModelInputError(f"X contains missing or infinite values in columns {bad}")
    codes = []
    for what, c in (("clusters", clusters), ("nested", nested)):
        if c is None:
            codes.append((None, 0))
            continue
        c = np.asarray(c)
        if c.ndim != 1 or c.shape[0] != n:
            raise MixedModelInputError(f"{what} must have shape ({n},), got {c.shape}")
        if c.dtype.kind not in "iu":
            raise MixedModelInputError(
                f"{what} must be integer codes (fit_random_intercept_model accepts labels)"
            )
        codes.append(_int_codes(c, what, negative=False))
    return yv, Xv, codes[0], codes[1]


def fit_random_intercept_model(
    y: Sequence[float] | np.ndarray | pd.Series,
    X: pd.DataFrame,
    clusters: Sequence[Hashable] | np.ndarray | pd.Series,
    *,
    nested: Sequence[Hashable] | np.ndarray | pd.Series | None = None,
    reml: bool = True,
    df_method: str = "kenward-roger",
) -> MixedModelFit:
    """Fit a linear mixed model with a random intercept per cluster.

    Parameters
    ----------
    y : array-like, shape (n,)
        Outcome.
    X : pandas.DataFrame, shape (n, p)
        Fixed-effect design, including an intercept column if one is wanted; the column names
        are the term names. Must have full column rank.
    clusters : array-like of hashable, shape (n,)
        Cluster labels (random intercept ``(1 | cluster)``).
    nested : array-like of hashable, shape (n,), optional
        Labels of a second random intercept nested within cluster (``(1 | cluster:nested)``);
        labels are interpreted within cluster, so the same label in two clusters denotes two
        groups.
    reml : bool, default True
        REML (default) or maximum likelihood.
    df_method : {"kenward-roger", "satterthwaite", "between-within"}
        Denominator df method (see the module docstring). Kenward-Roger is pbkrtest's variant
        and makes ``cov`` the KR-adjusted covariance; like lmerTest, it requires ``reml=True``.

    Returns
    -------
    MixedModelFit

    Raises
    ------
    MixedModelInputError
        Mismatched lengths, missing or infinite values, a rank-deficient ``X``, fewer than two
        clusters, too few observations, or an unknown ``df_method``.
    MixedModelFitError
        The optimum could not be found or verified.

    See Also
    --------
    fit_random_intercept_arrays : the same fit on arrays and integer codes, without labels.
    """
    _check_method(reml, df_method)
    if not isinstance(X, pd.DataFrame):
        raise MixedModelInputError("X must be a pandas DataFrame whose columns name the terms")
    names = tuple(str(c) for c in X.columns)
    if len(set(names)) != len(names):
        raise MixedModelInputError("X has duplicated column names")
    yv = np.asarray(y, dtype=float)
    if yv.ndim != 1:
        raise MixedModelInputError("y must be one-dimensional")
    n = yv.shape[0]
    try:
        Xv = X.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise MixedModelInputError(f"X must be numeric: {exc}") from exc
    if Xv.shape[0] != n:
        raise MixedModelInputError(f"X has {Xv.shape[0]} rows but y has length {n}")
    if Xv.shape[1] == 0:
        raise MixedModelInputError("X has no columns")
    if not (math.isfinite(_add(yv)) and math.isfinite(_add(Xv, axis=None))):
        if not np.isfinite(yv).all():
            raise MixedModelInputError("y contains missing or infinite values")
        if not np.isfinite(Xv).all():
            bad = [names[k] for k in np.flatnonzero(~np.all(np.isfinite(Xv), axis=0))]
            raise MixedModelInputError(f"X contains missing or infinite values in columns {bad}")
    ccode, J = _codes(clusters, n, "clusters")
    gcode = None if nested is None else _codes(nested, n, "nested")[0]
    return MixedModelFit(_fit(yv, Xv, ccode, J, gcode, reml, df_method), names)
