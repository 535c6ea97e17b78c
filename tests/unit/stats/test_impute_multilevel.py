"""Unit tests of the multilevel (random-intercept) normal imputation engine."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from trial.stats.impute.base import ImputationResult
from trial.stats.impute.multilevel import (
    ENGINE_NAME,
    impute_multilevel,
    sample_random_intercept,
)

# ---- helpers ------------------------------------------------------------------------------


def _icc_anova(y: np.ndarray, codes: np.ndarray) -> float:
    """One-way ANOVA estimator of the intraclass correlation (unequal cluster sizes)."""
    n_j = np.bincount(codes).astype(float)
    big_n, n_clusters = n_j.sum(), n_j.size
    means = np.bincount(codes, weights=y) / n_j
    ssb = float(np.sum(n_j * (means - y.mean()) ** 2))
    ssw = float(np.sum((y - means[codes]) ** 2))
    msb, msw = ssb / (n_clusters - 1), ssw / (big_n - n_clusters)
    n0 = (big_n - np.sum(n_j**2) / big_n) / (n_clusters - 1)
    return (msb - msw) / (msb + (n0 - 1) * msw)


def _small_trial(seed: int = 1) -> pd.DataFrame:
    """400 rows, 27 clusters, three level-1 variables and one cluster-level variable."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(10, 20, 27)
    sizes[-1] += 400 - sizes.sum()
    g = np.repeat(np.arange(27), sizes)
    n = g.size
    u = rng.normal(0, 1, 27)
    arm = (np.arange(27) % 2).astype(float)[g]
    x1 = rng.normal(size=n) + 0.5 * u[g]
    x2 = rng.normal(size=n)
    w = np.round(rng.normal(size=27), 3)[g]
    y = 1 + x1 + 0.5 * x2 + arm + 0.3 * w + u[g] + rng.normal(size=n)
    df = pd.DataFrame(
        {
            "site": np.array([f"c{j:02d}" for j in range(27)])[g],
            "arm": arm,
            "x1": x1,
            "x2": x2,
            "w": w,
            "y": y,
            "note": "text",
        },
        index=pd.Index(rng.permutation(n) + 1000, name="pid"),
    )
    for col, frac in [("x1", 0.1), ("x2", 0.15), ("y", 0.3)]:
        df.loc[rng.random(n) < frac, col] = np.nan
    missing_clusters = rng.random(27) < 0.3
    df.loc[missing_clusters[g], "w"] = np.nan
    return df


SMALL_ARGS = {
    "cluster": "site",
    "impute": ["x1", "x2", "y", "w"],
    "predictors": ["arm"],
    "cluster_level": ["w"],
}

# Large simulated data: 200 clusters x 30, ICC 0.2 (sigma2_u 0.2, sigma2_e 0.8),
# y = 1 + 0.5 x + u + e, y missing for ~30% at random given x.
TRUE_BETA = np.array([1.0, 0.5])
TRUE_S2U, TRUE_S2E = 0.2, 0.8


@pytest.fixture(scope="module")
def large() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2024)
    n_clusters, size = 200, 30
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(size=g.size)
    u = rng.normal(0, np.sqrt(TRUE_S2U), n_clusters)
    y_full = TRUE_BETA[0] + TRUE_BETA[1] * x + u[g] + rng.normal(0, np.sqrt(TRUE_S2E), g.size)
    p_miss = 1 / (1 + np.exp(-(-0.95 + 1.0 * x)))  # MAR on x, ~30% overall
    miss = rng.random(g.size) < p_miss
    y = np.where(miss, np.nan, y_full)
    return {"g": g, "x": x, "y": y, "y_full": y_full, "miss": miss}


# ---- behaviour on well-formed input -------------------------------------------------------


def test_no_missingness_returns_data_unchanged() -> None:
    df = _small_trial().dropna()
    result = impute_multilevel(df, seed=1, **SMALL_ARGS)
    assert isinstance(result, ImputationResult)
    assert result.engine == ENGINE_NAME
    pd.testing.assert_frame_equal(result.completed, df)
    assert list(result.trace.columns) == ["iteration", "variable", "mean", "sd"]
    assert result.trace.empty


