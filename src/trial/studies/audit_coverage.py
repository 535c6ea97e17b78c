"""Coverage of the casenote audit's logistic GEE intervals on the audit's repeated structure.

Each replicate is an audit shaped like the bundled example's: ``n_clusters`` clusters, half
of them (at random) treated, about ``per_cluster`` audited individuals per cluster, each
individual's record audited at every one of ``TIMES`` time points when available
(``AVAILABILITY``), so the records of a cluster are correlated through the cluster and, over
time, through the individual. A 0/1 item follows the generator's model
(:func:`trial.studies.synthetic.generate_trial`, ``audit``),

.. math::

    \\mathrm{logit}\\,P(y_{it} = 1 \\mid u_j, v_i) = a + \\tau (t - 1)
    + \\beta\\,[\\text{treated}]\\,[t > t_0] + u_j + v_i,\\qquad
    u_j \\sim N(0, \\sigma^2_u),\\ v_i \\sim N(0, \\sigma^2_v).

The analysis is the audit's binary model (:func:`trial.analyses.audit.binary.fit_binary_model`):
logistic GEE with arm, time and arm x time terms, exchangeable working correlation within cluster,
the Kauermann-Carroll covariance and t on clusters minus coefficients; the quantity checked is the
population-averaged log odds ratio between arms at the last time point (``b_arm + d_T``, the audit's
``odds_ratio_at_final_time``). The GEE's mean model is saturated in arm x time, so its truth is the
difference in logits of the two arms' population risks at the last time point, each the integral of
the conditional risk over the normal cluster-plus-individual effect
(:func:`true_final_log_odds_ratio`, Gauss-Hermite quadrature): smaller than ``beta``, the
conditional effect, since the logit is not collapsible.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special

from trial.seeding import derive_rng
from trial.stats.gee import fit_gee_arrays
from trial.studies.binary_coverage import summarise

#: Generating values, those of one item of the bundled example's audit: intercept,
#: time trend per time point, conditional log odds ratio after the start, cluster and individual
#: SDs, time points, last time point before the intervention, availability.
INTERCEPT, TREND, EFFECT, CLUSTER_SD, INDIVIDUAL_SD = -0.3, 0.03, 0.55, 0.4, 0.8
TIMES, START_AFTER, AVAILABILITY = 7, 2, 0.9


def true_final_log_odds_ratio(nodes: int = 80) -> float:
    """Population-averaged log odds ratio between arms at the last time point.

    ``logit E[expit(eta_1 + w)] - logit E[expit(eta_0 + w)]`` with
    ``w ~ N(0, sigma_u^2 + sigma_v^2)``, by Gauss-Hermite quadrature on ``nodes`` points.
    """
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    sd = math.hypot(CLUSTER_SD, INDIVIDUAL_SD)
    base = INTERCEPT + TREND * (TIMES - 1)
    risk = [float(w @ special.expit(base + arm * EFFECT + sd * x)) for arm in (1, 0)]
    return float(special.logit(risk[0]) - special.logit(risk[1]))


def simulate_audit(
    n_clusters: int, rng: np.random.Generator, *, per_cluster: int = 35
) -> pd.DataFrame:
    """One replicate: ``cluster``, ``individual``, ``time``, ``treated`` and the 0/1 ``y`` of
    every available record."""
    treated_cluster = rng.permutation(np.arange(n_clusters) % 2)
    n = n_clusters * per_cluster
    cluster = rng.integers(0, n_clusters, n)
    u = CLUSTER_SD * rng.standard_normal(n_clusters)
    v = INDIVIDUAL_SD * rng.standard_normal(n)
    parts = []
    for t in range(1, TIMES + 1):
        available = rng.random(n) < AVAILABILITY
        eta = (
            INTERCEPT
            + TREND * (t - 1)
            + EFFECT * treated_cluster[cluster] * (t > START_AFTER)
            + u[cluster]
            + v
        )
        y = (rng.random(n) < special.expit(eta)).astype(float)
        parts.append(
            pd.DataFrame(
                {
                    "cluster": cluster,
                    "individual": np.arange(n),
                    "time": t,
                    "treated": treated_cluster[cluster].astype(float),
                    "y": y,
                }
            )[available]
        )
    return pd.concat(parts, ignore_index=True)


def audit_design(data: pd.DataFrame) -> np.ndarray:
    """Intercept, arm, time indicators (t > 1) and arm x time indicators, as the audit's
    binary model (:func:`trial.analyses.audit.binary.binary_design`) without strata."""
    arm = data["treated"].to_numpy()
    time = data["time"].to_numpy()
    dummies = [(time == t).astype(float) for t in range(2, TIMES + 1)]
    return np.column_stack([np.ones(len(data)), arm, *dummies, *[d * arm for d in dummies]])


def replicate(n_clusters: int, seed: int, index: int, truth: float) -> dict[str, float]:
    """The final-time log odds ratio of replicate ``index``: estimate, SE, df, coverage."""
    data = simulate_audit(n_clusters, derive_rng(seed, "audit coverage", n_clusters, index))
    X = audit_design(data)
    fit = fit_gee_arrays(
        data["y"].to_numpy(),
        X,
        data["cluster"].to_numpy(),
        family="binomial",
        cov_type="kauermann-carroll",
    )
    weights = np.zeros(X.shape[1])
    weights[1] = weights[-1] = 1.0  # arm + arm x last time
    c = fit.contrast(weights)
    return {
        "clusters": n_clusters,
        "replicate": index,
        "analysis": "logistic GEE, Kauermann-Carroll",
        "estimate": c.estimate,
        "se": c.se,
        "df": c.df,
        "covered": float(c.ci_low <= truth <= c.ci_high),
    }


def run_study(
    clusters: tuple[int, ...] = (20, 27, 40), replicates: int = 500, seed: int = 20261201
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every replicate of every cell, and their summary
    (:func:`trial.studies.binary_coverage.summarise` against :func:`true_final_log_odds_ratio`)."""
    truth = true_final_log_odds_ratio()
    rows = [
        replicate(n_clusters, seed, index, truth)
        for n_clusters in clusters
        for index in range(replicates)
    ]
    table = pd.DataFrame(rows)
    return table, summarise(table, truth=truth)


if __name__ == "__main__":  # python -m trial.studies.audit_coverage REPLICATES OUT.csv
    import sys

    count, out = int(sys.argv[1]), sys.argv[2]
    _, summary = run_study(replicates=count)
    summary.to_csv(out, index=False, float_format="%.6g", lineterminator="\n")
    print(summary.to_string(index=False))
