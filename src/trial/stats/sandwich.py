"""CR2 cluster-robust covariance of least squares, with small-sample t and F tests.

With few clusters the usual cluster-robust (CR1) covariance is biased downwards and t or F tests
on ``G - 1`` df reject too often. The bias-reduced linearisation (CR2) of Bell and McCaffrey
(2002) and the tests of Pustejovsky and Tipton (2018) correct both:

* **CR2 covariance.** For ordinary least squares with residuals ``e``, design ``X``,
  ``M = (X'X)^-1`` and clusters ``j``,

  .. math::

      V^{CR2} = M \\Big(\\sum_j X_j' A_j e_j e_j' A_j X_j\\Big) M,\\qquad
      A_j = (I - X_j M X_j')^{-1/2}

  (the symmetric inverse square root; eigenvalues below ``1e-12`` are dropped, as a generalised
  inverse). Under the working model of independent errors of equal variance it is unbiased.
* **t tests** of a contrast ``c'beta`` on the Satterthwaite (Bell-McCaffrey) df
  ``(tr P)^2 / ||P||_F^2``, where ``P`` is the ``J x J`` matrix with entries
  ``P_jk = g_j'(I - H)_{jk} g_k``, ``g_j = A_j X_j M c`` and ``H = X M X'``: the variance
  estimator of ``c'beta`` is the quadratic form ``eps' (sum_j p_j p_j') eps`` of the working
  errors, whose first two moments give the df.
* **F tests** of ``q`` contrasts ``C beta = 0`` by the Hotelling-type approximation "HTZ": the
  Wald statistic ``Q = (C b)' (C V C')^-1 (C b)`` is referred to Hotelling's ``T^2`` with
  ``nu`` degrees of freedom, ``F = (nu - q + 1) / (nu q) Q`` on ``(q, nu - q + 1)`` df, with
  ``nu = q (q + 1) / sum_{s,t} Var_st`` matched to the total variance of the contrasts'
  covariance estimator after standardising it by its expectation ``Omega``.

When an absorbed fixed effect (e.g. an individual effect in a panel) is nested within clusters,
the same quantities computed from the within-transformed design equal those of the model with
the effects as dummy columns (Pustejovsky and Tipton 2018, Theorem 2), so a caller may pass
demeaned data.

No package in this project's stack computes CR2 with these tests (statsmodels and linearmodels
stop at CR1-type corrections), so they are written here; the tests in
``tests/reference/test_audit_vs_r.py`` check them against R package clubSandwich
(``vcovCR(type = "CR2")``, ``coef_test(test = "Satterthwaite")``, ``Wald_test(test = "HTZ")``).

References
----------
Bell RM, McCaffrey DF (2002). Bias reduction in standard errors for linear regression with
multi-stage samples. Survey Methodology 28:169-181.
Pustejovsky JE, Tipton E (2018). Small-sample methods for cluster-robust variance estimation and
hypothesis testing in fixed effects models. Journal of Business & Economic Statistics 36:672-683.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["CR2Contrast", "CR2Covariance", "CR2WaldTest", "cr2_covariance"]

# eigenvalues of I - H_jj below this are treated as zero (a generalised inverse square root)
_EIGEN_TOL = 1e-12


class SandwichInputError(ValueError):
    """The data cannot give a cluster-robust covariance (shapes, missing values, clusters)."""


@dataclass(frozen=True)
class CR2Contrast:
    """One contrast ``c'beta`` with its CR2 standard error and Satterthwaite df."""

    estimate: float
    se: float
    df: float
    t: float
    p: float


@dataclass(frozen=True)
class CR2WaldTest:
    """The HTZ test of ``C beta = 0``.

    Attributes
    ----------
    F : float
        ``(nu - q + 1) / (nu q) * Q``.
    num_df, den_df : float
        ``q`` and ``nu - q + 1``.
    p : float
        Upper-tail p-value (NaN when ``den_df <= 0``).
    Q : float
        The Wald statistic with the CR2 covariance.
    nu : float
        The Hotelling degrees of freedom.
    """

    F: float
    num_df: float
    den_df: float
    p: float
    Q: float
    nu: float


