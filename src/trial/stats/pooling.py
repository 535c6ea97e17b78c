"""Combining analyses of multiply imputed data sets.

Two poolers are provided:

* :func:`pool_rubin` pools one scalar parameter with Rubin's rules and the Barnard-Rubin
  (1999) small-sample degrees of freedom, given the complete-data degrees of freedom of the
  analysis model (for a cluster trial, a Kenward-Roger, Satterthwaite or between-within df,
  not the patient-level n - p).
* :func:`pool_d1` pools a multi-parameter Wald test with the D1 statistic of Li,
  Raghunathan and Rubin (1991) and Reiter's (2007) small-sample denominator degrees of
  freedom.

Both reproduce the R reference implementations (``mitml::testEstimates`` and
``mice::pool.scalar`` for the scalar case, ``mitml::testConstraints`` / ``testModels`` with
``method = "D1"`` for the multi-parameter case); ``tests/reference`` holds the comparison.

References
----------
Rubin DB (1987). Multiple Imputation for Nonresponse in Surveys. Wiley.
Barnard J, Rubin DB (1999). Small-sample degrees of freedom with multiple imputation.
Biometrika 86:948-955.
Li KH, Raghunathan TE, Rubin DB (1991). Large-sample significance levels from multiply
imputed data using moment-based statistics and an F reference distribution. JASA 86:1065-1073.
Reiter JP (2007). Small-sample degrees of freedom for multi-component significance tests
with multiple imputation for missing data. Biometrika 94:502-508.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["D1Result", "PooledEstimate", "pool_d1", "pool_rubin"]


@dataclass(frozen=True)
class PooledEstimate:
    """A scalar parameter pooled over ``m`` imputations with Rubin's rules.

    Attributes
    ----------
    estimate
        Pooled point estimate, the mean of the per-imputation estimates (Q-bar).
    se
        Pooled standard error, ``sqrt(total)``.
    df
        Barnard-Rubin (1999) degrees of freedom of the t reference distribution
        (``inf`` when both ``df_complete`` is infinite and there is no between-imputation
        variance).
    t
        ``estimate / se``.
    p
        Two-sided p-value for the null hypothesis that the parameter is 0.
    ci_low, ci_high
        Bounds of the ``1 - alpha`` confidence interval, ``estimate -/+ t_{df,1-alpha/2} se``.
    within
        Mean within-imputation variance (W-bar).
    between
        Between-imputation variance of the estimates (B, divisor ``m - 1``).
    total
        Total variance ``T = W-bar + (1 + 1/m) B``.
    riv
        Relative increase in variance due to nonresponse, ``(1 + 1/m) B / W-bar``.
    lambda_
        Proportion of the total variance due to missingness, ``(1 + 1/m) B / T``.
    fmi
        Fraction of missing information as reported by mice (``pool``, ``pool.scalar``) and
        mitml (``testEstimates``): ``(riv + 2 / (df + 3)) / (riv + 1)`` with ``df`` the
        Barnard-Rubin df above. It equals ``lambda_`` when ``df`` is infinite; with ``B = 0``
        it is ``2 / (df + 3)``, not 0.
    mc_se
        Monte Carlo standard error of the pooled estimate, ``sqrt(B / m)``.
    m
        Number of imputations.
    df_complete
        Complete-data degrees of freedom that were supplied.
    alpha
        Significance level of the confidence interval.
    """

    estimate: float
    se: float
    df: float
    t: float
    p: float
    ci_low: float
    ci_high: float
    within: float
    between: float
    total: float
    riv: float
    lambda_: float
    fmi: float
    mc_se: float
    m: int
    df_complete: float
    alpha: float

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a plain ``dict`` (field name to value), e.g. for a table row.

        Returns
        -------
        dict
            One entry per attribute, in declaration order.
        """
        return asdict(self)


@dataclass(frozen=True)
class D1Result:
    """A multi-parameter Wald test pooled over imputations with the D1 statistic.

    Attributes
    ----------
    F
        The D1 test statistic, referred to an F distribution.
    num_df
        Numerator degrees of freedom, the number of parameters tested (k).
    den_df
        Denominator degrees of freedom: Reiter (2007) for finite ``df_complete``, Li,
        Raghunathan and Rubin (1991) for infinite ``df_complete``.
    p
        Upper-tail p-value of ``F`` on (``num_df``, ``den_df``) degrees of freedom.
    riv
        Average relative increase in variance, ``(1 + 1/m) tr(B W-bar^{-1}) / k``.
    """

    F: float
    num_df: int
    den_df: float
    p: float
    riv: float


def _check_df_complete(df_complete: float) -> float:
    df_complete = float(df_complete)
    if math.isnan(df_complete) or df_complete <= 0:
        raise ValueError(f"df_complete must be positive (or inf), got {df_complete}")
    return df_complete


def _observed_df_factor(df_complete: float) -> float:
    """``(v + 1) / (v + 3) * v``: the complete-data df adjusted as in Barnard-Rubin (1999)."""
    return (df_complete + 1.0) / (df_complete + 3.0) * df_complete


