"""Wald inference on t (or z) with a denominator df per coefficient, shared by the kernels.

A fitted model hands :class:`WaldInference` its estimates, their covariance and one df per
coefficient (between-within for the GLMM, clusters - p for GEE, ``inf`` for z). A single
contrast gets the smallest df of the coefficients it involves; a multi-df Wald test is
``F = W / q`` on ``(q, df)`` with that same df, or chi-square ``W`` on ``q`` df when the df is
infinite. The results are the linear engine's :class:`~trial.stats.mixed.ContrastResult` and
:class:`~trial.stats.mixed.FTestResult`, and a labelled fit is the linear engine's table view
(:class:`~trial.stats.mixed.view.TermView`), so that callers treat all models alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from trial.stats._families import ModelInputError
from trial.stats.mixed.results import ContrastResult, FTestResult
from trial.stats.mixed.view import TermView

__all__ = ["ArrayInference", "LabelledFit", "WaldInference", "t_summary"]


def t_summary(
    est: np.ndarray, se: np.ndarray, df: np.ndarray, alpha: float
) -> dict[str, np.ndarray]:
    """Estimate, SE, df, t, two-sided p and the ``1 - alpha`` interval on t(df), as arrays."""
    t = est / se
    q = stats.t.ppf(1.0 - alpha / 2.0, df)
    return {
        "estimate": est,
        "se": se,
        "df": df,
        "t": t,
        "p": 2.0 * stats.t.sf(np.abs(t), df),
        "ci_low": est - q * se,
        "ci_high": est + q * se,
    }


@dataclass(frozen=True, eq=False)
class WaldInference:
    """Wald contrasts and tests of ``beta`` with covariance ``cov`` and per-coefficient ``df``.

    Attributes
    ----------
    beta : numpy.ndarray, shape (p,)
    cov : numpy.ndarray, shape (p, p)
    df : numpy.ndarray, shape (p,)
        Denominator df of each coefficient (``inf`` for a z reference).
    method : str
        Name of the df rule, carried into the results.
    """

    beta: np.ndarray
    cov: np.ndarray
    df: np.ndarray
    method: str

    def _matrix(self, L: Any) -> np.ndarray:
        Lm = np.atleast_2d(np.asarray(L, dtype=float))
        if Lm.ndim != 2 or Lm.shape[1] != self.beta.size:
            raise ModelInputError(f"L must have {self.beta.size} columns, got shape {Lm.shape}")
        if not np.any(Lm):
            raise ModelInputError("contrast weights are all zero")
        return Lm

    def _df(self, Lm: np.ndarray) -> float:
        return float(np.min(self.df[np.any(Lm != 0, axis=0)]))

    def contrast(self, L: Any, alpha: float = 0.05) -> ContrastResult:
        """Estimate, SE, t test and interval of the single contrast ``L beta``."""
        w = self._matrix(L)
        if w.shape[0] != 1:
            raise ModelInputError("a contrast is a single row of weights; use f_test for more")
        df = self._df(w)
        w = w[0]
        est = float(w @ self.beta)
        var = float(w @ self.cov @ w)
        se = math.sqrt(var) if var > 0 else float("nan")
        t = est / se
        p = float(2.0 * stats.t.sf(abs(t), df))
        q = float(stats.t.ppf(1.0 - alpha / 2.0, df))
        return ContrastResult(est, se, df, t, p, est - q * se, est + q * se, alpha, self.method)

    def f_test(self, L: Any) -> FTestResult:
        """Wald test of ``L beta = 0``: ``F = W / q`` on ``(q, df)``, chi-square if ``df = inf``."""
        Lm = self._matrix(L)
        q = int(np.linalg.matrix_rank(Lm))
        Lb = Lm @ self.beta
        wald = float(Lb @ np.linalg.lstsq(Lm @ self.cov @ Lm.T, Lb, rcond=None)[0])
        F = wald / q
        ddf = self._df(Lm)
        p = float(stats.chi2.sf(wald, q) if math.isinf(ddf) else stats.f.sf(F, q, ddf))
        return FTestResult(F, float(q), ddf, p, F, 1.0, self.method)


class ArrayInference:
    """Mix-in of the plain-array fits: standard errors, contrasts, Wald tests and a summary.

    The fit must have ``beta``, ``cov``, ``df`` and ``_wald`` (a :class:`WaldInference`).
    """

    beta: np.ndarray
    cov: np.ndarray
    df: np.ndarray
    _wald: WaldInference

    @property
    def se(self) -> np.ndarray:
        """Standard errors: square roots of the diagonal of ``cov``."""
        return np.sqrt(np.diag(self.cov))

    def contrast(self, L: Any, alpha: float = 0.05) -> ContrastResult:
        """Estimate and t test of a single combination ``L beta``; its df is the smallest df
        of the coefficients with a nonzero weight."""
        return self._wald.contrast(L, alpha)

    def f_test(self, L: Any) -> FTestResult:
        """Wald test of ``L beta = 0``: ``F = W / q`` on ``(q, df)``, chi-square if ``df = inf``."""
        return self._wald.f_test(L)

    def summary(self, alpha: float = 0.05) -> dict[str, np.ndarray]:
        """Per-coefficient ``estimate, se, df, t, p, ci_low, ci_high`` as arrays."""
        return t_summary(self.beta, self.se, self.df, alpha)


class LabelledFit(TermView):
    """Mix-in giving a plain-array fit (``self.arrays``) labels (``self.terms``).

    The array fit must be an :class:`ArrayInference` with a ``df_method``; its other
    attributes are reachable from the labelled fit.
    """

    arrays: Any
    terms: tuple[str, ...]
    _input_error: ClassVar[type[Exception]] = ModelInputError

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "arrays":
            raise AttributeError(name)
        return getattr(self.arrays, name)