def test_fills_everything_and_preserves_the_rest() -> None:
    df = _small_trial()
    result = impute_multilevel(df, seed=7, **SMALL_ARGS)
    out = result.completed
    assert out.index.equals(df.index)
    assert list(out.columns) == list(df.columns)
    assert out[SMALL_ARGS["impute"]].notna().all().all()
    for col in ["site", "arm", "note"]:
        pd.testing.assert_series_equal(out[col], df[col])
    for col in SMALL_ARGS["impute"]:
        observed = df[col].notna()
        # observed values are bit-for-bit the same
        np.testing.assert_array_equal(out.loc[observed, col].to_numpy(), df.loc[observed, col])


def test_trace_has_one_row_per_iteration_and_incomplete_variable() -> None:
    df = _small_trial()
    df["x3"] = np.arange(len(df), dtype=float)  # fully observed: imputed list, not traced
    args = {**SMALL_ARGS, "impute": [*SMALL_ARGS["impute"], "x3"]}
    result = impute_multilevel(df, seed=3, iterations=7, **args)
    trace = result.trace
    assert len(trace) == 7 * 4
    assert sorted(trace["iteration"].unique()) == list(range(1, 8))
    assert set(trace["variable"]) == {"x1", "x2", "y", "w"}
    assert np.isfinite(trace[["mean", "sd"]].to_numpy()).all()
    assert (trace["sd"] > 0).all()
    pd.testing.assert_series_equal(result.completed["x3"], df["x3"])
    # the last trace row of y describes the values in the completed data
    last_y = trace[(trace["iteration"] == 7) & (trace["variable"] == "y")].iloc[0]
    imputed_y = result.completed.loc[df["y"].isna(), "y"]
    assert last_y["mean"] == pytest.approx(imputed_y.mean())
    assert last_y["sd"] == pytest.approx(imputed_y.std(ddof=1))


def test_deterministic_given_seed() -> None:
    df = _small_trial()
    a = impute_multilevel(df, seed=11, **SMALL_ARGS)
    b = impute_multilevel(df, seed=11, **SMALL_ARGS)
    pd.testing.assert_frame_equal(a.completed, b.completed)
    pd.testing.assert_frame_equal(a.trace, b.trace)


def test_different_seeds_give_different_imputations() -> None:
    df = _small_trial()
    a = impute_multilevel(df, seed=11, **SMALL_ARGS).completed
    b = impute_multilevel(df, seed=12, **SMALL_ARGS).completed
    for col in ["x1", "x2", "y", "w"]:
        missing = df[col].isna()
        assert not np.allclose(a.loc[missing, col], b.loc[missing, col])


def test_input_is_not_modified() -> None:
    df = _small_trial()
    before = df.copy()
    impute_multilevel(df, seed=1, **SMALL_ARGS)
    pd.testing.assert_frame_equal(df, before)


def test_fast_enough() -> None:
    # 400 rows, 27 clusters, 4 incomplete variables, 20 iterations: well under a second.
    df = _small_trial()
    impute_multilevel(df, seed=0, iterations=2, **SMALL_ARGS)  # warm-up
    start = time.perf_counter()
    impute_multilevel(df, seed=0, iterations=20, **SMALL_ARGS)
    assert time.perf_counter() - start < 0.5


def test_nullable_integer_column_is_imputed_as_float() -> None:
    df = _small_trial()
    df["score"] = pd.array(np.round(df["x2"].fillna(0) * 10), dtype="Int64")
    df.loc[df.index[:20], "score"] = pd.NA
    result = impute_multilevel(
        df, cluster="site", impute=["y", "score"], predictors=["arm"], seed=1
    )
    assert result.completed["score"].dtype == np.float64
    assert result.completed["score"].notna().all()


# ---- the sampler recovers the truth -------------------------------------------------------