@dataclass(frozen=True)
class CR2Covariance:
    """CR2 covariance of a least-squares fit and what its small-sample tests need.

    Build it with :func:`cr2_covariance`.

    Attributes
    ----------
    params : numpy.ndarray, shape (k,)
    cov : numpy.ndarray, shape (k, k)
        The CR2 covariance.
    names : list of str
        Coefficient names.
    n_clusters : int
    """

    params: np.ndarray
    cov: np.ndarray
    names: list[str]
    n_clusters: int
    _bread: np.ndarray  # M = (X'X)^-1
    _gram: np.ndarray  # (J, k, k): (A_j X_j M)'(A_j X_j M)
    _cross: np.ndarray  # (J, k, k): X_j' A_j X_j M

    def _weights(self, L: np.ndarray | Sequence[float] | pd.Series | pd.DataFrame) -> np.ndarray:
        if isinstance(L, pd.Series):
            return L.reindex(self.names).fillna(0.0).to_numpy(dtype=float)[None, :]
        if isinstance(L, pd.DataFrame):
            return L.reindex(columns=self.names).fillna(0.0).to_numpy(dtype=float)
        C = np.atleast_2d(np.asarray(L, dtype=float))
        if C.shape[1] != len(self.names):
            raise SandwichInputError(
                f"a contrast needs {len(self.names)} weights, one per coefficient; got {C.shape[1]}"
            )
        return C

    def _p_array(self, C: np.ndarray) -> np.ndarray:
        """``P[s, t, j, k] = g_js'(I - H)_{jk} g_kt`` for the rows ``s, t`` of ``C``."""
        within = np.einsum("sa,jab,tb->stj", C, self._gram, C)
        h = np.einsum("jab,sb->jas", self._cross, C)  # X_j' g_js
        # contracted in two steps: one three-operand einsum loops over J^2 k^2 q^2 terms
        hb = np.einsum("jas,ab->jsb", h, self._bread)
        between = np.einsum("jsb,kbt->stjk", hb, h, optimize=True)
        P = -between
        J = self.n_clusters
        P[:, :, np.arange(J), np.arange(J)] += within
        return P

    def contrast(
        self, L: np.ndarray | Sequence[float] | pd.Series, alpha: float = 0.05
    ) -> CR2Contrast:
        """``c'beta`` with CR2 SE and a t test on the Satterthwaite (Bell-McCaffrey) df."""
        c = self._weights(L)
        if c.shape[0] != 1:
            raise SandwichInputError("contrast() takes one contrast; use wald_test() for several")
        estimate = float(c[0] @ self.params)
        se = math.sqrt(float(c[0] @ self.cov @ c[0]))
        P = self._p_array(c)[0, 0]
        df = float(np.trace(P) ** 2 / np.sum(P * P))
        t = estimate / se if se > 0 else math.nan
        return CR2Contrast(estimate, se, df, t, float(2 * stats.t.sf(abs(t), df)))

    def wald_test(self, L: np.ndarray | pd.DataFrame) -> CR2WaldTest:
        """The HTZ test that every row of ``L`` times beta is zero."""
        C = self._weights(L)
        q = C.shape[0]
        b = C @ self.params
        Q = float(b @ np.linalg.solve(C @ self.cov @ C.T, b))
        P = self._p_array(C)
        omega = np.einsum("stjj->st", P)
        values, vectors = np.linalg.eigh(omega)
        root = (vectors / np.sqrt(values)) @ vectors.T  # Omega^(-1/2)
        B = np.einsum("sa,abjk,bt->stjk", root, P, root)
        variance = np.einsum("stjk,tsjk->st", B, B) + np.einsum("ssjk,ttjk->st", B, B)
        nu = q * (q + 1) / float(np.sum(variance))
        den = nu - q + 1
        F = max((nu - q + 1) / nu, 0.0) * Q / q
        p = float(stats.f.sf(F, q, den)) if den > 0 else math.nan
        return CR2WaldTest(F=F, num_df=float(q), den_df=den, p=p, Q=Q, nu=nu)


def cr2_covariance(
    X: np.ndarray | pd.DataFrame,
    residuals: np.ndarray | pd.Series,
    clusters: Sequence[Hashable] | np.ndarray | pd.Series,
    params: np.ndarray | pd.Series,
) -> CR2Covariance:
    """CR2 covariance of an ordinary least-squares fit (working model: independent errors).

    Parameters
    ----------
    X : array-like, shape (n, k)
        The design (within-transformed when fixed effects nested in clusters were absorbed).
    residuals : array-like, shape (n,)
        Least-squares residuals of that design.
    clusters : array-like, shape (n,)
        Cluster label of each row.
    params : array-like, shape (k,)
        The least-squares coefficients.

    Returns
    -------
    CR2Covariance
    """
    k = np.shape(X)[1]
    names = list(X.columns) if isinstance(X, pd.DataFrame) else [f"x{i}" for i in range(k)]
    Xv = np.asarray(X, dtype=float)
    e = np.asarray(residuals, dtype=float)
    if Xv.ndim != 2 or e.shape != (Xv.shape[0],) or len(clusters) != Xv.shape[0]:
        raise SandwichInputError("X, residuals and clusters must describe the same n rows")
    if not (np.all(np.isfinite(Xv)) and np.all(np.isfinite(e))):
        raise SandwichInputError("X and residuals must be complete and finite")
    codes, levels = pd.factorize(pd.Series(np.asarray(clusters, dtype=object)), sort=True)
    J = len(levels)
    if J < 2:
        raise SandwichInputError(f"at least two clusters are needed, found {J}")
    M = np.linalg.inv(Xv.T @ Xv)
    cov = np.zeros((k, k))
    gram = np.empty((J, k, k))
    cross = np.empty((J, k, k))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(J + 1))
    for j in range(J):
        rows = order[bounds[j] : bounds[j + 1]]
        Xj = Xv[rows]
        # H_jj = X_j M X_j' has rank <= k: with X_j = Q R and R M R' = V diag(h) V',
        # (I - H_jj)^(-1/2) = I + Q V diag((1 - h)^(-1/2) - 1) V' Q', an n_j x n_j root from
        # k x k algebra (the pseudo-inverse root where 1 - h vanishes).
        Q, R = np.linalg.qr(Xj)
        h, V = np.linalg.eigh(R @ M @ R.T)
        rest = 1.0 - h
        kept = rest > _EIGEN_TOL
        factor = np.where(kept, 1.0 / np.sqrt(np.where(kept, rest, 1.0)), 0.0) - 1.0
        XM = Xj @ M
        QV = Q @ V
        AXM = XM + QV @ (factor[:, None] * (QV.T @ XM))  # n_j x k: g_j = AXM c
        u = AXM.T @ e[rows]
        cov += np.outer(u, u)
        gram[j] = AXM.T @ AXM
        cross[j] = Xj.T @ AXM
    return CR2Covariance(
        params=np.asarray(params, dtype=float),
        cov=cov,
        names=names,
        n_clusters=J,
        _bread=M,
        _gram=gram,
        _cross=cross,
    )
