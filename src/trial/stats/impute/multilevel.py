"""Multilevel (random-intercept) normal imputation by fully conditional specification.

Each incomplete level-1 variable is imputed from a linear mixed model with a random cluster
intercept, fitted by a Gibbs sampler in the manner of the two-level normal methods of R mice
(``2l.pan``, ``2l.norm``; Schafer & Yucel 2002). Each incomplete cluster-level variable is
imputed once per cluster from a Bayesian normal regression on cluster means of the other
variables, in the manner of mice ``2lonly.norm``. Every per-cluster quantity is computed with
segment sums (``numpy.bincount``), so a sweep of the sampler costs O(n p + J p^2).

Kept as one module, over the 600-line guide: it is one sampler (the conditional models of
the incomplete variables, their Gibbs steps and the sufficient statistics they share), whose
parts are not used apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from trial.progress import progress
from trial.stats.impute.base import ImputationResult, no_latent_draws
from trial.stats.impute.binary import BinaryRandomInterceptDraws, sample_binary_random_intercept

__all__ = [
    "ENGINE_NAME",
    "ENGINE_STEPS",
    "engine_name",
    "PRIOR_DF",
    "PRIOR_SCALE_FRACTION_U",
    "PRIOR_SCALE_FRACTION_E",
    "RandomInterceptDraws",
    "SINGULAR_TOLERANCE",
    "impute_multilevel",
    "sample_random_intercept",
]

ENGINE_NAME = "multilevel normal (random intercept, FCS)"

#: How each kind of incomplete variable is drawn, as :func:`engine_name` reports it.
ENGINE_STEPS = {
    "normal": "normal",
    "binary": "latent-normal probit for 0/1 variables",
    "matched": "predictive mean matching",
}


def engine_name(
    incomplete: Iterable[str], binary: Iterable[str] = (), mean_match: Iterable[str] = ()
) -> str:
    """The engine's name as reports give it, naming the draws that imputed the ``incomplete``
    columns (:data:`ENGINE_STEPS`; arguments ``binary`` and ``mean_match`` as
    :func:`impute_multilevel` takes them): :data:`ENGINE_NAME` when all were normal."""
    binary, mean_match = set(binary), set(mean_match)
    kinds = {
        "binary" if c in binary else "matched" if c in mean_match else "normal" for c in incomplete
    }
    used = [ENGINE_STEPS[k] for k in ENGINE_STEPS if k in kinds]
    if used in ([], [ENGINE_STEPS["normal"]]):
        return ENGINE_NAME
    return f"multilevel (random intercept, FCS): {', '.join(used)}"


#: Degrees of freedom of the scaled-inverse-chi-square priors on both variance components:
#: one pseudo-observation, the weakest choice that keeps the prior proper (pan's default as
#: used by mice ``2l.pan`` has the same weight).
PRIOR_DF = 1.0
#: Prior scale of the cluster-intercept variance, as a fraction of the observed variance of the
#: variable being imputed. Cluster trials typically have ICCs of 0.01-0.1, so this places the
#: prior in the plausible range without pulling the ICC up.
PRIOR_SCALE_FRACTION_U = 0.01
#: Prior scale of the residual variance, as a fraction of the observed variance.
PRIOR_SCALE_FRACTION_E = 1.0

#: A design counts as singular when the smallest eigenvalue of its column-scaled cross-product
#: (unit diagonal) is below this fraction of the largest, i.e. when the scaled design's
#: condition number exceeds 1e6. Exactly collinear designs give about 1e-16; the samplers work
#: with cross-products, which lose about a digit of accuracy per factor of 10 in this ratio.
SINGULAR_TOLERANCE = 1e-12

_FloatArray = NDArray[np.float64]
_IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class RandomInterceptDraws:
    """Draws of the random-intercept Gibbs sampler for one variable.

    Attributes
    ----------
    beta
        Fixed-effect draws, shape ``(n_draws, p)``; columns in the order of the design matrix.
    sigma2_u
        Cluster-intercept variance draws, shape ``(n_draws,)``.
    sigma2_e
        Residual variance draws, shape ``(n_draws,)``.
    u
        Cluster intercepts of the final draw, shape ``(n_clusters,)``.
    y_missing
        Values drawn for the missing entries of ``y`` (in row order) from the final draw.
    """

    beta: _FloatArray
    sigma2_u: _FloatArray
    sigma2_e: _FloatArray
    u: _FloatArray
    y_missing: _FloatArray


def _segment_sums(codes: _IntArray, values: _FloatArray, n_groups: int) -> _FloatArray:
    """Per-group column sums of ``values`` (1-D or 2-D) via ``bincount``."""
    if values.ndim == 1:
        return np.bincount(codes, weights=values, minlength=n_groups)
    return np.stack(
        [
            np.bincount(codes, weights=values[:, k], minlength=n_groups)
            for k in range(values.shape[1])
        ],
        axis=1,
    )


def _is_singular(crossprod: _FloatArray) -> bool:
    """Whether the cross-product ``X'X`` of a design is (numerically) singular.

    Checks the eigenvalues of the column-scaled cross-product against
    :data:`SINGULAR_TOLERANCE`; costs O(p^3) instead of the O(n p^2) of a rank check on ``X``.
    """
    diag = np.diag(crossprod)
    if not np.all(diag > 0):  # a column of zeros
        return True
    scale = 1.0 / np.sqrt(diag)
    eigen = np.linalg.eigvalsh(crossprod * scale[:, None] * scale[None, :])
    return bool(eigen[0] < SINGULAR_TOLERANCE * eigen[-1])


def _draw_mvn_from_precision(
    precision: _FloatArray, rhs: _FloatArray, rng: np.random.Generator
) -> _FloatArray:
    """Draw from N(precision^-1 rhs, precision^-1) using one Cholesky factorisation."""
    chol = np.linalg.cholesky(precision)  # precision = L L'
    mean = np.linalg.solve(chol.T, np.linalg.solve(chol, rhs))
    return mean + np.linalg.solve(chol.T, rng.standard_normal(rhs.shape[0]))


def sample_random_intercept(
    y: _FloatArray,
    X: _FloatArray,
    cluster_codes: _IntArray,
    n_clusters: int,
    *,
    n_draws: int,
    rng: np.random.Generator,
    sigma2_u: float | None = None,
    sigma2_e: float | None = None,
    prior_df: float = PRIOR_DF,
    prior_scale_u: float | None = None,
    prior_scale_e: float | None = None,
) -> RandomInterceptDraws:
    r"""Gibbs sampler for a random-intercept normal model with missing outcomes.

    Model: :math:`y_{ij} = x_{ij}'\beta + u_j + e_{ij}`, :math:`u_j \sim N(0, \sigma^2_u)`,
    :math:`e_{ij} \sim N(0, \sigma^2_e)`. Each draw (sweep) samples, in turn,

    1. :math:`\beta \mid \sigma^2_u, \sigma^2_e, y` (normal, flat prior), with the intercepts
       integrated out, i.e. the GLS posterior; then :math:`u_j \mid \beta, \sigma^2_u,
       \sigma^2_e, y` (normal). Together these are one exact draw of
       :math:`(\beta, u) \mid \sigma^2, y`, a blocked Gibbs step that avoids the slow mixing
       of the intercept against the cluster effects in a one-at-a-time sampler.
    2. :math:`\sigma^2_u \mid u` and :math:`\sigma^2_e \mid \beta, u, y`, scaled inverse
       chi-square (see Notes for the priors).

    Only rows with observed ``y`` inform the parameters (rows with missing ``y`` and observed
    ``X`` carry no information once ``y`` is integrated out). A cluster without observed rows
    gets its intercept from the prior. After the last sweep the missing ``y`` are drawn from
    :math:`y \mid \beta, u_j, \sigma^2_e`.

    Parameters
    ----------
    y
        Outcome, shape ``(n,)``; ``NaN`` marks a missing value.
    X
        Complete design matrix, shape ``(n, p)``, including an intercept column if wanted.
    cluster_codes
        Cluster index of each row, integers in ``[0, n_clusters)``.
    n_clusters
        Number of clusters.
    n_draws
        Number of sweeps; every sweep's parameters are returned.
    rng
        Random generator.
    sigma2_u, sigma2_e
        Starting values of the variance components. By default, a tenth and nine tenths of
        the residual variance of an ordinary least-squares fit.
    prior_df
        Degrees of freedom :math:`\nu_0` of both variance priors.
    prior_scale_u, prior_scale_e
        Scales :math:`s_0^2` of the priors. By default ``PRIOR_SCALE_FRACTION_U`` and
        ``PRIOR_SCALE_FRACTION_E`` times the variance of the observed ``y``.

    Returns
    -------
    RandomInterceptDraws
        Parameter draws of every sweep and the imputations of the final sweep.

    Raises
    ------
    ValueError
        If there are too few observed values or the design is singular.

    Notes
    -----
    Priors: :math:`\sigma^2 \sim \text{Scaled-Inv-}\chi^2(\nu_0, s_0^2)`, i.e.
    inverse-gamma with shape :math:`\nu_0/2` and scale :math:`\nu_0 s_0^2/2`, for each
    variance. With :math:`\nu_0 = 1` the prior weighs as one pseudo-observation: proper, so
    the posterior of :math:`\sigma^2_u` stays proper even when the data support a zero
    cluster variance (the improper :math:`1/\sigma^2` prior does not), yet weak against the
    ``J`` clusters and ``n`` individuals. Scaling :math:`s_0^2` by the observed variance makes
    the imputations invariant to the units of ``y`` (pan's default, as used by mice
    ``2l.pan``, has scale 1 in the raw units).
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    codes = np.asarray(cluster_codes, dtype=np.intp)
    if X.ndim != 2 or X.shape[0] != y.shape[0] or codes.shape[0] != y.shape[0]:
        raise ValueError("y, X and cluster_codes must have the same number of rows")
    if n_draws < 1:
        raise ValueError("n_draws must be at least 1")
    if np.isnan(X).any():
        raise ValueError("X must be complete")
    obs = ~np.isnan(y)
    n_obs = int(obs.sum())
    p = X.shape[1]
    if n_obs <= p:
        raise ValueError(f"{n_obs} observed values are too few for {p} fixed effects")

    Xo, yo, go = X[obs], y[obs], codes[obs]
    XtX = Xo.T @ Xo
    if _is_singular(XtX):
        raise ValueError("the design matrix is singular (collinear predictors?)")
    Xm, gm = X[~obs], codes[~obs]
    n_j = np.bincount(go, minlength=n_clusters).astype(float)
    Xty = Xo.T @ yo
    Sx = _segment_sums(go, Xo, n_clusters)  # (J, p)
    Sy = _segment_sums(go, yo, n_clusters)  # (J,)

    var_obs = float(np.var(yo, ddof=1)) if n_obs > 1 else 1.0
    if not var_obs > 0:
        var_obs = 1.0
    scale_u = PRIOR_SCALE_FRACTION_U * var_obs if prior_scale_u is None else prior_scale_u
    scale_e = PRIOR_SCALE_FRACTION_E * var_obs if prior_scale_e is None else prior_scale_e
    if sigma2_u is None or sigma2_e is None:
        coef, *_ = np.linalg.lstsq(Xo, yo, rcond=None)
        res_var = float(np.sum((yo - Xo @ coef) ** 2) / max(n_obs - p, 1))
        res_var = res_var if res_var > 0 else var_obs
        s2u = 0.1 * res_var if sigma2_u is None else float(sigma2_u)
        s2e = 0.9 * res_var if sigma2_e is None else float(sigma2_e)
    else:
        s2u, s2e = float(sigma2_u), float(sigma2_e)

    beta_draws = np.empty((n_draws, p))
    s2u_draws = np.empty(n_draws)
    s2e_draws = np.empty(n_draws)
    beta = np.zeros(p)
    u = np.zeros(n_clusters)
    for t in range(n_draws):
        # (beta, u) | variances: beta from its GLS posterior with u integrated out.
        # V_j^-1 = (I - gamma_j 1 1') / s2e with gamma_j = s2u / (s2e + n_j s2u).
        gamma = s2u / (s2e + n_j * s2u)
        gSx = Sx * gamma[:, None]
        precision = (XtX - gSx.T @ Sx) / s2e
        rhs = (Xty - gSx.T @ Sy) / s2e
        try:
            beta = _draw_mvn_from_precision(precision, rhs, rng)
        except np.linalg.LinAlgError as exc:
            raise ValueError("the design matrix is singular (collinear predictors?)") from exc
        # u_j | beta, variances: precision n_j/s2e + 1/s2u.
        prec_u = n_j / s2e + 1.0 / s2u
        resid_sum = Sy - Sx @ beta
        u = resid_sum / s2e / prec_u + rng.standard_normal(n_clusters) / np.sqrt(prec_u)
        # Variances | beta, u.
        s2u = (prior_df * scale_u + float(u @ u)) / rng.chisquare(prior_df + n_clusters)
        r = yo - Xo @ beta - u[go]
        s2e = (prior_df * scale_e + float(r @ r)) / rng.chisquare(prior_df + n_obs)
        beta_draws[t] = beta
        s2u_draws[t] = s2u
        s2e_draws[t] = s2e

    y_missing = Xm @ beta + u[gm] + np.sqrt(s2e) * rng.standard_normal(Xm.shape[0])
    return RandomInterceptDraws(
        beta=beta_draws, sigma2_u=s2u_draws, sigma2_e=s2e_draws, u=u, y_missing=y_missing
    )