def test_sampler_recovers_parameters(large: dict[str, np.ndarray]) -> None:
    X = np.column_stack([np.ones_like(large["x"]), large["x"]])
    draws = sample_random_intercept(
        large["y"], X, large["g"], 200, n_draws=600, rng=np.random.default_rng(5)
    )
    burn = 100
    post = {
        "beta0": draws.beta[burn:, 0],
        "beta1": draws.beta[burn:, 1],
        "sigma2_u": draws.sigma2_u[burn:],
        "sigma2_e": draws.sigma2_e[burn:],
    }
    truth = {"beta0": 1.0, "beta1": 0.5, "sigma2_u": TRUE_S2U, "sigma2_e": TRUE_S2E}
    # With 200 clusters and ~4200 observed values the posterior is tight: its SD is about
    # 0.03 (intercept), 0.015 (slope), 0.02 (sigma2_u) and 0.018 (sigma2_e). If the sampler
    # targets the right posterior, the posterior mean lies within a few posterior SDs of the
    # truth: we allow 4 SDs, and bound the SDs so that a diffuse (wrong) posterior cannot
    # pass. (This realisation's cluster variance happens to be low: REML gives 0.160.)
    max_sd = {"beta0": 0.06, "beta1": 0.03, "sigma2_u": 0.05, "sigma2_e": 0.03}
    for name, sample in post.items():
        mean, sd = float(sample.mean()), float(sample.std(ddof=1))
        assert sd < max_sd[name], name
        assert abs(mean - truth[name]) < 4 * sd, (name, mean, sd)
    # Sharper: with weak priors and this much data, the posterior means agree with the REML
    # estimates from the observed rows to a small fraction of a posterior SD (the Monte Carlo
    # SE of a 500-draw mean is ~0.05-0.1 SD; we allow 0.3 SD).
    ok = ~large["miss"]
    reml = sm.MixedLM(large["y"][ok], X[ok], groups=large["g"][ok]).fit(reml=True, method="powell")
    assert reml.converged
    estimate = {
        "beta0": reml.fe_params[0],
        "beta1": reml.fe_params[1],
        "sigma2_u": float(np.asarray(reml.cov_re).ravel()[0]),
        "sigma2_e": reml.scale,
    }
    for name, sample in post.items():
        mean, sd = float(sample.mean()), float(sample.std(ddof=1))
        assert abs(mean - estimate[name]) < 0.3 * sd, (name, mean, estimate[name], sd)
    assert draws.y_missing.shape == (int(large["miss"].sum()),)
    assert draws.u.shape == (200,)


def test_sampler_converges_from_poor_start(large: dict[str, np.ndarray]) -> None:
    # Starting far from the posterior, the chain reaches it within a few sweeps.
    X = np.column_stack([np.ones_like(large["x"]), large["x"]])
    draws = sample_random_intercept(
        large["y"],
        X,
        large["g"],
        200,
        n_draws=30,
        rng=np.random.default_rng(6),
        sigma2_u=50.0,
        sigma2_e=0.01,
    )
    assert abs(draws.sigma2_u[10:].mean() - TRUE_S2U) < 0.1
    assert abs(draws.sigma2_e[10:].mean() - TRUE_S2E) < 0.1


def test_imputations_keep_the_cluster_structure(large: dict[str, np.ndarray]) -> None:
    df = pd.DataFrame({"cl": large["g"], "x": large["x"], "y": large["y"]})
    completed = impute_multilevel(df, cluster="cl", impute=["y"], predictors=["x"], seed=9)
    icc_full = _icc_anova(large["y_full"], large["g"])
    icc_ml = _icc_anova(completed.completed["y"].to_numpy(), large["g"])

    # Single-level normal imputation (Bayesian regression on x, no cluster effect) for
    # comparison: its imputed values carry no cluster effect, so the ICC shrinks.
    rng = np.random.default_rng(9)
    obs = ~large["miss"]
    X = np.column_stack([np.ones_like(large["x"]), large["x"]])
    coef, *_ = np.linalg.lstsq(X[obs], large["y"][obs], rcond=None)
    sd = np.std(large["y"][obs] - X[obs] @ coef, ddof=2)
    y_single = large["y"].copy()
    y_single[~obs] = X[~obs] @ coef + sd * rng.standard_normal(int((~obs).sum()))
    icc_single = _icc_anova(y_single, large["g"])

    # True ICC of y is 0.2 / (0.2 + 0.8 + 0.25) = 0.16; the full data estimate it with SE
    # ~0.015. The multilevel imputations keep it within 0.025 of the full-data value, while
    # single-level imputation loses about a third of it (here ~0.05), which this tolerance
    # detects.
    assert abs(icc_ml - icc_full) < 0.025, (icc_ml, icc_full)
    assert icc_single < icc_full - 0.035, (icc_single, icc_full)


