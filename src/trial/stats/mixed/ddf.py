"""Small-sample denominator df: Kenward-Roger, Satterthwaite and between-within.

The rules are described in :mod:`trial.stats.mixed`. :func:`_inference` turns the blocks of a
fit (:class:`_Blocks`) into the covariance used for inference, the df of each coefficient and
an :class:`_Inference` that gives the df of any contrast and the multi-df F tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trial.stats.mixed.checks import _gram_rank
from trial.stats.mixed.results import FTestResult

# scipy.stats is imported in the functions that compute p-values and intervals: it takes longer
# to import than the rest of this package's imports together, and jobs that only fit models
# (an imputation job, through trial.analyses.outcomes) never call them.

# eigenvalues of the unit-free Hessian of the deviance in the Satterthwaite variance
# parameters below this fraction of the largest count as zero (lmerTest's 1e-8, made relative)
_HESSIAN_EIG_RTOL = 1e-8
# eigenvalue ratio of the variance components' information below which its inverse is a
# pseudo-inverse
_INFO_RTOL = 1e-10


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
