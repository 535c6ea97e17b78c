"""Imputation engines. Each engine makes one completed dataset per call, so that
every imputation is its own workflow job, seeded from the trial seed and its index."""

from trial.stats.impute.base import ImputationResult

__all__ = ["ImputationResult"]