# ---- cluster-level variables --------------------------------------------------------------


def test_cluster_level_variable_imputed_once_per_cluster() -> None:
    df = _small_trial()
    result = impute_multilevel(df, seed=4, **SMALL_ARGS)
    w = result.completed.groupby("site")["w"]
    assert (w.nunique() == 1).all()
    was_missing = df.groupby("site")["w"].apply(lambda s: s.isna().all())
    assert was_missing.sum() > 0
    # observed clusters keep their value
    observed = df.groupby("site")["w"].first().dropna()
    pd.testing.assert_series_equal(w.first()[observed.index], observed)
    # trace SD is over imputed clusters, not rows
    last = result.trace[(result.trace["variable"] == "w")].iloc[-1]
    imputed_clusters = w.first()[was_missing[was_missing].index]
    assert last["mean"] == pytest.approx(imputed_clusters.mean())


def test_cluster_level_partly_missing_cluster_takes_its_observed_value() -> None:
    df = _small_trial()
    site = df.loc[df["w"].notna(), "site"].iloc[0]
    rows = df.index[df["site"] == site][:3]
    value = df.loc[rows[0], "w"]
    df.loc[rows[1:], "w"] = np.nan
    out = impute_multilevel(df, seed=4, **SMALL_ARGS).completed
    assert (out.loc[df["site"] == site, "w"] == value).all()


def test_cluster_level_variable_must_be_constant() -> None:
    df = _small_trial()
    df.loc[df["w"].notna().idxmax(), "w"] += 1.0
    with pytest.raises(ValueError, match="'w' is not constant within cluster"):
        impute_multilevel(df, seed=1, **SMALL_ARGS)


def test_cluster_level_predictor_checked_too() -> None:
    df = _small_trial()
    with pytest.raises(ValueError, match="'x2' is not constant"):
        impute_multilevel(
            df.assign(x2=df["x2"].fillna(0.0)),
            cluster="site",
            impute=["y"],
            predictors=["x2"],
            cluster_level=["x2"],
            seed=1,
        )


def test_cluster_without_observed_outcome_is_imputed() -> None:
    df = _small_trial()
    df.loc[df["site"] == "c03", "y"] = np.nan
    out = impute_multilevel(df, seed=2, **SMALL_ARGS).completed
    assert out["y"].notna().all()


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "kwargs", "error", "pattern"),
    [
        (None, {"impute": ["x1", "nope"]}, KeyError, "'nope'"),
        (None, {"predictors": ["ghost"]}, KeyError, "'ghost'"),
        (None, {"cluster": "team"}, KeyError, "'team'"),
        (lambda d: d.assign(x2="a"), {}, TypeError, "'x2' is not numeric"),
        (None, {"predictors": ["note"]}, TypeError, "'note' is not numeric"),
        (lambda d: d.assign(x2=np.nan), {}, ValueError, "'x2' is entirely missing"),
        (
            lambda d: d.assign(site=d["site"].where(d["x1"].notna() | d["y"].notna())),
            {},
            ValueError,
            "cluster column 'site' has .* missing",
        ),
        (None, {"predictors": ["arm", "y"]}, ValueError, "both impute and predictors"),
        (
            lambda d: d.assign(arm=d["arm"].where(d["x1"].notna())),
            {},
            ValueError,
            "predictor 'arm' has missing values",
        ),
        (None, {"cluster_level": ["note"]}, ValueError, "neither impute nor predictors"),
        (None, {"impute": []}, ValueError, "at least one column"),
        (None, {"iterations": 0}, ValueError, "iterations"),
    ],
)
def test_bad_input_errors_name_the_column(
    change: Callable[[pd.DataFrame], pd.DataFrame] | None,
    kwargs: dict[str, object],
    error: type[Exception],
    pattern: str,
) -> None:
    df = _small_trial()
    if change is not None:
        df = change(df)
    args = {**SMALL_ARGS, **kwargs}
    if "impute" in kwargs:
        args["cluster_level"] = [c for c in args["cluster_level"] if c in kwargs["impute"]]
    with pytest.raises(error, match=pattern):
        impute_multilevel(df, seed=1, **args)


