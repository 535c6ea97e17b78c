"""Fast linear mixed models with random intercepts and small-sample degrees of freedom.

The model is

.. math::

    y = X\\beta + Z_c u + Z_n v + e,\\quad u \\sim N(0, \\sigma_c^2 I),\\;
    v \\sim N(0, \\sigma_n^2 I),\\; e \\sim N(0, \\sigma^2 I),

with a random intercept per cluster and, optionally, a second random intercept for subgroups
nested within clusters (``(1 | cluster) + (1 | cluster:nested)`` in lme4 notation).

Fitting uses only per-cluster (and per-subgroup) sufficient statistics: ``X_j'X_j``,
``X_j'y_j``, ``y_j'y_j`` and the subgroup column sums of ``X`` and ``y``. Every matrix that acts on
one cluster's observations is of the form ``a I + E C E'`` with ``E`` the subgroup indicator
matrix, so products, inverses (Woodbury), determinants and traces reduce to small ``K x K``
problems per cluster (``K = 1`` without a nested term). No ``n x n`` matrix is ever formed.

The residual variance is profiled out. With one random intercept the variance ratio is found by
a vectorised grid search followed by a root search of the analytic derivative of the profiled
(REML or ML) criterion; with a nested term a bounded two-dimensional quasi-Newton search is
polished with Newton steps. Every fit is verified (score equations of the fixed effects and the
(projected) gradient of the criterion) before it is returned; a fit that cannot be verified
raises :class:`MixedModelFitError`.

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
from scipy import optimize, stats

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
# starting grid of the one-dimensional search over theta = sqrt(cluster / residual variance)
_THETA_GRID = np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 21)])


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
class _Stats:
    """Per-cluster sufficient statistics (clusters padded to ``K`` subgroups)."""

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
    S: np.ndarray  # (J, K, p) subgroup column sums of X
    sy: np.ndarray  # (J, K) subgroup sums of y
    m: np.ndarray  # (J, K) subgroup sizes (0 = padding)
    XtX_sum: np.ndarray
    Xty_sum: np.ndarray
    yty_sum: float
    SXSX: np.ndarray | None  # (J, p, p) sx sx' (single random intercept only)
    cstarts: np.ndarray  # start of each cluster in the sorted data
    gstarts: np.ndarray | None  # start of each subgroup in the sorted data (nested only)
    Xs: np.ndarray  # design sorted by cluster (and subgroup)

    @property
    def sx1(self) -> np.ndarray:
        return self.S[:, 0, :]

    @property
    def sy1(self) -> np.ndarray:
        return self.sy[:, 0]

    @property
    def SXSX_flat(self) -> np.ndarray:
        return self.SXSX.reshape(self.J, self.p * self.p)

    @property
    def levels(self) -> np.ndarray:
        """Finest level at which each column of ``X`` varies (0..3)."""
        return _column_levels(self.Xs, self.cstarts, self.gstarts)


class _Elem:
    """Block-diagonal matrix ``blockdiag_j(a_j I + E_j C_j E_j')`` over clusters."""

    __slots__ = ("a", "C")

    def __init__(self, a: np.ndarray, C: np.ndarray) -> None:
        self.a = a
        self.C = C


class _Algebra:
    """Products, inverse, traces and quadratic forms of :class:`_Elem` matrices."""

    def __init__(self, st: _Stats) -> None:
        self.st = st
        self.D = st.m.astype(float)  # (J, K)
        self.one_k = st.K == 1

    def mul(self, x: _Elem, y: _Elem) -> _Elem:
        Dy = self.D[:, :, None] * y.C
        cc = x.C * Dy if self.one_k else x.C @ Dy
        return _Elem(x.a * y.a, x.a[:, None, None] * y.C + y.a[:, None, None] * x.C + cc)

    def inv(self, x: _Elem) -> _Elem:
        # (aI + ECE')^{-1} = a^{-1} [I - E (I + C D / a)^{-1} (C / a) E']
        a = x.a
        Ca = x.C / a[:, None, None]
        if self.one_k:
            Ct = Ca / (1.0 + Ca * self.D[:, :, None])
        else:
            eye = np.eye(self.st.K)
            Ct = np.linalg.solve(eye + Ca * self.D[:, None, :], Ca)
        return _Elem(1.0 / a, -Ct / a[:, None, None])

    def logdet(self, x: _Elem) -> float:
        a = x.a
        Ca = x.C / a[:, None, None]
        tot = float(np.sum(self.st.nj * np.log(a)))
        if self.one_k:
            return tot + float(np.sum(np.log1p(Ca[:, 0, 0] * self.D[:, 0])))
        sign, ld = np.linalg.slogdet(np.eye(self.st.K) + Ca * self.D[:, None, :])
        return tot + float(np.sum(ld))

    def trace(self, x: _Elem) -> float:
        diagC = np.einsum("jkk->jk", x.C)
        return float(x.a @ self.st.nj + np.sum(diagC * self.D))

    def xax(self, x: _Elem) -> np.ndarray:
        st = self.st
        p = st.p
        out = (x.a @ st.XtX.reshape(st.J, p * p)).reshape(p, p)
        T = (x.C * st.S) if self.one_k else x.C @ st.S
        out = out + st.S.reshape(-1, p).T @ T.reshape(-1, p)
        return out

    def xay(self, x: _Elem, Xty: np.ndarray, sy: np.ndarray) -> np.ndarray:
        st = self.st
        if self.one_k:
            Csy = x.C[:, :, 0] * sy
        else:
            Csy = np.einsum("jkl,jl->jk", x.C, sy)
        return x.a @ Xty + st.S.reshape(-1, st.p).T @ Csy.reshape(-1)

    def yay(self, x: _Elem, yty: np.ndarray, sy: np.ndarray) -> float:
        if self.one_k:
            q = x.C[:, 0, 0] * sy[:, 0] ** 2
        else:
            q = np.einsum("jk,jkl,jl->j", sy, x.C, sy)
        return float(x.a @ yty + np.sum(q))

    def residual_stats(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-cluster ``X_j'r_j``, ``r_j'r_j`` and subgroup sums of ``r = y - X beta``."""
        st = self.st
        Xtr = st.Xty - st.XtX @ beta
        rtr = st.yty - 2.0 * (st.Xty @ beta) + np.einsum("a,jab,b->j", beta, st.XtX, beta)
        sr = st.sy - st.S @ beta
        return Xtr, rtr, sr


def _build_stats(
    y: np.ndarray, X: np.ndarray, ccode: np.ndarray, J: int, gcode: np.ndarray | None
) -> _Stats:
    n, p = X.shape
    if gcode is None:
        order = np.argsort(ccode, kind="stable")
        cs = ccode[order]
        Xs = X[order]
        ys = y[order]
        starts = np.flatnonzero(np.concatenate(([True], cs[1:] != cs[:-1])))
        nj = np.diff(np.append(starts, n)).astype(float)
        cols = np.concatenate(
            [
                (Xs[:, :, None] * Xs[:, None, :]).reshape(n, p * p),
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
        pp = p * p
        XtX = sums[:, :pp].reshape(J, p, p)
        Xty = sums[:, pp : pp + p]
        sx = sums[:, pp + p : pp + 2 * p]
        yty = sums[:, pp + 2 * p]
        sy = sums[:, pp + 2 * p + 1]
        S = sx[:, None, :]
        syk = sy[:, None]
        m = nj[:, None]
        K = 1
        n_groups = J
        SXSX = sx[:, :, None] * sx[:, None, :]
        cst, gst = starts, None
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
        gm = np.diff(np.r_[gstarts, n]).astype(float)
        gcl = cs[gstarts]
        kj = np.bincount(gcl, minlength=J)
        K = int(kj.max())
        first = np.r_[0, np.cumsum(kj)[:-1]]
        pos = np.arange(gcl.size) - first[gcl]
        S = np.zeros((J, K, p))
        syk = np.zeros((J, K))
        m = np.zeros((J, K))
        S[gcl, pos] = gx
        syk[gcl, pos] = gy
        m[gcl, pos] = gm
        n_groups = int(gcl.size)
        SXSX = None
        cst, gst = cstarts, gstarts
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
        S=S,
        sy=syk,
        m=m,
        XtX_sum=XtX.sum(axis=0),
        Xty_sum=Xty.sum(axis=0),
        yty_sum=float(yty.sum()),
        SXSX=SXSX,
        cstarts=cst,
        gstarts=gst,
        Xs=Xs,
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
    A = st.XtX_sum[None] - (w @ st.SXSX.reshape(st.J, p * p)).reshape(-1, p, p)
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


def _dprofile_single(st: _Stats, gam: np.ndarray, reml: bool) -> np.ndarray:
    """Derivative of the profiled criterion with respect to the variance ratio (vectorised)."""
    nj = st.nj
    p = st.p
    den = 1.0 + gam[:, None] * nj  # (G, J)
    w = gam[:, None] / den
    dw = 1.0 / (den * den)
    sy = st.sy1
    sx = st.sx1
    A = st.XtX_sum - (w @ st.SXSX_flat).reshape(-1, p, p)
    wsy = w * sy
    b = st.Xty_sum - wsy @ sx
    c = st.yty_sum - wsy @ sy
    Ainv = np.linalg.inv(A)
    beta = (Ainv @ b[:, :, None])[:, :, 0]
    pwrss = c - (b * beta).sum(axis=1)
    e = sy - beta @ sx.T  # (G, J)
    d = (nj / den).sum(axis=1)
    if reml:
        quad = ((sx @ Ainv) * sx).sum(axis=2)  # (G, J)
        d -= (dw * quad).sum(axis=1)
    d -= _dof(st, reml) * (dw * e * e).sum(axis=1) / pwrss
    return d


def _optimise_single(st: _Stats, reml: bool) -> tuple[float, bool]:
    """Variance ratio maximising the profiled criterion; returns ``(gamma, on_boundary)``."""
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
        d0 = float(_dprofile_single(st, np.zeros(1), reml)[0])
        if d0 >= 0.0:
            return 0.0, True
        lo, hi = 0.0, theta[1]
    else:
        lo, hi = theta[i - 1], theta[i + 1]
    # Narrow the bracket (in theta = sqrt(gamma)) with two rounds of vectorised derivative
    # evaluations, interpolate the root with a cubic through the four nearest grid points and
    # polish it with one Newton step on a central-difference slope. Brent's method on the
    # derivative (or on the criterion) is the fallback when the derivative is not monotone.
    polished = False
    for _ in range(2):
        grid = np.linspace(lo, hi, 17)
        d = _dprofile_single(st, grid**2, reml)
        neg = d < 0.0
        change = np.flatnonzero(neg[:-1] & ~neg[1:])
        if change.size != 1 or not (neg[0] and not neg[-1]):
            break
        k = int(change[0])
        lo, hi = grid[k], grid[k + 1]
    else:
        j0 = min(max(k - 1, 0), grid.size - 4)
        xs, ds = grid[j0 : j0 + 4], d[j0 : j0 + 4]
        if np.all(np.diff(ds) > 0):
            # inverse interpolation: theta as a cubic in the derivative
            t = 0.0
            for i in range(4):
                wgt = 1.0
                for j in range(4):
                    if j != i:
                        wgt *= -ds[j] / (ds[i] - ds[j])
                t += float(xs[i]) * wgt
            if lo <= t <= hi:
                h = max(1e-6 * (hi - lo), 1e-12 * max(t, 1e-8))
                pts = np.array([t - h, t, t + h])
                dd = _dprofile_single(st, pts**2, reml)
                slope = (dd[2] - dd[0]) / (2.0 * h)
                if slope > 0:
                    t_new = t - dd[1] / slope
                    if lo <= t_new <= hi:
                        t = t_new
                        polished = True
    if not polished:
        d_lo, d_hi = _dprofile_single(st, np.array([lo * lo, hi * hi]), reml)
        if d_lo < 0.0 < d_hi:
            t = optimize.brentq(
                lambda t: float(_dprofile_single(st, np.array([t * t]), reml)[0]),
                lo,
                hi,
                xtol=1e-15,
                rtol=1e-13,
                maxiter=200,
            )
        else:
            res = optimize.minimize_scalar(
                lambda t: float(_profile_single(st, np.array([t * t]), reml)[0]),
                bounds=(lo, hi),
                method="bounded",
                options={"xatol": 1e-12, "maxiter": 500},
            )
            t = float(res.x)
    return float(t) ** 2, False


def _vstar(gc: float, gn: float, st: _Stats) -> _Elem:
    """Scaled covariance ``V / sigma^2 = I + gc E11'E' + gn EE'`` as an :class:`_Elem`."""
    K = st.K
    C = gc * np.ones((K, K)) + gn * np.eye(K)
    return _Elem(np.ones(st.J), np.broadcast_to(C, (st.J, K, K)).copy())


def _profile_general(
    st: _Stats, alg: _Algebra, gam: np.ndarray, reml: bool, grad: bool
) -> tuple[float, np.ndarray | None]:
    """Profiled criterion (and gradient in the variance ratios) for the nested model."""
    gc, gn = float(gam[0]), float(gam[1])
    V = _vstar(gc, gn, st)
    Vi = alg.inv(V)
    A = alg.xax(Vi)
    b = alg.xay(Vi, st.Xty, st.sy)
    c = alg.yay(Vi, st.yty, st.sy)
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
    Xtr, rtr, sr = alg.residual_stats(beta)
    g = np.zeros(2)
    for r, G in enumerate(_g_elems(st)[:2]):
        ViG = alg.mul(Vi, G)
        M = alg.mul(ViG, Vi)
        dr = alg.trace(ViG)
        if reml:
            dr -= float(np.sum(Ainv * alg.xax(M)))
        dr -= dof * _rmr(alg, M, rtr, sr) / pwrss
        g[r] = dr
    return f, g


def _rmr(alg: _Algebra, M: _Elem, rtr: np.ndarray, sr: np.ndarray) -> float:
    return alg.yay(M, rtr, sr)


def _g_elems(st: _Stats) -> list[_Elem]:
    """Derivatives of ``V`` with respect to the variance components (cluster, [nested], resid)."""
    J, K = st.J, st.K
    zeros = np.zeros(J)
    Gc = _Elem(zeros, np.broadcast_to(np.ones((K, K)), (J, K, K)).copy())
    Ge = _Elem(np.ones(J), np.zeros((J, K, K)))
    if st.nested:
        Gn = _Elem(zeros, np.broadcast_to(np.eye(K), (J, K, K)).copy())
        return [Gc, Gn, Ge]
    return [Gc, Ge]


def _optimise_nested(st: _Stats, alg: _Algebra, reml: bool) -> tuple[np.ndarray, np.ndarray]:
    """Variance ratios (cluster, nested) of the nested model; returns ``(gamma, on_boundary)``."""

    def fun(th: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = _profile_general(st, alg, th * th, reml, grad=True)
        if g is None:
            return 1e300, np.zeros(2)
        return f, 2.0 * th * g

    best = None
    for start in ([1.0, 1.0], [0.3, 1.0], [1.0, 0.3]):
        res = optimize.minimize(
            fun,
            np.array(start),
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, None), (0.0, None)],
            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000},
        )
        if best is None or res.fun < best.fun:
            best = res
    gam = np.asarray(best.x, dtype=float) ** 2
    # Fix components whose optimum lies on the boundary, then polish the free ones with Newton.
    boundary = np.zeros(2, dtype=bool)
    for r in range(2):
        if gam[r] < 1e-6:
            trial = gam.copy()
            trial[r] = 0.0
            _, g0 = _profile_general(st, alg, trial, reml, grad=True)
            if g0 is not None and g0[r] >= 0.0:
                gam = trial
                boundary[r] = True
    free = ~boundary
    for _ in range(30):
        if not free.any():
            break
        f0, g0 = _profile_general(st, alg, gam, reml, grad=True)
        if g0 is None:
            break
        idx = np.flatnonzero(free)
        H = np.zeros((idx.size, idx.size))
        for a, r in enumerate(idx):
            h = 1e-5 * max(gam[r], 1e-3)
            gp = gam.copy()
            gm = gam.copy()
            gp[r] += h
            gm[r] = max(gm[r] - h, 0.0)
            _, gpl = _profile_general(st, alg, gp, reml, grad=True)
            _, gmi = _profile_general(st, alg, gm, reml, grad=True)
            if gpl is None or gmi is None:
                break
            H[:, a] = (gpl[idx] - gmi[idx]) / (gp[r] - gm[r])
        H = 0.5 * (H + H.T)
        try:
            step = -np.linalg.solve(H, g0[idx])
        except np.linalg.LinAlgError:
            break
        if not np.all(np.linalg.eigvalsh(H) > 0):
            break
        t = 1.0
        improved = False
        while t > 1e-6:
            cand = gam.copy()
            cand[idx] = np.maximum(gam[idx] + t * step, 0.0)
            f1, _ = _profile_general(st, alg, cand, reml, grad=False)
            if f1 <= f0 + 1e-13 * abs(f0):
                improved = True
                break
            t *= 0.5
        if not improved:
            break
        done = np.max(np.abs(cand[idx] - gam[idx]) / np.maximum(gam[idx], 1e-8)) < 1e-12
        gam = cand
        if done:
            break
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


