"""Coverage of the default analysis of a binary primary outcome, with and without imputation.

Each replicate is a two-arm cluster trial with a 0/1 outcome from a random-intercept logistic
model,

.. math::

    \\mathrm{logit}\\,P(y_{ij} = 1 \\mid u_j) = \\beta_0 + \\beta\\,\\mathrm{arm}_j + \\gamma x_{ij}
    + u_j,\\qquad u_j \\sim N(0, \\sigma^2_u),

with a baseline covariate ``x`` (normal, with a cluster part), cluster sizes that vary (gamma,
coefficient of variation ``size_cv``) and the outcome missing at random given ``x``
(logistic, about ``missing`` of the rows). The true effect is ``beta``, the cluster-specific log
odds ratio that the GLMM estimates. Two analyses per replicate, each a random-intercept GLMM
(adaptive Gauss-Hermite, 10 nodes) with t on between-within df:

* ``complete data``: the data before any value was deleted;
* ``multiple imputation``: the missing outcomes imputed ``m`` times by the multilevel engine's
  latent-normal step (arm and ``x`` in the model, random cluster intercept), pooled by Rubin's
  rules with Barnard-Rubin df from the between-within df.

The kernels are those the workflow calls (:func:`trial.stats.impute.multilevel.impute_multilevel`,
:func:`trial.stats.glmm.fit_glmm_arrays`, :func:`trial.stats.pooling.pool_rubin`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special, stats

from trial.seeding import derive_rng, derive_seed
from trial.stats.glmm import fit_glmm_arrays
from trial.stats.impute.multilevel import impute_multilevel
from trial.stats.pooling import pool_rubin

#: Generating values: intercept, log odds ratio of the arm, slope of ``x``, cluster SD.
INTERCEPT, EFFECT, SLOPE, CLUSTER_SD = -0.3, math.log(1.6), 0.8, 0.55


def simulate_trial(
    n_clusters: int,
    rng: np.random.Generator,
    *,
    mean_size: int = 30,
    size_cv: float = 0.4,
    missing: float = 0.25,
) -> tuple[pd.DataFrame, np.ndarray]:
    """One replicate: the table (``cluster``, ``arm``, ``x``, ``y`` with missing values) and
    the complete outcome."""
    shape = 1.0 / size_cv**2
    sizes = np.maximum(5, np.round(rng.gamma(shape, mean_size / shape, n_clusters))).astype(int)
    arm_of = rng.permutation(np.arange(n_clusters) % 2)
    cluster = np.repeat(np.arange(n_clusters), sizes)
    arm = arm_of[cluster].astype(float)
    x = 0.3 * rng.standard_normal(n_clusters)[cluster] + rng.standard_normal(cluster.size)
    u = CLUSTER_SD * rng.standard_normal(n_clusters)[cluster]
    y = rng.random(cluster.size) < special.expit(INTERCEPT + EFFECT * arm + SLOPE * x + u)
    shift = math.log(missing / (1 - missing))
    lost = rng.random(cluster.size) < special.expit(shift + 0.8 * x)
    table = pd.DataFrame(
        {"cluster": cluster, "arm": arm, "x": x, "y": np.where(lost, np.nan, y.astype(float))}
    )
    return table, y.astype(float)


def _fit(y: np.ndarray, table: pd.DataFrame) -> tuple[float, float, float]:
    X = np.column_stack([np.ones(len(table)), table["arm"], table["x"]])
    fit = fit_glmm_arrays(y, X, table["cluster"].to_numpy(), n_agq=10)
    return float(fit.beta[1]), float(fit.cov[1, 1]), float(fit.df[1])


def replicate(
    n_clusters: int, seed: int, index: int, *, m: int = 5, iterations: int = 5
) -> list[dict[str, float]]:
    """Both analyses of replicate ``index``: estimate, SE, df and whether the interval covers."""
    rng = derive_rng(seed, "binary coverage", n_clusters, index)
    table, complete = simulate_trial(n_clusters, rng)
    est, var, df = _fit(complete, table)
    estimates, variances, dfs = [], [], []
    for k in range(m):
        completed = impute_multilevel(
            table,
            cluster="cluster",
            impute=["y"],
            predictors=["arm", "x"],
            seed=derive_seed(seed, "binary coverage", n_clusters, index, k),
            iterations=iterations,
            binary=["y"],
        ).completed
        e, v, d = _fit(completed["y"].to_numpy(), table)
        estimates.append(e)
        variances.append(v)
        dfs.append(d)
    pooled = pool_rubin(estimates, variances, df_complete=float(np.mean(dfs)))
    return [
        {
            "clusters": n_clusters,
            "replicate": index,
            "analysis": "complete data",
            "estimate": est,
            "se": math.sqrt(var),
            "df": df,
            "covered": float(_covers(est, math.sqrt(var), df)),
        },
        {
            "clusters": n_clusters,
            "replicate": index,
            "analysis": "multiple imputation",
            "estimate": pooled.estimate,
            "se": pooled.se,
            "df": pooled.df,
            "covered": float(pooled.ci_low <= EFFECT <= pooled.ci_high),
        },
    ]


def _covers(estimate: float, se: float, df: float) -> bool:
    q = float(stats.t.ppf(0.975, df))
    return estimate - q * se <= EFFECT <= estimate + q * se


def summarise(replicates: pd.DataFrame, truth: float = EFFECT) -> pd.DataFrame:
    """Per number of clusters and analysis: bias (from ``truth``), empirical and mean model SE,
    coverage, each with its Monte Carlo SE."""
    rows = []
    for (clusters, analysis), part in replicates.groupby(["clusters", "analysis"], sort=True):
        n = len(part)
        coverage = float(part["covered"].mean())
        rows.append(
            {
                "clusters": clusters,
                "analysis": analysis,
                "replicates": n,
                "bias": float(part["estimate"].mean() - truth),
                "bias_mc_se": float(part["estimate"].std(ddof=1) / math.sqrt(n)),
                "empirical_se": float(part["estimate"].std(ddof=1)),
                "model_se": float(part["se"].mean()),
                "coverage": coverage,
                "coverage_mc_se": math.sqrt(coverage * (1 - coverage) / n),
            }
        )
    return pd.DataFrame(rows)


def run_study(
    clusters: tuple[int, ...] = (20, 40), replicates: int = 500, seed: int = 20251201
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every replicate of every cell, and their summary (:func:`summarise`)."""
    rows = [
        row
        for n_clusters in clusters
        for index in range(replicates)
        for row in replicate(n_clusters, seed, index)
    ]
    table = pd.DataFrame(rows)
    return table, summarise(table)


if __name__ == "__main__":  # python -m trial.studies.binary_coverage REPLICATES OUT.csv
    import sys

    count, out = int(sys.argv[1]), sys.argv[2]
    _, summary = run_study(replicates=count)
    summary.to_csv(out, index=False, float_format="%.6g", lineterminator="\n")
    print(summary.to_string(index=False))