def _draw_bayes_regression(
    y: _FloatArray,
    X: _FloatArray,
    X_new: _FloatArray,
    rng: np.random.Generator,
    *,
    prior_df: float,
    prior_scale: float,
) -> _FloatArray:
    """Draw new outcomes from the posterior predictive of a normal linear regression.

    Flat prior on the coefficients, scaled-inverse-chi-square(prior_df, prior_scale) on the
    residual variance.
    """
    n, p = X.shape
    XtX = X.T @ X
    if _is_singular(XtX):
        raise np.linalg.LinAlgError("singular design")
    chol = np.linalg.cholesky(XtX)
    bhat = np.linalg.solve(chol.T, np.linalg.solve(chol, X.T @ y))
    sse = float(np.sum((y - X @ bhat) ** 2))
    s2 = (prior_df * prior_scale + sse) / rng.chisquare(prior_df + n - p)
    beta = bhat + np.sqrt(s2) * np.linalg.solve(chol.T, rng.standard_normal(p))
    return X_new @ beta + np.sqrt(s2) * rng.standard_normal(X_new.shape[0])


def _match_donors(
    fitted_obs: _FloatArray,
    y_obs: _FloatArray,
    fitted_mis: _FloatArray,
    k: int,
    rng: np.random.Generator,
) -> _FloatArray:
    """Predictive mean matching: an observed value from one of the ``k`` nearest donors.

    The donors of a missing row are the ``k`` observed rows whose fitted values are nearest
    its own, ordered by distance with ties broken by position in the (stable) sort of the
    observed fitted values; a uniform random index then picks one of them. This equals
    sorting all distances with a stable sort and taking the first ``k``, but costs
    O((n_obs + n_mis) log n_obs + n_mis k) time and O(n_mis k) memory.

    The ``k`` nearest lie among the ``k`` sorted neighbours on either side of the row's
    insertion point. The one exception is a tie at the ``k``-th distance that extends to the
    left of that window: the tie-break then prefers sorted positions further left, so for
    those rows ``k`` more candidates are taken from the start of the tied run, found by
    bisection (the distance is monotone on each side of the insertion point).
    """
    n_obs = fitted_obs.size
    k = min(k, n_obs)
    choice = rng.integers(0, k, fitted_mis.size)
    order = np.argsort(fitted_obs, kind="stable")
    ordered = fitted_obs[order]
    pos = np.searchsorted(ordered, fitted_mis)

    def distances(index: NDArray[np.intp]) -> _FloatArray:
        valid = (index >= 0) & (index < n_obs)
        dist = np.abs(fitted_mis[:, None] - ordered[np.clip(index, 0, n_obs - 1)])
        return np.where(valid, dist, np.inf)

    window = pos[:, None] + np.arange(-k, k)
    window_dist = distances(window)
    kth = np.sort(window_dist, axis=1)[:, k - 1]
    # Rows whose k-th distance is shared by the sorted neighbour just left of the window.
    outside = pos - k - 1
    tied_left = outside >= 0
    tied_left[tied_left] = (
        np.abs(fitted_mis[tied_left] - ordered[outside[tied_left]]) == kth[tied_left]
    )
    # Start of the tied run: smallest i with |f - ordered[i]| <= kth (monotone in i < pos).
    lo = np.zeros(fitted_mis.size, dtype=np.intp)
    hi = np.where(tied_left, outside, 0)
    rows = np.flatnonzero(lo < hi)
    while rows.size:
        mid = (lo[rows] + hi[rows]) // 2
        inside = np.abs(fitted_mis[rows] - ordered[mid]) <= kth[rows]
        hi[rows] = np.where(inside, mid, hi[rows])
        lo[rows] = np.where(inside, lo[rows], mid + 1)
        rows = rows[lo[rows] < hi[rows]]
    extra = lo[:, None] + np.arange(k)
    # Extra candidates only for tied rows, and only those left of the window (no duplicates).
    extra = np.where(tied_left[:, None] & (extra < (pos - k)[:, None]), extra, -1)
    candidates = np.concatenate([extra, window], axis=1)  # ascending sorted position
    candidate_dist = np.concatenate([distances(extra), window_dist], axis=1)
    nearest = np.argsort(candidate_dist, axis=1, kind="stable")[:, :k]
    chosen = candidates[np.arange(fitted_mis.size), nearest[np.arange(fitted_mis.size), choice]]
    return y_obs[order[chosen]]


