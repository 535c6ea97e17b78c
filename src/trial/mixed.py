"""Fast linear mixed models with random intercepts and small-sample degrees of freedom.

The model is

.. math::

    y = X\\beta + Z_c u + Z_n v + e,\\quad u \\sim N(0, \\sigma_c^2 I),\\;
    v \\sim N(0, \\sigma_n^2 I),\\; e \\sim N(0, \\sigma^2 I),

with a random intercept per cluster and, optionally, a second random intercept for subgroups
nested within clusters (``(1 | cluster) + (1 | cluster:nested)`` in lme4 notation).

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

The residual variance is profiled out. With one random intercept a vectorised grid search in
``theta = sqrt(variance ratio)`` brackets the optimum and Newton's method with the exact first
and second derivatives of the profiled (REML or ML) criterion, safeguarded by bisection, finds
it. With a nested term the best point of a vectorised grid starts a projected Newton search on
the two variance ratios (analytic gradient, difference Hessian). Every fit is verified (score
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
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg as sla
from scipy import stats
from scipy.linalg.lapack import dpotrf as _dpotrf

__all__ = [
    "ContrastResult",
    "FTestResult",
    "MixedModelConvergenceWarning",
    "MixedModelError",
    "MixedModelFit",
    "MixedModelFitError",
    "MixedModelInputError",
    "fit_random_intercept_model",
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


@dataclass(frozen=True)
class MixedModelFit:
    """A fitted random-intercept linear mixed model.

    Attributes
    ----------
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

    params: pd.Series
    cov: pd.DataFrame
    cov_unadjusted: pd.DataFrame
    df: pd.Series
    df_method: str
    variance_components: pd.Series
    icc: float
    loglik: float
    reml: bool
    converged: bool
    at_boundary: bool
    n_obs: int
    n_clusters: int
    n_groups_nested: int | None = None
    _inference: Any = field(default=None, repr=False, compare=False)

    # -- contrasts -----------------------------------------------------------------------------
    def _weights(self, L: Any) -> np.ndarray:
        names = list(self.params.index)
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
        w = self._weights(L)
        if not np.any(w):
            raise MixedModelInputError("contrast weights are all zero")
        est = float(w @ self.params.to_numpy())
        var = float(w @ self.cov.to_numpy() @ w)
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
        L : array-like or pandas.DataFrame, shape (q, p)
            Contrast matrix; a DataFrame is aligned to the coefficient names by column.

        Returns
        -------
        FTestResult
            Kenward-Roger: pbkrtest's ``KRmodcomp`` statistic (Wald statistic with the adjusted
            covariance, divided by ``q`` and multiplied by the scaling factor) and df.
            Satterthwaite: lmerTest's ``contestMD``. Between-within: unscaled Wald F with the
            smallest between-within df among the coefficients involved.
        """
        if isinstance(L, pd.DataFrame):
            names = list(self.params.index)
            unknown = [c for c in L.columns if c not in names]
            if unknown:
                raise MixedModelInputError(f"unknown coefficient names in contrast: {unknown}")
            Lm = L.reindex(columns=names).fillna(0.0).to_numpy(dtype=float)
        else:
            Lm = np.atleast_2d(np.asarray(L, dtype=float))
        if Lm.ndim != 2 or Lm.shape[1] != len(self.params):
            raise MixedModelInputError(
                f"L must have {len(self.params)} columns, got shape {Lm.shape}"
            )
        if np.linalg.matrix_rank(Lm) == 0:
            raise MixedModelInputError("contrast matrix has rank 0")
        return self._inference.f_test(Lm, self.params.to_numpy())

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
        est = self.params.to_numpy()
        se = np.sqrt(np.diag(self.cov.to_numpy()))
        df = self.df.to_numpy()
        t = est / se
        p = 2.0 * stats.t.sf(np.abs(t), df)
        q = stats.t.ppf(1.0 - alpha / 2.0, df)
        return pd.DataFrame(
            {
                "term": list(self.params.index),
                "estimate": est,
                "se": se,
                "df": df,
                "t": t,
                "p": p,
                "ci_low": est - q * se,
                "ci_high": est + q * se,
                "df_method": self.df_method,
            }
        )


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
    def sx1(self) -> np.ndarray:
        return self.S[:, 0, :]

    @property
    def sy1(self) -> np.ndarray:
        return self.sy[:, 0]

    @property
    def SXSX_flat(self) -> np.ndarray:
        return self.SS.reshape(self.J, self.p * self.p)

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
    scale = np.maximum(np.max(np.abs(Xs), axis=0), 1.0)
    tol = 1e-10 * scale

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


def _profile_single(st: _Stats, gam: np.ndarray, reml: bool) -> np.ndarray:
    """Profiled criterion ``f`` (``-2 loglik`` minus a constant) on a vector of variance ratios."""
    gam = np.asarray(gam, dtype=float)
    nj = st.nj
    w = gam[:, None] / (1.0 + gam[:, None] * nj[None, :])  # (G, J)
    p = st.p
    A = st.XtX_sum[None] - (w @ st.SXSX_flat).reshape(-1, p, p)
    sy = st.sy[:, 0]
    sx = st.S[:, 0, :]
    b = st.Xty_sum[None, :] - (w * sy[None, :]) @ sx
    c = st.yty_sum - (w * sy[None, :] ** 2).sum(axis=1)
    out = np.full(gam.size, np.inf)
    try:
        Lc = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return (
            np.array([_profile_single(st, np.array([g]), reml)[0] for g in gam])
            if gam.size > 1
            else out
        )
    z = np.linalg.solve(Lc, b[:, :, None])[:, :, 0]
    pwrss = c - np.sum(z * z, axis=1)
    logdetV = np.log1p(gam[:, None] * nj[None, :]).sum(axis=1)
    ok = pwrss > 0
    f = logdetV + _dof(st, reml) * np.log(np.where(ok, pwrss, 1.0))
    if reml:
        f = f + 2.0 * np.log(np.diagonal(Lc, axis1=1, axis2=2)).sum(axis=1)
    out[ok] = f[ok]
    return out


@dataclass
class _SingleEval:
    """The profiled criterion of the single random-intercept model at one variance ratio."""

    gam: float
    f: float  # profiled criterion (-2 loglik up to a constant)
    d: float  # first derivative in gam
    d2: float  # second derivative in gam
    w: np.ndarray  # (J,) gam / (1 + gam n_j)
    A: np.ndarray  # X'V*^-1 X
    L: np.ndarray  # its Cholesky factor
    Ainv: np.ndarray
    beta: np.ndarray
    pwrss: float
    logdetV: float  # log det V*


def _eval_single(st: _Stats, gam: float, reml: bool) -> _SingleEval | None:
    """Criterion with its first and second derivative in closed form (one random intercept).

    With ``V*_j = I + gam 11'`` per cluster, ``V*_j^-1 = I - w_j 11'``, ``w_j = gam / (1 + gam
    n_j)``, ``dw_j = 1 / (1 + gam n_j)^2``. With ``A = X'V*^-1X``, ``B = sum_j dw_j s_j s_j'``
    (``s_j`` the cluster column sums of ``X``), ``e_j`` the cluster sums of the GLS residuals and
    ``u = sum_j dw_j e_j s_j``: ``dA = -B``, ``d beta = -A^-1 u``, ``d pwrss = -sum_j dw_j e_j^2``
    and the derivatives below follow. Returns ``None`` where ``A`` is not positive definite or
    the residual sum of squares is not positive.
    """
    nj = st.nj
    p = st.p
    den = 1.0 + gam * nj
    w = gam / den
    dw = 1.0 / (den * den)
    sx = st.sx1
    sy = st.sy1
    WB = np.stack([w, dw]) @ st.SXSX_flat  # (2, p * p)
    A = st.XtX_sum - WB[0].reshape(p, p)
    L, info = _dpotrf(A, lower=1, clean=1)
    if info != 0:
        return None
    Ainv = np.linalg.inv(A)
    wsy = w * sy
    b = st.Xty_sum - wsy @ sx
    beta = Ainv @ b
    pwrss = st.yty_sum - float(wsy @ sy) - float(b @ beta)
    if not pwrss > 0:
        return None
    dof = _dof(st, reml)
    logdetV = float(np.log(den).sum())
    f = logdetV + dof * math.log(pwrss)
    e = sy - sx @ beta
    dwe = dw * e
    S2 = float(dwe @ e)
    ddw = (-2.0 / den) * (nj * dw)
    u = dwe @ sx
    r = S2 / pwrss
    d = float((nj / den).sum()) - dof * r
    d2 = -float((nj * nj) @ dw) - dof * (
        (float(ddw @ (e * e)) + 2.0 * float(u @ Ainv @ u)) / pwrss + r * r
    )
    if reml:
        f += 2.0 * float(np.log(L.diagonal()).sum())
        q = ((sx @ Ainv) * sx).sum(axis=1)
        AB = Ainv @ WB[1].reshape(p, p)
        d -= float(dw @ q)
        d2 -= float(ddw @ q) + float((AB * AB.T).sum())
    return _SingleEval(gam, f, d, d2, w, A, L, Ainv, beta, pwrss, logdetV)


def _optimise_single(st: _Stats, reml: bool) -> tuple[_SingleEval, bool]:
    """Variance ratio minimising the profiled criterion; returns ``(evaluation, on_boundary)``.

    A vectorised grid search in ``theta = sqrt(gamma)`` brackets the minimum; a parabola through
    the three best grid points starts Newton's method in ``theta`` with the exact second
    derivative, safeguarded by bisection on the sign of the derivative within the bracket.
    """
    theta = _THETA_GRID
    f = _profile_single(st, theta**2, reml)
    i = int(np.argmin(f))
    while i == theta.size - 1:
        if theta[-1] > 1e5:
            raise MixedModelFitError(
                "the cluster variance ratio grows without bound: the within-cluster residual "
                "variance is (numerically) zero"
            )
        more = theta[-1] * np.geomspace(1.5, 100.0, 12)
        theta = np.r_[theta, more]
        f = np.r_[f, _profile_single(st, more**2, reml)]
        i = int(np.argmin(f))
    if not np.isfinite(f[i]):
        raise MixedModelFitError("the profiled criterion is not finite anywhere on the search grid")
    if i == 0:
        ev0 = _eval_single(st, 0.0, reml)
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
        ev = _eval_single(st, t * t, reml)
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
        if abs(t_new - t) <= 1e-10 * t or hi - lo <= 1e-15 * hi:
            break
        t = t_new
    if ev is None or not ev.f <= float(f[i]) + 1e-9 * abs(float(f[i])) or ev.d2 <= 0.0:
        raise MixedModelFitError(
            "the one-dimensional search did not reach a minimum of the profiled criterion"
        )
    return ev, False


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
    d = np.sqrt(np.diag(G))
    nonzero = d > 0
    if not nonzero.any():
        return 0
    Gs = G[np.ix_(nonzero, nonzero)] / np.outer(d[nonzero], d[nonzero])
    ev = np.linalg.eigvalsh(Gs)
    return int(np.sum(ev > ev[-1] * _RANK_TOL))


def _bw_df(st: _Stats) -> np.ndarray:
    """Between-within df per coefficient (see the module docstring for the rule)."""
    levels = st.levels
    last = 3 if st.nested else 2
    N = [0, st.J, st.n_groups, st.n] if st.nested else [0, st.J, st.n]
    ranks = []
    for g in range(last + 1):
        cols = np.flatnonzero(levels <= g)
        ranks.append(_gram_rank(st.XtX_sum[np.ix_(cols, cols)]) if cols.size else 0)
    N[0] = ranks[0]
    df_level = np.zeros(last + 1)
    for g in range(1, last + 1):
        p_g = ranks[g] - ranks[g - 1]
        df_level[g] = N[g] - (N[g - 1] + p_g)
    df_level[0] = df_level[1]
    return df_level[levels]


@dataclass
class _Blocks:
    """Building blocks of the KR and Satterthwaite computations (variance-component order)."""

    P: list[np.ndarray]  # -X'V^-1 G_r V^-1 X
    Q: dict[tuple[int, int], np.ndarray]  # X'V^-1 G_r V^-1 G_s V^-1 X
    Kt: np.ndarray  # tr(V^-1 G_r V^-1 G_s)
    trViG: np.ndarray | None = None  # tr(V^-1 G_r)
    rMr: np.ndarray | None = None  # r'V^-1 G_r V^-1 r
    u: list[np.ndarray] | None = None  # X'V^-1 G_r V^-1 r
    rQr: dict[tuple[int, int], float] | None = None  # r'V^-1 G_r V^-1 G_s V^-1 r


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
    P = [-alg.xax(Mr) for Mr in M]
    Q: dict[tuple[int, int], np.ndarray] = {}
    Kt = np.zeros((R, R))
    VGM: dict[tuple[int, int], _Elem] = {}
    for r in range(R):
        for s in range(r, R):
            VGM[(r, s)] = alg.mul(ViG[r], M[s])
            Q[(r, s)] = alg.xax(VGM[(r, s)])
            Kt[r, s] = Kt[s, r] = alg.trace(alg.mul(ViG[r], ViG[s]))
    out = _Blocks(P, Q, Kt)
    if resid:
        res = alg.residual(beta)
        out.trViG = np.array([alg.trace(v) for v in ViG])
        out.rMr = np.array([alg.yay(Mr, res) for Mr in M])
        out.u = [alg.xay(Mr, res) for Mr in M]
        out.rQr = {k: alg.yay(v, res) for k, v in VGM.items()}
    return out


def _blocks_single(st: _Stats, psi: np.ndarray, beta: np.ndarray, resid: bool) -> _Blocks:
    """Closed forms for one random intercept.

    Within a cluster every matrix involved is ``c0 (I - J/n) + c1 J/n`` (``J`` the matrix of
    ones), so products act elementwise on ``(c0, c1)``: ``V^-1 = (1/psi_e, 1/(psi_e + n psi_c))``,
    ``G_c = J = (0, n)``, ``G_e = I = (1, 1)``.
    """
    nj = st.nj
    l0 = 1.0 / psi[1]
    l1 = 1.0 / (psi[1] + nj * psi[0])
    z = np.zeros_like(nj)
    one = np.ones_like(nj)
    # (c0, c1) of M_c, M_e, VGM_cc, VGM_ce, VGM_ee
    c0 = np.stack([z, l0**2 * one, z, z, l0**3 * one])
    c1 = np.stack([nj * l1**2, l1**2, nj**2 * l1**3, nj * l1**3, l1**3])
    p = st.p
    dn = (c1 - c0) / nj
    xax = (c0 @ st.XtX.reshape(st.J, p * p) + dn @ st.SXSX_flat).reshape(-1, p, p)
    P = [-xax[0], -xax[1]]
    Q = {(0, 0): xax[2], (0, 1): xax[3], (1, 1): xax[4]}
    Kt = np.empty((2, 2))
    Kt[0, 0] = float(np.sum(nj**2 * l1**2))
    Kt[0, 1] = Kt[1, 0] = float(np.sum(nj * l1**2))
    Kt[1, 1] = float(np.sum((nj - 1.0) * l0**2 + l1**2))
    out = _Blocks(P, Q, Kt)
    if resid:
        sx = st.sx1
        Xtr = st.Xty - st.XtX @ beta
        rtr = st.yty - 2.0 * (st.Xty @ beta) + np.einsum("a,jab,b->j", beta, st.XtX, beta)
        e = st.sy1 - sx @ beta
        out.trViG = np.array([float(np.sum(nj * l1)), float(np.sum((nj - 1.0) * l0 + l1))])
        rq = c0 @ rtr + dn @ (e * e)
        uu = c0[:2] @ Xtr + (dn[:2] * e) @ sx
        out.rMr = rq[:2]
        out.u = [uu[0], uu[1]]
        out.rQr = {(0, 0): float(rq[2]), (0, 1): float(rq[3]), (1, 1): float(rq[4])}
    return out


def _inference(
    st: _Stats,
    alg: _Algebra,
    psi: np.ndarray,
    beta: np.ndarray,
    Phi: np.ndarray,
    reml: bool,
    method: str,
    X: np.ndarray,
) -> _Inference:
    if method == "between-within":
        return _Inference(method, Phi, None, bw_df=_bw_df(st))
    if st.nested:
        blocks = _blocks_general(st, alg, psi, beta, method == "satterthwaite")
    else:
        blocks = _blocks_single(st, psi, beta, method == "satterthwaite")
    P, Q, Kt = blocks.P, blocks.Q, blocks.Kt
    R = len(P)
    p = Phi.shape[0]
    # all pairs (r, s) at once: Qs[r, s] = Q_rs (symmetrised), PPP[r, s] = P_r Phi P_s
    Ps = np.stack(P)  # (R, p, p)
    Qs = np.empty((R, R, p, p))
    for (r, s), Qrs in Q.items():
        Qs[r, s] = Qrs
        Qs[s, r] = Qrs.T
    PhiP = Phi @ Ps  # (R, p, p)
    PPP = np.matmul(Ps[:, None], PhiP[None])  # (R, R, p, p): P_r Phi P_s
    # tr(Phi P_r Phi P_s) = sum(PhiP_r * (PhiP_s)')
    tr_pp = np.einsum("rab,sba->rs", PhiP, PhiP)
    IE2 = Kt - 2.0 * np.einsum("ab,rsab->rs", Phi, Qs) + tr_pp
    IE2 = 0.5 * (IE2 + IE2.T)
    if method == "kenward-roger":
        condi = float(np.min(np.abs(np.linalg.eigvalsh(IE2))))
        W = 2.0 * (np.linalg.inv(IE2) if condi > 1e-10 else np.linalg.pinv(IE2))
        W = 0.5 * (W + W.T)
        # U = sum_{r,s} W_rs (Q_rs - P_r Phi P_s), symmetric in (r, s) after summation
        U = np.einsum("rs,rsab->ab", W, Qs - PPP)
        U = 0.5 * (U + U.T)
        PhiA = Phi + 2.0 * Phi @ U @ Phi
        return _Inference(method, Phi, PhiA, P=P, W=W)

    # Satterthwaite (lmerTest): varpar = (theta_1, ..., sigma), psi_r = theta_r^2 sigma^2.
    grad = np.zeros(R)
    H = np.zeros((R, R))
    for r in range(R):
        tr_r = blocks.trViG[r]
        if reml:
            tr_r += float(np.sum(Phi * P[r]))
        grad[r] = tr_r - blocks.rMr[r]
        for s in range(r, R):
            quad = blocks.rQr[(r, s)] - float(blocks.u[r] @ Phi @ blocks.u[s])
            info = IE2[r, s] if reml else Kt[r, s]
            H[r, s] = H[s, r] = -info + 2.0 * quad
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
    Hn = np.zeros((R, R))
    Hn[nth, nth] = 2.0
    Hv += grad[nth] * Hn
    evals, evecs = np.linalg.eigh(0.5 * (Hv + Hv.T))
    pos = evals > 1e-8
    h_inv = (evecs[:, pos] / evals[pos]) @ evecs[:, pos].T
    vcov_varpar = 2.0 * h_inv
    dPhi = [Phi @ (-P[r]) @ Phi for r in range(R)]
    jac = [sum(dPhi[r] * Jm[r, a] for r in range(R)) for a in range(R)]
    return _Inference(method, Phi, None, jac=jac, vcov_varpar=vcov_varpar)


# ---------------------------------------------------------------------------------------------
# Input handling and the public entry point
# ---------------------------------------------------------------------------------------------


def _codes(labels: Any, n: int, what: str) -> tuple[np.ndarray, int]:
    if isinstance(labels, pd.Series | pd.Index):
        # factorising the NumPy values is much faster than an Arrow-backed Series
        labels = labels.to_numpy()
    elif not isinstance(labels, np.ndarray):
        labels = np.asarray(labels, dtype=object)
    if labels.ndim != 1:
        raise MixedModelInputError(f"{what} must be one-dimensional")
    if labels.shape[0] != n:
        raise MixedModelInputError(f"{what} has length {labels.shape[0]} but y has length {n}")
    codes, uniques = pd.factorize(labels, sort=False, use_na_sentinel=True)
    if codes.size and codes.min() < 0:
        raise MixedModelInputError(f"{what} contains missing labels")
    return codes.astype(np.int64, copy=False), len(uniques)


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
    """
    if df_method not in DF_METHODS:
        raise MixedModelInputError(f"df_method must be one of {DF_METHODS}, got {df_method!r}")
    if df_method == "kenward-roger" and not reml:
        raise MixedModelInputError(
            "Kenward-Roger df are defined for REML fits only (as in lmerTest); use reml=True "
            "or another df_method"
        )
    if not isinstance(X, pd.DataFrame):
        raise MixedModelInputError("X must be a pandas DataFrame whose columns name the terms")
    names = [str(c) for c in X.columns]
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
    p = Xv.shape[1]
    if p == 0:
        raise MixedModelInputError("X has no columns")
    if not np.all(np.isfinite(yv)):
        raise MixedModelInputError("y contains missing or infinite values")
    if not np.all(np.isfinite(Xv)):
        bad = [names[k] for k in np.flatnonzero(~np.all(np.isfinite(Xv), axis=0))]
        raise MixedModelInputError(f"X contains missing or infinite values in columns {bad}")
    ccode, J = _codes(clusters, n, "clusters")
    if J < 2:
        raise MixedModelInputError(
            "at least two clusters are needed to estimate a cluster variance"
        )
    gcode = None
    if nested is not None:
        gcode, _ = _codes(nested, n, "nested")
    if n <= p + 1:
        raise MixedModelInputError(f"too few observations ({n}) for {p} fixed effects")

    st = _build_stats(yv, Xv, ccode, J, gcode)
    rank = _gram_rank(st.XtX_sum)
    if rank < p:
        raise MixedModelInputError(f"X is rank deficient (rank {rank} < {p} columns)")
    if st.nested and st.n_groups >= n:
        raise MixedModelInputError(
            f"every nested group holds a single observation ({st.n_groups} groups, {n} "
            "observations): the nested and residual variances cannot be told apart"
        )
    if st.nested and st.n_groups <= J:
        raise MixedModelInputError(
            f"every cluster holds a single nested group ({st.n_groups} groups, {J} clusters): "
            "the cluster and nested variances cannot be told apart"
        )
    alg = _Algebra(st)
    if st.nested:
        gam, boundary = _optimise_nested(st, reml)
        # estimates at the optimum
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
        beta = Ainv @ bvec
        pwrss = c - float(bvec @ beta)
        logdetV = alg.logdet(V)
        gls: Any = Vi
    else:
        ev, b0 = _optimise_single(st, reml)
        gam = np.array([ev.gam])
        boundary = np.array([b0])
        chol, Ainv, beta, pwrss, logdetV = ev.L, ev.Ainv, ev.beta, ev.pwrss, ev.logdetV
        gls = ev
    Ainv = 0.5 * (Ainv + Ainv.T)
    dof = _dof(st, reml)
    if not (np.isfinite(pwrss) and pwrss > 0):
        raise MixedModelFitError(
            "residual sum of squares is not positive: the data are fitted exactly"
        )
    sigma2 = pwrss / dof
    Phi = sigma2 * Ainv
    crit = logdetV + dof * (1.0 + _LOG_2PI + math.log(pwrss / dof))
    if reml:
        crit += 2.0 * float(np.sum(np.log(np.diag(chol))))
    loglik = -0.5 * crit

    converged = _verify(st, alg, gam, boundary, beta, reml, gls)

    psi = np.r_[gam * sigma2, sigma2]
    vc_index = ["cluster", "nested", "residual"] if st.nested else ["cluster", "residual"]
    theta = np.sqrt(gam)
    at_boundary = bool(np.any(boundary) or np.any(theta < _SINGULAR_THETA_TOL))

    inf = _inference(st, alg, psi, beta, Phi, reml, df_method, Xv)
    if df_method == "kenward-roger":
        cov = inf.PhiA
        # single coefficients (q = 1): tr(u_r) = (Phi P_r Phi)_kk / Phi_kk and A1 = A2
        dPhi = np.array([np.diag(Phi @ Pr @ Phi) for Pr in inf.P]) / np.diag(Phi)[None, :]
        a = np.einsum("rk,rs,sk->k", dPhi, inf.W, dPhi)
        df = np.array([_kr_df_from_a(a1, a1, 1)[0] for a1 in a])
    elif df_method == "satterthwaite":
        cov = Phi
        grads = np.array([np.diag(Jk) for Jk in inf.jac])  # (n_varpar, p)
        den = np.einsum("ak,ab,bk->k", grads, inf.vcov_varpar, grads)
        with np.errstate(divide="ignore"):
            df = np.where(den > 0, 2.0 * np.diag(Phi) ** 2 / den, np.inf)
    else:
        cov = Phi
        df = inf.bw_df.astype(float)
    total = float(np.sum(psi))
    idx = pd.Index(names, dtype=object, copy=False)
    return MixedModelFit(
        params=pd.Series(beta, index=idx, name="estimate"),
        cov=pd.DataFrame(cov, index=idx, columns=idx),
        cov_unadjusted=pd.DataFrame(Phi, index=idx, columns=idx),
        df=pd.Series(df, index=idx, name="df"),
        df_method=df_method,
        variance_components=pd.Series(psi, index=pd.Index(vc_index, dtype=object), name="variance"),
        icc=float(psi[0] / total),
        loglik=float(loglik),
        reml=reml,
        converged=converged,
        at_boundary=at_boundary,
        n_obs=n,
        n_clusters=J,
        n_groups_nested=st.n_groups if st.nested else None,
        _inference=inf,
    )


