"""What a linear mixed-model fit returns: its errors, contrasts, F tests and the array fit.

:class:`ContrastResult` and :class:`FTestResult` are also the results of the other kernels'
Wald inference (:mod:`trial.stats._wald`), so that callers treat all models alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# scipy.stats is imported in the functions that compute p-values and intervals: it takes longer
# to import than the rest of this package's imports together, and jobs that only fit models
# (an imputation job, through trial.analyses.outcomes) never call them.

__all__ = [
    "ContrastResult",
    "FTestResult",
    "MixedModelArrayFit",
    "MixedModelConvergenceWarning",
    "MixedModelError",
    "MixedModelFitError",
    "MixedModelInputError",
]


class MixedModelError(Exception):
    """Base class of the errors raised by this module."""


class MixedModelInputError(MixedModelError, ValueError):
    """The data cannot define the requested model (lengths, missing values, rank, clusters)."""


class MixedModelFitError(MixedModelError, RuntimeError):
    """The optimiser did not reach a verified optimum of the (REML or ML) criterion."""


class MixedModelConvergenceWarning(UserWarning):
    """The optimum passed the loose but not the strict verification tolerance."""


@dataclass(frozen=True)
class ContrastResult:
    """A single linear contrast ``l' beta``.

    Attributes
    ----------
    estimate, se, df, t, p : float
        Estimate, standard error, denominator df, t statistic and two-sided p-value.
    ci_low, ci_high : float
        ``1 - alpha`` confidence interval from the t distribution on ``df``.
    alpha : float
        Significance level of the interval.
    df_method : str
        Method used for ``df`` (and for ``se``: KR-adjusted under Kenward-Roger).
    """

    estimate: float
    se: float
    df: float
    t: float
    p: float
    ci_low: float
    ci_high: float
    alpha: float
    df_method: str


@dataclass(frozen=True)
class FTestResult:
    """A multi-df Wald F test of ``L beta = 0``.

    Attributes
    ----------
    F : float
        The F statistic (pbkrtest's scaled statistic under Kenward-Roger).
    num_df, den_df : float
        Numerator (rank of ``L``) and denominator degrees of freedom.
    p : float
        Upper-tail p-value of ``F`` on ``(num_df, den_df)``.
    F_unscaled : float
        Wald statistic divided by ``num_df`` before any Kenward-Roger scaling.
    scale : float
        Kenward-Roger scaling factor (1 for the other methods).
    df_method : str
        Method used.
    """

    F: float
    num_df: float
    den_df: float
    p: float
    F_unscaled: float
    scale: float
    df_method: str


@dataclass(frozen=True, eq=False)
class MixedModelArrayFit:
    """A fitted random-intercept linear mixed model as plain arrays.

    Returned by :func:`fit_random_intercept_arrays`; coefficients are in the column order of
    the design matrix. :class:`MixedModelFit` wraps one of these with the term names.

    Attributes
    ----------
    beta : numpy.ndarray, shape (p,)
        Fixed-effect estimates.
    cov : numpy.ndarray, shape (p, p)
        Covariance of ``beta`` used for inference: the Kenward-Roger adjusted covariance when
        ``df_method == "kenward-roger"``, otherwise ``cov_unadjusted``.
    cov_unadjusted : numpy.ndarray, shape (p, p)
        ``(X' V^{-1} X)^{-1}`` at the estimated variance components.
    df : numpy.ndarray, shape (p,)
        Denominator df of each coefficient under ``df_method``.
    df_method : str or None
        ``"kenward-roger"``, ``"satterthwaite"`` or ``"between-within"``; None for a fit
        without small-sample inference (:func:`fit_random_intercept_sums`), whose ``df`` are
        NaN and which has no contrasts or F tests.
    variance_components : numpy.ndarray
        Cluster, nested (nested model only) and residual variances, in this order.
    icc : float
        Cluster variance over the total variance.
    loglik : float
        Maximised REML or ML log-likelihood on lme4's ``logLik`` scale.
    reml : bool
        Whether the fit is REML.
    converged : bool
        ``True`` when the optimum passed the strict verification; ``False`` when it only passed
        the loose one (a :class:`MixedModelConvergenceWarning` is also issued).
    at_boundary : bool
        A variance component is zero, or numerically zero (ratio of its sd to the residual sd
        below 1e-4, lme4's ``isSingular`` tolerance). Variances whose optimum lies on the
        boundary are returned as exactly 0.
    n_obs, n_clusters : int
        Numbers of observations and clusters.
    n_groups_nested : int or None
        Number of nested subgroups (``None`` without a nested term).
    """

    beta: np.ndarray
    cov: np.ndarray
    cov_unadjusted: np.ndarray
    df: np.ndarray
    df_method: str | None
    variance_components: np.ndarray
    icc: float
    loglik: float
    reml: bool
    converged: bool
    at_boundary: bool
    n_obs: int
    n_clusters: int
    n_groups_nested: int | None = None
    _inference: Any = field(default=None, repr=False)

    @property
    def se(self) -> np.ndarray:
        """Standard errors: square roots of the diagonal of ``cov``."""
        return np.sqrt(np.diag(self.cov))

    def _require_inference(self) -> None:
        if self._inference is None:
            raise MixedModelInputError(
                "this fit was made without small-sample inference (df_method=None); refit "
                "with a df_method to test contrasts"
            )

    def contrast(self, L: Any, alpha: float = 0.05) -> ContrastResult:
        """Estimate and test a single linear combination of the fixed effects.

        Parameters
        ----------
        L : array-like, shape (p,)
            Weights, one per coefficient.
        alpha : float, default 0.05
            Level of the confidence interval.

        Returns
        -------
        ContrastResult
        """
        from scipy import stats

        self._require_inference()
        w = np.asarray(L, dtype=float)
        if w.ndim != 1 or w.size != self.beta.size:
            raise MixedModelInputError(
                f"contrast must be a 1-D vector of length {self.beta.size}, got shape {w.shape}"
            )
        if not np.any(w):
            raise MixedModelInputError("contrast weights are all zero")
        est = float(w @ self.beta)
        var = float(w @ self.cov @ w)
        se = math.sqrt(var) if var > 0 else float("nan")
        df = float(self._inference.contrast_df(w[None, :]))
        t = est / se
        p = float(2.0 * stats.t.sf(abs(t), df))
        q = float(stats.t.ppf(1.0 - alpha / 2.0, df))
        return ContrastResult(est, se, df, t, p, est - q * se, est + q * se, alpha, self.df_method)

    def f_test(self, L: Any) -> FTestResult:
        """Wald F test of ``L beta = 0`` with small-sample denominator df.

        Parameters
        ----------
        L : array-like, shape (q, p)
            Contrast matrix.

        Returns
        -------
        FTestResult
            Kenward-Roger: pbkrtest's ``KRmodcomp`` statistic (Wald statistic with the adjusted
            covariance, divided by ``q`` and multiplied by the scaling factor) and df.
            Satterthwaite: lmerTest's ``contestMD``. Between-within: unscaled Wald F with the
            smallest between-within df among the coefficients involved.
        """
        self._require_inference()
        Lm = np.atleast_2d(np.asarray(L, dtype=float))
        if Lm.ndim != 2 or Lm.shape[1] != self.beta.size:
            raise MixedModelInputError(
                f"L must have {self.beta.size} columns, got shape {Lm.shape}"
            )
        if np.linalg.matrix_rank(Lm) == 0:
            raise MixedModelInputError("contrast matrix has rank 0")
        return self._inference.f_test(Lm, self.beta)

    def summary(self, alpha: float = 0.05) -> dict[str, np.ndarray]:
        """Per-coefficient inference as arrays.

        Parameters
        ----------
        alpha : float, default 0.05
            Level of the confidence intervals.

        Returns
        -------
        dict of str to numpy.ndarray
            ``estimate, se, df, t, p, ci_low, ci_high``, each of shape ``(p,)``.
        """
        from scipy import stats

        est = self.beta
        se = self.se
        t = est / se
        q = stats.t.ppf(1.0 - alpha / 2.0, self.df)
        return {
            "estimate": est,
            "se": se,
            "df": self.df,
            "t": t,
            "p": 2.0 * stats.t.sf(np.abs(t), self.df),
            "ci_low": est - q * se,
            "ci_high": est + q * se,
        }
