"""Chained-equation imputation with random forests (miceforest on LightGBM).

A forest knows nothing about clustering, so the cluster enters through features: for each
numeric level-1 variable, the mean of its observed values within the cluster; for the variable
being imputed, the leave-one-out mean of its observed values in the row's own cluster (without
the row itself, so that an observed row's own value never predicts it: with the row's value in
its cluster mean, the forest learns to copy it, which shrinks imputations towards the cluster
means and inflates the completed data's ICC). Each call makes one completed data set from one
draw: every model is trained on a random half of the observed rows of its target (see
:func:`impute_forest`). The workflow imputes each arm separately, so the arm is never left out
of a model (a forest with the arm as one of many features seldom splits on it).
"""

from __future__ import annotations

from collections.abc import Sequence

import miceforest as mf
import numpy as np
import pandas as pd

from trial.stats.impute.base import ImputationResult

__all__ = ["ENGINE", "impute_forest"]

ENGINE = "miceforest"

# Names of the derived feature columns; chosen so they cannot collide with data columns
# (checked below).
_MEAN_PREFIX = "__cluster_mean__"
_LOO_PREFIX = "__loo_mean__"
#: Share of a target's observed rows each of its models is trained on (see impute_forest).
TRAINING_FRACTION = 0.5
#: Fewest training rows in a leaf (miceforest's default is 1).
MIN_DATA_IN_LEAF = 10


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _validate(
    data: pd.DataFrame,
    cluster: str,
    impute: Sequence[str],
    predictors: Sequence[str],
    iterations: int,
    mean_match_candidates: int,
) -> None:
    if isinstance(impute, str) or isinstance(predictors, str):
        raise TypeError("impute and predictors must be sequences of column names, not a string")
    if data.columns.duplicated().any():
        dup = list(data.columns[data.columns.duplicated()])
        raise ValueError(f"data has duplicated column names: {dup}")
    if cluster not in data.columns:
        raise ValueError(f"cluster column {cluster!r} is not in the data")
    absent = [c for c in [*impute, *predictors] if c not in data.columns]
    if absent:
        raise ValueError(f"columns not in the data: {absent}")
    if not impute:
        raise ValueError("impute names no columns")
    if cluster in impute:
        raise ValueError(f"the cluster column {cluster!r} cannot be imputed")
    if data[cluster].isna().any():
        raise ValueError(f"cluster column {cluster!r} has missing values")
    fully_missing = [c for c in impute if data[c].isna().all()]
    if fully_missing:
        raise ValueError(f"imputed columns with no observed values: {fully_missing}")
    clash = [c for c in data.columns if str(c).startswith((_MEAN_PREFIX, _LOO_PREFIX))]
    if clash:
        raise ValueError(f"column names reserved for derived features: {clash}")
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    if mean_match_candidates < 0:
        raise ValueError(f"mean_match_candidates must be >= 0, got {mean_match_candidates}")


