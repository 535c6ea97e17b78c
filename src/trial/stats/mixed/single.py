"""One random intercept: sufficient statistics of ``[X y]``, criterion, search, KR, fit.

See :mod:`trial.stats.mixed` for the profiled criterion in terms of ``W'V*^-1W`` and the
safeguarded Newton search in ``theta``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dtrtri as _dtrtri

from trial.stats.mixed.checks import (
    _LOG_2PI,
    _SINGULAR_THETA_TOL,
    _add,
    _check_gradient,
    _check_score,
    _column_levels,
    _gram_rank,
)
from trial.stats.mixed.ddf import _Blocks, _bw_df, _Inference, _inference, _inv_info_2
from trial.stats.mixed.results import (
    MixedModelArrayFit,
    MixedModelFitError,
    MixedModelInputError,
)

# starting grid of the one-dimensional search over theta = sqrt(cluster / residual variance)
_THETA_GRID = np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 21)])
_GAM_GRID = _THETA_GRID**2
_POWERS = np.array([[-1.0], [-2.0], [-3.0]])
# largest clusters x observations for which cluster sums use an indicator matrix product
_ONE_HOT_MAX = 2_000_000
# relative error in theta at which Newton's method stops (the size of its last step): estimates
# then change by about as little, far below the 1e-5 agreement with lme4 that is tested
_THETA_RTOL = 1e-8


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
    st: _Single, reml: bool, df_method: str | None, levels: np.ndarray | None
) -> tuple[MixedModelArrayFit, str | None]:
    """Fit from the sufficient statistics; ``levels`` (of the columns) only for between-within;
    ``df_method`` None: no small-sample inference (``df`` NaN, ``cov`` unadjusted)."""
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
    if df_method is None:  # the estimates only (e.g. a bootstrap replicate of the ICC)
        inf, cov, df = None, Phi, np.full(p, np.nan)
    elif df_method == "between-within":
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