def test_collinear_design_is_reported() -> None:
    df = _small_trial()
    df["arm2"] = 2 * df["arm"]
    with pytest.raises(ValueError, match="'y'.*singular"):
        impute_multilevel(df, cluster="site", impute=["y"], predictors=["arm", "arm2"], seed=1)


def test_collinear_combination_of_three_predictors_is_reported() -> None:
    df = _small_trial()
    df["z1"] = np.random.default_rng(2).normal(size=len(df))
    df["z2"] = 0.3 * df["z1"] - 1.7 * df["arm"] + 0.25  # intercept, arm and z1 span it
    with pytest.raises(ValueError, match="'y'.*singular"):
        impute_multilevel(df, cluster="site", impute=["y"], predictors=["arm", "z1", "z2"], seed=1)


def test_singular_cluster_level_design_is_reported() -> None:
    df = _small_trial()
    df["arm3"] = 3 * df["arm"]
    with pytest.raises(ValueError, match="'w'.*singular"):
        impute_multilevel(
            df, cluster="site", impute=["w"], predictors=["arm", "arm3"], cluster_level=["w"],
            seed=1,
        )  # fmt: skip


def test_collinear_design_in_the_sampler_is_reported() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 2))
    X = np.column_stack([np.ones(300), x, x @ [2.0, -0.5], np.zeros(300)])
    y = rng.normal(size=300)
    codes = np.repeat(np.arange(30), 10)
    for cols in ([0, 1, 2, 3], [0, 1, 4]):  # a linear combination; a column of zeros
        with pytest.raises(ValueError, match="singular"):
            sample_random_intercept(y, X[:, cols], codes, 30, n_draws=1, rng=rng)
    sample_random_intercept(y, X[:, :3], codes, 30, n_draws=1, rng=rng)  # full rank passes


@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e4])
def test_singularity_check_agrees_with_the_rank_of_the_design(scale: float) -> None:
    from trial.stats.impute.multilevel import _is_singular

    rng = np.random.default_rng(int(np.log10(scale)) + 10)
    for trial in range(40):
        n, p = int(rng.integers(30, 400)), int(rng.integers(2, 12))
        X = rng.normal(size=(n, p)) * scale * rng.uniform(0.1, 10, p)
        X[:, 0] = 1.0
        if trial % 2:  # make one column a combination of others
            j = int(rng.integers(1, p))
            others = [c for c in range(p) if c != j]
            X[:, j] = X[:, others] @ rng.normal(size=p - 1)
        assert _is_singular(X.T @ X) == (np.linalg.matrix_rank(X) < p)


def test_engine_name_says_which_draws_ran() -> None:
    from trial.stats.impute.multilevel import engine_name

    assert engine_name(["y", "x"]) == ENGINE_NAME
    assert engine_name([]) == ENGINE_NAME
    both = engine_name(["y", "c"], binary=["y"], mean_match=["c"])
    assert both == (
        "multilevel (random intercept, FCS): latent-normal probit for 0/1 variables, "
        "predictive mean matching"
    )
    # a binary column that was complete is not named
    assert "normal" not in engine_name(["c"], binary=["y"], mean_match=["c"]).split(": ")[1]
