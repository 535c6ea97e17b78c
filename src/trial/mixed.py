"""Fast linear mixed models with random intercepts and small-sample degrees of freedom.

The model is

.. math::

    y = X\\beta + Z_c u + Z_n v + e,\\quad u \\sim N(0, \\sigma_c^2 I),\\;
    v \\sim N(0, \\sigma_n^2 I),\\; e \\sim N(0, \\sigma^2 I),

with a random intercept per cluster and, optionally, a second random intercept for subgroups
nested within clusters (``(1 | cluster) + (1 | cluster:nested)`` in lme4 notation).

Two entry points fit it: :func:`fit_random_intercept_model` takes a labelled design
(``pandas.DataFrame``) and cluster labels of any hashable type and returns a
:class:`MixedModelFit` whose pandas views are built on first access;
:func:`fit_random_intercept_arrays` takes a numpy design, the outcome and integer cluster codes
and returns the plain-array :class:`MixedModelArrayFit`, for callers that fit many models;
:func:`fit_random_intercept_sums` fits the single random intercept from per-cluster sums
(:func:`cluster_sums`) with each cluster entering any number of times, for cluster bootstraps.

Fitting uses only per-cluster (and per-subgroup) sufficient statistics: ``X_j'X_j``,
``X_j'y_j``, ``y_j'y_j`` and the subgroup column sums of ``X`` and ``y``. Within a cluster,
``V = s2e I + s2n E E' + s2c 11'`` (``E`` the subgroup indicator matrix) has a closed-form
inverse by two Woodbury steps, and every matrix of the model's algebra (``V^-1``, the derivatives
of ``V`` and their products) is of the form ``a I + E (diag(d) + F H') E'`` with a small rank
``r``: products, inverses, determinants and traces act elementwise on per-subgroup vectors and on
``r x r`` matrices per cluster. These vectors depend only on a subgroup's size, so the subgroups
of one size in one cluster are pooled into a *cell*, and sums that do not involve the cluster
into one row per distinct size: 950 individuals in 27 clusters with 7 repeated measures reduce
to 27 clusters of at most 7 cells. No ``n x n`` matrix is ever formed.

The residual variance is profiled out. With one random intercept the statistics are those of
``W = [X y]``: ``W'W`` and the cluster sums ``s_j`` of the rows of ``W``. Then
``W'V*^-1W = W'W - sum_j w_j s_j s_j'`` (``V* = V / sigma^2``, ``w_j`` a function of the
variance ratio and the cluster size) is a ``(p + 1) x (p + 1)`` matrix whose Cholesky factor
gives the whole profiled criterion, and whose inverse gives its first and second derivatives in
closed form. A vectorised grid search in ``theta = sqrt(variance ratio)`` brackets the optimum
and Newton's method with these derivatives, safeguarded by bisection, finds it. The
Kenward-Roger and Satterthwaite quantities come from the same per-cluster sums. With a nested
term the best point of a vectorised grid starts a projected Newton search on the two variance
ratios (analytic gradient, difference Hessian). Every fit is verified (score
equations of the fixed effects and the (projected) gradient of the criterion) before it is
returned; a fit that cannot be verified raises :class:`MixedModelFitError`.

Denominator degrees of freedom
------------------------------
``"kenward-roger"``
    The variant implemented in R package pbkrtest (``vcovAdj`` / ``KRmodcomp`` / ``Lb_ddf``),
    which lmerTest also uses for ``ddf = "Kenward-Roger"``: the covariance parameters are the
    variance components themselves (cluster, nested, residual variance); the adjusted covariance
    ``Phi_A = Phi + 2 Phi U Phi`` omits the second-derivative term (zero for this linear
    covariance structure); the expected REML information is used. ``cov`` holds ``Phi_A``.
    Multi-df tests use pbkrtest's scaled F statistic and denominator df.
``"satterthwaite"``
    As lmerTest: the covariance parameters are ``(theta, sigma)`` with ``theta`` the ratios of
    random-effect to residual standard deviations; their covariance is twice the inverse of the
    observed Hessian of the (REML or ML) deviance; the gradient of ``L Phi L'`` is taken with
    respect to the same parameters. Here both are computed analytically rather than numerically.
    The inverse of the Hessian is taken after scaling its ``sigma`` row and column by ``sigma``
    (which makes it unit-free), dropping eigenvalues below 1e-8 of the largest; lmerTest's
    cut-off of 1e-8 is absolute, which makes its df depend on the outcome's unit (for an
    outcome in small units it drops the ``sigma`` direction and inflates the df). At the unit
    scale of the R reference data the two agree.
    Multi-df tests follow lmerTest's ``contestMD`` (eigen-decomposition of ``L Phi L'``).
``"between-within"``
    The between-within rule of Schluchter and Elashoff (1990) (SAS ``DDFM=BETWITHIN``), in the
    multilevel form ``df_g = N_g - (N_{g-1} + p_g)``: ``N_0`` is 1 when the column space of ``X``
    contains a constant and 0 otherwise, ``N_1`` the number of clusters, ``N_2`` the number of
    subgroups (nested model only) and the last level the number of observations; ``p_g`` is the
    number of parameters (rank increment) of the columns whose finest level of variation is
    ``g``. A column constant within every cluster is cluster-level and gets ``df_1`` (clusters
    minus the number of cluster-level parameters, intercept included); the intercept also gets
    ``df_1``; a column varying within clusters (within subgroups, for the nested model) gets the
    residual df of the last level. A general contrast gets the smallest df of the coefficients it
    involves.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg as sla

# scipy.stats is imported in the functions that compute p-values and intervals: it takes longer
# to import than the rest of this module's imports together, and jobs that only import this
# module (an imputation job, through trial.analysis) never call them.
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dsyev as _dsyev
from scipy.linalg.lapack import dtrtri as _dtrtri

__all__ = [
    "ClusterSums",
    "ContrastResult",
    "FTestResult",
    "MixedModelConvergenceWarning",
    "MixedModelArrayFit",
    "MixedModelError",
    "MixedModelFit",
    "MixedModelFitError",
    "MixedModelInputError",
    "cluster_sums",
    "fit_random_intercept_arrays",
    "fit_random_intercept_model",
    "fit_random_intercept_sums",
]

DF_METHODS = ("kenward-roger", "satterthwaite", "between-within")

_LOG_2PI = math.log(2.0 * math.pi)
# lme4's isSingular() tolerance on theta (random-effect sd / residual sd).
_SINGULAR_THETA_TOL = 1e-4
# eigenvalue ratio of the column-scaled X'X below which X counts as rank deficient (a singular
# value ratio of 1e-7, lme4's tolerance)
_RANK_TOL = 1e-14
# starting grid of the one-dimensional search over theta = sqrt(cluster / residual variance)
_THETA_GRID = np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 21)])
_GAM_GRID = _THETA_GRID**2
_POWERS = np.array([[-1.0], [-2.0], [-3.0]])
# largest clusters x observations for which cluster sums use an indicator matrix product
_ONE_HOT_MAX = 2_000_000
# reductions without the dispatch of the ndarray methods (these run on small arrays many times)
_add = np.add.reduce
_min = np.minimum.reduce
# relative error in theta at which Newton's method stops (the size of its last step): estimates
# then change by about as little, far below the 1e-5 agreement with lme4 that is tested
_THETA_RTOL = 1e-8
# eigenvalues of the unit-free Hessian of the deviance in the Satterthwaite variance
# parameters below this fraction of the largest count as zero (lmerTest's 1e-8, made relative)
_HESSIAN_EIG_RTOL = 1e-8
# eigenvalue ratio of the variance components' information below which its inverse is a
# pseudo-inverse
_INFO_RTOL = 1e-10
# coarse grid of starting values of theta (both components) for the nested model
_THETA_START = np.array([0.1, 0.3, 1.0, 3.0, 10.0])


class MixedModelError(Exception):
    """Base class of the errors raised by this module."""


class MixedModelInputError(MixedModelError, ValueError):
    """The data cannot define the requested model (lengths, missing values, rank, clusters)."""


class MixedModelFitError(MixedModelError, RuntimeError):
    """The optimiser did not reach a verified optimum of the (REML or ML) criterion."""


class MixedModelConvergenceWarning(UserWarning):
    """The optimum passed the loose but not the strict verification tolerance."""


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


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
    df_method : str
        ``"kenward-roger"``, ``"satterthwaite"`` or ``"between-within"``.
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
    df_method: str
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


@dataclass(frozen=True, eq=False)
class MixedModelFit:
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

    @cached_property
    def _index(self) -> pd.Index:
        return pd.Index(self.terms, dtype=object, copy=False)

    @cached_property
    def params(self) -> pd.Series:
        return pd.Series(self.arrays.beta, index=self._index, name="estimate")

    @cached_property
    def cov(self) -> pd.DataFrame:
        return pd.DataFrame(self.arrays.cov, index=self._index, columns=self._index)

    @cached_property
    def cov_unadjusted(self) -> pd.DataFrame:
        return pd.DataFrame(self.arrays.cov_unadjusted, index=self._index, columns=self._index)

    @cached_property
    def df(self) -> pd.Series:
        return pd.Series(self.arrays.df, index=self._index, name="df")

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

    # -- contrasts -----------------------------------------------------------------------------
    def _weights(self, L: Any) -> np.ndarray:
        names = list(self.terms)
        if isinstance(L, pd.Series):
            unknown = [k for k in L.index if k not in names]
            if unknown:
                raise MixedModelInputError(f"unknown coefficient names in contrast: {unknown}")
            return L.reindex(names).fillna(0.0).to_numpy(dtype=float)
        arr = np.asarray(L, dtype=float)
        if arr.ndim != 1 or arr.size != len(names):
            raise MixedModelInputError(
                f"contrast must be a 1-D vector of length {len(names)}, got shape {arr.shape}"
            )
        return arr

    def contrast(self, L: Any, alpha: float = 0.05) -> ContrastResult:
        """Estimate and test a single linear combination of the fixed effects.

        Parameters
        ----------
        L : array-like or pandas.Series
            Weights, one per coefficient; a Series is matched by coefficient name (missing names
            get weight 0).
        alpha : float, default 0.05
            Level of the confidence interval.

        Returns
        -------
        ContrastResult
        """
        return self.arrays.contrast(self._weights(L), alpha)

    def f_test(self, L: Any) -> FTestResult:
        """Wald F test of ``L beta = 0`` with small-sample denominator df.

        Parameters
        ----------
        L : array-like or pandas.DataFrame, shape (q, p)
            Contrast matrix; a DataFrame is aligned to the coefficient names by column.

        Returns
        -------
        FTestResult
            See :meth:`MixedModelArrayFit.f_test`.
        """
        if isinstance(L, pd.DataFrame):
            names = list(self.terms)
            unknown = [c for c in L.columns if c not in names]
            if unknown:
                raise MixedModelInputError(f"unknown coefficient names in contrast: {unknown}")
            L = L.reindex(columns=names).fillna(0.0).to_numpy(dtype=float)
        return self.arrays.f_test(L)

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
        out["df_method"] = self.df_method
        return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------
# Sufficient statistics and the per-cluster matrix algebra
# ---------------------------------------------------------------------------------------------


@dataclass
class _Resp:
    """Sufficient statistics of a response vector ``t`` (the outcome or a residual).

    Per cluster ``X_j't`` and ``t't``; per cell ``sum_k s_k t_k``, ``sum_k t_k^2`` and
    ``sum_k t_k`` over the subgroups ``k`` of the cell, ``s_k`` and ``t_k`` being subgroup sums.
    """

    Xt: np.ndarray  # (J, p)
    tt: np.ndarray  # (J,)
    st: np.ndarray  # (J, K, p)
    t2: np.ndarray  # (J, K)
    t: np.ndarray  # (J, K)


@dataclass
class _BySize:
    """Sums over all subgroups of each distinct size (nested model)."""

    m: np.ndarray  # (Z,) the distinct sizes
    cnt: np.ndarray  # (Z,) number of subgroups of that size
    SS: np.ndarray  # (Z, p * p) sum of s_k s_k'
    ST: np.ndarray  # (Z, p) sum of s_k t_k
    T2: np.ndarray  # (Z,) sum of t_k^2


@dataclass
class _Stats:
    """Per-cluster sufficient statistics.

    The subgroups of a cluster (nested model) are pooled into *cells* of subgroups of equal size:
    every matrix in the model's algebra treats subgroups of equal size in one cluster alike, so
    only cell sums are needed. Clusters are padded to ``K`` cells (count 0). Without a nested
    term each cluster is one cell of one "subgroup", the cluster itself.
    """

    n: int
    p: int
    J: int
    K: int
    nested: bool
    n_groups: int
    nj: np.ndarray  # (J,)
    XtX: np.ndarray  # (J, p, p)
    Xty: np.ndarray  # (J, p)
    yty: np.ndarray  # (J,)
    S: np.ndarray  # (J, K, p) cell sums of the subgroup column sums s_k of X
    sy: np.ndarray  # (J, K) cell sums of the subgroup sums t_k of y
    m: np.ndarray  # (J, K) subgroup size of the cell (0 = padding)
    cnt: np.ndarray  # (J, K) number of subgroups in the cell (0 = padding)
    SS: np.ndarray  # (J, K, p, p) cell sums of s_k s_k'
    resp: _Resp  # statistics of y
    XtX_sum: np.ndarray
    Xty_sum: np.ndarray
    yty_sum: float
    cstarts: np.ndarray  # start of each cluster in the sorted data
    gstarts: np.ndarray | None  # start of each subgroup in the sorted data (nested only)
    Xs: np.ndarray  # design sorted by cluster (and subgroup)
    # sums over all subgroups of one size (nested model): sizes, counts, s s', s t, t^2
    size: _BySize | None = None

    @property
    def XtX_flat(self) -> np.ndarray:
        return self.XtX.reshape(self.J, self.p * self.p)

    @property
    def SS_flat(self) -> np.ndarray:
        return self.SS.reshape(-1, self.p * self.p)

    @property
    def cm(self) -> np.ndarray:
        """Cell weights of sums over subgroups: count times subgroup size."""
        return self.cnt * self.m

    @property
    def levels(self) -> np.ndarray:
        """Finest level at which each column of ``X`` varies (0..3)."""
        return _column_levels(self.Xs, self.cstarts, self.gstarts)


class _Elem:
    """Block-diagonal matrix ``blockdiag_j(a_j I + E_j (diag(d_j) + F_j H_j') E_j')``.

    ``E_j`` is the subgroup indicator matrix of cluster ``j`` (one column per subgroup, padded to
    ``K`` columns of zeros), ``d_j`` a ``K``-vector and ``F_j``, ``H_j`` ``K x r`` matrices. Every
    matrix in the model's algebra (``V``, its inverse, the derivatives ``G_r`` and their products)
    has this form with a small rank ``r``.
    """

    __slots__ = ("F", "H", "a", "d")

    def __init__(self, a: np.ndarray, d: np.ndarray, F: np.ndarray, H: np.ndarray) -> None:
        self.a = a  # (J,)
        self.d = d  # (J, K)
        self.F = F  # (J, K, r)
        self.H = H  # (J, K, r)


class _Algebra:
    """Products, inverse, log-determinant, traces and quadratic forms of :class:`_Elem` matrices.

    Uses ``E_j'E_j = diag(m_j)`` (subgroup sizes): every operation is elementwise on the
    per-subgroup vectors plus sums over subgroups into ``r x r`` matrices per cluster. Since the
    per-subgroup vectors depend on the subgroup size only, sums over subgroups are sums over
    cells weighted by their counts.
    """

    def __init__(self, st: _Stats) -> None:
        self.st = st
        self.m = st.m  # (J, K) subgroup size, for elementwise operations
        self.wm = st.cnt * st.m  # (J, K) weights of sums over subgroups of E'E

    def mul(self, x: _Elem, y: _Elem) -> _Elem:
        m = self.m
        a = x.a * y.a
        d = x.a[:, None] * y.d + y.a[:, None] * x.d + x.d * m * y.d
        # (d_x + F_x H_x') D (d_y + F_y H_y') expanded; the rank adds up
        T = y.F.transpose(0, 2, 1) @ (self.wm[:, :, None] * x.H)  # F_y' D H_x
        F = np.concatenate([(x.a[:, None] + x.d * m)[:, :, None] * y.F, x.F], axis=2)
        H = np.concatenate([y.H, (y.a[:, None] + m * y.d)[:, :, None] * x.H + y.H @ T], axis=2)
        return _Elem(a, d, F, H)

    def _inv_parts(self, x: _Elem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        den = x.a[:, None] + x.d * self.m
        g = 1.0 / den
        Mm = x.H.transpose(0, 2, 1) @ ((self.wm * g)[:, :, None] * x.F)
        Mm = Mm + np.eye(x.F.shape[2])
        return den, g, Mm

    def inv(self, x: _Elem) -> _Elem:
        # diagonal part per subgroup: (a I + d 11')^{-1} = I / a - d / (a (a + d m)) 11';
        # then Woodbury for the rank-r part.
        den, g, Mm = self._inv_parts(x)
        d = -x.d / (x.a[:, None] * den)
        r = x.F.shape[2]
        gF = g[:, :, None] * x.F
        if r == 1:
            F = -gF / Mm
        else:
            F = -gF @ np.linalg.inv(Mm)
        return _Elem(1.0 / x.a, d, F, g[:, :, None] * x.H)

    def logdet(self, x: _Elem) -> float:
        den, _, Mm = self._inv_parts(x)
        tot = float(self.st.nj @ np.log(x.a))
        tot += float(np.sum(self.st.cnt * np.log(den / x.a[:, None])))
        r = x.F.shape[2]
        if r == 1:
            tot += float(np.sum(np.log(Mm)))
        elif r:
            tot += float(np.sum(np.linalg.slogdet(Mm)[1]))
        return tot

    def trace(self, x: _Elem) -> float:
        diag = x.d + (x.F * x.H).sum(axis=2)
        return float(x.a @ self.st.nj + np.sum(diag * self.wm))

    def xax(self, x: _Elem) -> np.ndarray:
        st = self.st
        p = st.p
        out = x.a @ st.XtX_flat + x.d.reshape(-1) @ st.SS_flat
        SF = st.S.transpose(0, 2, 1) @ x.F
        HS = x.H.transpose(0, 2, 1) @ st.S
        return out.reshape(p, p) + (SF @ HS).sum(axis=0)

    def xay(self, x: _Elem, r: _Resp) -> np.ndarray:
        st = self.st
        out = x.a @ r.Xt + x.d.reshape(-1) @ r.st.reshape(-1, st.p)
        SF = st.S.transpose(0, 2, 1) @ x.F
        Hy = (x.H * r.t[:, :, None]).sum(axis=1)
        return out + (SF @ Hy[:, :, None]).sum(axis=(0, 2))

    def yay(self, x: _Elem, r: _Resp) -> float:
        Fy = (x.F * r.t[:, :, None]).sum(axis=1)
        Hy = (x.H * r.t[:, :, None]).sum(axis=1)
        return float(x.a @ r.tt + np.sum(x.d * r.t2) + np.sum(Fy * Hy))

    def residual(self, beta: np.ndarray) -> _Resp:
        """Sufficient statistics of the residual ``r = y - X beta``."""
        return _residual(self.st, beta)


def _residual(st: _Stats, beta: np.ndarray) -> _Resp:
    y = st.resp
    SSb = st.SS @ beta  # (J, K, p)
    st_r = y.st - SSb
    t_r = y.t - st.S @ beta
    t2_r = y.t2 - 2.0 * (y.st @ beta) + SSb @ beta
    Xt = y.Xt - st.XtX @ beta
    tt = y.tt - 2.0 * (y.Xt @ beta) + np.einsum("a,jab,b->j", beta, st.XtX, beta)
    return _Resp(Xt, tt, st_r, t2_r, t_r)


def _build_stats(
    y: np.ndarray, X: np.ndarray, ccode: np.ndarray, J: int, gcode: np.ndarray | None
) -> _Stats:
    n, p = X.shape
    pp = p * p
    if gcode is None:
        order = np.argsort(ccode, kind="stable")
        cs = ccode[order]
        Xs = X[order]
        ys = y[order]
        starts = np.flatnonzero(np.concatenate(([True], cs[1:] != cs[:-1])))
        nj = np.diff(np.append(starts, n)).astype(float)
        cols = np.concatenate(
            [
                (Xs[:, :, None] * Xs[:, None, :]).reshape(n, pp),
                Xs * ys[:, None],
                Xs,
                np.stack([ys * ys, ys], axis=1),
            ],
            axis=1,
        )
        if J * n <= 2_000_000:
            # indicator matrix product: one BLAS call for all per-cluster sums
            Z = (cs[None, :] == np.arange(J)[:, None]).astype(float)
            sums = Z @ cols
        else:
            sums = np.add.reduceat(cols, starts, axis=0)
        XtX = sums[:, :pp].reshape(J, p, p)
        Xty = sums[:, pp : pp + p]
        sx = sums[:, pp + p : pp + 2 * p]
        yty = sums[:, pp + 2 * p]
        sy = sums[:, pp + 2 * p + 1]
        # one cell per cluster holding one "subgroup": the cluster itself
        K = 1
        n_groups = J
        S = sx[:, None, :]
        syk = sy[:, None]
        m = nj[:, None]
        cnt = np.ones((J, 1))
        SS = (sx[:, :, None] * sx[:, None, :])[:, None]
        ST = (sx * sy[:, None])[:, None, :]
        TT = (sy * sy)[:, None]
        cst, gst = starts, None
        size = None
    else:
        order = np.lexsort((gcode, ccode))
        cs = ccode[order]
        gs = gcode[order]
        Xs = X[order]
        ys = y[order]
        cstarts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
        gstarts = np.flatnonzero(np.r_[True, (gs[1:] != gs[:-1]) | (cs[1:] != cs[:-1])])
        nj = np.diff(np.r_[cstarts, n]).astype(float)
        XtX = np.add.reduceat(Xs[:, :, None] * Xs[:, None, :], cstarts, axis=0)
        Xty = np.add.reduceat(Xs * ys[:, None], cstarts, axis=0)
        yty = np.add.reduceat(ys * ys, cstarts)
        gx = np.add.reduceat(Xs, gstarts, axis=0)
        gy = np.add.reduceat(ys, gstarts)
        gm = np.diff(np.r_[gstarts, n])
        gcl = cs[gstarts]
        n_groups = int(gcl.size)
        # cells: subgroups of equal size within a cluster
        o2 = np.lexsort((gm, gcl))
        gx, gy, gm, gcl = gx[o2], gy[o2], gm[o2], gcl[o2]
        cstart = np.flatnonzero(np.r_[True, (gcl[1:] != gcl[:-1]) | (gm[1:] != gm[:-1])])
        ccl = gcl[cstart]
        kj = np.bincount(ccl, minlength=J)
        K = int(kj.max())
        first = np.r_[0, np.cumsum(kj)[:-1]]
        pos = np.arange(ccl.size) - first[ccl]
        parts = np.concatenate(
            [
                gx,
                gy[:, None],
                (gx[:, :, None] * gx[:, None, :]).reshape(-1, pp),
                gx * gy[:, None],
                (gy * gy)[:, None],
                np.ones((gy.size, 1)),
            ],
            axis=1,
        )
        sums = np.add.reduceat(parts, cstart, axis=0)
        flat = np.zeros((J, K, sums.shape[1]))
        flat[ccl, pos] = sums
        m = np.zeros((J, K))
        m[ccl, pos] = gm[cstart]
        S = flat[:, :, :p]
        syk = flat[:, :, p]
        SS = flat[:, :, p + 1 : p + 1 + pp].reshape(J, K, p, p)
        ST = flat[:, :, p + 1 + pp : 2 * p + 1 + pp]
        TT = flat[:, :, 2 * p + 1 + pp]
        cnt = flat[:, :, 2 * p + 2 + pp]
        cst, gst = cstarts, gstarts
        zvals, zidx = np.unique(gm[cstart], return_inverse=True)
        bysize = np.zeros((zvals.size, sums.shape[1]))
        np.add.at(bysize, zidx, sums)
        size = _BySize(
            m=zvals.astype(float),
            cnt=bysize[:, 2 * p + 2 + pp],
            SS=bysize[:, p + 1 : p + 1 + pp],
            ST=bysize[:, p + 1 + pp : 2 * p + 1 + pp],
            T2=bysize[:, 2 * p + 1 + pp],
        )
    return _Stats(
        n=n,
        p=p,
        J=J,
        K=K,
        nested=gcode is not None,
        n_groups=n_groups,
        nj=nj,
        XtX=XtX,
        Xty=Xty,
        yty=yty,
        S=np.ascontiguousarray(S),
        sy=np.ascontiguousarray(syk),
        m=m,
        cnt=np.ascontiguousarray(cnt),
        SS=np.ascontiguousarray(SS),
        resp=_Resp(Xty, yty, np.ascontiguousarray(ST), np.ascontiguousarray(TT), syk),
        XtX_sum=XtX.sum(axis=0),
        Xty_sum=Xty.sum(axis=0),
        yty_sum=float(yty.sum()),
        cstarts=cst,
        gstarts=gst,
        Xs=Xs,
        size=size,
    )


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


# ---------------------------------------------------------------------------------------------
# Profiled criterion
# ---------------------------------------------------------------------------------------------


def _dof(st: _Stats, reml: bool) -> int:
    return st.n - st.p if reml else st.n


def _vstar(gc: float, gn: float, st: _Stats) -> _Elem:
    """Scaled covariance ``V / sigma^2 = I + gn E E' + gc 1 1'`` as an :class:`_Elem`."""
    J, K = st.J, st.K
    return _Elem(np.ones(J), np.full((J, K), gn), np.ones((J, K, 1)), np.full((J, K, 1), gc))


def _profile_general(
    st: _Stats, alg: _Algebra, gam: np.ndarray, reml: bool, grad: bool
) -> tuple[float, np.ndarray | None]:
    """Profiled criterion (and gradient) of the nested model through the generic algebra.

    The fit uses the closed form :func:`_profile_nested`; this slower route through
    :class:`_Algebra` (the one that also gives the Kenward-Roger and Satterthwaite blocks) is an
    independent derivation kept to test it against.
    """
    gc, gn = float(gam[0]), float(gam[1])
    V = _vstar(gc, gn, st)
    Vi = alg.inv(V)
    A = alg.xax(Vi)
    b = alg.xay(Vi, st.resp)
    c = alg.yay(Vi, st.resp)
    try:
        cf = sla.cho_factor(A, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return math.inf, None
    beta = sla.cho_solve(cf, b, check_finite=False)
    pwrss = c - float(b @ beta)
    if not pwrss > 0:
        return math.inf, None
    dof = _dof(st, reml)
    f = alg.logdet(V) + dof * math.log(pwrss)
    if reml:
        f += 2.0 * float(np.sum(np.log(np.diag(cf[0]))))
    if not grad:
        return f, None
    Ainv = sla.cho_solve(cf, np.eye(st.p), check_finite=False)
    res = alg.residual(beta)
    g = np.zeros(2)
    for r, G in enumerate(_g_elems(st)[:2]):
        ViG = alg.mul(Vi, G)
        M = alg.mul(ViG, Vi)
        dr = alg.trace(ViG)
        if reml:
            dr -= float(np.sum(Ainv * alg.xax(M)))
        dr -= dof * alg.yay(M, res) / pwrss
        g[r] = dr
    return f, g


def _profile_nested(
    st: _Stats, gam: np.ndarray, reml: bool, grad: bool
) -> tuple[float, np.ndarray | None]:
    """Profiled criterion (and gradient in the variance ratios) of the nested model.

    Closed form from two Woodbury steps per cluster: with ``h_k = 1 / (1 + g_n m_k)`` for
    subgroup ``k`` of size ``m_k``, ``D = I + g_n E E'`` has ``D^-1 = I - E diag(g_n h) E'`` and
    ``D^-1 1 = E h``; then ``V^-1 = D^-1 - c_j (E h)(E h)'`` with ``tau_j = sum_k m_k h_k`` and
    ``c_j = g_c / (1 + g_c tau_j)``. Everything reduces to sums over the cells (subgroups of
    equal size) of each cluster.
    """
    p = st.p
    gc, gn = float(gam[0]), float(gam[1])
    m, cnt, bs = st.m, st.cnt, st.size
    h = 1.0 / (1.0 + gn * m)  # (J, K)
    hz = 1.0 / (1.0 + gn * bs.m)  # the same per distinct size
    wz = gn * hz
    tau = np.sum(st.cm * h, axis=1)
    cj = gc / (1.0 + gc * tau)
    a = np.matmul(h[:, None, :], st.S)[:, 0, :]  # (J, p): X'D^-1 1 per cluster
    b = np.sum(h * st.sy, axis=1)  # y'D^-1 1 per cluster
    ca = cj[:, None] * a
    A = st.XtX_sum - (wz @ bs.SS).reshape(p, p) - ca.T @ a
    bv = st.Xty_sum - wz @ bs.ST - ca.T @ b
    cc = st.yty_sum - float(wz @ bs.T2) - float(cj @ (b * b))
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return math.inf, None
    Ainv = np.linalg.inv(A)
    beta = Ainv @ bv
    pwrss = cc - float(bv @ beta)
    if not pwrss > 0:
        return math.inf, None
    dof = _dof(st, reml)
    f = float(bs.cnt @ np.log1p(gn * bs.m) + np.sum(np.log1p(gc * tau)))
    f += dof * math.log(pwrss)
    if reml:
        f += 2.0 * float(np.sum(np.log(np.diagonal(L))))
    if not grad:
        return f, None
    e = 1.0 / (1.0 + gc * tau)
    rho_j = b - a @ beta  # r'D^-1 1 per cluster
    # cell sums of the subgroup residual sums rho_k; sums of rho_k^2 by subgroup size
    t_r = st.sy - st.S @ beta
    SSb = (bs.SS.reshape(-1, p) @ beta).reshape(-1, p)  # (Z, p)
    t2_z = bs.T2 - (2.0 * bs.ST - SSb) @ beta
    # cluster component: V^-1 1 = e_j D^-1 1
    g_c = float(e @ tau) - dof * float(np.sum((e * rho_j) ** 2)) / pwrss
    # nested component: V^-1 1_k = h_k (1_k - c_j m_k D^-1 1), summed over the subgroups k
    cm = cj[:, None] * m
    h2 = h * h
    g_n = float(np.sum(st.cm * h * (1.0 - cm * h)))
    crho = cm * rho_j[:, None]
    r_n = float(hz * hz @ t2_z) + float(np.sum(h2 * (cnt * crho * crho - 2.0 * crho * t_r)))
    g_n -= dof * r_n / pwrss
    if reml:
        ea = e[:, None] * a
        g_c -= float(np.sum((ea @ Ainv) * ea))
        aA = a @ Ainv  # (J, p)
        q_ss = float(hz * hz @ (bs.SS @ Ainv.reshape(-1)))
        q_sa = np.matmul(st.S, aA[:, :, None])[:, :, 0]
        q_aa = np.sum(aA * a, axis=1)
        q_n = q_ss + float(np.sum(h2 * (cnt * cm * cm * q_aa[:, None] - 2.0 * cm * q_sa)))
        g_n -= q_n
    return f, np.array([g_c, g_n])


def _profile_nested_many(st: _Stats, gams: np.ndarray, reml: bool) -> np.ndarray:
    """:func:`_profile_nested` criterion at many points ``gams`` (shape ``(G, 2)``) at once."""
    p = st.p
    bs = st.size
    gc = gams[:, 0][:, None]
    gn = gams[:, 1][:, None, None]
    h = 1.0 / (1.0 + gn * st.m)  # (G, J, K)
    wz = gams[:, 1][:, None] / (1.0 + gams[:, 1][:, None] * bs.m)  # (G, Z)
    tau = np.sum(st.cm * h, axis=2)  # (G, J)
    cj = gc / (1.0 + gc * tau)
    a = np.matmul(h[:, :, None, :], st.S[None])[:, :, 0, :]  # (G, J, p)
    b = np.sum(h * st.sy, axis=2)
    ca = cj[:, :, None] * a
    A = st.XtX_sum - (wz @ bs.SS).reshape(-1, p, p) - ca.transpose(0, 2, 1) @ a
    bv = st.Xty_sum - wz @ bs.ST - np.sum(ca * b[:, :, None], axis=1)
    cc = st.yty_sum - wz @ bs.T2 - np.sum(cj * b * b, axis=1)
    out = np.full(gams.shape[0], np.inf)
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return np.array([_profile_nested(st, g, reml, grad=False)[0] for g in gams])
    z = np.linalg.solve(L, bv[:, :, None])[:, :, 0]
    pwrss = cc - np.sum(z * z, axis=1)
    ok = pwrss > 0
    f = np.log1p(gams[:, 1][:, None] * bs.m) @ bs.cnt + np.sum(np.log1p(gc * tau), axis=1)
    f = f + _dof(st, reml) * np.log(np.where(ok, pwrss, 1.0))
    if reml:
        f = f + 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)), axis=1)
    out[ok] = f[ok]
    return out


def _g_elems(st: _Stats) -> list[_Elem]:
    """Derivatives of ``V`` with respect to the variance components (cluster, [nested], resid)."""
    J, K = st.J, st.K
    zeros = np.zeros(J)
    none = np.zeros((J, K, 0))
    Gc = _Elem(zeros, np.zeros((J, K)), np.ones((J, K, 1)), np.ones((J, K, 1)))
    Ge = _Elem(np.ones(J), np.zeros((J, K)), none, none)
    if st.nested:
        Gn = _Elem(zeros, np.ones((J, K)), none, none)
        return [Gc, Gn, Ge]
    return [Gc, Ge]


def _optimise_nested(st: _Stats, reml: bool) -> tuple[np.ndarray, np.ndarray]:
    """Variance ratios (cluster, nested) of the nested model; returns ``(gamma, on_boundary)``.

    The best point of a grid in ``theta = sqrt(gamma)`` starts a projected Newton search on
    ``gamma >= 0`` with the analytic gradient and a forward-difference Hessian of it. A
    component at zero whose derivative is non-negative stays on the boundary; an indefinite
    Hessian is replaced by its absolute eigenvalues; a step may shrink a ratio at most tenfold
    (unless the ratio is already negligible) and is backtracked until the criterion decreases.
    The search stops when the Newton decrement is negligible.
    """
    tg = _THETA_START**2
    grid = np.stack(np.meshgrid(tg, tg, indexing="ij"), axis=-1).reshape(-1, 2)
    vals = _profile_nested_many(st, grid, reml)
    if not np.isfinite(vals).any():
        raise MixedModelFitError("the profiled criterion is not finite anywhere on the start grid")
    gam = grid[int(np.argmin(vals))].copy()
    f0, g0 = _profile_nested(st, gam, reml, grad=True)
    for _ in range(100):
        if g0 is None:
            raise MixedModelFitError("the profiled criterion is not finite during the search")
        active = (gam <= 0.0) & (g0 >= 0.0)
        idx = np.flatnonzero(~active)
        if idx.size == 0:
            break
        H = np.empty((idx.size, idx.size))
        for col, r in enumerate(idx):
            hstep = 1e-6 * max(gam[r], 1e-6)
            gp = gam.copy()
            gp[r] += hstep
            _, g_plus = _profile_nested(st, gp, reml, grad=True)
            if g_plus is None:
                raise MixedModelFitError("the profiled criterion is not finite near the search")
            H[:, col] = (g_plus[idx] - g0[idx]) / hstep
        ev, evec = np.linalg.eigh(0.5 * (H + H.T))
        ev = np.maximum(np.abs(ev), 1e-10 * max(float(np.max(np.abs(ev))), 1e-300))
        step = -(evec / ev) @ (evec.T @ g0[idx])
        decrement = -float(g0[idx] @ step)
        if decrement < 1e-12:
            break
        # limit a decrease to a factor 10 of the current value (unless negligible already)
        t = 1.0
        cur = gam[idx]
        shrink = (step < 0) & (cur > 1e-6)
        if shrink.any():
            t = min(1.0, float(np.min(0.9 * cur[shrink] / -step[shrink])))
        accepted = False
        while t > 1e-10:
            cand = gam.copy()
            cand[idx] = np.maximum(cur + t * step, 0.0)
            f1, g1 = _profile_nested(st, cand, reml, grad=True)
            if f1 <= f0:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            break  # no descent possible: at the optimum to machine precision
        gam, f0, g0 = cand, f1, g1
    # components numerically at zero with a non-negative derivative there lie on the boundary
    boundary = np.zeros(2, dtype=bool)
    for r in range(2):
        if gam[r] < 1e-8:
            trial = gam.copy()
            trial[r] = 0.0
            _, gz = _profile_nested(st, trial, reml, grad=True)
            if gz is not None and gz[r] >= 0.0:
                gam = trial
                boundary[r] = True
    return gam, boundary


# ---------------------------------------------------------------------------------------------
# One random intercept: sufficient statistics of [X y], profiled criterion, search, KR blocks
# ---------------------------------------------------------------------------------------------


@dataclass
class _Single:
    """Sufficient statistics of the model with one random intercept.

    With ``W = [X y]`` (``P = p + 1`` columns) these are ``G = W'W``, the cluster sums ``s_j``
    of the rows of ``W`` and their outer products ``s_j s_j'``. With ``V*_j = I + gam 11'`` per
    cluster, ``M = W'V*^-1 W = G - sum_j w_j s_j s_j'`` (``w_j = gam / (1 + gam n_j)``) holds
    ``A = X'V*^-1X``, ``X'V*^-1y`` and ``y'V*^-1y``. Its lower Cholesky factor ``L`` has the
    factor of ``A`` as leading block and the square root of the profiled residual sum of squares
    ``pwrss`` as last diagonal element.
    """

    n: int
    p: int
    J: int
    nj: np.ndarray  # (J,) cluster sizes
    m2nj: np.ndarray  # (J,) -2 n_j
    G: np.ndarray  # (P, P)
    SS: np.ndarray  # (J, P * P) flattened s_j s_j'
    # SS with three more columns, 1, n_j and n_j^2, and with a last row (G, 0, 0, 0): one
    # product with per-cluster weights c_j (and c0 for the last row) gives
    # c0 G + sum_j c_j s_j s_j' together with the weighted sums of 1, n_j and n_j^2
    SSx: np.ndarray  # (J + 1, P * P + 3)
    SSn: np.ndarray  # (J, P * P + 3): its first J rows


def _single_stats(y: np.ndarray, X: np.ndarray, codes: np.ndarray, J: int) -> _Single:
    n, p = X.shape
    P = p + 1
    W = np.empty((n, P))
    W[:, :p] = X
    W[:, p] = y
    nj = np.bincount(codes, minlength=J).astype(float)
    if J * n <= _ONE_HOT_MAX:
        # indicator matrix product: the cluster sums of all columns in one BLAS call
        Z = np.zeros((J, n))
        Z[codes, np.arange(n)] = 1.0
        S = Z.dot(W)
    else:
        order = np.argsort(codes, kind="stable")
        starts = np.concatenate(([0], np.cumsum(nj[:-1]))).astype(np.intp)
        S = np.add.reduceat(W[order], starts, axis=0)
    return _single_from_sums(nj, S, W.T.dot(W), n)


def _single_from_sums(nj: np.ndarray, S: np.ndarray, G: np.ndarray, n: int) -> _Single:
    """Statistics from the cluster sizes, the cluster sums of ``[X y]`` and its Gram matrix."""
    J, P = S.shape
    p = P - 1
    PP = P * P
    SSx = np.empty((J + 1, PP + 3))
    SSx[:J, :PP] = (S[:, :, None] * S[:, None, :]).reshape(J, PP)
    SSx[:J, PP] = 1.0
    SSx[:J, PP + 1] = nj
    np.multiply(nj, nj, out=SSx[:J, PP + 2])
    SSx[J, :PP] = G.reshape(-1)
    SSx[J, PP:] = 0.0
    return _Single(n, p, J, nj, -2.0 * nj, G, SSx[:J, :PP], SSx, SSx[:J])


def _single_criterion(st: _Single, gam: np.ndarray, reml: bool) -> np.ndarray:
    """Profiled criterion ``f`` (``-2 loglik`` up to a constant) at many variance ratios.

    REML: ``f = log det V* + log det A + (n - p) log pwrss``; ML: ``log det V* + n log pwrss``.
    ``inf`` where ``M`` is not positive definite (``A`` singular or ``pwrss <= 0``).
    """
    p, P = st.p, st.p + 1
    den = np.multiply.outer(gam, st.nj)
    den += 1.0
    M = st.G - (gam[:, None] / den).dot(st.SS).reshape(-1, P, P)
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        if gam.size == 1:
            return np.array([np.inf])
        return np.concatenate(
            [_single_criterion(st, gam[k : k + 1], reml) for k in range(gam.size)]
        )
    # sum_j log(1 + gam n_j) + 2 sum_k c_k log L_kk in one logarithm and one product
    weights = np.empty(st.J + P)
    weights[: st.J] = 1.0
    weights[st.J : st.J + p] = 2.0 if reml else 0.0
    weights[-1] = 2.0 * (st.n - p if reml else st.n)
    return np.log(np.concatenate((den, np.diagonal(L, axis1=1, axis2=2)), axis=1)).dot(weights)


class _SingleEval:
    """The profiled criterion of the single random-intercept model at one variance ratio.

    ``f`` (the criterion itself) is only needed at the end of the search and is computed on
    first access.
    """

    __slots__ = ("L", "M", "Y", "_f", "d", "d2", "den", "gam", "reml", "st")

    def __init__(self, st: _Single, gam: float, reml: bool) -> None:
        self.st = st
        self.gam = gam
        self.reml = reml
        self._f: float | None = None

    @property
    def f(self) -> float:
        """Profiled criterion (``-2 loglik`` up to a constant)."""
        if self._f is None:
            st = self.st
            p = st.p
            logd = np.log(self.L.diagonal())
            k = st.n - p if self.reml else st.n
            f = float(_add(np.log(self.den))) + 2.0 * k * float(logd[p])
            if self.reml:
                f += 2.0 * float(_add(logd[:p]))
            self._f = f
        return self._f


def _single_eval(st: _Single, gam: float, reml: bool) -> _SingleEval | None:
    """Criterion with its first and second derivative in ``gam``, in closed form.

    ``dM = -B`` and ``d2M = -C`` with ``B = sum_j dw_j s_j s_j'``, ``C = sum_j ddw_j s_j s_j'``,
    ``dw_j = 1 / (1 + gam n_j)^2`` and ``ddw_j = -2 n_j / (1 + gam n_j)^3``. With ``Y = L^-1``,
    ``K = Y B Y'`` and ``K_C = Y C Y'`` (so ``M^-1 = Y'Y``, and ``e`` the last unit vector):
    ``d log det M = -tr K``, ``d2 log det M = -|K|^2 - tr K_C`` and, as
    ``pwrss = 1 / (e'M^-1 e)``, ``d log pwrss = -K_PP`` and
    ``d2 log pwrss = K_PP^2 - 2 |K_.P|^2 - K_C,PP``. REML uses
    ``log det A = log det M - log pwrss``. Returns ``None`` where ``M`` is not positive definite.
    """
    p, P = st.p, st.p + 1
    PP = P * P
    den = st.nj * gam
    den += 1.0
    # rows h, h^2 = dw and -2 n h^3 = ddw, with h = 1 / (1 + gam n) and w = gam h
    coef = np.power(den, _POWERS)
    coef[2] *= st.m2nj
    WB = coef.dot(st.SSn)  # weighted sums of s_j s_j', n_j and n_j^2
    M = st.G - gam * WB[0, :PP].reshape(P, P)
    L, info = _dpotrf(M, lower=1, clean=1)
    if info != 0:
        return None
    Y, info = _dtrtri(L, lower=1)
    if info != 0:
        return None
    K2 = (Y @ WB[1:3, :PP].reshape(2, P, P)) @ Y.T  # (K, K_C)
    K = K2[0]
    tr = K2.trace(axis1=1, axis2=2)
    kpp = float(K[p, p])
    col = K[p]
    d_lp = -kpp
    d2_lp = kpp * kpp - 2.0 * float(col.dot(col)) - float(K2[1, p, p])
    d = float(WB[0, PP + 1])  # sum n_j / (1 + gam n_j): derivative of log det V*
    d2 = -float(WB[1, PP + 2])
    if reml:
        k = st.n - p - 1
        d += k * d_lp - float(tr[0])
        d2 += k * d2_lp - float(np.vdot(K, K)) - float(tr[1])
    else:
        d += st.n * d_lp
        d2 += st.n * d2_lp
    ev = _SingleEval(st, gam, reml)
    ev.d, ev.d2, ev.den, ev.M, ev.L, ev.Y = d, d2, den, M, L, Y
    return ev


def _single_optimise(st: _Single, reml: bool) -> tuple[_SingleEval, bool]:
    """Variance ratio minimising the profiled criterion; returns ``(evaluation, on_boundary)``.

    A vectorised grid search in ``theta = sqrt(gamma)`` brackets the minimum; a parabola through
    the three best grid points starts Newton's method in ``theta`` with the exact second
    derivative, safeguarded by bisection on the sign of the derivative within the bracket.
    """
    theta = _THETA_GRID
    f = _single_criterion(st, _GAM_GRID, reml)
    i = int(np.argmin(f))
    while i == theta.size - 1:
        if theta[-1] > 1e5:
            raise MixedModelFitError(
                "the cluster variance ratio grows without bound: the within-cluster residual "
                "variance is (numerically) zero"
            )
        more = theta[-1] * np.geomspace(1.5, 100.0, 12)
        theta = np.r_[theta, more]
        f = np.r_[f, _single_criterion(st, more**2, reml)]
        i = int(np.argmin(f))
    if not np.isfinite(f[i]):
        raise MixedModelFitError("the profiled criterion is not finite anywhere on the search grid")
    if i == 0:
        ev0 = _single_eval(st, 0.0, reml)
        if ev0 is None:
            raise MixedModelFitError("the profiled criterion is not finite at a zero variance")
        if ev0.d >= 0.0:
            return ev0, True
        lo, hi = 0.0, float(theta[1])
        t = 0.5 * hi
    else:
        lo, hi = float(theta[i - 1]), float(theta[i + 1])
        # vertex of the parabola through the three grid points
        x0, x1, x2 = lo, float(theta[i]), hi
        f0, f1, f2 = float(f[i - 1]), float(f[i]), float(f[i + 1])
        num = (x1 - x0) ** 2 * (f1 - f2) - (x1 - x2) ** 2 * (f1 - f0)
        dnm = (x1 - x0) * (f1 - f2) - (x1 - x2) * (f1 - f0)
        t = x1 - 0.5 * num / dnm if dnm != 0 else x1
        if not lo < t < hi:
            t = x1
    ev = None
    for _ in range(100):
        ev = _single_eval(st, t * t, reml)
        if ev is None:
            break
        d_t = 2.0 * t * ev.d
        d2_t = 2.0 * ev.d + 4.0 * t * t * ev.d2
        if d_t < 0.0:
            lo = t
        elif d_t > 0.0:
            hi = t
        else:
            break
        t_new = t - d_t / d2_t if d2_t > 0.0 else math.nan
        if not lo < t_new < hi:
            t_new = 0.5 * (lo + hi)
        # the Newton step is the distance to the optimum to second order
        if abs(t_new - t) <= _THETA_RTOL * t or hi - lo <= 1e-15 * hi:
            break
        t = t_new
    # f carries dof * log(pwrss), which moves with the outcome's unit; the slack is relative to
    # its size, with a floor of n for a criterion that happens to be near zero
    f_grid = float(f[i])
    if ev is None or not ev.f <= f_grid + 1e-9 * (abs(f_grid) + st.n) or ev.d2 <= 0.0:
        raise MixedModelFitError(
            "the one-dimensional search did not reach a minimum of the profiled criterion"
        )
    return ev, False


def _single_blocks(st: _Single, psi: np.ndarray, beta: np.ndarray, resid: bool) -> _Blocks:
    """Kenward-Roger and Satterthwaite blocks of the single random-intercept model.

    Within a cluster every matrix involved is ``c0 (I - J/n) + c1 J/n`` (``J`` the matrix of
    ones), so products act elementwise on ``(c0, c1)``: ``V^-1 = (1/psi_e, 1/(psi_e + n psi_c))``,
    ``G_c = J = (0, n)``, ``G_e = I = (1, 1)``. Hence ``W' (c0 I + (c1 - c0) J/n) W =
    c0 G + sum_j (c1_j - c0) / n_j s_j s_j'``, whose ``X`` block is the ``X'..X`` product and
    whose products with ``(-beta, 1)`` give the residual quantities.
    """
    p, J, P = st.p, st.J, st.p + 1
    nj = st.nj
    l0 = 1.0 / psi[1]
    l02 = l0 * l0
    l03 = l02 * l0
    l1 = 1.0 / (psi[1] + nj * psi[0])
    l12 = l1 * l1
    l13 = l12 * l1
    # rows: M_c, M_e, VGM_cc, VGM_ce, VGM_ee; columns: (c1_j - c0) / n_j, then c0
    dn = np.zeros((5, J + 1))
    dn[0, :J] = l12
    np.subtract(l12, l02, out=dn[1, :J])
    dn[1, :J] /= nj
    np.multiply(nj, l13, out=dn[2, :J])
    dn[3, :J] = l13
    np.subtract(l13, l03, out=dn[4, :J])
    dn[4, :J] /= nj
    dn[1, J] = l02
    dn[4, J] = l03
    Hx = dn.dot(st.SSx)
    H = Hx[:, : P * P].reshape(5, P, P)
    xax = H[:, :p, :p]
    # sum l1^2, sum n_j l1^2, sum n_j^2 l1^2
    s0, s1, s2 = Hx[0, P * P :].tolist()
    n_minus_J = float(st.n - J)
    Kt = np.array([[s2, s1], [s1, n_minus_J * l02 + s0]])
    out = _Blocks(-xax[:2], xax[2:], Kt)
    if resid:
        bt = np.append(-beta, 1.0)
        Hb = H.dot(bt)  # (5, P)
        rq = Hb.dot(bt)
        out.trViG = np.array([float(nj.dot(l1)), n_minus_J * l0 + float(l1.sum())])
        out.rMr = rq[:2]
        out.u = Hb[:2, :p]
        out.rQr = np.array([[rq[2], rq[3]], [rq[3], rq[4]]])
    return out


def _single_kr(st: _Single, psi: np.ndarray, Phi: np.ndarray) -> tuple[_Inference, np.ndarray]:
    """Kenward-Roger for one random intercept, fused into few small-matrix operations.

    The blocks of :func:`_single_blocks` and the Kenward-Roger part of :func:`_inference`, with
    ``X_r = -P_r`` (``r`` = cluster, residual), ``T_r = Phi X_r Phi`` and the symmetric
    ``Q_rs``: ``IE2_rs = Kt_rs - 2 <Phi, Q_rs> + <T_r, X_s>`` and, with ``Q_W = sum_{r,s} W_rs
    Q_rs``, ``Phi U Phi = Phi Q_W Phi - sum_{r,s} W_rs Phi X_r T_s`` (before symmetrisation).
    Returns the inference object (which holds ``PhiA``) and the per-coefficient df.
    """
    p, J, P = st.p, st.J, st.p + 1
    PP = P * P
    nj = st.nj
    psi_c, psi_e = psi.tolist()
    l0 = 1.0 / psi_e
    l02 = l0 * l0
    l03 = l02 * l0
    l1 = nj * psi_c
    l1 += psi_e
    np.divide(1.0, l1, out=l1)
    l12 = l1 * l1
    l13 = l12 * l1
    # rows: M_c, M_e, VGM_cc, VGM_ce, VGM_ee (see _single_blocks)
    dn = np.zeros((5, J + 1))
    dn[0, :J] = l12
    np.subtract(l12, l02, out=dn[1, :J])
    dn[1, :J] /= nj
    np.multiply(nj, l13, out=dn[2, :J])
    dn[3, :J] = l13
    np.subtract(l13, l03, out=dn[4, :J])
    dn[4, :J] /= nj
    dn[1, J] = l02
    dn[4, J] = l03
    Hx = dn.dot(st.SSx)
    H = Hx[:, :PP]
    X0 = H[0].reshape(P, P)[:p, :p]
    X1 = H[1].reshape(P, P)[:p, :p]
    # <Phi, Q_rs> as one product with Phi padded to P x P
    Phi_pad = np.zeros((P, P))
    Phi_pad[:p, :p] = Phi
    q00, q01, q11 = H[2:].dot(Phi_pad.reshape(-1)).tolist()
    F0 = Phi.dot(X0)
    F1 = Phi.dot(X1)
    T0 = F0.dot(Phi)
    T1 = F1.dot(Phi)
    t00 = float(np.vdot(T0, X0))
    t01 = float(np.vdot(T0, X1))
    t11 = float(np.vdot(T1, X1))
    s0, s1, s2 = Hx[0, PP:].tolist()  # sum l1^2, sum n_j l1^2, sum n_j^2 l1^2
    W = _inv_info_2(
        s2 - 2.0 * q00 + t00, s1 - 2.0 * q01 + t01, (st.n - J) * l02 + s0 - 2.0 * q11 + t11
    )
    (w00, w01), (_, w11) = W.tolist()
    QW = np.array([w00, 2.0 * w01, w11]).dot(H[2:]).reshape(P, P)[:p, :p]
    V = Phi.dot(QW).dot(Phi) - F0.dot(w00 * T0 + w01 * T1) - F1.dot(w01 * T0 + w11 * T1)
    PhiA = Phi + V + V.T
    # df of single coefficients: 2 / a with a = d' W d, d_r = (Phi P_r Phi)_kk / Phi_kk
    dg = Phi.diagonal()
    d0 = T0.diagonal() / dg
    d1 = T1.diagonal() / dg
    a = (w00 * d0 + 2.0 * w01 * d1) * d0 + w11 * d1 * d1
    if np.count_nonzero(a) == a.size:
        df = 2.0 / a
    else:
        with np.errstate(divide="ignore"):
            df = 2.0 / a
    P_r = -H[:2].reshape(2, P, P)[:, :p, :p]
    return _Inference("kenward-roger", Phi, PhiA, P=P_r, W=W), df


def _fit_single(
    y: np.ndarray, X: np.ndarray, codes: np.ndarray, J: int, reml: bool, df_method: str
) -> tuple[MixedModelArrayFit, str | None]:
    st = _single_stats(y, X, codes, J)
    levels = None
    if df_method == "between-within":
        order = np.argsort(codes, kind="stable")
        cs = codes[order]
        starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
        levels = _column_levels(X[order], starts, None)
    return _fit_single_stats(st, reml, df_method, levels)


def _fit_single_stats(
    st: _Single, reml: bool, df_method: str, levels: np.ndarray | None
) -> tuple[MixedModelArrayFit, str | None]:
    """Fit from the sufficient statistics; ``levels`` (of the columns) only for between-within."""
    n, p, J = st.n, st.p, st.J
    rank = _gram_rank(st.G[:p, :p])
    if rank < p:
        raise MixedModelInputError(f"X is rank deficient (rank {rank} < {p} columns)")
    ev, boundary = _single_optimise(st, reml)
    # the leading block of L^-1 is the inverse of the Cholesky factor of A, and the last row
    # of L holds (L_A^-1 b)'
    YA = ev.Y[:p, :p]
    Ainv = YA.T.dot(YA)
    Ainv += Ainv.T
    Ainv *= 0.5
    beta = YA.T.dot(ev.L[p, :p])
    pwrss = float(ev.L[p, p]) ** 2
    dof = n - p if reml else n
    if not (math.isfinite(pwrss) and pwrss > 0):
        raise MixedModelFitError(
            "residual sum of squares is not positive: the data are fitted exactly"
        )
    if not (math.isfinite(_add(beta)) and math.isfinite(ev.gam) and ev.gam >= 0):
        raise MixedModelFitError("non-finite or negative estimates at the optimum")
    # GLS normal equations X'V*^-1 (y - X beta) = A beta - b = 0, against the size of the terms
    A = ev.M[:p, :p]
    b = ev.M[:p, p]
    _check_score(A.dot(beta) - b, np.abs(A).dot(np.abs(beta)) + np.abs(b))
    warn = _check_gradient([ev.d], [ev.gam], [boundary], st.J, n)

    sigma2 = pwrss / dof
    Phi = sigma2 * Ainv
    loglik = -0.5 * (ev.f + dof * (1.0 + _LOG_2PI - math.log(dof)))
    psi = np.array([ev.gam * sigma2, sigma2])
    icc = ev.gam / (ev.gam + 1.0)
    at_boundary = bool(boundary or math.sqrt(ev.gam) < _SINGULAR_THETA_TOL)
    if df_method == "between-within":
        bw = _bw_df(levels, [0, J, n], st.G[:p, :p])
        inf, cov, df = _inference(None, psi, Phi, reml, df_method, bw)
    elif df_method == "kenward-roger":
        inf, df = _single_kr(st, psi, Phi)
        cov = inf.PhiA
    else:
        blocks = _single_blocks(st, psi, beta, resid=True)
        inf, cov, df = _inference(blocks, psi, Phi, reml, df_method, None)
    fit = MixedModelArrayFit(
        beta=beta,
        cov=cov,
        cov_unadjusted=Phi,
        df=df,
        df_method=df_method,
        variance_components=psi,
        icc=icc,
        loglik=loglik,
        reml=reml,
        converged=warn is None,
        at_boundary=at_boundary,
        n_obs=n,
        n_clusters=J,
        n_groups_nested=None,
        _inference=inf,
    )
    return fit, warn


# ---------------------------------------------------------------------------------------------
# Inference: Kenward-Roger, Satterthwaite, between-within
# ---------------------------------------------------------------------------------------------


@dataclass
class _Inference:
    method: str
    Phi: np.ndarray
    PhiA: np.ndarray | None
    # Kenward-Roger
    P: list[np.ndarray] | None = None
    W: np.ndarray | None = None
    # Satterthwaite
    jac: list[np.ndarray] | None = None
    vcov_varpar: np.ndarray | None = None
    # between-within
    bw_df: np.ndarray | None = None

    def contrast_df(self, L: np.ndarray) -> float:
        if self.method == "kenward-roger":
            return _kr_ddf(L, self.Phi, self.P, self.W)[0]
        if self.method == "satterthwaite":
            return _satt_df_1d(L[0], self.Phi, self.jac, self.vcov_varpar)
        involved = np.any(L != 0, axis=0)
        return float(np.min(self.bw_df[involved]))

    def f_test(self, L: np.ndarray, beta: np.ndarray) -> FTestResult:
        from scipy import stats

        if self.method == "kenward-roger":
            ddf, scale, q = _kr_ddf(L, self.Phi, self.P, self.W)
            Lb = L @ beta
            wald = float(Lb @ np.linalg.lstsq(L @ self.PhiA @ L.T, Lb, rcond=None)[0])
            Fu = wald / q
            F = scale * Fu
            p = float(stats.f.sf(F, q, ddf))
            return FTestResult(F, float(q), ddf, p, Fu, scale, self.method)
        if self.method == "satterthwaite":
            F, q, ddf = _satt_f(L, beta, self.Phi, self.jac, self.vcov_varpar)
            p = float(stats.f.sf(F, q, ddf))
            return FTestResult(F, float(q), ddf, p, F, 1.0, self.method)
        q = int(np.linalg.matrix_rank(L))
        Lb = L @ beta
        wald = float(Lb @ np.linalg.lstsq(L @ self.Phi @ L.T, Lb, rcond=None)[0])
        F = wald / q
        ddf = self.contrast_df(L)
        return FTestResult(F, float(q), ddf, float(stats.f.sf(F, q, ddf)), F, 1.0, self.method)


def _kr_ddf(
    L: np.ndarray, Phi: np.ndarray, P: list[np.ndarray], W: np.ndarray
) -> tuple[float, float, int]:
    """pbkrtest's denominator df and F scaling for the hypothesis ``L beta = 0``."""
    q = 1 if L.shape[0] == 1 else int(np.linalg.matrix_rank(L))
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    ThetaPhi = Theta @ Phi
    u = [ThetaPhi @ Pr @ Phi for Pr in P]
    tr = [float(np.trace(ui)) for ui in u]
    A1 = 0.0
    A2 = 0.0
    R = len(P)
    for i in range(R):
        for j in range(i, R):
            e = 1.0 if i == j else 2.0
            A1 += e * W[i, j] * tr[i] * tr[j]
            A2 += e * W[i, j] * float(np.sum(u[i] * u[j].T))
    return _kr_df_from_a(A1, A2, q)


def _kr_df_from_a(A1: float, A2: float, q: int) -> tuple[float, float, int]:
    """pbkrtest's df and F scaling from the quantities ``A1``, ``A2`` and the rank ``q``."""
    B = (A1 + 6.0 * A2) / (2.0 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    den = 3 * q + 2 * (1 - g)
    c1 = g / den
    c2 = (q - g) / den
    c3 = (q + 2 - g) / den
    V0 = 1 + c1 * B
    V1 = 1 - c2 * B
    V2 = 1 - c3 * B
    if abs(V0) < 1e-10:
        V0 = 0.0
    ratio = (1 - A2 / q) / V1 if V1 != 0 else 0.0
    rho = (ratio**2) * V0 / V2 / q
    ddf = 4 + (q + 2) / (q * rho - 1)
    scale = 1.0 if abs(ddf - 2) < 1e-2 else ddf * (1 - A2 / q) / (ddf - 2)
    return float(ddf), float(scale), q


def _satt_df_1d(w: np.ndarray, Phi: np.ndarray, jac: list[np.ndarray], A: np.ndarray) -> float:
    var = float(w @ Phi @ w)
    grad = np.array([float(w @ Jk @ w) for Jk in jac])
    denom = float(grad @ A @ grad)
    if denom <= 0:
        return math.inf
    return 2.0 * var * var / denom


def _satt_f(
    L: np.ndarray, beta: np.ndarray, Phi: np.ndarray, jac: list[np.ndarray], A: np.ndarray
) -> tuple[float, int, float]:
    """lmerTest's multi-df Satterthwaite F test (``contestMD``)."""
    VL = L @ Phi @ L.T
    d, Pv = np.linalg.eigh(VL)
    order = np.argsort(d)[::-1]
    d = d[order]
    Pv = Pv[:, order]
    tol = max(math.sqrt(np.finfo(float).eps) * d[0], 0.0)
    pos = d > tol
    q = int(pos.sum())
    PtL = (Pv.T @ L)[:q]
    if q == 1:
        w = PtL[0]
        t = float(w @ beta) / math.sqrt(float(w @ Phi @ w))
        return t * t, 1, _satt_df_1d(w, Phi, jac, A)
    t2 = (PtL @ beta) ** 2 / d[:q]
    F = float(np.sum(t2) / q)
    nu = np.array([_satt_df_1d(PtL[k], Phi, jac, A) for k in range(q)])
    if np.all(np.abs(np.diff(nu)) < 1e-8):
        ddf = float(nu.mean())
    elif np.any(nu <= 2):
        ddf = 2.0
    else:
        E = float(np.sum(nu / (nu - 2)))
        ddf = 2 * E / (E - q)
    return F, q, ddf


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


def _bw_df(levels: np.ndarray, N: list[int], XtX: np.ndarray) -> np.ndarray:
    """Between-within df per coefficient (see the module docstring for the rule).

    ``levels`` is the finest level at which each column varies (:func:`_column_levels`) and
    ``N`` the number of units per level (``[0, clusters, (subgroups,) observations]``).
    """
    last = len(N) - 1
    N = list(N)
    ranks = []
    for g in range(last + 1):
        cols = np.flatnonzero(levels <= g)
        ranks.append(_gram_rank(XtX[np.ix_(cols, cols)]) if cols.size else 0)
    N[0] = ranks[0]
    df_level = np.zeros(last + 1)
    for g in range(1, last + 1):
        p_g = ranks[g] - ranks[g - 1]
        df_level[g] = N[g] - (N[g - 1] + p_g)
    df_level[0] = df_level[1]
    return df_level[levels]


def _pairs(R: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays of the pairs ``(r, s)``, ``r <= s``, in the order used by ``_Blocks.Q``."""
    return _PAIRS[R]


def _pair_tables(R: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
    ri, si = np.triu_indices(R)
    # (R, R) -> index of the pair (min, max); multiplicity of each pair in a sum over all (r, s)
    index = np.empty((R, R), dtype=np.intp)
    index[ri, si] = index[si, ri] = np.arange(ri.size)
    mult = np.where(ri == si, 1.0, 2.0)
    for a in (ri, si, index, mult):
        a.flags.writeable = False
    return (ri, si), index, mult


# read-only pair tables for two and three variance components
_PAIRS, _PAIR_INDEX, _PAIR_MULT = ({R: _pair_tables(R)[k] for R in (2, 3)} for k in range(3))
_PAIR_R, _PAIR_S = _PAIRS[2]


@dataclass
class _Blocks:
    """Building blocks of the KR and Satterthwaite computations (variance-component order)."""

    P: np.ndarray  # (R, p, p): -X'V^-1 G_r V^-1 X
    Q: np.ndarray  # (R (R + 1) / 2, p, p): X'V^-1 G_r V^-1 G_s V^-1 X for the pairs r <= s
    Kt: np.ndarray  # (R, R): tr(V^-1 G_r V^-1 G_s)
    trViG: np.ndarray | None = None  # (R,): tr(V^-1 G_r)
    rMr: np.ndarray | None = None  # (R,): r'V^-1 G_r V^-1 r
    u: np.ndarray | None = None  # (R, p): X'V^-1 G_r V^-1 r
    rQr: np.ndarray | None = None  # (R, R): r'V^-1 G_r V^-1 G_s V^-1 r


def _blocks_general(
    st: _Stats, alg: _Algebra, psi: np.ndarray, beta: np.ndarray, resid: bool
) -> _Blocks:
    Gs = _g_elems(st)
    R = len(Gs)
    # V = psi_c Gc (+ psi_n Gn) + psi_e I, component order matching Gs
    J, K = st.J, st.K
    V = _Elem(
        np.full(J, psi[-1]),
        np.full((J, K), psi[1] if st.nested else 0.0),
        np.ones((J, K, 1)),
        np.full((J, K, 1), psi[0]),
    )
    Vi = alg.inv(V)
    ViG = [alg.mul(Vi, G) for G in Gs]
    M = [alg.mul(v, Vi) for v in ViG]
    P = np.stack([-alg.xax(Mr) for Mr in M])
    Kt = np.zeros((R, R))
    VGM = {}
    Q = []
    for r, s in zip(*_pairs(R), strict=True):
        VGM[(r, s)] = alg.mul(ViG[r], M[s])
        Q.append(alg.xax(VGM[(r, s)]))
        Kt[r, s] = Kt[s, r] = alg.trace(alg.mul(ViG[r], ViG[s]))
    out = _Blocks(P, np.stack(Q), Kt)
    if resid:
        res = alg.residual(beta)
        out.trViG = np.array([alg.trace(v) for v in ViG])
        out.rMr = np.array([alg.yay(Mr, res) for Mr in M])
        out.u = np.stack([alg.xay(Mr, res) for Mr in M])
        out.rQr = np.empty((R, R))
        for (r, s), v in VGM.items():
            out.rQr[r, s] = out.rQr[s, r] = alg.yay(v, res)
    return out


def _inference(
    blocks: _Blocks | None,
    psi: np.ndarray,
    Phi: np.ndarray,
    reml: bool,
    method: str,
    bw_df: np.ndarray | None,
) -> tuple[_Inference, np.ndarray, np.ndarray]:
    """Inference object, covariance used for inference and df per coefficient."""
    if method == "between-within":
        return _Inference(method, Phi, None, bw_df=bw_df), Phi, bw_df.astype(float)
    P, Q, Kt = blocks.P, blocks.Q, blocks.Kt
    R, p = P.shape[0], Phi.shape[0]
    ri, si = _pairs(R)
    PhiP = Phi @ P  # (R, p, p)
    T = PhiP @ Phi  # (R, p, p): Phi P_r Phi
    # tr(Phi P_r Phi P_s) and tr(Phi Q_rs) as inner products (P_s and Phi are symmetric)
    phiQ = Q.reshape(ri.size, -1).dot(Phi.reshape(-1))
    IE2 = Kt + T.reshape(R, -1).dot(P.reshape(R, -1).T) - 2.0 * phiQ[_PAIR_INDEX[R]]
    if method == "kenward-roger":
        W = _inv_info(IE2)
        # U = sum_{r,s} W_rs (Q_rs - P_r Phi P_s) is symmetric; each off-diagonal pair (r, s)
        # counts twice after symmetrisation
        mult = _PAIR_MULT[R] * W[ri, si]
        U = mult.dot((Q - P[ri] @ PhiP[si]).reshape(ri.size, -1)).reshape(p, p)
        U = U + U.T
        PhiA = Phi + Phi.dot(U).dot(Phi)
        # single coefficients (q = 1): tr(u_r) = (Phi P_r Phi)_kk / Phi_kk and A1 = A2 = a, for
        # which pbkrtest's df reduce to 2 / a
        dPhi = T.diagonal(axis1=1, axis2=2) / Phi.diagonal()
        a = (W.dot(dPhi) * dPhi).sum(axis=0)
        if a.all():
            df = 2.0 / a
        else:
            with np.errstate(divide="ignore"):
                df = 2.0 / a
        return _Inference(method, Phi, PhiA, P=P, W=W), PhiA, df

    # Satterthwaite (lmerTest): varpar = (theta_1, ..., sigma), psi_r = theta_r^2 sigma^2.
    grad = blocks.trViG - blocks.rMr
    if reml:
        grad = grad + P.reshape(R, -1) @ Phi.reshape(-1)
    quad = blocks.rQr - blocks.u @ Phi @ blocks.u.T
    H = -(IE2 if reml else Kt) + 2.0 * quad
    H = 0.5 * (H + H.T)
    sigma = math.sqrt(psi[-1])
    nth = R - 1
    theta = np.sqrt(np.maximum(psi[:nth], 0.0)) / sigma
    # Jacobian d psi / d varpar and second derivatives
    Jm = np.zeros((R, R))
    for k in range(nth):
        Jm[k, k] = 2.0 * theta[k] * sigma**2
        Jm[k, nth] = 2.0 * theta[k] ** 2 * sigma
    Jm[nth, nth] = 2.0 * sigma
    Hv = Jm.T @ H @ Jm
    for k in range(nth):
        Hk = np.zeros((R, R))
        Hk[k, k] = 2.0 * sigma**2
        Hk[k, nth] = Hk[nth, k] = 4.0 * theta[k] * sigma
        Hk[nth, nth] = 2.0 * theta[k] ** 2
        Hv += grad[k] * Hk
    Hv[nth, nth] += 2.0 * grad[nth]
    # The Hessian in (theta, sigma) mixes units: its sigma row scales as 1 / sigma. Scaled to
    # D Hv D with D = diag(1, ..., 1, sigma) it is unit-free, so the eigenvalue cut-off of the
    # pseudo-inverse (relative to the largest eigenvalue) and the precision of the
    # eigen-decomposition do not depend on the outcome's unit. lmerTest cuts at an absolute
    # 1e-8 on the unscaled Hessian, which drops the sigma direction for outcomes measured in
    # small units (e.g. costs in pence) and so inflates the df; at unit scale the two agree.
    dscale = np.ones(R)
    dscale[nth] = sigma
    Hs = Hv * dscale[:, None] * dscale[None, :]
    evals, evecs = np.linalg.eigh(0.5 * (Hs + Hs.T))
    pos = evals > _HESSIAN_EIG_RTOL * max(float(evals[-1]), 0.0)
    U = evecs[:, pos] * dscale[:, None]
    vcov_varpar = 2.0 * (U / evals[pos]) @ U.T
    # d Phi / d psi_r = -Phi P_r Phi, chained to the variance parameters
    jac = list(np.tensordot(Jm, -T, axes=(0, 0)))
    grads = np.array([np.diag(Jk) for Jk in jac])  # (n_varpar, p)
    den = np.einsum("ak,ab,bk->k", grads, vcov_varpar, grads)
    with np.errstate(divide="ignore"):
        df = np.where(den > 0, 2.0 * np.diag(Phi) ** 2 / den, np.inf)
    return _Inference(method, Phi, None, jac=jac, vcov_varpar=vcov_varpar), Phi, df


def _inv_info_2(a: float, b: float, c: float) -> np.ndarray:
    """:func:`_inv_info` of the symmetric 2 x 2 matrix ``[[a, b], [b, c]]``, in closed form."""
    # its eigenvalues are m - r and m + r
    m = 0.5 * (a + c)
    r = math.hypot(0.5 * (a - c), b)
    # the information has the units of 1 / variance^2: near-singularity is judged relative to
    # the larger eigenvalue
    ev = (abs(m - r), abs(m + r))
    if min(ev) > _INFO_RTOL * max(ev):
        f = 2.0 / (a * c - b * b)
        return np.array([[f * c, -f * b], [-f * b, f * a]])
    return 2.0 * np.linalg.pinv(np.array([[a, b], [b, c]]))


def _inv_info(IE2: np.ndarray) -> np.ndarray:
    """``2 IE2^-1`` (the covariance of the variance components), or a pseudo-inverse."""
    IE2 = 0.5 * (IE2 + IE2.T)
    if IE2.shape[0] == 2:
        (a, b), (_, c) = IE2.tolist()
        return _inv_info_2(a, b, c)
    ev, evec = np.linalg.eigh(IE2)
    if float(np.min(np.abs(ev))) > _INFO_RTOL * float(np.max(np.abs(ev))):
        W = 2.0 * (evec / ev) @ evec.T
    else:
        W = 2.0 * np.linalg.pinv(IE2)
    return 0.5 * (W + W.T)


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


# ---------------------------------------------------------------------------------------------
# Nested model fit
# ---------------------------------------------------------------------------------------------


def _fit_nested(
    y: np.ndarray,
    X: np.ndarray,
    ccode: np.ndarray,
    J: int,
    gcode: np.ndarray,
    reml: bool,
    df_method: str,
) -> tuple[MixedModelArrayFit, str | None]:
    n, p = X.shape
    st = _build_stats(y, X, ccode, J, gcode)
    rank = _gram_rank(st.XtX_sum)
    if rank < p:
        raise MixedModelInputError(f"X is rank deficient (rank {rank} < {p} columns)")
    if st.n_groups >= n:
        raise MixedModelInputError(
            f"every nested group holds a single observation ({st.n_groups} groups, {n} "
            "observations): the nested and residual variances cannot be told apart"
        )
    if st.n_groups <= J:
        raise MixedModelInputError(
            f"every cluster holds a single nested group ({st.n_groups} groups, {J} clusters): "
            "the cluster and nested variances cannot be told apart"
        )
    alg = _Algebra(st)
    gam, boundary = _optimise_nested(st, reml)
    V = _vstar(float(gam[0]), float(gam[1]), st)
    Vi = alg.inv(V)
    A = alg.xax(Vi)
    bvec = alg.xay(Vi, st.resp)
    c = alg.yay(Vi, st.resp)
    try:
        chol = np.linalg.cholesky(A)
    except np.linalg.LinAlgError as exc:
        raise MixedModelFitError("X'V^-1X is not positive definite at the optimum") from exc
    Ainv = np.linalg.inv(A)
    Ainv = 0.5 * (Ainv + Ainv.T)
    beta = Ainv @ bvec
    pwrss = c - float(bvec @ beta)
    dof = _dof(st, reml)
    if not (np.isfinite(pwrss) and pwrss > 0):
        raise MixedModelFitError(
            "residual sum of squares is not positive: the data are fitted exactly"
        )
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(gam)) and np.all(gam >= 0)):
        raise MixedModelFitError("non-finite or negative estimates at the optimum")
    score = alg.xay(Vi, alg.residual(beta))
    _check_score(score, np.abs(alg.xay(Vi, st.resp)) + np.abs(A) @ np.abs(beta))
    _, g = _profile_nested(st, gam, reml, grad=True)
    if g is None:
        raise MixedModelFitError("the profiled criterion is not finite at the optimum")
    warn = _check_gradient(g, gam, boundary, J, n)

    sigma2 = pwrss / dof
    Phi = sigma2 * Ainv
    crit = alg.logdet(V) + dof * (1.0 + _LOG_2PI + math.log(pwrss / dof))
    if reml:
        crit += 2.0 * float(np.sum(np.log(np.diag(chol))))
    psi = np.r_[gam * sigma2, sigma2]
    at_boundary = bool(np.any(boundary) or np.any(np.sqrt(gam) < _SINGULAR_THETA_TOL))
    if df_method == "between-within":
        bw = _bw_df(st.levels, [0, J, st.n_groups, n], st.XtX_sum)
        inf, cov, df = _inference(None, psi, Phi, reml, df_method, bw)
    else:
        blocks = _blocks_general(st, alg, psi, beta, df_method == "satterthwaite")
        inf, cov, df = _inference(blocks, psi, Phi, reml, df_method, None)
    fit = MixedModelArrayFit(
        beta=beta,
        cov=cov,
        cov_unadjusted=Phi,
        df=df,
        df_method=df_method,
        variance_components=psi,
        icc=float(psi[0] / np.sum(psi)),
        loglik=float(-0.5 * crit),
        reml=reml,
        converged=warn is None,
        at_boundary=at_boundary,
        n_obs=n,
        n_clusters=J,
        n_groups_nested=st.n_groups,
        _inference=inf,
    )
    return fit, warn


# ---------------------------------------------------------------------------------------------
# Input handling and the public entry points
# ---------------------------------------------------------------------------------------------


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
    df_method: str = "kenward-roger",
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
    df_method : {"kenward-roger", "satterthwaite"}
        Between-within df need the rows (which columns vary within clusters) and are not
        available here.

    Returns
    -------
    MixedModelArrayFit

    Raises
    ------
    MixedModelInputError, MixedModelFitError
        As :func:`fit_random_intercept_arrays`.
    """
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
