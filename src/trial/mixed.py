"""Former home of the linear mixed model, now :mod:`trial.stats.mixed`.

Kept so that ``from trial.mixed import ...`` keeps working while callers move to the new path;
it re-exports the public names and the three helpers the other kernels share.
"""

from trial.stats.mixed import (
    DF_METHODS,
    ClusterSums,
    ContrastResult,
    FTestResult,
    MixedModelArrayFit,
    MixedModelConvergenceWarning,
    MixedModelError,
    MixedModelFit,
    MixedModelFitError,
    MixedModelInputError,
    cluster_sums,
    fit_random_intercept_arrays,
    fit_random_intercept_model,
    fit_random_intercept_sums,
)
from trial.stats.mixed.checks import _column_levels, _gram_rank
from trial.stats.mixed.ddf import _bw_df

__all__ = [
    "DF_METHODS",
    "ClusterSums",
    "ContrastResult",
    "FTestResult",
    "MixedModelConvergenceWarning",
    "MixedModelArrayFit",
    "MixedModelError",
    "MixedModelFit",
    "MixedModelFitError",
    "MixedModelInputError",
    "_bw_df",
    "_column_levels",
    "_gram_rank",
    "cluster_sums",
    "fit_random_intercept_arrays",
    "fit_random_intercept_model",
    "fit_random_intercept_sums",
]
