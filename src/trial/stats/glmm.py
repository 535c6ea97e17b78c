"""Random-intercept generalised linear mixed models by adaptive Gauss-Hermite quadrature.

The model is

.. math::

    g(E[y_{ij} \\mid b_j]) = x_{ij}'\\beta + o_{ij} + b_j,\\qquad b_j = \\theta u_j,\\quad
    u_j \\sim N(0, 1),

with a canonical link ``g`` (binomial logit for a 0/1 outcome, Poisson log for a count with an
optional offset ``o``), ``theta`` the standard deviation of the cluster random intercept
(``(1 | cluster)`` in lme4 notation). It is fitted by maximum likelihood, the likelihood being
approximated per cluster by adaptive Gauss-Hermite quadrature with ``n_agq`` nodes (``n_agq = 1``
is the Laplace approximation), exactly as ``lme4::glmer(..., nAGQ = n_agq)`` defines it:

.. math::

    \\log L_j \\approx \\log \\sum_k w_k \\exp\\{h_j(\\hat u_j + z_k / l_j) + z_k^2 / 2\\}
    - \\log l_j,

where ``h_j(u) = sum_i log p(y_ij | u) - u^2 / 2`` (the conditional log-likelihood plus the
log-density of ``u`` up to a constant), ``u_hat_j`` its mode, ``l_j^2 = -h_j''(u_hat_j)``
(``= 1 + theta^2 sum_i var(y_ij | u_hat_j)``), and ``z_k``, ``w_k`` the nodes and weights of the
Gauss-Hermite rule for the standard normal density.

Computation
-----------
Everything is per cluster and vectorised over all clusters at once: the modes by a safeguarded
Newton iteration (each step one pass over the data and one per-cluster sum), then the
``n x n_agq`` linear predictors at the nodes and their per-cluster sums. The gradient of the
approximate log-likelihood with respect to ``(beta, theta)`` is analytic, including the
dependence of the mode and the curvature on the parameters (implicit differentiation of
``h_j'(u_hat_j) = 0``). The likelihood is maximised over ``(beta, theta)`` by a quasi-Newton
method (a forward-difference Hessian of the analytic gradient to start, BFGS updates, its
eigenvalues kept negative, a backtracking line search); once the step is small, the Hessian is
recomputed by central differences of the analytic gradient and the exact Newton step must be
small too. The starting values are the GLM estimates and the best of a few values of
``theta``. The approximate
likelihood is even in ``theta`` (``u`` and the quadrature rule are symmetric), so ``theta`` is
optimised over the real line and its absolute value reported; when the fit with
``theta = 0`` (an ordinary GLM) is at least as good, the fit is on the boundary: ``theta`` is 0,
the estimates are the GLM's, and ``at_boundary`` is set (lme4 reports such fits as singular).
A fit is converged when that Newton step is below ``1e-6`` standard errors in every parameter;
one whose step stays above ``1e-3`` standard errors is not returned (an error is raised).

Covariance
----------
As lme4 (``vcov(fit)``, which inverts its finite-difference Hessian of the deviance with
respect to ``(theta, beta)``), ``cov`` is the ``beta`` block of the inverse of the negative
Hessian of the approximate log-likelihood in ``(beta, theta)``, so the uncertainty of ``theta``
enters the standard errors of ``beta`` as it does in lme4. At the boundary the cross-derivatives
vanish by symmetry and ``cov`` is the inverse of the ``beta`` block.

Denominator degrees of freedom
------------------------------
``"between-within"`` (default)
    t on the between-within df of :mod:`trial.stats.mixed` (SAS ``DDFM=BETWITHIN``): a coefficient
    of a cluster-level column (constant within every cluster), and the intercept, gets clusters
    minus the number of cluster-level parameters; a column varying within clusters gets
    observations minus clusters minus the number of within-cluster parameters. With few
    clusters this is the df Li and Redden (2015) and Leyrat et al (2018) recommend for a GLMM.
``"residual"``
    t on ``n - p``.
``"z"``
    Normal reference (``df = inf``), as lme4's ``summary``.

References
----------
Pinheiro JC, Bates DM (1995). Approximations to the log-likelihood function in the nonlinear
mixed-effects model. J Comput Graph Stat 4:12-35.
Bates D, Maechler M, Bolker B, Walker S (2015). Fitting linear mixed-effects models using lme4.
J Stat Softw 67(1).
Li P, Redden DT (2015). Small sample performance of bias-corrected sandwich estimators for
cluster-randomized trials with binary outcomes. Stat Med 34:281-296.
Leyrat C, Morgan KE, Leurent B, Kahan BC (2018). Cluster randomized trials with a small number of
clusters: which analyses should be used? Int J Epidemiol 47:321-331.

Kept as one module, over the 600-line guide: it is one estimator (the quadrature
likelihood, its gradient, the optimiser, the verification and the inference), whose parts are
not used apart.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

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
from trial.stats.mixed.checks import _column_levels
from trial.stats.mixed.ddf import _bw_df

__all__ = [
    "DF_METHODS",
    "GLMMArrayFit",
    "GLMMConvergenceWarning",
    "GLMMFit",
    "fit_glmm",
    "fit_glmm_arrays",
]

DF_METHODS = ("between-within", "residual", "z")
FAMILIES = ("binomial", "poisson")
# lme4 allows at most 25 quadrature nodes
MAX_AGQ = 25
# lme4's isSingular() tolerance on theta
_SINGULAR_TOL = 1e-4
# Newton steps (in standard errors) below which the fit is converged, and above which a fit
# is not returned
_STEP_TOL = 1e-6
_STEP_FAIL = 1e-3
# central-difference step of the Hessian, in standard errors
_FD_STEP = 1e-4


class GLMMConvergenceWarning(UserWarning):
    """The optimum passed the loose but not the strict convergence check."""


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GLMMArrayFit(ArrayInference):
    """A fitted random-intercept GLMM as plain arrays (coefficients in the column order of X).

    Attributes
    ----------
    beta : numpy.ndarray, shape (p,)
        Fixed-effect estimates (log odds ratios or log rate ratios for the slopes).
    cov : numpy.ndarray, shape (p, p)
        Covariance of ``beta``: the ``beta`` block of the inverse negative Hessian in
        ``(beta, theta)`` (as ``vcov`` of lme4).
    df : numpy.ndarray, shape (p,)
        Denominator df of each coefficient under ``df_method``.
    df_method : str
        ``"between-within"``, ``"residual"`` or ``"z"``.
    theta : float
        Standard deviation of the cluster random intercept (on the link scale).
    cov_full : numpy.ndarray, shape (p + 1, p + 1)
        Covariance of ``(beta, theta)``; the row and column of ``theta`` are NaN at the
        boundary.
    loglik : float
        Maximised (approximate) log-likelihood, with the constants of the family (lme4's
        ``logLik``).
    family, link : str
        ``"binomial"``/``"logit"`` or ``"poisson"``/``"log"``.
    n_agq : int
        Number of quadrature nodes (1: Laplace).
    converged : bool
        ``True`` when the last Newton step was below ``1e-6`` standard errors in every
        parameter; ``False`` when it only passed the loose check (``1e-3``), with a
        :class:`GLMMConvergenceWarning`.
    at_boundary : bool
        ``theta`` is 0 (the fit is the GLM's) or below lme4's singularity tolerance 1e-4.
    n_obs, n_clusters : int
        Numbers of observations and clusters.
    n_iter : int
        Newton iterations used.
    cluster_effects : numpy.ndarray, shape (n_clusters,)
        Conditional modes ``theta * u_hat_j`` of the random intercepts (lme4's ``ranef``), in
        the order of the cluster codes.
    """

    beta: np.ndarray
    cov: np.ndarray
    df: np.ndarray
    df_method: str
    theta: float
    cov_full: np.ndarray
    loglik: float
    family: str
    link: str
    n_agq: int
    converged: bool
    at_boundary: bool
    n_obs: int
    n_clusters: int
    n_iter: int
    cluster_effects: np.ndarray
    _wald: WaldInference = field(repr=False)

    @property
    def variance(self) -> float:
        """Variance ``theta^2`` of the cluster random intercept (lme4's ``VarCorr``)."""
        return self.theta**2

    @property
    def icc_latent(self) -> float:
        """ICC on the latent (logit) scale, ``theta^2 / (theta^2 + pi^2 / 3)``; NaN for counts.

        The latent-variable ICC of a logistic random-intercept model (Snijders and Bosker):
        the level-1 residual of the latent response has the standard logistic variance.
        """
        if self.family != "binomial":
            return float("nan")
        return self.variance / (self.variance + math.pi**2 / 3.0)


@dataclass(frozen=True, eq=False)
class GLMMFit(LabelledFit):
    """A fitted random-intercept GLMM labelled by term.

    Attributes
    ----------
    arrays : GLMMArrayFit
        The fit as plain arrays; its attributes are also available here.
    terms : tuple of str
        Coefficient names (the column names of ``X``).
    params, cov, df
        pandas views of ``beta``, ``cov`` and ``df``, built on first access.
    """

    arrays: GLMMArrayFit
    terms: tuple[str, ...]

    @cached_property
    def variance_components(self) -> pd.Series:
        """``cluster`` variance of the random intercept."""
        return pd.Series([self.arrays.variance], index=["cluster"], name="variance")


# ---------------------------------------------------------------------------------------------
# The approximate likelihood and its gradient, vectorised over clusters
# ---------------------------------------------------------------------------------------------


def _gh_rule(n_agq: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and log-weights of the Gauss-Hermite rule for the standard normal density."""
    if n_agq == 1:
        return np.zeros(1), np.zeros(1)
    z, w = np.polynomial.hermite_e.hermegauss(n_agq)
    w = w / w.sum()
    return z, np.log(w)


class _Problem:
    """Data sorted by cluster, the quadrature rule and per-cluster sums (see module docstring).

    Per-observation arrays are laid out as ``(k, n)`` (one row per quantity), so that the
    per-cluster sums of all of them are one ``np.add.reduceat`` along the last axis.
    """

    def __init__(
        self,
        y: np.ndarray,
        X: np.ndarray,
        off: np.ndarray,
        codes: np.ndarray,
        J: int,
        family: Family,
        n_agq: int,
    ) -> None:
        order = np.argsort(codes, kind="stable")
        self.y = y[order]
        self.X = X[order]
        self.XT = np.ascontiguousarray(self.X.T)
        self.off = off[order]
        self.c = codes[order]
        self.n, self.p = X.shape
        self.J = J
        self.starts = np.flatnonzero(np.r_[True, self.c[1:] != self.c[:-1]])
        self.fam = family
        self.z, self.logw = _gh_rule(n_agq)
        self.K = n_agq
        self.zc = self.z[:, None]
        self.node_const = (self.logw + 0.5 * self.z**2)[:, None]
        self.const = family.log_c(self.y)
        self.u = np.zeros(J)  # warm start of the modes

    def csum(self, a: np.ndarray) -> np.ndarray:
        """Per-cluster sums along the last axis of ``a`` (shape (n,) or (k, n))."""
        return np.add.reduceat(a, self.starts, axis=-1)

    # -- the conditional modes ---------------------------------------------------------------
    def modes(self, a: np.ndarray, theta: float) -> tuple[np.ndarray, ...]:
        """Modes of ``h_j`` by a safeguarded Newton iteration, all clusters at once.

        ``h_j`` is strictly concave with ``h_j'' <= -1``, so the mode lies between ``u`` and
        ``u + h_j'(u)``; every evaluation narrows that bracket, and a Newton point outside it is
        replaced by the bracket's midpoint. Returns the modes and, at the modes, the
        per-cluster sums of ``y - mu`` and ``W = b''``, and the per-observation ``W`` and
        ``W' = b'''``.
        """
        u = self.u.copy()
        lo = np.full(self.J, -np.inf)
        hi = np.full(self.J, np.inf)
        t2 = theta * theta
        for it in range(200):
            eta = a + theta * u[self.c]
            mu, w, w3 = self.fam.moments(eta)
            s = self.csum(np.stack([self.y - mu, w]))
            g = theta * s[0] - u
            step = g / (t2 * s[1] + 1.0)
            if it and np.max(np.abs(step)) < 1e-10:
                # Newton converges quadratically: the previous step was below 1e-5, so ``u``
                # is the mode to rounding error (the gradient below relies on it)
                break
            up = g > 0
            lo = np.where(up, np.maximum(lo, u), np.maximum(lo, u + g))
            hi = np.where(up, np.minimum(hi, u + g), np.minimum(hi, u))
            un = u + step
            out = (un <= lo) | (un >= hi)
            u = np.where(out, 0.5 * (lo + hi), un)
        else:
            raise ModelFitError("the conditional modes of the random effects did not converge")
        self.u = u
        return u, s[0], s[1], w, w3

    # -- the approximate log-likelihood ------------------------------------------------------
    def evaluate(self, par: np.ndarray, grad: bool = True) -> tuple[float, np.ndarray | None]:
        """Approximate log-likelihood at ``par = (beta, theta)`` and its gradient."""
        p, K, c = self.p, self.K, self.c
        beta, theta = par[:p], float(par[p])
        a = beta @ self.XT + self.off
        u, Sr, SW, W, W3 = self.modes(a, theta)
        L2 = 1.0 + theta * theta * SW
        L = np.sqrt(L2)
        v = u + self.zc / L  # (K, J): the nodes of each cluster
        eta = a + theta * v[:, c]  # (K, n)
        cum, mu = self.fam.cumulant_mean(eta)
        res = self.y - mu
        sums = self.csum(np.concatenate([self.y * eta - cum, res]))
        S, R = sums[:K], sums[K:]
        lw = self.node_const + S - 0.5 * v * v
        mx = lw.max(axis=0)
        ex = np.exp(lw - mx)
        tot = ex.sum(axis=0)
        loglik = float(np.sum(mx + np.log(tot) - np.log(L))) + self.const
        if not grad:
            return loglik, None
        q = ex / tot
        rbar = np.einsum("kn,kn->n", q[:, c], res) if K > 1 else res[0]
        hp = theta * R - v
        m1 = np.einsum("kj,kj->j", q, hp)
        m2 = self.z @ (q * hp)
        XT = self.XT
        xs = self.csum(np.concatenate([XT * rbar, XT * W, XT * W3, W3[None, :]]))
        Sxr, SWx, SW3x, SW3 = xs[:p], xs[p : 2 * p], xs[2 * p : 3 * p], xs[3 * p]
        du_db = -theta * SWx / L2
        du_dt = (Sr - theta * u * SW) / L2
        dL2_db = theta * theta * (SW3x + theta * du_db * SW3)
        dL2_dt = 2.0 * theta * SW + theta * theta * SW3 * (u + theta * du_dt)
        coef = (m2 / L2 + 1.0 / L) / (2.0 * L)
        g_b = Sxr + m1 * du_db - coef * dL2_db
        g_t = np.einsum("kj,kj,kj->j", q, v, R) + m1 * du_dt - coef * dL2_dt
        return loglik, np.concatenate([g_b.sum(axis=1), [g_t.sum()]])

    def hessian(self, par: np.ndarray, scale: np.ndarray, central: bool = True) -> np.ndarray:
        """Hessian by central (or forward) differences of the analytic gradient.

        The steps are ``1e-4 * scale`` (``scale``: standard errors, or a guess of them).
        """
        k = par.size
        Hm = np.empty((k, k))
        u0 = self.u.copy()
        g0 = None if central else self.evaluate(par)[1]
        for j in range(k):
            h = _FD_STEP * scale[j]
            e = np.zeros(k)
            e[j] = h
            self.u = u0.copy()
            gp = self.evaluate(par + e)[1]
            if central:
                self.u = u0.copy()
                Hm[:, j] = (gp - self.evaluate(par - e)[1]) / (2.0 * h)
            else:
                Hm[:, j] = (gp - g0) / h
        self.u = u0
        return 0.5 * (Hm + Hm.T)


# ---------------------------------------------------------------------------------------------
# Optimisation
# ---------------------------------------------------------------------------------------------


def _glm(pr: _Problem) -> tuple[np.ndarray, float, np.ndarray]:
    """Maximum-likelihood GLM (``theta = 0``) by Newton's method.

    Returns the estimates, the log-likelihood and the information matrix ``X'WX``.
    """
    y, X, off, fam = pr.y, pr.X, pr.off, pr.fam
    mu = fam.start_mean(y)
    w = fam.variance(mu)
    z = fam.link_fun(mu) - off + (y - mu) / w
    beta = np.linalg.solve((X.T * w) @ X, (X.T * w) @ z)
    for _ in range(100):
        mu, w, _ = fam.moments(X @ beta + off)
        info = (X.T * w) @ X
        step = np.linalg.solve(info, X.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12 * (1.0 + np.max(np.abs(beta))):
            break
    else:
        raise ModelFitError(
            "the GLM fit did not converge: an estimate may be infinite (separation)"
        )
    eta = X @ beta + off
    return beta, float(np.sum(y * eta - fam.cumulant(eta))) + pr.const, info


def _newton_direction(g: np.ndarray, B: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Ascent direction ``B^-1 g`` with ``B`` (minus the Hessian) made positive definite.

    The eigenvalue floor is applied to ``B`` in units of ``scale`` (standard errors), so that
    it does not depend on the units of the covariates: a covariate in small units has a
    curvature many orders above the others', which a floor relative to the largest
    eigenvalue of ``B`` itself would mistake for indefiniteness in the other directions.
    """
    ev, V = np.linalg.eigh(B * np.outer(scale, scale))
    floor = max(np.max(np.abs(ev)) * 1e-8, 1e-12)
    ev = np.where(ev > floor, ev, np.maximum(np.abs(ev), floor))
    return scale * (V @ ((V.T @ (scale * g)) / ev))


def _step_in_se(d: np.ndarray, B: np.ndarray, scale: np.ndarray) -> tuple[float, np.ndarray]:
    """Largest step component in standard errors (from ``B^-1`` when ``B`` is positive
    definite, else in the units of ``scale``), and the standard errors used."""
    try:
        cov = np.linalg.inv(B)
        with np.errstate(invalid="ignore"):  # a negative diagonal is caught just below
            se = np.sqrt(np.diag(cov))
        if np.all(np.isfinite(se) & (se > 0)) and np.all(np.linalg.eigvalsh(B) > 0):
            scale = se
    except np.linalg.LinAlgError:
        pass
    return float(np.max(np.abs(d) / scale)), scale


def _optimise(pr: _Problem) -> tuple[np.ndarray, np.ndarray, float, int, bool, float]:
    """Maximise the approximate likelihood.

    Quasi-Newton: the first matrix is a forward-difference Hessian, then BFGS updates; once
    the step is below the tolerance the Hessian is recomputed by central differences and the
    optimum accepted only when the exact Newton step is below it too. Returns the estimates,
    the (central-difference) Hessian, the log-likelihood, the iterations, the boundary flag and
    the last Newton step in standard errors.
    """
    p = pr.p
    beta0, ll_glm, info = _glm(pr)
    # starting theta: the best of a few values at the GLM estimates
    starts = []
    for t0 in (0.25, 0.5, 1.0, 2.0):
        pr.u = np.zeros(pr.J)
        starts.append((pr.evaluate(np.r_[beta0, t0], grad=False)[0], t0))
    t0 = max(starts)[1]
    par = np.r_[beta0, t0]
    pr.u = np.zeros(pr.J)
    ll, g = pr.evaluate(par)
    scale = np.r_[np.sqrt(np.diag(np.linalg.inv(info))), 0.1]
    B = -pr.hessian(par, scale, central=False)
    exact = False
    n_iter = 0
    step_se = np.inf
    while n_iter < 200:
        d = _newton_direction(g, B, scale)
        step_se, scale = _step_in_se(d, B, scale)
        if step_se < _STEP_TOL:
            if exact:
                break
            B = -pr.hessian(par, scale)
            exact = True
            continue
        n_iter += 1
        t = 1.0
        for _ in range(60):
            new = par + t * d
            u_before = pr.u
            try:
                ll_new, g_new = pr.evaluate(new)
            except ModelFitError:  # modes not found at a wild trial point: step back
                pr.u = u_before
                ll_new, g_new = -np.inf, None
            if np.isfinite(ll_new) and ll_new >= ll - 1e-12 * abs(ll):
                break
            t *= 0.5
        else:
            break
        s = new - par
        yb = g - g_new  # change in the gradient of -loglik
        sy = float(s @ yb)
        if sy > 0:
            Bs = B @ s
            B = B - np.outer(Bs, Bs) / float(s @ Bs) + np.outer(yb, yb) / sy
        exact = False
        par, ll, g = new, ll_new, g_new
    if not exact:
        B = -pr.hessian(par, scale)
    # the boundary: theta = 0 is the GLM fit
    boundary = False
    if abs(par[p]) < 1e-3 and ll_glm >= ll - 1e-9 * max(1.0, abs(ll)):
        boundary = True
        par = np.r_[beta0, 0.0]
        pr.u = np.zeros(pr.J)
        ll = ll_glm
        B = -pr.hessian(par, scale)
        step_se = 0.0
    par[p] = abs(par[p])
    return par, -B, ll, n_iter, boundary, step_se


def _fit(
    y: np.ndarray,
    X: np.ndarray,
    off: np.ndarray,
    codes: np.ndarray,
    J: int,
    family: str,
    n_agq: int,
    df_method: str,
) -> GLMMArrayFit:
    fam = get_family(family, FAMILIES)
    fam.check(y)
    if df_method not in DF_METHODS:
        raise ModelInputError(f"df_method must be one of {DF_METHODS}, got {df_method!r}")
    if not (isinstance(n_agq, int | np.integer) and 1 <= n_agq <= MAX_AGQ):
        raise ModelInputError(f"n_agq must be an integer from 1 to {MAX_AGQ}, got {n_agq!r}")
    n, p = X.shape
    if J < 2:
        raise ModelInputError("at least two clusters are needed to estimate a cluster variance")
    if n <= p:
        raise ModelInputError(f"too few observations ({n}) for {p} fixed effects")
    check_full_rank(X)
    pr = _Problem(y, X, off, codes, J, fam, int(n_agq))
    with np.errstate(over="ignore", under="ignore"):
        par, H, ll, n_iter, boundary, step_se = _optimise(pr)
    if not (np.isfinite(par).all() and np.isfinite(ll)):
        raise ModelFitError("non-finite estimates at the optimum")
    if step_se > _STEP_FAIL:
        raise ModelFitError(
            f"the fit did not converge: the last Newton step was {step_se:.2g} standard errors"
        )
    beta, theta = par[:p], float(par[p])
    info = -H
    cov_full = np.full((p + 1, p + 1), np.nan)
    if boundary:
        cov_full[:p, :p] = np.linalg.inv(info[:p, :p])
    else:
        cov_full = np.linalg.inv(info)
    cov_full = 0.5 * (cov_full + cov_full.T)
    cov = cov_full[:p, :p].copy()
    if not np.all(np.linalg.eigvalsh(cov) > 0):
        raise ModelFitError("the covariance of the estimates is not positive definite")
    if df_method == "between-within":
        levels = _column_levels(pr.X, pr.starts, None)
        df = _bw_df(levels, [0, J, n], pr.X.T @ pr.X).astype(float)
    elif df_method == "residual":
        df = np.full(p, float(n - p))
    else:
        df = np.full(p, np.inf)
    converged = step_se < _STEP_TOL
    if not converged:
        warnings.warn(
            f"GLMM fit: the last Newton step was {step_se:.2g} standard errors (converged "
            f"below {_STEP_TOL:g})",
            GLMMConvergenceWarning,
            stacklevel=3,
        )
    # conditional modes at the estimates
    pr.evaluate(par, grad=False)
    return GLMMArrayFit(
        beta=beta,
        cov=cov,
        df=df,
        df_method=df_method,
        theta=theta,
        cov_full=cov_full,
        loglik=ll,
        family=fam.name,
        link=fam.link,
        n_agq=int(n_agq),
        converged=converged,
        at_boundary=bool(boundary or theta < _SINGULAR_TOL),
        n_obs=n,
        n_clusters=J,
        n_iter=n_iter,
        cluster_effects=theta * pr.u,
        _wald=WaldInference(beta, cov, df, df_method),
    )


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def fit_glmm_arrays(
    y: np.ndarray,
    X: np.ndarray,
    clusters: np.ndarray,
    *,
    family: str = "binomial",
    offset: np.ndarray | None = None,
    n_agq: int = 10,
    df_method: str = "between-within",
) -> GLMMArrayFit:
    """Fit a random-intercept GLMM on plain arrays.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
        Outcome: 0/1 for ``"binomial"``, a non-negative integer count for ``"poisson"``.
    X : numpy.ndarray, shape (n, p)
        Fixed-effect design, with an intercept column if one is wanted; full column rank.
    clusters : numpy.ndarray, shape (n,)
        Cluster labels or integer codes (random intercept ``(1 | cluster)``).
    family : {"binomial", "poisson"}
        Binomial with logit link, or Poisson with log link.
    offset : numpy.ndarray, shape (n,), optional
        Known part of the linear predictor (e.g. log exposure time for counts).
    n_agq : int, default 10
        Number of adaptive Gauss-Hermite nodes per cluster, 1 to 25; 1 is the Laplace
        approximation (lme4's default ``nAGQ``).
    df_method : {"between-within", "residual", "z"}
        Denominator df (see the module docstring).

    Returns
    -------
    GLMMArrayFit

    Raises
    ------
    trial.stats._families.ModelInputError
        Bad shapes or values, a rank-deficient ``X``, fewer than two clusters, an unknown
        family, ``n_agq`` or ``df_method``.
    trial.stats._families.ModelFitError
        The optimum could not be reached (e.g. an infinite estimate under separation).
    """
    _, yv, Xv, off, codes, J = model_inputs(y, X, clusters, offset, labelled=False)
    return _fit(yv, Xv, off, codes, J, family, n_agq, df_method)


def fit_glmm(
    y: Sequence[float] | np.ndarray | pd.Series,
    X: pd.DataFrame,
    clusters: Sequence[Hashable] | np.ndarray | pd.Series,
    *,
    family: str = "binomial",
    offset: Sequence[float] | np.ndarray | pd.Series | None = None,
    n_agq: int = 10,
    df_method: str = "between-within",
) -> GLMMFit:
    """Fit a random-intercept GLMM with a labelled design.

    Parameters are those of :func:`fit_glmm_arrays`, except that ``X`` is a
    :class:`pandas.DataFrame` whose column names are the term names.

    Returns
    -------
    GLMMFit
    """
    names, yv, Xv, off, codes, J = model_inputs(y, X, clusters, offset, labelled=True)
    return GLMMFit(_fit(yv, Xv, off, codes, J, family, n_agq, df_method), names)
