"""Imputation of a binary level-1 variable from a latent-normal random-intercept model.

The model is the random-intercept probit model written with a latent normal response
(Albert and Chib 1993), as jomo treats binary variables (Quartagno and Carpenter):

.. math::

    z_{ij} = x_{ij}'\\beta + u_j + e_{ij},\\quad u_j \\sim N(0, \\sigma^2_u),\\quad
    e_{ij} \\sim N(0, 1),\\qquad y_{ij} = 1\\{z_{ij} > 0\\},

so that ``P(y_ij = 1 | u_j) = Phi(x_ij' beta + u_j)``; the residual variance is fixed at 1 (the
scale of a binary variable is not identified). Each sweep of the Gibbs sampler draws

1. the latent ``z`` of the observed rows from normals truncated to ``z > 0`` (``y = 1``) or
   ``z <= 0`` (``y = 0``);
2. ``(beta, u) | z, sigma2_u`` in one block: ``beta`` from its generalised-least-squares
   posterior with the intercepts integrated out (flat prior), then ``u_j | beta``;
3. ``sigma2_u | u`` from its scaled-inverse-chi-square posterior.

After the last sweep each missing ``y`` is drawn as ``1{z > 0}`` with
``z = eta + e``, ``eta = x' beta + u_j`` and ``e ~ N(0, 1)``; ``eta`` and ``e`` are returned so
that a sensitivity analysis can redraw the value with its log odds shifted, using the same
``e`` (:func:`shifted_draw`). Rows with a missing ``y`` carry no information on the parameters
and are left out of steps 1-3. Per-cluster sums use ``numpy.bincount``; a sweep costs
``O(n p + J p^2)``.

The multilevel imputation engine (:func:`trial.stats.impute.multilevel.impute_multilevel`, argument
``binary``) calls it for binary variables, one sweep per visit of the chained equations, each
visit starting from the previous visit's draws.

References
----------
Albert JH, Chib S (1993). Bayesian analysis of binary and polychotomous response data. JASA
88:669-679.
Quartagno M, Carpenter JR (2016). Multiple imputation for IPD meta-analysis: allowing for
heterogeneity and studies with missing covariates. Stat Med 35:2938-2954 (jomo's latent
normal treatment of categorical variables).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

__all__ = [
    "BinaryRandomInterceptDraws",
    "draw_latent",
    "PRIOR_DF",
    "PRIOR_SCALE_U",
    "sample_binary_random_intercept",
    "shifted_draw",
]

#: Degrees of freedom of the scaled-inverse-chi-square prior on the cluster variance: one
#: pseudo-observation (proper, so the posterior stays proper when the data support no
#: clustering).
PRIOR_DF = 1.0
#: Prior scale of the cluster variance on the latent scale (residual variance 1): an ICC of
#: about 0.01, the lower end of what cluster trials report.
PRIOR_SCALE_U = 0.01

_FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class BinaryRandomInterceptDraws:
    """Draws of the latent-normal random-intercept sampler for one binary variable.

    Attributes
    ----------
    beta : numpy.ndarray, shape (n_draws, p)
        Probit coefficients of every sweep (columns in the order of the design).
    sigma2_u : numpy.ndarray, shape (n_draws,)
        Cluster-intercept variance on the latent scale, every sweep.
    u : numpy.ndarray, shape (n_clusters,)
        Cluster intercepts of the final sweep.
    y_missing : numpy.ndarray, shape (n_missing,)
        0/1 values drawn for the missing entries of ``y`` (in row order) from the final sweep.
    eta_missing, e_missing : numpy.ndarray, shape (n_missing,)
        The latent linear predictor ``x' beta + u_j`` of those entries under the final sweep and
        the standard normal residual drawn for each: ``y_missing = 1{eta + e > 0}``.
    """

    beta: _FloatArray
    sigma2_u: _FloatArray
    u: _FloatArray
    y_missing: _FloatArray
    eta_missing: _FloatArray
    e_missing: _FloatArray


def _probit_log_odds(x: _FloatArray) -> _FloatArray:
    """``logit(Phi(x))``, accurate in both tails."""
    return special.log_ndtr(x) - special.log_ndtr(-x)


def shifted_draw(eta: _FloatArray, e: _FloatArray, delta: float) -> _FloatArray:
    """Redraw ``1{eta + e > 0}`` with the log odds of a 1 shifted by ``delta``.

    The draw ``1{eta + e > 0}`` is ``1{V < Phi(eta)}`` with ``V = Phi(-e)`` uniform. Its shifted
    counterpart is ``1{V < expit(logit(Phi(eta)) + delta)}``: the probability that the imputed
    value is 1, given the imputation model's final draw, has its **log odds** moved by exactly
    ``delta`` (not its probit, which the latent model uses; no approximation between the two
    links is made). With the same ``e`` for every ``delta`` the values change monotonically in
    ``delta``, and ``delta = 0`` gives back the original draw exactly (``logit(Phi(.))`` is
    increasing, so the comparison is that of ``-e`` with ``eta``).

    Parameters
    ----------
    eta, e : numpy.ndarray
        Latent linear predictors and residuals of the imputed values
        (:class:`BinaryRandomInterceptDraws` ``eta_missing``, ``e_missing``).
    delta : float
        Shift on the log-odds scale.

    Returns
    -------
    numpy.ndarray
        0/1 values as floats.
    """
    eta = np.asarray(eta, dtype=float)
    e = np.asarray(e, dtype=float)
    return (_probit_log_odds(-e) < _probit_log_odds(eta) + delta).astype(float)


def draw_latent(y: _FloatArray, eta: _FloatArray, rng: np.random.Generator) -> _FloatArray:
    """Latent ``z ~ N(eta, 1)`` truncated to ``z > 0`` where ``y = 1`` and ``z <= 0`` where
    ``y = 0``.

    ``z = eta + e``: for ``y = 1``, ``e > a`` with ``a = -eta``; for ``y = 0``, ``-e > a`` with
    ``a = eta``. A standard normal truncated to ``(a, inf)`` is ``-ndtri(U Phi(-a))`` (inversion
    through the upper tail, accurate however far ``a`` lies in it).
    """
    a = np.where(y == 1, -eta, eta)
    e = -special.ndtri(rng.random(y.shape[0]) * special.ndtr(-a))
    return eta + np.where(y == 1, e, -e)


def sample_binary_random_intercept(
    y: _FloatArray,
    X: _FloatArray,
    cluster_codes: NDArray[np.intp],
    n_clusters: int,
    *,
    n_draws: int,
    rng: np.random.Generator,
    sigma2_u: float = 0.1,
    beta: _FloatArray | None = None,
    u: _FloatArray | None = None,
    prior_df: float = PRIOR_DF,
    prior_scale_u: float = PRIOR_SCALE_U,
) -> BinaryRandomInterceptDraws:
    """Gibbs sampler of the latent-normal random-intercept model with missing 0/1 outcomes.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
        0/1 outcome; ``NaN`` marks a missing value.
    X : numpy.ndarray, shape (n, p)
        Complete design, including an intercept column.
    cluster_codes : numpy.ndarray of int, shape (n,)
        Cluster index of each row, in ``[0, n_clusters)``.
    n_clusters : int
    n_draws : int
        Number of sweeps; every sweep's parameters are returned.
    rng : numpy.random.Generator
    sigma2_u : float, default 0.1
        Starting value of the cluster variance (latent scale).
    beta, u : numpy.ndarray, optional
        Starting coefficients (shape ``(p,)``) and cluster intercepts (``(n_clusters,)``), e.g.
        the last sweep of a previous call, so that a chain visited one sweep at a time (as in
        chained equations) continues instead of restarting; zeros by default.
    prior_df, prior_scale_u : float
        Scaled-inverse-chi-square prior ``(nu_0, s_0^2)`` of the cluster variance.

    Returns
    -------
    BinaryRandomInterceptDraws

    Raises
    ------
    ValueError
        Mismatched shapes, an observed value other than 0/1, a missing ``X``, too few observed
        rows, a singular design, or an outcome observed at one value only (the probit
        coefficients would have no finite posterior mode).
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    codes = np.asarray(cluster_codes, dtype=np.intp)
    n, p = X.shape
    if y.shape != (n,) or codes.shape != (n,):
        raise ValueError("y, X and cluster_codes must have the same number of rows")
    if n_draws < 1:
        raise ValueError("n_draws must be at least 1")
    if np.isnan(X).any():
        raise ValueError("X must be complete")
    obs = ~np.isnan(y)
    bad = np.flatnonzero(obs & (y != 0) & (y != 1))
    if bad.size:
        raise ValueError(f"y must be 0, 1 or missing; row {int(bad[0])} has {y[bad[0]]!r}")
    yo, Xo, go = y[obs], X[obs], codes[obs]
    if yo.size <= p:
        raise ValueError(f"{yo.size} observed values are too few for {p} fixed effects")
    if yo.min() == yo.max():
        raise ValueError("the observed outcome takes one value only")
    XtX = Xo.T @ Xo
    try:
        np.linalg.cholesky(XtX)
    except np.linalg.LinAlgError as exc:
        raise ValueError("the design matrix is singular (collinear predictors?)") from exc

    n_j = np.bincount(go, minlength=n_clusters).astype(float)

    def csum(v: _FloatArray) -> _FloatArray:
        if v.ndim == 1:
            return np.bincount(go, weights=v, minlength=n_clusters)
        return np.stack([np.bincount(go, weights=c, minlength=n_clusters) for c in v.T], 1)

    Sx = csum(Xo)  # (J, p)
    beta = np.zeros(p) if beta is None else np.asarray(beta, dtype=float).copy()
    u = np.zeros(n_clusters) if u is None else np.asarray(u, dtype=float).copy()
    if beta.shape != (p,) or u.shape != (n_clusters,):
        raise ValueError(f"beta must have shape ({p},) and u ({n_clusters},)")
    s2u = float(sigma2_u)
    beta_draws = np.empty((n_draws, p))
    s2u_draws = np.empty(n_draws)
    for t in range(n_draws):
        z = draw_latent(yo, Xo @ beta + u[go], rng)
        Sz = csum(z)
        # beta | z, s2u with u integrated out: V_j^-1 = I - gamma_j 11', residual variance 1
        gamma = s2u / (1.0 + n_j * s2u)
        gSx = Sx * gamma[:, None]
        chol = np.linalg.cholesky(XtX - gSx.T @ Sx)
        mean = np.linalg.solve(chol.T, np.linalg.solve(chol, Xo.T @ z - gSx.T @ Sz))
        beta = mean + np.linalg.solve(chol.T, rng.standard_normal(p))
        prec_u = n_j + 1.0 / s2u
        u = (Sz - Sx @ beta) / prec_u + rng.standard_normal(n_clusters) / np.sqrt(prec_u)
        s2u = (prior_df * prior_scale_u + float(u @ u)) / rng.chisquare(prior_df + n_clusters)
        beta_draws[t] = beta
        s2u_draws[t] = s2u
    eta_mis = X[~obs] @ beta + u[codes[~obs]]
    e_mis = rng.standard_normal(eta_mis.size)
    y_missing = (eta_mis + e_mis > 0).astype(float)
    return BinaryRandomInterceptDraws(beta_draws, s2u_draws, u, y_missing, eta_mis, e_mis)
