"""Generalised estimating equations with an exchangeable working correlation.

The marginal (population-averaged) model ``g(E[y_ij]) = x_ij' beta + o_ij`` (binomial logit,
Poisson log or Gaussian identity) is fitted by the estimating equations of Liang and Zeger
(1986) with an exchangeable working correlation, as ``geepack::geeglm(..., corstr =
"exchangeable")`` defines them (Yan and Fine 2004):

* ``beta`` solves ``sum_j D_j' V_j^-1 (y_j - mu_j) = 0`` with ``V_j = phi A_j^1/2 R_j A_j^1/2``,
  ``A_j = diag(V(mu_ij))`` and ``R_j = (1 - alpha) I + alpha 11'``;
* the scale is the mean squared Pearson residual, ``phi = sum r_ij^2 / N`` (estimated for every
  family, as geepack does unless the scale is fixed);
* the correlation is the mean product of standardised Pearson residuals over all within-cluster
  pairs, ``alpha = sum_j sum_{i<k} r_ij r_ik / (phi sum_j n_j (n_j - 1) / 2)``;

with no degrees-of-freedom corrections in ``phi`` and ``alpha`` (statsmodels gives the same
fixed point with ``ddof_scale=0``). The three are iterated to a joint fixed point (Fisher
scoring for ``beta``). For a binary outcome ``alpha`` is the intracluster correlation on the
proportion scale, reported as :attr:`GEEArrayFit.icc`.

Covariances
-----------
With ``B = sum_j D_j' V_j^-1 D_j``, cluster residual ``r_j = y_j - mu_j`` and
``H_jj = D_j B^-1 D_j' V_j^-1`` (the cluster's block of the GEE "hat" matrix):

``"robust"``
    Liang-Zeger sandwich ``B^-1 (sum_j D_j' V_j^-1 r_j r_j' V_j^-1 D_j) B^-1`` (geepack's
    ``vbeta``, R ``sandwich`` without small-sample factors).
``"mancl-derouen"``
    Mancl and DeRouen (2001): ``r_j`` replaced by ``(I - H_jj)^-1 r_j`` (statsmodels'
    ``cov_type="bias_reduced"``).
``"kauermann-carroll"``
    Kauermann and Carroll (2001): ``r_j`` replaced by ``(I - H_jj)^-1/2 r_j``, the principal
    inverse square root (``I - H_jj`` is similar to a symmetric positive definite matrix, so it
    is unique).
``"fay-graubard"``
    Fay and Graubard (2001): ``B^-1 (sum_j F_j U_j U_j' F_j) B^-1`` with
    ``U_j = D_j' V_j^-1 r_j`` and ``F_j = diag{(1 - min(b, [D_j' V_j^-1 D_j B^-1]_kk))^-1/2}``,
    ``b = 0.75``.
``"naive"``
    The model-based ``phi B^-1`` (no robustness to a wrong working correlation).

All are computed from per-cluster ``p x p`` matrices: with ``R_j^-1/2`` applied to the
standardised derivatives and residuals (``Dt_j``, ``rt_j``), ``H_jj`` is similar to the
symmetric ``P_j = Dt_j G Dt_j'`` (``G = (sum Dt'Dt)^-1``), and for a matrix function ``f``,
``Dt_j' f(I - P_j) rt_j = U_j + C_j G^1/2 g(K_j) G^1/2 U_j`` with ``C_j = Dt_j' Dt_j``,
``K_j = G^1/2 C_j G^1/2`` and ``g(x) = (f(1 - x) - 1) / x``; the exchangeable ``R_j^-1`` is a
rank-one update of the identity. No ``n_j x n_j`` matrix is formed, so clusters of any size
cost the same. (The correction formulas are written here because no maintained Python
library provides Kauermann-Carroll or Fay-Graubard for GEE; statsmodels has Mancl-DeRouen,
which the tests compare with.)

Inference uses t on clusters minus the number of coefficients (``J - p``) degrees of freedom, as
Li and Redden (2015) recommend with the bias-corrected covariances for few clusters.

References
----------
Liang KY, Zeger SL (1986). Longitudinal data analysis using generalized linear models.
Biometrika 73:13-22.
Yan J, Fine J (2004). Estimating equations for association structures. Stat Med 23:859-874.
Mancl LA, DeRouen TA (2001). A covariance estimator for GEE with improved small-sample
properties. Biometrics 57:126-134.
Kauermann G, Carroll RJ (2001). A note on the efficiency of sandwich covariance matrix
estimation. JASA 96:1387-1396.
Fay MP, Graubard BI (2001). Small-sample adjustments for Wald-type tests using sandwich
estimators. Biometrics 57:1198-1206.
Li P, Redden DT (2015). Small sample performance of bias-corrected sandwich estimators for
cluster-randomized trials with binary outcomes. Stat Med 34:281-296.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trial.stats._families import (
    Family,
    ModelFitError,
    ModelInputError,
    check_full_rank,
    get_family,
    model_inputs,
)
from trial.stats._wald import ArrayInference, LabelledFit, WaldInference

__all__ = [
    "COVARIANCES",
    "GEEArrayFit",
    "GEEFit",
    "SandwichCovariances",
    "fit_gee",
    "fit_gee_arrays",
    "sandwich_covariances",
]

COVARIANCES = ("robust", "mancl-derouen", "kauermann-carroll", "fay-graubard", "naive")
FAMILIES = ("binomial", "poisson", "gaussian")
# Fay and Graubard's bound on the leverage-type diagonal
FG_BOUND = 0.75
_TOL = 1e-10
_MAXIT = 200


@dataclass(frozen=True)
class SandwichCovariances:
    """Covariances of the GEE estimates (see the module docstring for the formulas).

    A bias-corrected covariance is NaN when a cluster has full leverage (an eigenvalue of
    ``H_jj`` equal to 1, e.g. a cluster that alone determines a coefficient).

    Attributes
    ----------
    robust, mancl_derouen, kauermann_carroll, fay_graubard, naive : numpy.ndarray, (p, p)
    """

    robust: np.ndarray
    mancl_derouen: np.ndarray
    kauermann_carroll: np.ndarray
    fay_graubard: np.ndarray
    naive: np.ndarray

    def get(self, kind: str) -> np.ndarray:
        """The covariance called ``kind`` (one of :data:`COVARIANCES`)."""
        if kind not in COVARIANCES:
            raise ModelInputError(f"cov_type must be one of {COVARIANCES}, got {kind!r}")
        return getattr(self, kind.replace("-", "_"))


@dataclass(frozen=True, eq=False)
class GEEArrayFit(ArrayInference):
    """A GEE fit with exchangeable working correlation, as plain arrays.

    Attributes
    ----------
    beta : numpy.ndarray, shape (p,)
        Estimates (population-averaged log odds ratios, log rate ratios or differences).
    cov : numpy.ndarray, shape (p, p)
        The covariance named by ``cov_type``, used for inference.
    cov_type : str
        One of :data:`COVARIANCES`.
    covariances : SandwichCovariances
        All the covariances.
    df : numpy.ndarray, shape (p,)
        ``J - p`` for every coefficient.
    df_method : str
        ``"clusters-p"``.
    alpha : float
        Exchangeable working correlation.
    scale : float
        Scale ``phi`` (the residual variance for the Gaussian family).
    family, link : str
    n_obs, n_clusters, n_iter : int
    """

    beta: np.ndarray
    cov: np.ndarray
    cov_type: str
    covariances: SandwichCovariances
    df: np.ndarray
    df_method: str
    alpha: float
    scale: float
    family: str
    link: str
    n_obs: int
    n_clusters: int
    n_iter: int
    _wald: WaldInference = field(repr=False)

    @property
    def icc(self) -> float:
        """The working correlation ``alpha``: for a binary outcome, the ICC on the proportion
        scale (the correlation of two outcomes of one cluster given the covariates)."""
        return self.alpha


@dataclass(frozen=True, eq=False)
class GEEFit(LabelledFit):
    """A GEE fit labelled by term; the attributes of :class:`GEEArrayFit` are available too.

    Attributes
    ----------
    arrays : GEEArrayFit
    terms : tuple of str
    """

    arrays: GEEArrayFit
    terms: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# Per-cluster algebra of the exchangeable working correlation
# ---------------------------------------------------------------------------------------------


class _Data:
    """Outcome, design (stored transposed, ``(p, n)``) and offset sorted by cluster, with the
    cluster starts and sizes; per-cluster sums are ``np.add.reduceat`` along the last axis."""

    def __init__(
        self, y: np.ndarray, X: np.ndarray, off: np.ndarray, codes: np.ndarray, J: int
    ) -> None:
        order = np.argsort(codes, kind="stable")
        self.y = y[order]
        self.XT = np.ascontiguousarray(X[order].T)
        self.off = off[order]
        c = codes[order]
        self.n, self.p = X.shape
        self.J = J
        self.starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        self.m = np.diff(np.r_[self.starts, self.n]).astype(float)
        self.n_pairs = float(np.sum(self.m * (self.m - 1.0)) / 2.0)

    def csum(self, a: np.ndarray) -> np.ndarray:
        return np.add.reduceat(a, self.starts, axis=-1)


@dataclass
class _State:
    """Standardised derivatives and residuals at ``beta`` and their cluster sums."""

    DT: np.ndarray  # (p, n): D*' = (X diag(dmu/deta / sqrt(V)))'
    r: np.ndarray  # (n,): Pearson residuals (y - mu) / sqrt(V)
    s: np.ndarray  # (p, J): cluster sums of the rows of D*
    sr: np.ndarray  # (p, J): cluster sums of D* r
    t: np.ndarray  # (J,): cluster sums of r
    t2: np.ndarray  # (J,): cluster sums of r^2


def _state(d: _Data, fam: Family, beta: np.ndarray) -> _State:
    eta = beta @ d.XT + d.off
    mu, dmu = fam.mean_mu_eta(eta)
    sd = np.sqrt(fam.variance(mu))
    if not np.all(sd > 0):
        raise ModelFitError("fitted means on the boundary of the family's range (separation?)")
    DT = d.XT * (dmu / sd)
    r = (d.y - mu) / sd
    p = d.p
    sums = d.csum(np.concatenate([DT, DT * r, r[None, :], (r * r)[None, :]]))
    return _State(DT, r, sums[:p], sums[p : 2 * p], sums[2 * p], sums[2 * p + 1])


def _moments(d: _Data, st: _State) -> tuple[float, float]:
    """Moment estimates of the scale and the exchangeable correlation (geepack's)."""
    phi = float(st.r @ st.r) / d.n
    pairs = float(np.sum(st.t * st.t - st.t2)) / 2.0
    alpha = pairs / (phi * d.n_pairs) if d.n_pairs > 0 else 0.0
    return phi, alpha


def _weights(m: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """``R_j^-1 = a (I - c_j 11')`` for the exchangeable ``R_j``: returns ``a`` and ``c_j``."""
    den = 1.0 + (m - 1.0) * alpha
    if not (alpha < 1.0 and np.all(den > 0)):
        raise ModelFitError(
            f"the exchangeable working correlation {alpha:.4g} is not positive definite for "
            f"clusters of up to {int(m.max())} observations"
        )
    return 1.0 / (1.0 - alpha), alpha / den


def _blocks(
    d: _Data, st: _State, alpha: float, per_cluster_C: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``B = sum C_j``, the cluster scores ``U_j`` (rows) and (optionally) the ``C_j``, all with
    the scale left out: ``C_j = D*_j' R_j^-1 D*_j``, ``U_j = D*_j' R_j^-1 r_j``."""
    a, cw = _weights(d.m, alpha)
    U = a * (st.sr - cw * st.t * st.s).T  # (J, p)
    cs = cw * st.s
    if per_cluster_C:
        p = d.p
        DD = d.csum((st.DT[:, None, :] * st.DT[None, :, :]).reshape(p * p, d.n))
        C = a * (DD.T.reshape(d.J, p, p) - np.einsum("kj,lj->jkl", cs, st.s))
        return C.sum(axis=0), U, C
    return a * (st.DT @ st.DT.T - cs @ st.s.T), U, None


def sandwich_covariances(d: _Data, st: _State, alpha: float, phi: float) -> SandwichCovariances:
    """All covariances of :class:`SandwichCovariances` at given estimates (module docstring)."""
    B, U, C = _blocks(d, st, alpha, per_cluster_C=True)
    G = np.linalg.inv(B)
    G = 0.5 * (G + G.T)
    ev, Q = np.linalg.eigh(G)
    Gh = (Q * np.sqrt(ev)) @ Q.T  # symmetric square root of G
    K = Gh @ C @ Gh  # (J, p, p)
    lam, E = np.linalg.eigh(K)
    GhU = U @ Gh  # (J, p): G^1/2 U_j
    proj = np.einsum("jkl,jk->jl", E, GhU)  # E_j' G^1/2 U_j

    def corrected(power: float) -> np.ndarray:
        if np.any(lam >= 1.0 - 1e-10):
            return np.full_like(G, np.nan)
        small = np.abs(lam) < 1e-12
        lsafe = np.where(small, 0.5, lam)
        g = np.where(small, power, np.expm1(-power * np.log1p(-lsafe)) / lsafe)
        inner = np.einsum("jkl,jl->jk", E, g * proj)  # E_j g(L_j) E_j' G^1/2 U_j
        m = U + np.einsum("jkl,lm,jm->jk", C, Gh, inner)
        return G @ (m.T @ m) @ G

    diag = np.einsum("jkl,lk->jk", C, G)  # diagonal of C_j G
    F = 1.0 / np.sqrt(1.0 - np.minimum(FG_BOUND, diag))
    fg = U * F
    return SandwichCovariances(
        robust=G @ (U.T @ U) @ G,
        mancl_derouen=corrected(1.0),
        kauermann_carroll=corrected(0.5),
        fay_graubard=G @ (fg.T @ fg) @ G,
        naive=phi * G,
    )


def _fit(
    y: np.ndarray,
    X: np.ndarray,
    off: np.ndarray,
    codes: np.ndarray,
    J: int,
    family: str,
    cov_type: str,
) -> GEEArrayFit:
    fam = get_family(family, FAMILIES)
    fam.check(y)
    if cov_type not in COVARIANCES:
        raise ModelInputError(f"cov_type must be one of {COVARIANCES}, got {cov_type!r}")
    n, p = X.shape
    if J <= p:
        raise ModelInputError(
            f"{J} clusters for {p} coefficients: the sandwich needs more clusters than "
            "coefficients (t on J - p df)"
        )
    check_full_rank(X)
    d = _Data(y, X, off, codes, J)
    # start from the independence fit (a GLM) by Fisher scoring
    mu = fam.start_mean(d.y)
    w = fam.variance(mu)
    z = fam.link_fun(mu) - d.off + (d.y - mu) / w
    XTw = d.XT * w
    beta = np.linalg.solve(XTw @ d.XT.T, XTw @ z)
    alpha = 0.0
    n_iter = 0
    with np.errstate(over="ignore"):
        for n_iter in range(1, _MAXIT + 1):
            st = _state(d, fam, beta)
            alpha_new = _moments(d, st)[1] if n_iter > 1 else 0.0
            B, U, _ = _blocks(d, st, alpha_new, per_cluster_C=False)
            step = np.linalg.solve(B, U.sum(axis=0))
            beta = beta + step
            done = np.max(np.abs(step)) < _TOL * (1.0 + np.max(np.abs(beta)))
            done = done and abs(alpha_new - alpha) < _TOL and n_iter > 2
            alpha = alpha_new
            if done:
                break
        else:
            raise ModelFitError(f"GEE did not converge in {_MAXIT} iterations")
    st = _state(d, fam, beta)
    phi, alpha = _moments(d, st)
    covs = sandwich_covariances(d, st, alpha, phi)
    cov = covs.get(cov_type)
    if not np.all(np.isfinite(cov)):
        raise ModelFitError(
            f"the {cov_type} covariance is undefined: a cluster has full leverage (it alone "
            "determines a coefficient)"
        )
    df = np.full(p, float(J - p))
    return GEEArrayFit(
        beta=beta,
        cov=cov,
        cov_type=cov_type,
        covariances=covs,
        df=df,
        df_method="clusters-p",
        alpha=alpha,
        scale=phi,
        family=fam.name,
        link=fam.link,
        n_obs=n,
        n_clusters=J,
        n_iter=n_iter,
        _wald=WaldInference(beta, cov, df, "clusters-p"),
    )


def fit_gee_arrays(
    y: np.ndarray,
    X: np.ndarray,
    clusters: np.ndarray,
    *,
    family: str = "binomial",
    offset: np.ndarray | None = None,
    cov_type: str = "mancl-derouen",
) -> GEEArrayFit:
    """Fit a GEE with exchangeable working correlation on plain arrays.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
        Outcome: 0/1 (``"binomial"``), a count (``"poisson"``) or continuous (``"gaussian"``).
    X : numpy.ndarray, shape (n, p)
        Design, with an intercept column if one is wanted; full column rank.
    clusters : numpy.ndarray, shape (n,)
        Cluster labels or codes.
    family : {"binomial", "poisson", "gaussian"}
        With the canonical link (logit, log, identity).
    offset : numpy.ndarray, shape (n,), optional
        Known part of the linear predictor.
    cov_type : str, default "mancl-derouen"
        Covariance used for inference (see the module docstring); all are computed and
        available in :attr:`GEEArrayFit.covariances`.

    Returns
    -------
    GEEArrayFit

    Raises
    ------
    trial.stats._families.ModelInputError
        Bad shapes or values, rank deficiency, no more clusters than coefficients, unknown
        family or covariance.
    trial.stats._families.ModelFitError
        No convergence, a working correlation that is not positive definite, or an undefined
        chosen covariance.
    """
    _, yv, Xv, off, codes, J = model_inputs(y, X, clusters, offset, labelled=False)
    return _fit(yv, Xv, off, codes, J, family, cov_type)


def fit_gee(
    y: Sequence[float] | np.ndarray | pd.Series,
    X: pd.DataFrame,
    clusters: Sequence[Hashable] | np.ndarray | pd.Series,
    *,
    family: str = "binomial",
    offset: Sequence[float] | np.ndarray | pd.Series | None = None,
    cov_type: str = "mancl-derouen",
) -> GEEFit:
    """Fit a GEE with exchangeable working correlation and a labelled design.

    Parameters are those of :func:`fit_gee_arrays`, except that ``X`` is a
    :class:`pandas.DataFrame` whose column names are the term names.

    Returns
    -------
    GEEFit
    """
    names, yv, Xv, off, codes, J = model_inputs(y, X, clusters, offset, labelled=True)
    return GEEFit(_fit(yv, Xv, off, codes, J, family, cov_type), names)
