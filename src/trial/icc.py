"""Intraclass correlations, cluster sizes and design effects, for planning the next trial.

The ICC of each outcome is the one-way ANOVA estimator on the observed values (no covariates),
at baseline and at follow-up::

    ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW),  n0 = (N - sum n_j^2 / N) / (k - 1)

with ``k`` clusters, ``N`` individuals and ``n_j`` the cluster sizes. Its confidence interval is
Searle's F-based interval (Searle 1971; exact for equal cluster sizes, with ``n0`` in place of the
common size otherwise)::

    F = MSB / MSW,  F_L = F / F_{1-a/2}(k-1, N-k),  F_U = F / F_{a/2}(k-1, N-k)
    ICC_L = (F_L - 1) / (F_L + n0 - 1),  ICC_U = (F_U - 1) / (F_U + n0 - 1)

A cluster bootstrap percentile interval is given beside it. Design effects use the mean cluster
size ``m`` and its coefficient of variation ``cv``: ``1 + (m - 1) ICC`` (equal sizes) and
``1 + ((cv^2 + 1) m - 1) ICC`` (unequal sizes; Eldridge, Ashby and Kerry 2006). The model-based
ICC of the primary analysis (REML, adjusted for arm, baseline and strata, mean over imputations)
is shown alongside where available.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.analysis import baseline_column, followup_column, outcome_scales
from trial.config import Config
from trial.reporting import Section

__all__ = [
    "anova_icc",
    "cluster_size_summary",
    "design_effects",
    "icc_bootstrap",
    "icc_section",
    "icc_table",
]


def _anova(y: np.ndarray, codes: np.ndarray, k: int) -> tuple[float, float, float, float]:
    n_j = np.bincount(codes, minlength=k).astype(float)
    s_j = np.bincount(codes, weights=y, minlength=k)
    N = n_j.sum()
    ss_total = float(np.sum((y - y.mean()) ** 2))
    ss_between = float(np.sum(s_j**2 / n_j) - y.sum() ** 2 / N)
    ss_within = ss_total - ss_between
    msb = ss_between / (k - 1)
    msw = ss_within / (N - k)
    n0 = (N - np.sum(n_j**2) / N) / (k - 1)
    return msb, msw, float(n0), float(N)


def anova_icc(y: np.ndarray, clusters: np.ndarray, *, alpha: float = 0.05) -> dict[str, float]:
    """One-way ANOVA ICC with Searle's F-based confidence interval.

    Parameters
    ----------
    y : ndarray, shape (N,)
        Observed values (no missing values).
    clusters : ndarray, shape (N,)
        Cluster labels.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    dict
        ``icc``, ``ci_low``, ``ci_high``, ``msb``, ``msw``, ``F``, ``n0``, ``k`` (clusters),
        ``N`` (individuals). The estimate and limits may be negative (less variation between
        clusters than expected by chance); they are not truncated.
    """
    y = np.asarray(y, float)
    if not np.all(np.isfinite(y)):
        raise ValueError("anova_icc: y has missing or infinite values; drop them first")
    codes, uniques = pd.factorize(pd.Series(clusters))
    k = len(uniques)
    if k < 2 or len(y) <= k:
        raise ValueError(
            f"anova_icc: need at least 2 clusters and more values than clusters "
            f"(got {k} clusters, {len(y)} values)"
        )
    msb, msw, n0, N = _anova(y, codes, k)
    F = msb / msw
    f_hi = stats.f.ppf(1 - alpha / 2, k - 1, N - k)
    f_lo = stats.f.ppf(alpha / 2, k - 1, N - k)
    FL, FU = F / f_hi, F / f_lo
    return {
        "icc": (msb - msw) / (msb + (n0 - 1) * msw),
        "ci_low": (FL - 1) / (FL + n0 - 1),
        "ci_high": (FU - 1) / (FU + n0 - 1),
        "msb": msb,
        "msw": msw,
        "F": F,
        "n0": n0,
        "k": k,
        "N": int(N),
    }


def icc_bootstrap(
    y: np.ndarray,
    clusters: np.ndarray,
    *,
    replicates: int,
    rng: np.random.Generator,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Cluster bootstrap percentile interval of the ANOVA ICC (clusters drawn with replacement).

    Parameters
    ----------
    y, clusters
        As for :func:`anova_icc`.
    replicates : int
        Number of bootstrap replicates.
    rng : numpy.random.Generator
        Source of the draws.
    alpha : float, default 0.05
        1 - confidence level.

    Returns
    -------
    (float, float)
        Lower and upper percentile limits.
    """
    y = np.asarray(y, float)
    codes, uniques = pd.factorize(pd.Series(clusters))
    k = len(uniques)
    n_j = np.bincount(codes, minlength=k).astype(float)
    s_j = np.bincount(codes, weights=y, minlength=k)
    q_j = np.bincount(codes, weights=y**2, minlength=k)
    draws = rng.integers(0, k, size=(replicates, k))
    n, s, q = n_j[draws], s_j[draws], q_j[draws]
    N = n.sum(axis=1)
    total = s.sum(axis=1)
    ss_between = np.sum(s**2 / n, axis=1) - total**2 / N
    ss_within = q.sum(axis=1) - np.sum(s**2 / n, axis=1)
    msb = ss_between / (k - 1)
    msw = ss_within / (N - k)
    n0 = (N - np.sum(n**2, axis=1) / N) / (k - 1)
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    lo, hi = np.quantile(icc, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def cluster_size_summary(sizes: np.ndarray) -> dict[str, float]:
    """Number of clusters and individuals, mean, SD, CV, min, median and max cluster size."""
    m = np.asarray(sizes, float)
    mean = float(m.mean())
    sd = float(m.std(ddof=1)) if len(m) > 1 else 0.0
    return {
        "n_clusters": int(len(m)),
        "n_individuals": int(m.sum()),
        "size_mean": mean,
        "size_sd": sd,
        "size_cv": sd / mean,
        "size_min": float(m.min()),
        "size_median": float(np.median(m)),
        "size_max": float(m.max()),
    }


def design_effects(icc: float, sizes: np.ndarray) -> dict[str, float]:
    """Design effect for equal (``1 + (m-1) ICC``) and unequal cluster sizes.

    The unequal version is ``1 + ((cv^2 + 1) m - 1) ICC`` with ``m`` the mean size and ``cv`` the
    coefficient of variation of the sizes (SD with divisor k - 1).
    """
    s = cluster_size_summary(sizes)
    m, cv = s["size_mean"], s["size_cv"]
    return {
        "deff_equal": 1 + (m - 1) * icc,
        "deff_unequal": 1 + ((cv**2 + 1) * m - 1) * icc,
    }


def icc_table(
    config: Config,
    observed: pd.DataFrame,
    staff: pd.DataFrame | None = None,
    outcomes: pd.DataFrame | None = None,
    staff_outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """ICC with CIs, cluster sizes and design effects for every outcome at baseline and follow-up.

    Parameters
    ----------
    config : dict
        Trial configuration (``icc.bootstrap`` replicates; ``seed``).
    observed : pandas.DataFrame
        The analysis table before imputation (consumer outcomes).
    staff : pandas.DataFrame, optional
        The staff analysis table (staff outcomes).
    outcomes, staff_outcomes : pandas.DataFrame, optional
        Pooled arm effects, whose model-based ICC is copied beside the ANOVA one.

    Returns
    -------
    pandas.DataFrame
        One row per outcome and time point.
    """
    from trial.seeding import derive_rng

    cid = config["design"]["cluster_id"]
    alpha = config["analysis"]["alpha"]
    reps = int(config.get("icc", {}).get("bootstrap", 0))
    model_icc: dict[str, float] = {}
    if outcomes is not None:
        model_icc.update(outcomes.set_index("outcome")["icc_mean"].to_dict())
    if staff_outcomes is not None and len(staff_outcomes):
        arm = staff_outcomes[staff_outcomes["analysis"] == "arm"]
        model_icc.update(arm.set_index("outcome")["icc_model"].to_dict())
    sources = [("individuals", observed, outcome_scales(config))]
    if staff is not None:
        sources.append(("staff", staff, [o["scale"] for o in config["staff"]["outcomes"]]))
    rows = []
    for population, table, scales in sources:
        for scale in scales:
            for time, column in (
                ("baseline", baseline_column(scale)),
                ("followup", followup_column(scale)),
            ):
                used = table[column].notna()
                y = table.loc[used, column].to_numpy(float)
                cl = table.loc[used, cid].to_numpy()
                res = anova_icc(y, cl, alpha=alpha)
                sizes = pd.Series(cl).value_counts().to_numpy()
                row: dict[str, Any] = {
                    "outcome": scale,
                    "label": config["scales"][scale]["label"],
                    "population": population,
                    "timepoint": time,
                    "icc": res["icc"],
                    "ci_low": res["ci_low"],
                    "ci_high": res["ci_high"],
                    "ci_method": "Searle F-based (n0)",
                    "boot_low": math.nan,
                    "boot_high": math.nan,
                    "n_boot": reps,
                    "n0": res["n0"],
                    "msb": res["msb"],
                    "msw": res["msw"],
                    **cluster_size_summary(sizes),
                    **design_effects(res["icc"], sizes),
                    "icc_model_adjusted": (
                        model_icc.get(scale, math.nan) if time == "followup" else math.nan
                    ),
                }
                if reps:
                    rng = derive_rng(config["seed"], "icc_bootstrap", population, scale, time)
                    row["boot_low"], row["boot_high"] = icc_bootstrap(
                        y, cl, replicates=reps, rng=rng, alpha=alpha
                    )
                rows.append(row)
    return pd.DataFrame(rows)


def icc_section(config: Config, inputs: Mapping[str, Any]) -> Section:
    """Report section: the ICC table with cluster sizes and design effects."""
    table = pd.read_csv(inputs["icc"])
    return Section(
        "clustering",
        "Intraclass correlations, cluster sizes and design effects",
        "clustering.html.j2",
        {"rows": table.to_dict("records")},
    )