def _validate(
    data: pd.DataFrame,
    cluster: str,
    impute: Sequence[str],
    predictors: Sequence[str],
    cluster_level: Sequence[str],
    iterations: int,
    burn_in: int,
) -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a pandas DataFrame")
    for arg_name, names in (
        ("impute", impute),
        ("predictors", predictors),
        ("cluster_level", cluster_level),
    ):
        if isinstance(names, str):
            raise TypeError(f"{arg_name} must be a sequence of column names, not a string")
        if len(set(names)) != len(list(names)):
            raise ValueError(f"{arg_name} names a column more than once")
    if len(impute) == 0:
        raise ValueError("impute must name at least one column")
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    if burn_in < 0:
        raise ValueError("burn_in must be non-negative")
    for col in [cluster, *impute, *predictors, *cluster_level]:
        if col not in data.columns:
            raise KeyError(f"column {col!r} is not in the data")
    overlap = set(impute) & set(predictors)
    if overlap:
        raise ValueError(f"columns {sorted(overlap)} are in both impute and predictors")
    if cluster in impute or cluster in predictors:
        raise ValueError(f"the cluster column {cluster!r} cannot be imputed or a predictor")
    stray = set(cluster_level) - set(impute) - set(predictors)
    if stray:
        raise ValueError(
            f"cluster_level columns {sorted(stray)} are in neither impute nor predictors"
        )
    if data[cluster].isna().any():
        n_bad = int(data[cluster].isna().sum())
        raise ValueError(f"the cluster column {cluster!r} has {n_bad} missing values")
    for col in [*impute, *predictors]:
        dtype = data[col].dtype
        is_bool = pd.api.types.is_bool_dtype(dtype)
        if not pd.api.types.is_numeric_dtype(dtype) or (is_bool and col in impute):
            raise TypeError(f"column {col!r} is not numeric (dtype {dtype})")
    for col in impute:
        if data[col].isna().all():
            raise ValueError(f"column {col!r} is entirely missing; it cannot be imputed")
    for col in predictors:
        if data[col].isna().any():
            raise ValueError(f"predictor {col!r} has missing values; list it under impute instead")