def _verify(
    st: _Stats,
    alg: _Algebra,
    gam: np.ndarray,
    boundary: np.ndarray,
    beta: np.ndarray,
    reml: bool,
    gls: Any,
) -> bool:
    """Check the fixed-effect score equations and the (projected) gradient at the optimum."""
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(gam)) and np.all(gam >= 0)):
        raise MixedModelFitError("non-finite or negative estimates at the optimum")
    # GLS score X'V^-1 (y - X beta) = 0, recomputed from the per-cluster statistics and compared
    # with the size of its terms
    if st.nested:
        Vi = gls
        score = alg.xay(Vi, alg.residual(beta))
        scale = np.abs(alg.xay(Vi, st.resp)) + np.abs(alg.xax(Vi)) @ np.abs(beta)
    else:
        w = gls.w
        e = st.sy1 - st.sx1 @ beta
        score = (st.Xty_sum - st.XtX_sum @ beta) - (w * e) @ st.sx1
        scale = np.abs(st.Xty_sum) + np.abs(st.XtX_sum) @ np.abs(beta)
    if np.any(np.abs(score) > 1e-8 * (scale + 1e-300)):
        raise MixedModelFitError("fixed effects do not solve the GLS normal equations")
    # gradient of the profiled criterion in the variance ratios (scaled by the ratio)
    if st.nested:
        _, g = _profile_nested(st, gam, reml, grad=True)
        if g is None:
            raise MixedModelFitError("the profiled criterion is not finite at the optimum")
    else:
        g = np.array([gls.d])
    worst = 0.0
    for r in range(gam.size):
        if boundary[r]:
            if g[r] < -1e-6 * (1.0 + st.n):
                raise MixedModelFitError(
                    "a variance component was set to zero although the criterion decreases "
                    "away from zero"
                )
            continue
        worst = max(worst, abs(g[r]) * max(gam[r], 1e-8) / (1.0 + st.J))
    if worst > 1e-3:
        raise MixedModelFitError(f"gradient at the optimum is not zero (scaled {worst:.2e})")
    if worst > 1e-6:
        warnings.warn(
            f"mixed model optimum verified only to a scaled gradient of {worst:.2e}",
            MixedModelConvergenceWarning,
            stacklevel=3,
        )
        return False
    return True