def _as_feature(s: pd.Series) -> pd.Series:
    """Convert a column to a dtype LightGBM takes: float for numbers and booleans,
    categorical for everything else (strings, objects)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s
    if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("float64")
    return s.astype("category")


def _feature_frame(
    data: pd.DataFrame, cluster: str, features: list[str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table miceforest sees, and the leave-one-out feature of each variable.

    Returns the features, the cluster mean of the observed values of every numeric variable
    that varies within clusters, and its leave-one-out mean (the mean of the other observed
    values of the row's cluster); and a mapping from each such variable to its leave-one-out
    column, which enters only that variable's own model in place of its cluster mean.
    """
    work = pd.DataFrame(
        {c: _as_feature(data[c]).reset_index(drop=True) for c in features},
    )
    cluster_values = data[cluster].reset_index(drop=True)
    leave_one_out: dict[str, str] = {}
    for c in features:
        col = work[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            continue
        # A variable that is constant within every cluster is cluster-level: its mean would
        # duplicate it, so it is left out.
        spread = col.groupby(cluster_values, observed=True).transform("std")
        if spread.fillna(0.0).eq(0.0).all():
            continue
        grouped = col.groupby(cluster_values, observed=True)
        total, count = grouped.transform("sum"), grouped.transform("count")
        own = col.notna()
        # NaN where the cluster has no (other) observed value; LightGBM treats it as missing.
        work[_MEAN_PREFIX + c] = (total / count).where(count > 0)
        others = count - own.astype(int)
        work[_LOO_PREFIX + c] = ((total - col.fillna(0.0)) / others).where(others > 0)
        leave_one_out[c] = _LOO_PREFIX + c
    return work, leave_one_out


def _trace(
    kernel: mf.ImputationKernel | None, variables: list[str], iterations: int
) -> pd.DataFrame:
    """Mean and SD of each variable's imputed values after each iteration."""
    rows = []
    for var in variables:
        assert kernel is not None
        values = kernel.imputation_values[var]
        for it in range(1, iterations + 1):
            v = values.loc[:, (it, 0)]
            if isinstance(v.dtype, pd.CategoricalDtype):
                # categorical variables are summarised by their category codes
                v = v.cat.codes.astype("float64")
            v = v.astype("float64")
            rows.append(
                {"iteration": it, "variable": var, "mean": float(v.mean()), "sd": float(v.std())}
            )
    trace = pd.DataFrame(rows, columns=["iteration", "variable", "mean", "sd"])
    return trace.astype({"iteration": "int64", "mean": "float64", "sd": "float64"})


def impute_forest(
    data: pd.DataFrame,
    *,
    cluster: str,
    impute: Sequence[str],
    predictors: Sequence[str],
    seed: int,
    iterations: int = 5,
    mean_match_candidates: int = 5,
) -> ImputationResult:
    """Make one completed data set by chained random-forest imputation (miceforest).

    Parameters
    ----------
    data
        The rows to impute together, one row per participant (the workflow passes one arm at
        a time). Any index; it is kept.
    cluster
        Name of the cluster (randomisation unit) column. It enters every model through cluster
        means (see Notes) and is never imputed; it must be complete.
    impute
        Columns to impute. Each is also a feature for the others. Columns without missing
        values are left as they are.
    predictors
        Further feature columns (e.g. strata, baseline values, auxiliary variables). Not
        imputed; missing values in them are left missing and handled natively by LightGBM.
    seed
        Seed of this imputation. The same data and seed give the same completed data set.
    iterations
        Number of chained-equation iterations.
    mean_match_candidates
        Number of nearest observed candidates from which each imputed value is drawn
        (predictive mean matching); 0 uses the forest prediction itself.

    Returns
    -------
    ImputationResult
        ``completed``: ``data`` with the missing values of ``impute`` filled (same index,
        row and column order, dtypes and untouched columns); ``trace``: mean and SD of each
        imputed variable's imputed values after each iteration; ``engine``: ``"miceforest"``.

    Raises
    ------
    ValueError
        If ``cluster`` or a named column is absent, the cluster column has missing values,
        an ``impute`` column has no observed values, or ``iterations`` /
        ``mean_match_candidates`` are out of range.

    Notes
    -----
    Features of the model of a target: all ``impute`` and ``predictors`` columns except the
    target, the within-cluster mean of the observed values of every other numeric variable
    that varies within clusters, and the target's own leave-one-out cluster mean. Strings are
    passed as categoricals and booleans as 0/1.

    A draw: every model is trained on a random :data:`TRAINING_FRACTION` of its target's
    observed rows, drawn afresh for each model from the seed. A fit to half the data deviates
    from the fit to all of it by about as much as the fit to all of it deviates from the truth
    (half-sampling; for a mean, the variance of a half-sample mean about the full-sample mean
    is exactly the full-sample mean's sampling variance), so the imputations vary between
    data sets by about the uncertainty of the model, as proper imputations should; without it
    every imputation would come from nearly the same forest. Donors for predictive mean
    matching are matched on their in-sample predictions; leaves of at least
    :data:`MIN_DATA_IN_LEAF` rows keep those predictions from reproducing the donors' own
    values (with miceforest's default of one row per leaf they do, and the imputations
    collapse towards the predictions of the missing rows, under-dispersed).
    """
    impute = _unique(impute)
    predictors = _unique(predictors)
    _validate(data, cluster, impute, predictors, iterations, mean_match_candidates)

    features = _unique([c for c in [*impute, *predictors] if c != cluster])
    # LightGBM refuses feature names with JSON special characters (e.g. dummy names such as
    # "stratum[B]"), so the forest sees positional names and results are mapped back.
    safe = {c: f"v{i}" for i, c in enumerate(features)}
    original = {v: k for k, v in safe.items()}
    work, leave_one_out = _feature_frame(data.rename(columns=safe), cluster, list(safe.values()))
    targets = [c for c in impute if data[c].isna().any()]

    completed = data.copy()
    if not targets:
        return ImputationResult(completed=completed, trace=_trace(None, [], 0), engine=ENGINE)

    own_features = {_LOO_PREFIX + t for t in safe.values()}
    schema = {}
    for t in targets:
        name = safe[t]
        shared = [
            c
            for c in work.columns
            if c != name and c != _MEAN_PREFIX + name and c not in own_features
        ]
        schema[name] = shared + ([leave_one_out[name]] if name in leave_one_out else [])
    n_observed = {safe[t]: int(data[t].notna().sum()) for t in targets}
    kernel = mf.ImputationKernel(
        work,
        num_datasets=1,
        variable_schema=schema,
        mean_match_candidates=mean_match_candidates,
        data_subset={t: max(int(TRAINING_FRACTION * n), min(n, 2)) for t, n in n_observed.items()},
        random_state=int(seed),
    )
    # One thread, deterministic LightGBM: the workflow runs imputations as parallel jobs,
    # and a fixed seed must reproduce the data set exactly.
    kernel.mice(
        iterations,
        num_threads=1,
        deterministic=True,
        force_row_wise=True,
        min_data_in_leaf=MIN_DATA_IN_LEAF,
    )
    filled = kernel.complete_data(dataset=0)

    for c in targets:
        missing = data[c].isna().to_numpy()
        new = filled.loc[missing, safe[c]]
        col = data[c].copy()
        if isinstance(col.dtype, pd.CategoricalDtype):
            values = new.astype(col.dtype).to_numpy()
        elif pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            values = new.to_numpy(dtype="float64")
            if not pd.api.types.is_float_dtype(col.dtype):
                # integer or boolean columns: mean matching draws observed values, so the
                # imputations are whole numbers; keep the column's (nullable) dtype
                values = values.round().astype(col.dtype.numpy_dtype, copy=False)
        else:
            values = new.astype(object).to_numpy()
        col.iloc[np.flatnonzero(missing)] = values
        completed[c] = col

    return ImputationResult(
        completed=completed,
        trace=_trace(kernel, [safe[t] for t in targets], iterations).replace(
            {"variable": original}
        ),
        engine=ENGINE,
    )