def _validate_cluster_means(
    cluster_means: Mapping[str, Sequence[str]] | None,
    impute: Sequence[str],
    predictors: Sequence[str],
    cluster_level: Sequence[str],
) -> dict[str, list[str]] | None:
    """Check the ``cluster_means`` mapping; return it with lists as values."""
    if cluster_means is None:
        return None
    checked: dict[str, list[str]] = {}
    for target, columns in cluster_means.items():
        if target not in impute:
            raise ValueError(f"cluster_means: {target!r} is not a column of impute")
        if isinstance(columns, str):
            raise TypeError(f"cluster_means[{target!r}] must be a sequence of column names")
        for column in columns:
            if column == target:
                raise ValueError(f"cluster_means[{target!r}] names the column itself")
            if column not in impute and column not in predictors:
                raise ValueError(
                    f"cluster_means[{target!r}]: {column!r} is in neither impute nor predictors"
                )
            if column in cluster_level:
                raise ValueError(
                    f"cluster_means[{target!r}]: {column!r} is cluster-level; its cluster mean "
                    "is the column itself"
                )
        checked[target] = list(dict.fromkeys(columns))
    return checked


def _as_float(series: pd.Series) -> _FloatArray:
    return series.to_numpy(dtype=float, na_value=np.nan, copy=True)


