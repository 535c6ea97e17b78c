"""Sufficient statistics of the nested model and the per-cluster matrix algebra.

See :mod:`trial.stats.mixed` for the form ``a I + E (diag(d) + F H') E'`` every matrix of the
model's algebra takes, and the cells (subgroups of one size in one cluster) it is summed over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trial.stats.mixed.checks import _column_levels


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
