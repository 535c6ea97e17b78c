"""Pandas views of a plain-array fit, labelled by term: the table view of every kernel.

:class:`TermView` gives a fit that holds plain arrays (``arrays``) and term names (``terms``)
its labelled estimates, covariance, df, contrasts matched by name and a summary table;
:class:`MixedModelFit` is the linear mixed model's, and :class:`trial.stats._wald.LabelledFit`
(GLMM, GEE) builds on the same class.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from trial.stats.mixed.results import (
    ContrastResult,
    FTestResult,
    MixedModelArrayFit,
    MixedModelInputError,
)

__all__ = ["MixedModelFit", "TermView"]


class TermView:
    """Labelled views of a plain-array fit: estimates, covariance and df by term, contrasts
    matched by term name, and a summary table.

    A subclass holds ``arrays`` (a fit with ``beta``, ``cov``, ``df``, ``df_method`` and the
    methods ``contrast``, ``f_test`` and ``summary`` on plain arrays) and ``terms`` (one name
    per coefficient), and names in ``_input_error`` the error its kernel raises for bad input.
    """

    arrays: Any
    terms: tuple[str, ...]
    _input_error: ClassVar[type[Exception]] = ValueError

    @cached_property
    def _index(self) -> pd.Index:
        return pd.Index(self.terms, dtype=object, copy=False)

    @cached_property
    def params(self) -> pd.Series:
        """Estimates indexed by term."""
        return pd.Series(self.arrays.beta, index=self._index, name="estimate")

    @cached_property
    def cov(self) -> pd.DataFrame:
        """Covariance of :attr:`params` used for inference."""
        return pd.DataFrame(self.arrays.cov, index=self._index, columns=self._index)

    @cached_property
    def df(self) -> pd.Series:
        """Denominator df of each coefficient."""
        return pd.Series(self.arrays.df, index=self._index, name="df")

    def weights(self, L: Any) -> np.ndarray:
        """Contrast weights from an array, or from a Series (or DataFrame) matched by term.

        Terms a Series or DataFrame does not name get weight 0; a name that is not a term is
        an error.
        """
        names = list(self.terms)
        if isinstance(L, pd.Series | pd.DataFrame):
            keys = L.index if isinstance(L, pd.Series) else L.columns
            unknown = [k for k in keys if k not in names]
            if unknown:
                raise self._input_error(f"unknown coefficient names in contrast: {unknown}")
            if isinstance(L, pd.Series):
                return L.reindex(names).fillna(0.0).to_numpy(dtype=float)
            return L.reindex(columns=names).fillna(0.0).to_numpy(dtype=float)
        return np.asarray(L, dtype=float)

    def contrast(self, L: Any, alpha: float = 0.05) -> ContrastResult:
        """Estimate and test a single linear combination of the coefficients.

        Parameters
        ----------
        L : array-like or pandas.Series
            Weights, one per coefficient; a Series is matched by term (absent terms get
            weight 0).
        alpha : float, default 0.05
            Level of the confidence interval.

        Returns
        -------
        ContrastResult
        """
        return self.arrays.contrast(self.weights(L), alpha)

    def f_test(self, L: Any) -> FTestResult:
        """Wald F test of ``L beta = 0`` (see the array fit's ``f_test`` for the df).

        Parameters
        ----------
        L : array-like or pandas.DataFrame, shape (q, p)
            Contrast matrix; a DataFrame is aligned to the terms by column.

        Returns
        -------
        FTestResult
        """
        return self.arrays.f_test(self.weights(L))

    def summary_table(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per coefficient.

        Parameters
        ----------
        alpha : float, default 0.05
            Level of the confidence intervals.

        Returns
        -------
        pandas.DataFrame
            Columns ``term, estimate, se, df, t, p, ci_low, ci_high, df_method``.
        """
        out = {"term": list(self.terms), **self.arrays.summary(alpha)}
        out["df_method"] = self.arrays.df_method
        return pd.DataFrame(out)


@dataclass(frozen=True, eq=False)
class MixedModelFit(TermView):
    """A fitted random-intercept linear mixed model, labelled by term.

    The pandas attributes (``params``, ``cov``, ``cov_unadjusted``, ``df``,
    ``variance_components``) are built on first access from :attr:`arrays`.

    Attributes
    ----------
    arrays : MixedModelArrayFit
        The fit as plain arrays.
    terms : tuple of str
        Coefficient names (the column names of ``X``).
    params : pandas.Series
        Fixed-effect estimates indexed by the column names of ``X``.
    cov : pandas.DataFrame
        Covariance of ``params`` used for inference: the Kenward-Roger adjusted covariance when
        ``df_method == "kenward-roger"``, otherwise ``cov_unadjusted``.
    cov_unadjusted : pandas.DataFrame
        ``(X' V^{-1} X)^{-1}`` at the estimated variance components.
    df : pandas.Series
        Denominator df of each coefficient under ``df_method``.
    df_method : str
        ``"kenward-roger"``, ``"satterthwaite"`` or ``"between-within"``.
    variance_components : pandas.Series
        ``cluster``, ``nested`` (nested model only) and ``residual`` variances.
    icc, loglik, reml, converged, at_boundary, n_obs, n_clusters, n_groups_nested
        As in :class:`MixedModelArrayFit`.
    """

    arrays: MixedModelArrayFit
    terms: tuple[str, ...]
    _input_error: ClassVar[type[Exception]] = MixedModelInputError

    @cached_property
    def cov_unadjusted(self) -> pd.DataFrame:
        return pd.DataFrame(self.arrays.cov_unadjusted, index=self._index, columns=self._index)

    @cached_property
    def variance_components(self) -> pd.Series:
        vc = self.arrays.variance_components
        names = ["cluster", "nested", "residual"] if vc.size == 3 else ["cluster", "residual"]
        return pd.Series(vc, index=pd.Index(names, dtype=object), name="variance")

    @property
    def df_method(self) -> str:
        return self.arrays.df_method

    @property
    def icc(self) -> float:
        return self.arrays.icc

    @property
    def loglik(self) -> float:
        return self.arrays.loglik

    @property
    def reml(self) -> bool:
        return self.arrays.reml

    @property
    def converged(self) -> bool:
        return self.arrays.converged

    @property
    def at_boundary(self) -> bool:
        return self.arrays.at_boundary

    @property
    def n_obs(self) -> int:
        return self.arrays.n_obs

    @property
    def n_clusters(self) -> int:
        return self.arrays.n_clusters

    @property
    def n_groups_nested(self) -> int | None:
        return self.arrays.n_groups_nested
