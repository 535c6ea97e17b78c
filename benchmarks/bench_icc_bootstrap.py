"""Benchmark: the model-adjusted ICC bootstrap, refitted from per-cluster sums or from the rows.

A synthetic trial (``--clusters`` clusters in two arms, ``--individuals`` individuals, an arm
effect, two covariates and a random intercept) is bootstrapped by
:func:`trial.analyses.icc.icc_bootstrap` with a design matrix: every replicate's random-intercept
model is refitted from per-cluster sums (:func:`trial.stats.mixed.fit_random_intercept_sums`). In
the same process, the same replicates are refitted the way the ICC table did before, from the
resampled rows (:func:`trial.stats.mixed.fit_random_intercept_arrays`), on the first
``--row-replicates`` of them. Printed: CPU seconds per replicate of each, their ratio, the largest
difference between the two ICCs of a replicate, and the machine's load before and after.

Usage: ``python benchmarks/bench_icc_bootstrap.py [--clusters 500] [--individuals 50000]
[--replicates 1000] [--row-replicates 50]``
"""

from __future__ import annotations

import os

# One BLAS thread, as in a workflow job (see the Snakefile); set before numpy loads.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from trial.analyses.icc import icc_bootstrap  # noqa: E402
from trial.stats.bootstrap import ClusterLayout, bootstrap_cluster_counts  # noqa: E402
from trial.stats.mixed import fit_random_intercept_arrays  # noqa: E402


def synthetic(clusters: int, individuals: int, seed: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    cluster = np.sort(rng.integers(0, clusters, individuals))
    arm = (np.arange(clusters) % 2)[cluster]
    x = rng.normal(size=(individuals, 2))
    y = 0.3 * arm + x @ [0.5, -0.2] + rng.normal(0, 0.4, clusters)[cluster]
    y += rng.normal(size=individuals)
    X = np.column_stack([np.ones(individuals), arm, x])
    return y, X, cluster, arm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=500)
    parser.add_argument("--individuals", type=int, default=50_000)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--row-replicates", type=int, default=50)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    y, X, cluster, arm = synthetic(args.clusters, args.individuals)
    keys = ("bench",)

    t0 = time.process_time()
    icc_bootstrap(y, cluster, groups=arm, X=X, replicates=args.replicates, seed=1, keys=keys)
    sums_s = (time.process_time() - t0) / args.replicates

    # the row refit, on the first replicates of the same draws
    layout = ClusterLayout.from_labels(cluster, arm)
    counts = bootstrap_cluster_counts(layout, range(args.row_replicates), seed=1, keys=keys)
    members = np.split(layout.members, layout.member_start[1:])
    t0 = time.process_time()
    by_rows = []
    for row in counts:
        picked = np.repeat(np.arange(layout.n_clusters), row)
        rows = np.concatenate([members[j] for j in picked])
        labels = np.repeat(np.arange(picked.size), layout.sizes[picked])
        by_rows.append(
            fit_random_intercept_arrays(y[rows], X[rows], labels, df_method="between-within").icc
        )
    rows_s = (time.process_time() - t0) / args.row_replicates

    from trial.stats.mixed import cluster_sums, fit_random_intercept_sums

    sums = cluster_sums(y, X, layout.cluster)
    by_sums = [fit_random_intercept_sums(sums, row).icc for row in counts]
    diff = float(np.max(np.abs(np.subtract(by_rows, by_sums))))
    print(
        f"{args.clusters} clusters, {args.individuals} individuals: model-adjusted ICC "
        f"bootstrap, CPU per replicate: from per-cluster sums {1e3 * sums_s:.2f} ms "
        f"({args.replicates} replicates), from the rows {1e3 * rows_s:.1f} ms "
        f"({args.row_replicates} replicates); ratio {rows_s / sums_s:.0f}x; "
        f"largest ICC difference {diff:.1e}"
    )
    print(f"load average (1-min) before/after: {load_before:.2f} -> {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
