"""Joint cluster bootstrap of the incremental cost and effect (:func:`bootstrap_costs`), one
chunk of replicates of every completed data set at a time (:func:`chunk_replicates`).

Two-stage resampling (default) shrinks the data towards the cluster means first (see
:mod:`trial.stats.bootstrap`); every replicate refits the least-squares cost and effect regressions
of
:func:`trial.analyses.costs.fits.fit_costs` with frequency weights.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from trial.analyses.costs.fits import analysed_rows, cost_design
from trial.analyses.costs.spec import CostConfigError, bootstrap_spec
from trial.config.vocabulary import (
    COST,
    Config,
    allocation_strata,
    arm_term,
    baseline_column,
    effect_scale,
)
from trial.progress import progress
from trial.stats.bootstrap import (
    ClusterLayout,
    bootstrap_weights,
    shrink_two_stage,
    shrinkage_factors,
    weighted_ols_coefficient,
)

__all__ = ["bootstrap_costs", "chunk_replicates"]

#: replicates whose frequency weights are held at once (250 x 50,000 individuals: 100 MB)
_REPLICATE_BLOCK = 250


def chunk_replicates(config: Config, chunk: int) -> dict[int, range]:
    """Replicate numbers (0-based) of each imputation computed by bootstrap chunk ``chunk``.

    The imputations x replicates grid, in imputation then replicate order, is cut into
    ``costs.bootstrap.chunks`` contiguous runs of (nearly) equal length, one per chunk
    (1-based), so that a chunk reads only the completed datasets of its own run. Imputations
    are numbered 1..``imputation.m``; imputations the chunk does not touch are absent.
    """
    spec = bootstrap_spec(config)
    total, chunks = int(spec["replicates"]), int(spec["chunks"])
    if not 1 <= chunk <= chunks:
        raise CostConfigError(f"bootstrap chunk {chunk} is outside 1..{chunks}")
    edges = np.linspace(0, total * int(config["imputation"]["m"]), chunks + 1).round()
    start, stop = int(edges[chunk - 1]), int(edges[chunk])
    work = {}
    for imputation in range(start // total + 1, -(-stop // total) + 1):
        first = (imputation - 1) * total
        work[imputation] = range(max(start - first, 0), min(stop - first, total))
    return {imputation: reps for imputation, reps in work.items() if len(reps)}


def bootstrap_costs(
    config: Config,
    tables: Mapping[int, pd.DataFrame],
    replicates: Sequence[int] | range | Mapping[int, Sequence[int] | range],
) -> pd.DataFrame:
    """Joint bootstrap replicates of incremental cost and effect for completed data sets.

    Parameters
    ----------
    config : dict
        Trial config; ``costs.bootstrap.resampling`` is ``two-stage`` (with shrinkage,
        default) or ``cluster`` (one stage).
    tables : mapping of int to pandas.DataFrame
        Completed data sets by imputation number.
    replicates : sequence of int, or mapping of int to sequence of int
        Replicate numbers, the same for every imputation or by imputation (as from
        :func:`chunk_replicates`); replicate ``r`` of imputation ``i`` always uses the generator
        ``derive_seed(seed, "cost_bootstrap", i, r)``, so any chunking gives the same numbers.

    Returns
    -------
    pandas.DataFrame
        ``imputation, replicate, cost, effect`` (treatment minus reference, least squares with
        the analysis covariates, on the resampled (shrunk) data).
    """
    design = config["design"]
    resampling = bootstrap_spec(config)["resampling"]
    columns = ["imputation", "replicate", "cost", "effect"]
    frames = [pd.DataFrame(columns=columns)] if not tables else []
    for imputation, table in progress(sorted(tables.items()), "cost bootstrap, imputations"):
        numbers = replicates[imputation] if isinstance(replicates, Mapping) else replicates
        layout = ClusterLayout.from_labels(
            table[design["cluster_id"]], allocation_strata(config, table)
        )
        regressions = []
        for scale in (COST, effect_scale(config)):
            fit = cost_design(config, table, scale)
            y, X = fit.y, fit.X
            rows = analysed_rows(config, table, scale)
            # the same draws for cost and effect; an effect left undefined by the estimand
            # (e.g. after death) drops out of the effect regression only
            part = (
                layout
                if rows.all()
                else ClusterLayout.from_labels(fit.clusters, allocation_strata(config, table[rows]))
            )
            if resampling == "two-stage":
                # common factors from the fitted model's residuals (see trial.stats.bootstrap)
                beta = np.linalg.lstsq(X, y, rcond=None)[0]
                factors = shrinkage_factors(y - X @ beta, part)
                baseline = fit.column(baseline_column(scale))
                shrunk = shrink_two_stage(np.column_stack([y, X[:, baseline]]), part, factors)
                y = shrunk[:, 0]
                X = X.copy()
                X[:, baseline] = shrunk[:, 1]
            regressions.append((y, X, fit.column(arm_term(config)), None if rows.all() else rows))
        # replicates in blocks (numbers r // _REPLICATE_BLOCK alike, whatever the chunking): a
        # replicates x individuals weight matrix per block bounds the memory
        for _, group in itertools.groupby(numbers, key=lambda r: r // _REPLICATE_BLOCK):
            block = list(group)
            weights = bootstrap_weights(
                layout,
                block,
                seed=config["seed"],
                keys=("cost_bootstrap", imputation),
                resampling=resampling,
                dtype=float,
            )
            estimates = {
                name: weighted_ols_coefficient(
                    y, X, weights if rows is None else weights[:, rows], column
                )
                for name, (y, X, column, rows) in zip(("cost", "effect"), regressions, strict=True)
            }
            frames.append(pd.DataFrame({"imputation": imputation, "replicate": block, **estimates}))
    return pd.concat(frames, ignore_index=True)
