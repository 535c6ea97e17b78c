"""Generate the synthetic datasets used as R reference data for the mixed-model engine.

Run from anywhere: ``python tests/reference/data/mixed/make_data.py``. The output CSVs are
committed beside this script; the R script ``tests/reference/r/mixed_models.R`` reads them (and
exports MASS::nlschools to ``nlschools.csv`` itself).

Datasets
--------
refocus.csv     27 clusters (14 intervention, 13 control), 2 strata, ~300 individuals.
boundary.csv    20 clusters whose between-cluster residual variation has been shrunk so that the
                REML estimate of the cluster variance is exactly zero (boundary fit).
unbalanced.csv  30 clusters with very unequal sizes, including 8 singletons.
nested.csv      14 teams, consumers nested within teams, 2-5 repeated measures per consumer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def make_refocus(rng: np.random.Generator) -> pd.DataFrame:
    n_clusters = 27
    arm = np.array([1] * 14 + [0] * 13)
    rng.shuffle(arm)
    stratum = np.array([0] * 13 + [1] * 14)
    rng.shuffle(stratum)
    sizes = rng.integers(5, 19, size=n_clusters)
    u = rng.normal(0.0, 1.2, size=n_clusters)
    ub = rng.normal(0.0, 1.0, size=n_clusters)
    rows = []
    for j in range(n_clusters):
        for _ in range(sizes[j]):
            baseline = 20.0 + ub[j] + rng.normal(0.0, 4.0)
            y = (
                8.0
                + 0.55 * baseline
                + 1.0 * arm[j]
                + 0.7 * stratum[j]
                + u[j]
                + rng.normal(0.0, 3.0)
            )
            rows.append((f"c{j + 1:02d}", arm[j], stratum[j], round(baseline, 4), round(y, 4)))
    return pd.DataFrame(rows, columns=["cluster", "arm", "stratum", "baseline", "y"])


def make_boundary(rng: np.random.Generator) -> pd.DataFrame:
    n_clusters = 20
    sizes = rng.integers(6, 15, size=n_clusters)
    cluster = np.repeat(np.arange(n_clusters), sizes)
    arm = np.repeat(np.arange(n_clusters) % 2, sizes)
    x = rng.normal(0.0, 1.0, size=cluster.size)
    e = rng.normal(0.0, 2.0, size=cluster.size)
    # Shrink each cluster's mean residual: the between-cluster mean square falls below its
    # expectation under no clustering, which puts the REML optimum at a zero cluster variance.
    means = pd.Series(e).groupby(cluster).transform("mean").to_numpy()
    e = e - 0.8 * means
    y = 5.0 + 0.8 * arm + 1.5 * x + e
    return pd.DataFrame(
        {
            "cluster": [f"b{j + 1:02d}" for j in cluster],
            "arm": arm,
            "x": np.round(x, 4),
            "y": np.round(y, 4),
        }
    )


def make_unbalanced(rng: np.random.Generator) -> pd.DataFrame:
    sizes = np.array(
        [1] * 8 + [2] * 5 + [3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 60, 80] + [1, 2, 90]
    )
    n_clusters = sizes.size
    z = rng.integers(0, 2, size=n_clusters)  # cluster-level binary covariate
    u = rng.normal(0.0, 1.5, size=n_clusters)
    rows = []
    for j in range(n_clusters):
        for _ in range(sizes[j]):
            x1 = rng.normal(0.0, 1.0) + 0.3 * u[j]
            x2 = rng.gamma(2.0, 1.0)
            y = 2.0 + 0.7 * x1 - 0.4 * x2 + 1.1 * z[j] + u[j] + rng.normal(0.0, 1.0)
            rows.append((f"u{j + 1:02d}", z[j], round(x1, 4), round(x2, 4), round(y, 4)))
    return pd.DataFrame(rows, columns=["cluster", "z", "x1", "x2", "y"])


def make_nested(rng: np.random.Generator) -> pd.DataFrame:
    n_teams = 14
    arm = np.array([1] * 7 + [0] * 7)
    rng.shuffle(arm)
    u_team = rng.normal(0.0, 0.8, size=n_teams)
    rows = []
    for t in range(n_teams):
        n_consumers = rng.integers(4, 11)
        for c in range(n_consumers):
            v = rng.normal(0.0, 1.5)
            n_times = rng.integers(2, 6)
            times = np.sort(rng.choice(5, size=n_times, replace=False))
            for time in times:
                y = (
                    10.0
                    + 0.5 * arm[t]
                    + 0.3 * time
                    + 0.25 * arm[t] * time
                    + u_team[t]
                    + v
                    + rng.normal(0.0, 1.0)
                )
                rows.append((f"t{t + 1:02d}", f"p{c + 1:02d}", arm[t], int(time), round(y, 4)))
    return pd.DataFrame(rows, columns=["team", "consumer", "arm", "time", "y"])


def main() -> None:
    rng = np.random.default_rng(20240611)
    make_refocus(rng).to_csv(HERE / "refocus.csv", index=False)
    make_boundary(rng).to_csv(HERE / "boundary.csv", index=False)
    make_unbalanced(rng).to_csv(HERE / "unbalanced.csv", index=False)
    make_nested(rng).to_csv(HERE / "nested.csv", index=False)


if __name__ == "__main__":
    main()