def _barnard_rubin_df(m: int, lambda_: float, df_complete: float) -> float:
    """Barnard-Rubin df, ``1 / (1/v_old + 1/v_obs)``, written so that ``lambda_ = 0`` and
    ``df_complete = inf`` need no division by zero.

    ``v_old = (m - 1) / lambda^2`` (Rubin 1987) and
    ``v_obs = (1 - lambda) (v + 1) / (v + 3) v`` with ``v = df_complete``.
    """
    inv_old = lambda_**2 / (m - 1)  # 1 / v_old; 0 when there is no between variance
    if math.isinf(df_complete):
        inv_obs = 0.0
    else:
        inv_obs = 1.0 / ((1.0 - lambda_) * _observed_df_factor(df_complete))
    inv = inv_old + inv_obs
    return math.inf if inv == 0.0 else 1.0 / inv


def pool_rubin(
    estimates: ArrayLike,
    variances: ArrayLike,
    *,
    df_complete: float,
    alpha: float = 0.05,
) -> PooledEstimate:
    """Pool one scalar parameter over imputations with Rubin's rules.

    Parameters
    ----------
    estimates
        The ``m`` per-imputation point estimates, shape ``(m,)``.
    variances
        The ``m`` per-imputation squared standard errors, shape ``(m,)``, all positive.
    df_complete
        Degrees of freedom the analysis would have with complete data. For a mixed model
        pass its small-sample (Kenward-Roger, Satterthwaite, between-within) df. Use
        ``math.inf`` for the classic large-sample Rubin (1987) df ``(m - 1) / lambda^2``.
    alpha
        Significance level of the reported confidence interval.

    Returns
    -------
    PooledEstimate
        Estimate, SE, Barnard-Rubin df, t, p, CI and the variance components.

    Raises
    ------
    ValueError
        If the inputs are not 1-D arrays of equal length, contain non-finite values, a
        variance is not positive, ``df_complete`` is not positive, ``alpha`` is outside
        (0, 1), or there is no estimate.

    Notes
    -----
    ``m = 1`` means that the one dataset is the data, with nothing imputed: the analysis's own
    estimate, SE and df (``df_complete``) are returned, with no between-imputation variance and
    a fraction of missing information of 0. A single *imputed* dataset would understate the
    variance; the pipeline allows ``m = 1`` only when no analysed value is missing
    (:func:`trial.analyses.imputation.check_imputation_model`).

    With ``B = 0`` (all estimates equal) and ``m >= 2`` the df is the observed-data df
    ``(v + 1) / (v + 3) v`` for ``v = df_complete`` (``inf`` when ``df_complete`` is
    infinite), the limit of the Barnard-Rubin formula; no division by zero occurs. mice
    (up to 3.17) instead floors ``lambda`` at 1e-4, which changes the df slightly when
    ``lambda < 1e-4``; mitml gives the same value as this function.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim != 1 or u.ndim != 1:
        raise ValueError(f"estimates and variances must be 1-D, got shapes {q.shape} and {u.shape}")
    if q.shape != u.shape:
        raise ValueError(f"estimates and variances differ in length: {q.shape[0]} and {u.shape[0]}")
    m = int(q.shape[0])
    if m < 1:
        raise ValueError("there is no estimate to pool")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(u))):
        raise ValueError("estimates and variances must be finite")
    if np.any(u <= 0):
        raise ValueError("variances must be positive")
    df_complete = _check_df_complete(df_complete)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")

    qbar = float(q.mean())
    w = float(u.mean())
    complete = m == 1  # the data themselves: nothing to pool
    b = 0.0 if complete else float(q.var(ddof=1))
    inflation = 1.0 + 1.0 / m
    total = w + inflation * b
    se = math.sqrt(total)
    riv = inflation * b / w
    lambda_ = inflation * b / total
    df = df_complete if complete else _barnard_rubin_df(m, lambda_, df_complete)

    from scipy import stats  # on use: slow to import, and not every job that imports this pools

    tval = qbar / se
    if math.isinf(df):
        p = float(2.0 * stats.norm.sf(abs(tval)))
        crit = float(stats.norm.ppf(1.0 - alpha / 2.0))
        fmi = lambda_
    else:
        p = float(2.0 * stats.t.sf(abs(tval), df))
        crit = float(stats.t.ppf(1.0 - alpha / 2.0, df))
        fmi = 0.0 if complete else (riv + 2.0 / (df + 3.0)) / (riv + 1.0)

    return PooledEstimate(
        estimate=qbar,
        se=se,
        df=df,
        t=tval,
        p=p,
        ci_low=qbar - crit * se,
        ci_high=qbar + crit * se,
        within=w,
        between=b,
        total=total,
        riv=riv,
        lambda_=lambda_,
        fmi=fmi,
        mc_se=math.sqrt(b / m),
        m=m,
        df_complete=df_complete,
        alpha=float(alpha),
    )


def _reiter_df(r: float, k: int, m: int, df_complete: float) -> float:
    """Reiter's (2007) denominator df for D1, as used by mitml with ``df.com``."""
    t = k * (m - 1)
    a = r * t / (t - 2.0)
    vstar = _observed_df_factor(df_complete)
    c0 = 1.0 / (t - 4.0)
    c1 = vstar - 2.0 * (1.0 + a)
    c2 = vstar - 4.0 * (1.0 + a)
    z = (
        1.0 / c2
        + c0 * (a**2 * c1 / ((1.0 + a) ** 2 * c2))
        + c0 * (8.0 * a**2 * c1 / ((1.0 + a) * c2**2) + 4.0 * a**2 / ((1.0 + a) * c2))
        + c0 * (4.0 * a**2 / (c2 * c1) + 16.0 * a**2 * c1 / c2**3)
        + c0 * (8.0 * a**2 / c2**2)
    )
    return 4.0 + 1.0 / z