def _bw_df(st: _Stats, X: np.ndarray) -> np.ndarray:
    """Between-within df per coefficient (see the module docstring for the rule)."""
    levels = st.levels
    last = 3 if st.nested else 2
    N = [0, st.J, st.n_groups, st.n] if st.nested else [0, st.J, st.n]
    ranks = []
    for g in range(last + 1):
        cols = levels <= g
        ranks.append(int(np.linalg.matrix_rank(X[:, cols])) if cols.any() else 0)
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
    Ca = psi[0] * Gs[0].C
    if st.nested:
        Ca = Ca + psi[1] * Gs[1].C
    V = _Elem(np.full(st.J, psi[-1]), Ca)
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
        Xtr, rtr, sr = alg.residual_stats(beta)
        out.trViG = np.array([alg.trace(v) for v in ViG])
        out.rMr = np.array([_rmr(alg, Mr, rtr, sr) for Mr in M])
        out.u = [alg.xay(Mr, Xtr, sr) for Mr in M]
        out.rQr = {k: _rmr(alg, v, rtr, sr) for k, v in VGM.items()}
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
        return _Inference(method, Phi, None, bw_df=_bw_df(st, X))
    if st.nested:
        blocks = _blocks_general(st, alg, psi, beta, method == "satterthwaite")
    else:
        blocks = _blocks_single(st, psi, beta, method == "satterthwaite")
    P, Q, Kt = blocks.P, blocks.Q, blocks.Kt
    R = len(P)
    IE2 = np.zeros((R, R))
    for r in range(R):
        PhiPr = Phi @ P[r]
        for s in range(r, R):
            IE2[r, s] = IE2[s, r] = (
                Kt[r, s]
                - 2.0 * float(np.sum(Phi * Q[(r, s)]))
                + float(np.sum(PhiPr * (P[s] @ Phi)))
            )
    if method == "kenward-roger":
        condi = float(np.min(np.abs(np.linalg.eigvalsh(IE2))))
        W = 2.0 * (np.linalg.inv(IE2) if condi > 1e-10 else np.linalg.pinv(IE2))
        W = 0.5 * (W + W.T)
        U = np.zeros_like(Phi)
        for r in range(R):
            for s in range(r + 1, R):
                U += W[r, s] * (Q[(r, s)] - P[r] @ Phi @ P[s])
        U = U + U.T
        for r in range(R):
            U += W[r, r] * (Q[(r, r)] - P[r] @ Phi @ P[r])
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
    if not isinstance(labels, pd.Series | pd.Index | np.ndarray):
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
    sv = np.linalg.svd(Xv, compute_uv=False)
    if sv[-1] <= sv[0] * max(n, p) * np.finfo(float).eps * 10:
        raise MixedModelInputError(
            f"X is rank deficient (rank {int(np.sum(sv > sv[0] * 1e-12))} < {p} columns)"
        )

    st = _build_stats(yv, Xv, ccode, J, gcode)
    alg = _Algebra(st)
    if st.nested:
        gam, boundary = _optimise_nested(st, alg, reml)
    else:
        g, b0 = _optimise_single(st, reml)
        gam = np.array([g])
        boundary = np.array([b0])

    # estimates at the optimum
    gc = float(gam[0])
    gn = float(gam[1]) if st.nested else 0.0
    V = _vstar(gc, gn, st)
    Vi = alg.inv(V)
    A = alg.xax(Vi)
    bvec = alg.xay(Vi, st.Xty, st.sy)
    c = alg.yay(Vi, st.yty, st.sy)
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
    sigma2 = pwrss / dof
    Phi = sigma2 * Ainv
    crit = alg.logdet(V) + dof * (1.0 + _LOG_2PI + math.log(pwrss / dof))
    if reml:
        crit += 2.0 * float(np.sum(np.log(np.diag(chol))))
    loglik = -0.5 * crit

    converged = _verify(st, alg, gam, boundary, beta, reml, Vi)

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
    idx = pd.Index(names, dtype=object)
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
    Vi: _Elem,
) -> bool:
    """Check the fixed-effect score equations and the (projected) gradient at the optimum."""
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(gam)) and np.all(gam >= 0)):
        raise MixedModelFitError("non-finite or negative estimates at the optimum")
    # GLS score X'V^-1 (y - X beta) = 0, recomputed from the per-cluster statistics and compared
    # with the size of its terms
    if st.nested:
        Xtr, rtr, sr = alg.residual_stats(beta)
        score = alg.xay(Vi, Xtr, sr)
        scale = np.abs(alg.xay(Vi, st.Xty, st.sy)) + np.abs(alg.xax(Vi)) @ np.abs(beta)
    else:
        w = -Vi.C[:, 0, 0]
        e = st.sy1 - st.sx1 @ beta
        score = (st.Xty_sum - st.XtX_sum @ beta) - (w * e) @ st.sx1
        scale = np.abs(st.Xty_sum) + np.abs(st.XtX_sum) @ np.abs(beta)
    if np.any(np.abs(score) > 1e-8 * (scale + 1e-300)):
        raise MixedModelFitError("fixed effects do not solve the GLS normal equations")
    # gradient of the profiled criterion in the variance ratios (scaled by the ratio)
    if st.nested:
        _, g = _profile_general(st, alg, gam, reml, grad=True)
        if g is None:
            raise MixedModelFitError("the profiled criterion is not finite at the optimum")
    else:
        g = _dprofile_single(st, gam[:1], reml)
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
