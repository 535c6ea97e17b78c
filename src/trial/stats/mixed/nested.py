"""The model with a random intercept nested within cluster: criterion, search, blocks, fit.

The profiled criterion in closed form (two Woodbury steps per cluster), its independent
derivation through :class:`~trial.stats.mixed.algebra._Algebra`, the projected Newton search
on the two variance ratios, the Kenward-Roger and Satterthwaite blocks and the verified fit.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg as sla

from trial.stats.mixed.algebra import _Algebra, _build_stats, _Elem, _Stats
from trial.stats.mixed.checks import (
    _LOG_2PI,
    _SINGULAR_THETA_TOL,
    _check_gradient,
    _check_score,
    _gram_rank,
)
from trial.stats.mixed.ddf import _Blocks, _bw_df, _inference, _pairs
from trial.stats.mixed.results import (
    MixedModelArrayFit,
    MixedModelFitError,
    MixedModelInputError,
)

# coarse grid of starting values of theta (both components) for the nested model
_THETA_START = np.array([0.1, 0.3, 1.0, 3.0, 10.0])


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