def _cluster_values(
    name: str, values: _FloatArray, codes: _IntArray, n_clusters: int
) -> tuple[_FloatArray, NDArray[np.bool_]]:
    """One value per cluster for a cluster-level column; checks constancy within cluster.

    Returns the per-cluster values (``NaN`` where the cluster has no observed value) and a
    mask of clusters with an observed value.
    """
    obs = ~np.isnan(values)
    n_obs = np.bincount(codes[obs], minlength=n_clusters)
    # Spread (max - min) of the observed values in each cluster.
    lo = np.full(n_clusters, np.inf)
    hi = np.full(n_clusters, -np.inf)
    np.minimum.at(lo, codes[obs], values[obs])
    np.maximum.at(hi, codes[obs], values[obs])
    has = n_obs > 0
    spread = np.where(has, hi - lo, 0.0)
    tol = 1e-9 * np.maximum(1.0, np.abs(np.where(has, hi, 0.0)))
    bad = np.flatnonzero(spread > tol)
    if bad.size:
        raise ValueError(
            f"cluster-level column {name!r} is not constant within cluster "
            f"(it varies in {bad.size} cluster(s))"
        )
    per_cluster = np.where(has, lo, np.nan)
    return per_cluster, has


def _trace_row(iteration: int, col: str, imputed: _FloatArray) -> tuple[int, str, float, float]:
    sd = float(np.std(imputed, ddof=1)) if imputed.size > 1 else float("nan")
    return (iteration, col, float(np.mean(imputed)), sd)