def _lrr_df(r: float, k: int, m: int) -> float:
    """Li, Raghunathan and Rubin (1991) large-sample denominator df for D1."""
    t = k * (m - 1)
    if r == 0.0:
        return math.inf
    if t > 4:
        return 4.0 + (t - 4.0) * (1.0 + (1.0 - 2.0 / t) / r) ** 2
    return t * (1.0 + 1.0 / k) * (1.0 + 1.0 / r) ** 2 / 2.0


def pool_d1(
    estimates: ArrayLike,
    covariances: ArrayLike,
    *,
    df_complete: float,
) -> D1Result:
    """Test that k parameters are jointly 0, pooling Wald tests over imputations with D1.

    Parameters
    ----------
    estimates
        Per-imputation estimates of the k parameters, shape ``(m, k)``.
    covariances
        Per-imputation covariance matrices of those estimates, shape ``(m, k, k)``.
    df_complete
        Complete-data degrees of freedom of the analysis (e.g. the Kenward-Roger
        denominator df of the k-parameter F test). Finite values give Reiter's (2007)
        small-sample denominator df, ``math.inf`` the Li-Raghunathan-Rubin (1991) df; these
        are what ``mitml::testModels`` / ``testConstraints(method = "D1")`` report with and
        without ``df.com``.

    Returns
    -------
    D1Result
        The F statistic ``Q-bar' [(1 + r) W-bar]^{-1} Q-bar / k``, its df, p-value and the
        average relative increase in variance ``r``.

    Raises
    ------
    ValueError
        On shape mismatches, non-finite input, no estimate, a singular mean covariance
        matrix, or, with ``m >= 2``, a finite ``df_complete`` with ``k (m - 1) <= 4``
        (Reiter's df is undefined there) or so small that Reiter's df is not positive.

    Notes
    -----
    ``m = 1`` means that the one dataset is the data, with nothing imputed (as in
    :func:`pool_rubin`): the result is the analysis's own Wald F test on (k, ``df_complete``)
    df, with ``r = 0``.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(covariances, dtype=float)
    if q.ndim != 2:
        raise ValueError(f"estimates must have shape (m, k), got {q.shape}")
    m, k = q.shape
    if u.shape != (m, k, k):
        raise ValueError(f"covariances must have shape (m, k, k) = {(m, k, k)}, got {u.shape}")
    if m < 1:
        raise ValueError("there is no estimate to pool")
    if k < 1:
        raise ValueError("at least one parameter is needed")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(u))):
        raise ValueError("estimates and covariances must be finite")
    df_complete = _check_df_complete(df_complete)

    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    ubar = (ubar + ubar.T) / 2.0
    complete = m == 1  # the data themselves: nothing to pool
    b = np.zeros((k, k)) if complete else np.atleast_2d(np.cov(q, rowvar=False, ddof=1))
    try:
        r = float((1.0 + 1.0 / m) * np.trace(np.linalg.solve(ubar, b)) / k)
        f_stat = float(qbar @ np.linalg.solve(ubar, qbar) / (k * (1.0 + r)))
    except np.linalg.LinAlgError as exc:
        raise ValueError("the mean within-imputation covariance matrix is singular") from exc

    if complete:
        den_df = df_complete
    elif math.isinf(df_complete):
        den_df = _lrr_df(r, k, m)
    else:
        if k * (m - 1) <= 4:
            raise ValueError(
                f"Reiter's small-sample df needs k (m - 1) > 4, got k={k}, m={m}; "
                "use more imputations"
            )
        den_df = _reiter_df(r, k, m, df_complete)
        if not (math.isfinite(den_df) and den_df > 0):
            raise ValueError(
                f"Reiter's denominator df is not positive ({den_df}) for "
                f"df_complete={df_complete}: the complete-data df is too small"
            )

    from scipy import stats

    if math.isinf(den_df):
        p = float(stats.chi2.sf(f_stat * k, k))
    else:
        p = float(stats.f.sf(f_stat, k, den_df))
    return D1Result(F=f_stat, num_df=int(k), den_df=float(den_df), p=p, riv=r)
