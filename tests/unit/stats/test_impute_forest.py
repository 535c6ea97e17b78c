"""Tests of the miceforest engine, trial.stats.impute.forest. Small data, few iterations."""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
import pandas as pd
import pytest

from trial.stats.impute.base import ImputationResult
from trial.stats.impute.forest import impute_forest

IMPUTE = ["y0", "y1"]
PREDICTORS = ["arm", "site", "x"]


def _trial(seed: int = 1, n_clusters: int = 10, per_cluster: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(n_clusters), per_cluster)
    n = cl.size
    u = rng.normal(0.0, 1.0, n_clusters)[cl]
    arm = (np.arange(n_clusters) % 2)[cl]
    x = rng.normal(size=n)
    y0 = u + x + rng.normal(size=n)
    y1 = 0.5 * arm + u + 0.8 * y0 + rng.normal(size=n)
    df = pd.DataFrame(
        {
            "team": [f"team{c:02d}" for c in cl],
            "arm": arm,
            "site": np.where(cl < n_clusters // 2, "north", "south"),
            "y0": y0,
            "y1": y1,
            "x": x,
            "comment": [f"row {i}" for i in range(n)],
            "unused": rng.normal(size=n),
        },
        # a non-default index, to check that it is kept
        index=pd.Index(np.arange(n)[::-1] * 3 + 7, name="id"),
    )
    df.loc[rng.random(n) < 0.3, "y1"] = np.nan
    df.loc[rng.random(n) < 0.15, "y0"] = np.nan
    df.loc[rng.random(n) < 0.1, "unused"] = np.nan
    return df


def _run(df: pd.DataFrame, seed: int = 11, **kwargs) -> ImputationResult:
    args = {"cluster": "team", "impute": IMPUTE, "predictors": PREDICTORS, "iterations": 2}
    args.update(kwargs)
    return impute_forest(df, seed=seed, **args)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _trial()


@pytest.fixture(scope="module")
def result(data: pd.DataFrame) -> ImputationResult:
    return _run(data)


def test_lightgbm_is_compatible_with_miceforest() -> None:
    df = pd.DataFrame({"g": [0, 0, 0, 1, 1, 1] * 3, "v": [1.0, np.nan, 2.0, 3.0, 4.0, 5.0] * 3})
    try:
        res = impute_forest(df, cluster="g", impute=["v"], predictors=[], seed=0, iterations=1)
    except Exception as exc:  # any failure here is reported with its cause
        pytest.fail(
            "miceforest could not run an imputation with the installed LightGBM "
            f"{version('lightgbm')} (miceforest {version('miceforest')}): {exc!r}. "
            "miceforest 6.0.5 calls Booster.__inner_predict with an argument that LightGBM "
            "4.7 removed; install lightgbm>=4.0,<4.7 as pinned in pyproject.toml."
        )
    assert res.completed["v"].notna().all()


def test_result_shape(data: pd.DataFrame, result: ImputationResult) -> None:
    assert result.engine == "miceforest"
    assert list(result.completed.columns) == list(data.columns)
    assert result.completed.index.equals(data.index)
    assert (result.completed.dtypes == data.dtypes).all()


def test_no_missing_left_in_imputed_columns(result: ImputationResult) -> None:
    assert not result.completed[IMPUTE].isna().any().any()


def test_observed_values_unchanged(data: pd.DataFrame, result: ImputationResult) -> None:
    for c in IMPUTE:
        observed = data[c].notna()
        pd.testing.assert_series_equal(result.completed.loc[observed, c], data.loc[observed, c])


def test_untouched_columns_unchanged(data: pd.DataFrame, result: ImputationResult) -> None:
    others = [c for c in data.columns if c not in IMPUTE]
    # "unused" keeps its missing values: it is neither imputed nor a feature
    pd.testing.assert_frame_equal(result.completed[others], data[others])


def test_input_not_modified(data: pd.DataFrame) -> None:
    before = data.copy()
    _run(data)
    pd.testing.assert_frame_equal(data, before)


def test_imputations_are_observed_values(data: pd.DataFrame, result: ImputationResult) -> None:
    # predictive mean matching draws from observed values
    for c in IMPUTE:
        imputed = result.completed.loc[data[c].isna(), c]
        assert imputed.isin(data[c].dropna()).all()


def test_deterministic(data: pd.DataFrame, result: ImputationResult) -> None:
    again = _run(data)
    pd.testing.assert_frame_equal(again.completed, result.completed)
    pd.testing.assert_frame_equal(again.trace, result.trace)


def test_seeds_give_different_imputations(data: pd.DataFrame, result: ImputationResult) -> None:
    other = _run(data, seed=12)
    missing = data["y1"].isna()
    assert not np.array_equal(
        other.completed.loc[missing, "y1"].to_numpy(), result.completed.loc[missing, "y1"]
    )


def test_trace(data: pd.DataFrame) -> None:
    res = _run(data, iterations=3)
    trace = res.trace
    assert list(trace.columns) == ["iteration", "variable", "mean", "sd"]
    assert sorted(set(trace["variable"])) == sorted(IMPUTE)
    assert sorted(set(trace["iteration"])) == [1, 2, 3]
    assert len(trace) == 3 * len(IMPUTE)
    # the last iteration's summary is that of the returned imputations
    for c in IMPUTE:
        last = trace[(trace["variable"] == c) & (trace["iteration"] == 3)].iloc[0]
        imputed = res.completed.loc[data[c].isna(), c]
        assert last["mean"] == pytest.approx(imputed.mean())
        assert last["sd"] == pytest.approx(imputed.std())


def test_fully_observed_impute_column_unchanged(data: pd.DataFrame) -> None:
    res = _run(data, impute=["y1", "x"], predictors=["arm", "site", "y0"])
    pd.testing.assert_series_equal(res.completed["x"], data["x"])
    assert set(res.trace["variable"]) == {"y1"}


def test_nothing_to_impute(data: pd.DataFrame) -> None:
    res = _run(data, impute=["x"], predictors=["arm"])
    pd.testing.assert_frame_equal(res.completed, data)
    assert res.trace.empty
    assert list(res.trace.columns) == ["iteration", "variable", "mean", "sd"]


def test_categorical_and_integer_columns() -> None:
    rng = np.random.default_rng(3)
    n = 60
    df = pd.DataFrame(
        {
            "c": np.repeat(np.arange(6), 10),
            "score": pd.array(rng.integers(0, 5, n), dtype="Int64"),
            "group": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "z": rng.normal(size=n),
        }
    )
    df.loc[rng.random(n) < 0.2, "score"] = pd.NA
    df.loc[rng.random(n) < 0.2, "group"] = np.nan
    res = impute_forest(
        df, cluster="c", impute=["score", "group"], predictors=["z"], seed=5, iterations=1
    )
    assert (res.completed.dtypes == df.dtypes).all()
    assert not res.completed[["score", "group"]].isna().any().any()
    assert set(res.completed["group"]) <= {"a", "b", "c"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cluster": "ward"}, "cluster column 'ward'"),
        ({"impute": ["y1", "y9"]}, r"not in the data: \['y9'\]"),
        ({"predictors": ["arm", "age"]}, r"not in the data: \['age'\]"),
        ({"impute": []}, "no columns"),
        ({"impute": ["team"]}, "cannot be imputed"),
        ({"iterations": 0}, "iterations"),
    ],
)
def test_argument_errors(data: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _run(data, **kwargs)


def test_fully_missing_impute_column(data: pd.DataFrame) -> None:
    df = data.assign(y1=np.nan)
    with pytest.raises(ValueError, match=r"no observed values: \['y1'\]"):
        _run(df)


def test_missing_cluster_label(data: pd.DataFrame) -> None:
    df = data.copy()
    df.iloc[0, df.columns.get_loc("team")] = None
    with pytest.raises(ValueError, match="cluster column 'team' has missing values"):
        _run(df)


def test_cluster_features(data: pd.DataFrame) -> None:
    from trial.stats.impute.forest import _feature_frame

    df = data.assign(cluster_size=data.groupby("team")["x"].transform("size"))
    work, own = _feature_frame(df, "team", ["y0", "y1", "arm", "site", "x", "cluster_size"])
    assert isinstance(work["site"].dtype, pd.CategoricalDtype)
    # level-1 numeric variables get their cluster mean of observed values ...
    expected = df.groupby("team")["y1"].transform("mean").reset_index(drop=True)
    pd.testing.assert_series_equal(
        work["__cluster_mean__y1"], expected, check_names=False, check_dtype=False
    )
    assert {"__cluster_mean__y0", "__cluster_mean__x"} <= set(work.columns)
    # ... cluster-level ones (constant within clusters) and categoricals do not
    assert "__cluster_mean__arm" not in work.columns
    assert "__cluster_mean__cluster_size" not in work.columns
    assert "__cluster_mean__site" not in work.columns
    assert len(work) == len(df)
    # the leave-one-out mean: the other observed values of the row's cluster, by hand
    assert own["y1"] == "__loo_mean__y1"
    y1 = df["y1"].reset_index(drop=True)
    team = df["team"].reset_index(drop=True)
    for i in [0, 5, 17, 40]:
        others = y1[(team == team[i]) & (y1.index != i)].dropna()
        assert work.loc[i, "__loo_mean__y1"] == pytest.approx(others.mean())


def test_no_target_leaks_into_its_own_features(data: pd.DataFrame, monkeypatch) -> None:
    # each model sees the leave-one-out mean of its own target, never the plain cluster mean
    # (which holds the row's own value) nor the target itself
    import miceforest as mf

    seen = {}
    original = mf.ImputationKernel.__init__

    def spy(self, data, *args, variable_schema=None, **kwargs):
        seen.update(variable_schema)
        original(self, data, *args, variable_schema=variable_schema, **kwargs)

    monkeypatch.setattr(mf.ImputationKernel, "__init__", spy)
    _run(data, iterations=1)
    assert set(seen) == {"v0", "v1"}  # y0 and y1, by position
    for target, features in seen.items():
        assert target not in features
        assert f"__cluster_mean__{target}" not in features
        assert f"__loo_mean__{target}" in features
        assert not any(
            f.startswith("__loo_mean__") and f != f"__loo_mean__{target}" for f in features
        )