def _binary_visit(
    col: str,
    y: _FloatArray,
    X: _FloatArray,
    codes: _IntArray,
    n_clusters: int,
    chains: dict[str, BinaryRandomInterceptDraws],
    burn_in: int,
    rng: np.random.Generator,
) -> _FloatArray:
    """One visit to a binary column: continue its latent-normal chain, draw its missing values."""
    last = chains.get(col)
    start = (
        {} if last is None else {"sigma2_u": last.sigma2_u[-1], "beta": last.beta[-1], "u": last.u}
    )
    try:
        draws = sample_binary_random_intercept(
            y, X, codes, n_clusters, n_draws=1 + (burn_in if last is None else 0), rng=rng, **start
        )
    except ValueError as exc:
        raise ValueError(f"imputing binary column {col!r}: {exc}") from exc
    chains[col] = draws
    return draws.y_missing


def impute_multilevel(
    data: pd.DataFrame,
    *,
    cluster: str,
    impute: Sequence[str],
    predictors: Sequence[str],
    cluster_level: Sequence[str] = (),
    seed: int,
    iterations: int = 20,
    burn_in: int = 10,
    mean_match: Sequence[str] = (),
    mean_match_candidates: int = 5,
    cluster_means: Mapping[str, Sequence[str]] | None = None,
    binary: Sequence[str] = (),
) -> ImputationResult:
    r"""Make one completed dataset by multilevel (random-intercept) normal imputation.

    Level-1 columns named in ``mean_match`` (e.g. skewed, non-negative costs, for which normal
    draws could be negative) are imputed by predictive mean matching on the same model, as
    miceadds ``2l.pmm``: each missing entry takes the observed value of a donor drawn at
    random from the ``mean_match_candidates`` observed rows whose predictions
    :math:`x'\beta + u_j` (current draw) are nearest its own.

    Level-1 columns named in ``binary`` (0/1 variables) are imputed from a latent-normal
    random-intercept (probit) model on the same predictors, as jomo treats binary variables
    (:func:`trial.stats.impute.binary.sample_binary_random_intercept`); its chain of coefficients,
    cluster intercepts and cluster variance carries over from one visit to the next.

    Fully conditional specification: in each iteration every incomplete variable of
    ``impute`` is visited in the given order.

    * A level-1 variable is modelled on an intercept, all other variables of ``impute`` and
      ``predictors`` (current filled values), the cluster means of the columns that
      ``cluster_means`` names for it, and a random cluster intercept,
      :math:`y_{ij} = x_{ij}'\beta + u_j + e_{ij}`. One Gibbs sweep draws
      :math:`(\beta, u) \mid \sigma^2_u, \sigma^2_e` (normal, flat prior on
      :math:`\beta`) then :math:`\sigma^2_u \mid u` and :math:`\sigma^2_e \mid \beta, u`
      (scaled inverse chi-square), and the missing values are drawn from
      :math:`y \mid \beta, u_j, \sigma^2_e` (see :func:`sample_random_intercept`). Each
      variable's variance components carry over from one visit to the next, so the
      sweeps of successive iterations form one chain, as in a joint Gibbs sampler.
    * A variable in ``cluster_level`` is imputed once per cluster (like mice
      ``2lonly.norm``): a Bayesian normal regression, over clusters, of its cluster values on
      an intercept and cluster-level regressors; the drawn value is given to every row of the
      cluster. Without ``cluster_means`` the regressors are the cluster means of all other
      variables of ``impute`` and ``predictors``; with it, the other ``cluster_level``
      columns and the cluster means of the columns ``cluster_means`` names for the variable
      (with few clusters, the means of every variable would saturate the regression).

    Parameters
    ----------
    data
        Input table; one row per individual.
    cluster
        Column identifying the cluster; any dtype, no missing values.
    impute
        Numeric columns to impute. A fully observed one is left as is (but still used as a
        predictor of the others).
    predictors
        Complete numeric (or boolean) columns used as fixed-effect predictors. Categorical
        predictors must be dummy-coded by the caller.
    cluster_level
        Columns (of ``impute`` or ``predictors``) that are constant within cluster; checked.
        Where a cluster has some rows observed and some missing, the missing rows take the
        cluster's observed value.
    seed
        Seed of the ``numpy`` random generator; the result is a deterministic function of the
        data, the arguments and the seed.
    iterations
        Number of FCS iterations; the dataset after the last one is returned.
    burn_in
        Extra Gibbs sweeps run for each level-1 variable at its first visit, before its first
        imputation, so that its parameter chain starts from near its posterior rather than
        from the crude starting values.
    mean_match
        Level-1 columns of ``impute`` imputed by predictive mean matching (see above).
    mean_match_candidates
        Size of the donor pool of predictive mean matching.
    cluster_means
        For each column of ``impute`` (key), the level-1 columns of ``impute`` or
        ``predictors`` whose cluster means (of the current filled values) enter its model as
        cluster-level predictors, so that a predictor's between-cluster slope may differ from
        its within-cluster slope. A column's own mean never enters its own model: its random
        intercept (or, at cluster level, the variable itself) is that mean.
    binary
        Level-1 columns of ``impute`` holding 0/1 values, imputed from the latent-normal model
        (see above).

    Returns
    -------
    ImputationResult
        ``completed``: the input with the missing values of ``impute`` filled (imputed columns
        become float64; row order, index and all other columns unchanged); ``trace``: long
        table with columns ``iteration``, ``variable``, ``mean``, ``sd`` giving the mean and SD
        of each variable's imputed values after each iteration (for a cluster-level variable,
        over its imputed clusters); ``engine``: :func:`engine_name` of the draws that ran;
        ``latent``: the final latent draws of the ``binary`` columns.

    Raises
    ------
    KeyError
        If a named column is not in ``data``.
    TypeError
        If a column of ``impute`` or ``predictors`` is not numeric.
    ValueError
        If a column of ``impute`` is entirely missing, a predictor has missing values, the
        cluster column has missing values, a cluster-level column varies within a cluster, or
        a design matrix is singular.

    Notes
    -----
    Priors on both variance components (and on the residual variance of the cluster-level
    regressions) are scaled inverse chi-square with :data:`PRIOR_DF` = 1 degree of freedom:
    proper, so the posterior of the cluster variance stays proper when the data are
    compatible with no clustering, yet worth a single pseudo-observation. The scales are
    :data:`PRIOR_SCALE_FRACTION_U` = 0.01 (cluster intercepts) and
    :data:`PRIOR_SCALE_FRACTION_E` = 1 (residuals) times the observed variance of the
    variable, which makes the imputations invariant to its units and keeps the cluster-variance
    prior at the scale of ICCs seen in cluster trials. Starting values of missing entries are
    random draws from the observed values of the variable (per cluster for cluster-level
    variables).
    """
    _validate(data, cluster, impute, predictors, cluster_level, iterations, burn_in)
    means_of = _validate_cluster_means(cluster_means, impute, predictors, cluster_level)
    matched = set(mean_match)
    if matched - set(impute) or matched & set(cluster_level):
        raise ValueError("mean_match must name level-1 columns of impute")
    if mean_match_candidates < 1:
        raise ValueError("mean_match_candidates must be at least 1")
    binary_set = set(binary)
    if binary_set - set(impute) or binary_set & (set(cluster_level) | matched):
        raise ValueError("binary must name level-1 columns of impute not in mean_match")
    rng = np.random.default_rng(seed)
    codes_raw, uniques = pd.factorize(data[cluster], sort=True)
    codes = codes_raw.astype(np.intp)
    n_clusters = len(uniques)
    n = len(data)
    counts = np.bincount(codes, minlength=n_clusters).astype(float)
    level2 = set(cluster_level)

    values: dict[str, _FloatArray] = {col: _as_float(data[col]) for col in impute}
    pred_matrix = (
        np.column_stack([_as_float(data[col]) for col in predictors])
        if predictors
        else np.empty((n, 0))
    )
    for col in predictors:
        if col in level2:
            _cluster_values(col, _as_float(data[col]), codes, n_clusters)

    # Row masks of entries to be filled, and per-variable bookkeeping.
    row_missing: dict[str, NDArray[np.bool_]] = {}
    cluster_missing: dict[str, NDArray[np.bool_]] = {}
    for col in impute:
        v = values[col]
        if col in level2:
            per_cluster, has = _cluster_values(col, v, codes, n_clusters)
            row_missing[col] = np.isnan(v)
            # Rows of clusters with an observed value take that value.
            fill = np.isnan(v) & has[codes]
            v[fill] = per_cluster[codes[fill]]
            cluster_missing[col] = ~has
            if (~has).any():
                start = rng.choice(per_cluster[has], size=int((~has).sum()))
                per_cluster[~has] = start
                v[:] = per_cluster[codes]
        else:
            miss = np.isnan(v)
            row_missing[col] = miss
            if miss.any():
                v[miss] = rng.choice(v[~miss], size=int(miss.sum()))

    incomplete = [
        col
        for col in impute
        if (cluster_missing[col].any() if col in level2 else row_missing[col].any())
    ]
    variances: dict[str, tuple[float, float]] = {}
    binary_chains: dict[str, BinaryRandomInterceptDraws] = {}
    trace_rows: list[tuple[int, str, float, float]] = []

    predictor_values = {col: pred_matrix[:, k] for k, col in enumerate(predictors)}

    def cluster_mean(column: str) -> _FloatArray:
        current = values[column] if column in values else predictor_values[column]
        return _segment_sums(codes, current, n_clusters) / counts

    for iteration in progress(range(1, iterations + 1), "imputation chain"):
        for col in incomplete:
            others = [values[o] for o in impute if o != col]
            if col in level2:
                miss_c = cluster_missing[col]
                if means_of is None:
                    X = np.column_stack([np.ones(n), *others, pred_matrix])
                    Xc = _segment_sums(codes, X, n_clusters) / counts[:, None]
                else:
                    level2_others = [c for c in [*impute, *predictors] if c in level2 and c != col]
                    Xc = np.column_stack(
                        [
                            np.ones(n_clusters),
                            *[cluster_mean(c) for c in level2_others],
                            *[cluster_mean(c) for c in means_of.get(col, ())],
                        ]
                    )
                yc = _segment_sums(codes, values[col], n_clusters) / counts
                if int((~miss_c).sum()) <= Xc.shape[1]:
                    raise ValueError(
                        f"cluster-level column {col!r}: {int((~miss_c).sum())} clusters with "
                        f"observed values are too few for {Xc.shape[1]} regression coefficients"
                    )
                var_obs = float(np.var(yc[~miss_c], ddof=1))
                try:
                    drawn = _draw_bayes_regression(
                        yc[~miss_c],
                        Xc[~miss_c],
                        Xc[miss_c],
                        rng,
                        prior_df=PRIOR_DF,
                        prior_scale=PRIOR_SCALE_FRACTION_E * (var_obs if var_obs > 0 else 1.0),
                    )
                except np.linalg.LinAlgError as exc:
                    raise ValueError(
                        f"cluster-level column {col!r}: the design of cluster means is singular"
                    ) from exc
                yc[miss_c] = drawn
                values[col][:] = yc[codes]
                imputed = drawn
            else:
                means = [cluster_mean(c)[codes] for c in (means_of or {}).get(col, ())]
                X = np.column_stack([np.ones(n), *others, pred_matrix, *means])
                miss = row_missing[col]
                y = np.where(miss, np.nan, values[col])
                if col in binary_set:
                    draws_y = _binary_visit(
                        col, y, X, codes, n_clusters, binary_chains, burn_in, rng
                    )
                    values[col][miss] = draws_y
                    trace_rows.append(_trace_row(iteration, col, draws_y))
                    continue
                state = variances.get(col)
                n_draws = 1 + (burn_in if state is None else 0)
                try:
                    draws = sample_random_intercept(
                        y,
                        X,
                        codes,
                        n_clusters,
                        n_draws=n_draws,
                        rng=rng,
                        sigma2_u=None if state is None else state[0],
                        sigma2_e=None if state is None else state[1],
                    )
                except ValueError as exc:
                    raise ValueError(f"imputing column {col!r}: {exc}") from exc
                variances[col] = (float(draws.sigma2_u[-1]), float(draws.sigma2_e[-1]))
                if col in matched:
                    fitted = X @ draws.beta[-1] + draws.u[codes]
                    draws_y = _match_donors(
                        fitted[~miss], y[~miss], fitted[miss], mean_match_candidates, rng
                    )
                else:
                    draws_y = draws.y_missing
                values[col][miss] = draws_y
                imputed = draws_y
            trace_rows.append(_trace_row(iteration, col, imputed))

    completed = data.copy()
    for col in impute:
        if row_missing[col].any():
            filled = _as_float(data[col])
            filled[row_missing[col]] = values[col][row_missing[col]]
            completed[col] = pd.Series(filled, index=data.index, name=col)
    trace = pd.DataFrame(trace_rows, columns=["iteration", "variable", "mean", "sd"])
    trace = trace.astype({"iteration": "int64", "mean": "float64", "sd": "float64"})
    latent = [
        pd.DataFrame(
            {
                "row": np.flatnonzero(row_missing[col]),
                "variable": col,
                "eta": chain.eta_missing,
                "e": chain.e_missing,
            }
        )
        for col, chain in binary_chains.items()
    ]
    return ImputationResult(
        completed=completed,
        trace=trace,
        engine=engine_name(incomplete, binary_set, matched),
        latent=pd.concat(latent, ignore_index=True) if latent else no_latent_draws(),
    )
