"""Generate the synthetic datasets used as R reference data for the GLMM, GEE, marginal and
cluster-level kernels (``trial.stats``).

Run from anywhere: ``python tests/reference/data/glmm/make_data.py``. The CSVs are committed
beside this script; ``tests/reference/r/glmm.R`` and ``tests/reference/r/gee.R`` read them.

Datasets (columns ``cluster, arm, stratum, x, y`` and, for counts, ``exposure``)
--------------------------------------------------------------------------------
trial.csv     34 clusters of 25-65 individuals (~1,500), arm, a cluster-level stratum and an
              individual covariate; binary outcome, random-intercept SD 0.5 on the logit scale.
boundary.csv  20 clusters; binary outcome with the number of events in each cluster fixed at its
              expectation under no clustering (under-dispersed cluster totals), so that the
              maximum-likelihood cluster variance is 0 (a boundary fit).
unequal.csv   30 clusters of very unequal sizes (1 to 300 individuals, five singletons).
rare.csv      40 clusters, about 3% events, many clusters without any event.
counts.csv    25 clusters; Poisson counts with person-time ``exposure`` (log offset).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

HERE = Path(__file__).resolve().parent


def _frame(sizes: np.ndarray, arm_c: np.ndarray, stratum_c: np.ndarray, rng) -> pd.DataFrame:
    cluster = np.repeat(np.arange(1, sizes.size + 1), sizes)
    return pd.DataFrame(
        {
            "cluster": [f"k{c:02d}" for c in cluster],
            "arm": np.repeat(arm_c, sizes),
            "stratum": np.repeat(stratum_c, sizes),
            "x": np.round(rng.normal(0.0, 1.0, cluster.size), 4),
        }
    )


def make_trial(rng: np.random.Generator) -> pd.DataFrame:
    J = 34
    sizes = rng.integers(25, 66, size=J)
    arm = rng.permutation(np.repeat([0, 1], J // 2))
    stratum = rng.permutation(np.repeat([0, 1], J // 2))
    d = _frame(sizes, arm, stratum, rng)
    b = np.repeat(rng.normal(0.0, 0.5, J), sizes)
    eta = -0.6 + 0.5 * d.arm + 0.3 * d.stratum + 0.8 * d.x + b
    d["y"] = rng.binomial(1, expit(eta))
    return d


def make_boundary(rng: np.random.Generator) -> pd.DataFrame:
    J = 20
    sizes = rng.integers(15, 41, size=J)
    arm = np.arange(J) % 2
    d = _frame(sizes, arm, np.zeros(J, dtype=int), rng)
    p = expit(-0.3 + 0.4 * d.arm + 0.5 * d.x).to_numpy()
    y = np.zeros(len(d), dtype=int)
    start = 0
    for m in sizes:
        idx = np.arange(start, start + m)
        k = int(round(p[idx].sum()))
        chosen = rng.choice(idx, size=k, replace=False, p=p[idx] / p[idx].sum())
        y[chosen] = 1
        start += m
    d["y"] = y
    return d


def make_unequal(rng: np.random.Generator) -> pd.DataFrame:
    sizes = np.array(
        [1, 1, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100,
         120, 150, 180, 220, 250, 300]
    )
    sizes = rng.permutation(sizes)
    J = sizes.size
    arm = np.arange(J) % 2
    stratum = rng.permutation(np.repeat([0, 1], J // 2))
    d = _frame(sizes, arm, stratum, rng)
    b = np.repeat(rng.normal(0.0, 0.7, J), sizes)
    d["y"] = rng.binomial(1, expit(-0.2 + 0.6 * d.arm - 0.4 * d.stratum + 0.7 * d.x + b))
    return d


def make_rare(rng: np.random.Generator) -> pd.DataFrame:
    J = 40
    sizes = rng.integers(20, 61, size=J)
    arm = rng.permutation(np.repeat([0, 1], J // 2))
    d = _frame(sizes, arm, np.zeros(J, dtype=int), rng)
    b = np.repeat(rng.normal(0.0, 0.6, J), sizes)
    d["y"] = rng.binomial(1, expit(-3.6 - 0.5 * d.arm + 0.5 * d.x + b))
    return d


def make_counts(rng: np.random.Generator) -> pd.DataFrame:
    J = 25
    sizes = rng.integers(10, 41, size=J)
    arm = rng.permutation(np.r_[np.zeros(12, dtype=int), np.ones(13, dtype=int)])
    stratum = rng.permutation(np.r_[np.zeros(12, dtype=int), np.ones(13, dtype=int)])
    d = _frame(sizes, arm, stratum, rng)
    d["exposure"] = np.round(rng.uniform(0.5, 2.0, len(d)), 3)
    b = np.repeat(rng.normal(0.0, 0.4, J), sizes)
    mu = d.exposure * np.exp(1.0 - 0.3 * d.arm + 0.2 * d.stratum + 0.3 * d.x + b)
    d["y"] = rng.poisson(mu)
    return d


def main() -> None:
    rng = np.random.default_rng(20260419)
    for name, make in (
        ("trial", make_trial),
        ("boundary", make_boundary),
        ("unequal", make_unequal),
        ("rare", make_rare),
        ("counts", make_counts),
    ):
        make(rng).to_csv(HERE / f"{name}.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
