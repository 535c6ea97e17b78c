"""Unit tests of the random-intercept mixed-model engine (trial.stats.mixed)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from trial.stats.mixed import (
    MixedModelFitError,
    MixedModelInputError,
    algebra,
    checks,
    ddf,
    fit_random_intercept_model,
    nested,
    single,
)

METHODS = ["kenward-roger", "satterthwaite", "between-within"]


def _simulate(
    seed: int = 1,
    n_clusters: int = 24,
    sd_cluster: float = 1.0,
    sizes: tuple[int, int] = (5, 15),
) -> tuple[pd.Series, pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    m = rng.integers(sizes[0], sizes[1], size=n_clusters)
    cl = np.repeat(np.arange(n_clusters), m)
    arm = np.repeat(np.arange(n_clusters) % 2, m).astype(float)
    x = rng.normal(size=cl.size)
    u = rng.normal(0, sd_cluster, size=n_clusters)[cl]
    y = 1.0 + 0.5 * arm + 0.8 * x + u + rng.normal(0, 2.0, size=cl.size)
    X = pd.DataFrame({"Intercept": 1.0, "arm": arm, "x": x})
    return pd.Series(y), X, pd.Series([f"k{j}" for j in cl])


def test_agrees_with_statsmodels_reml() -> None:
    """Independent cross-check against statsmodels MixedLM (REML)."""
    import statsmodels.api as sm

    y, X, cl = _simulate(seed=7)
    fit = fit_random_intercept_model(y, X, cl, df_method="satterthwaite")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.MixedLM(y.to_numpy(), X, groups=cl.to_numpy()).fit(reml=True)
    assert ref.converged
    np.testing.assert_allclose(fit.params.to_numpy(), ref.fe_params.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(
        np.sqrt(np.diag(fit.cov_unadjusted)), ref.bse_fe.to_numpy(), rtol=1e-3
    )
    np.testing.assert_allclose(fit.variance_components["residual"], ref.scale, rtol=1e-4)
    np.testing.assert_allclose(
        fit.variance_components["cluster"], float(ref.cov_re.iloc[0, 0]), rtol=1e-3
    )
    np.testing.assert_allclose(fit.loglik, ref.llf, rtol=1e-6)


def test_ols_limit_at_boundary() -> None:
    """With a zero cluster variance the REML fit is OLS, flagged as a boundary fit."""
    rng = np.random.default_rng(3)
    n_clusters, m = 20, 10
    cl = np.repeat(np.arange(n_clusters), m)
    x = rng.normal(size=cl.size)
    e = rng.normal(size=cl.size)
    e = e - 0.9 * pd.Series(e).groupby(cl).transform("mean").to_numpy()
    y = 2.0 + x + e
    X = pd.DataFrame({"Intercept": 1.0, "x": x})
    fit = fit_random_intercept_model(y, X, cl, df_method="satterthwaite")
    assert fit.at_boundary
    assert fit.variance_components["cluster"] == 0.0
    assert fit.icc == 0.0
    Xv = X.to_numpy()
    beta, rss, *_ = np.linalg.lstsq(Xv, y, rcond=None)
    n, p = Xv.shape
    s2 = float(rss[0]) / (n - p)
    np.testing.assert_allclose(fit.params.to_numpy(), beta, rtol=1e-10)
    np.testing.assert_allclose(fit.variance_components["residual"], s2, rtol=1e-10)
    np.testing.assert_allclose(
        fit.cov_unadjusted.to_numpy(), s2 * np.linalg.inv(Xv.T @ Xv), rtol=1e-10
    )
    # Satterthwaite at the boundary reduces to the residual df of OLS (as lmerTest)
    np.testing.assert_allclose(fit.df.to_numpy(), n - p, rtol=1e-8)
    kr = fit_random_intercept_model(y, X, cl)
    assert kr.at_boundary and np.all(np.isfinite(kr.df)) and np.all(kr.df > 0)


@pytest.mark.parametrize("method", METHODS)
def test_contrast_f_test_consistency(method: str) -> None:
    y, X, cl = _simulate(seed=11)
    fit = fit_random_intercept_model(y, X, cl, df_method=method)
    tab = fit.summary_table().set_index("term")
    for k, name in enumerate(fit.params.index):
        w = np.zeros(len(fit.params))
        w[k] = 1.0
        c = fit.contrast(w)
        assert c.estimate == pytest.approx(tab.loc[name, "estimate"])
        assert c.se == pytest.approx(tab.loc[name, "se"])
        assert c.df == pytest.approx(tab.loc[name, "df"], rel=1e-10)
        assert c.p == pytest.approx(tab.loc[name, "p"], rel=1e-8)
        assert c.ci_low == pytest.approx(tab.loc[name, "ci_low"])
        assert c.ci_high == pytest.approx(tab.loc[name, "ci_high"])
        assert c.ci_high - c.estimate == pytest.approx(c.estimate - c.ci_low)
        f = fit.f_test(w[None, :])
        assert f.num_df == 1
        assert f.F == pytest.approx(c.t**2, rel=1e-10)
        assert f.den_df == pytest.approx(c.df, rel=1e-8)
        assert f.p == pytest.approx(c.p, rel=1e-6, abs=1e-15)
    by_name = fit.contrast(pd.Series({"arm": 1.0}))
    assert by_name.estimate == pytest.approx(fit.params["arm"])
    diff = fit.contrast(pd.Series({"arm": 2.0, "x": -1.0}))
    assert diff.estimate == pytest.approx(2 * fit.params["arm"] - fit.params["x"])
    assert list(tab.columns) == ["estimate", "se", "df", "t", "p", "ci_low", "ci_high", "df_method"]
    assert (tab["df_method"] == method).all()
    two = fit.f_test(pd.DataFrame([[0, 1, 0], [0, 0, 1]], columns=fit.params.index))
    assert two.num_df == 2 and two.den_df > 0 and 0 <= two.p <= 1



def test_contrast_weights_are_matched_by_term_name() -> None:
    """The labelled view aligns a Series or DataFrame by term, whatever its order, and refuses
    a name that is not a term with the engine's own error."""
    y, X, cl = _simulate(seed=6, n_clusters=14)
    fit = fit_random_intercept_model(y, X, cl)
    positional = fit.f_test(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    shuffled = fit.f_test(pd.DataFrame([[1.0, 0.0], [0.0, 1.0]], columns=["x", "arm"]))
    assert shuffled.F == pytest.approx(positional.F, rel=1e-12)
    assert shuffled.den_df == pytest.approx(positional.den_df, rel=1e-12)
    by_series = fit.f_test(pd.Series({"x": -1.0, "arm": 2.0}))
    direct = fit.contrast(np.array([0.0, 2.0, -1.0]))
    assert by_series.F == pytest.approx(direct.t**2, rel=1e-10)
    for bad in (pd.Series({"arms": 1.0}), pd.DataFrame([[1.0]], columns=["arms"])):
        with pytest.raises(MixedModelInputError, match="unknown coefficient names.*arms"):
            fit.f_test(bad) if isinstance(bad, pd.DataFrame) else fit.contrast(bad)


def test_kenward_roger_covariance_is_adjusted() -> None:
    y, X, cl = _simulate(seed=5, n_clusters=12)
    fit = fit_random_intercept_model(y, X, cl)
    assert fit.df_method == "kenward-roger"
    adj = np.diag(fit.cov.to_numpy())
    raw = np.diag(fit.cov_unadjusted.to_numpy())
    assert np.all(adj >= raw)
    assert not np.allclose(adj, raw)


def test_between_within_rule() -> None:
    y, X, cl = _simulate(seed=2, n_clusters=20)
    fit = fit_random_intercept_model(y, X, cl, df_method="between-within")
    n = len(y)
    # cluster-level: intercept and arm -> 20 - 2; within: x -> n - 20 - 1
    assert fit.df["Intercept"] == 18
    assert fit.df["arm"] == 18
    assert fit.df["x"] == n - 20 - 1
    assert fit.contrast(pd.Series({"arm": 1.0, "x": 1.0})).df == 18


def test_invariant_to_row_order_and_label_type() -> None:
    y, X, cl = _simulate(seed=9)
    fit = fit_random_intercept_model(y, X, cl)
    perm = np.random.default_rng(0).permutation(len(y))
    codes = pd.factorize(cl)[0] * 7 + 3
    fit2 = fit_random_intercept_model(
        y.iloc[perm].reset_index(drop=True),
        X.iloc[perm].reset_index(drop=True),
        codes[perm],
    )
    np.testing.assert_allclose(fit.params, fit2.params, rtol=1e-9)
    np.testing.assert_allclose(fit.df, fit2.df, rtol=1e-7)
    np.testing.assert_allclose(fit.loglik, fit2.loglik, rtol=1e-12)


def test_nested_model_runs_and_reports_components() -> None:
    rng = np.random.default_rng(4)
    rows = []
    for t in range(10):
        ut = rng.normal(0, 0.7)
        for c in range(6):
            vc = rng.normal(0, 1.0)
            for _ in range(rng.integers(1, 5)):
                rows.append((t, c, t % 2, 5 + 0.4 * (t % 2) + ut + vc + rng.normal()))
    d = pd.DataFrame(rows, columns=["team", "consumer", "arm", "y"])
    X = pd.DataFrame({"Intercept": 1.0, "arm": d.arm.astype(float)})
    fit = fit_random_intercept_model(d.y, X, d.team, nested=d.consumer, df_method="satterthwaite")
    assert list(fit.variance_components.index) == ["cluster", "nested", "residual"]
    assert fit.n_groups_nested == 60
    assert fit.converged
    total = fit.variance_components.sum()
    assert fit.icc == pytest.approx(fit.variance_components["cluster"] / total)


def test_kenward_roger_requires_reml() -> None:
    y, X, cl = _simulate(seed=13)
    ml = fit_random_intercept_model(y, X, cl, reml=False, df_method="satterthwaite")
    assert not ml.reml
    with pytest.raises(MixedModelInputError, match="REML"):
        fit_random_intercept_model(y, X, cl, reml=False)


# -- bad input --------------------------------------------------------------------------------


def test_error_mismatched_lengths() -> None:
    y, X, cl = _simulate()
    with pytest.raises(MixedModelInputError, match="rows"):
        fit_random_intercept_model(y[:-1], X, cl[:-1])
    with pytest.raises(MixedModelInputError, match="length"):
        fit_random_intercept_model(y, X, cl[:-1])


def test_error_nan_in_y_and_x() -> None:
    y, X, cl = _simulate()
    y2 = y.copy()
    y2.iloc[3] = np.nan
    with pytest.raises(MixedModelInputError, match="y contains"):
        fit_random_intercept_model(y2, X, cl)
    X2 = X.copy()
    X2.loc[5, "x"] = np.nan
    with pytest.raises(MixedModelInputError, match=r"\['x'\]"):
        fit_random_intercept_model(y, X2, cl)
    cl2 = cl.copy()
    cl2.iloc[0] = None
    with pytest.raises(MixedModelInputError, match="missing labels"):
        fit_random_intercept_model(y, X, cl2)


def test_error_rank_deficient_x() -> None:
    y, X, cl = _simulate()
    X2 = X.assign(x2=2.0 * X["x"])
    with pytest.raises(MixedModelInputError, match="rank deficient"):
        fit_random_intercept_model(y, X2, cl)


def test_error_one_cluster() -> None:
    y, X, cl = _simulate()
    with pytest.raises(MixedModelInputError, match="two clusters"):
        fit_random_intercept_model(y, X.drop(columns="arm"), np.zeros(len(y)))


def test_error_bad_method_and_types() -> None:
    y, X, cl = _simulate()
    with pytest.raises(MixedModelInputError, match="df_method"):
        fit_random_intercept_model(y, X, cl, df_method="containment")
    with pytest.raises(MixedModelInputError, match="DataFrame"):
        fit_random_intercept_model(y, X.to_numpy(), cl)


def test_failed_fit_raises_named_error() -> None:
    """No within-cluster variation: the variance ratio is unbounded and the fit must fail."""
    cl = np.repeat(np.arange(6), 4)
    y = np.repeat(np.arange(6, dtype=float) ** 1.5, 4)
    X = pd.DataFrame({"Intercept": np.ones(cl.size)})
    with pytest.raises(MixedModelFitError):
        fit_random_intercept_model(y, X, cl)


# -- nested model: closed forms, cells, cross-checks ----------------------------------------------


def _simulate_nested(
    seed: int, n_clusters: int = 12, sd_cluster: float = 0.7, sd_nested: float = 1.0
) -> tuple[pd.Series, pd.DataFrame, pd.Series, pd.Series]:
    """Subgroups of unequal sizes 1..6 (so clusters hold several cells), labels reused."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_clusters):
        ut = rng.normal(0, sd_cluster)
        for c in range(int(rng.integers(2, 8))):
            vc = rng.normal(0, sd_nested)
            for _ in range(int(rng.integers(1, 7))):
                x = rng.normal()
                rows.append((t, c, t % 2, x, 5 + 0.4 * (t % 2) + 0.6 * x + ut + vc + rng.normal()))
    d = pd.DataFrame(rows, columns=["team", "consumer", "arm", "x", "y"])
    X = pd.DataFrame({"Intercept": 1.0, "arm": d.arm.astype(float), "x": d.x})
    return d.y, X, d.team, d.consumer


def _nested_stats(seed: int) -> object:

    y, X, cl, ne = _simulate_nested(seed)
    cc, J = checks._codes(cl, len(y), "clusters")
    gc, _ = checks._codes(ne, len(y), "nested")
    return algebra._build_stats(y.to_numpy(), X.to_numpy(dtype=float), cc, J, gc)


@pytest.mark.parametrize("reml", [True, False])
def test_nested_closed_form_matches_general_algebra(reml: bool) -> None:
    """Two independent derivations of the nested criterion and its gradient agree.

    The closed form (two Woodbury steps with per-cell sums) against the generic low-rank matrix
    algebra on ``a I + E (diag(d) + F H') E'`` that also gives the Kenward-Roger blocks.
    """

    st = _nested_stats(21)
    assert st.K > 1  # several cells (subgroup sizes) per cluster
    alg = algebra._Algebra(st)
    for gam in ([0.3, 0.8], [0.0, 0.5], [1.5, 0.0], [4.0, 9.0]):
        g = np.array(gam)
        f1, g1 = nested._profile_nested(st, g, reml, grad=True)
        f2, g2 = nested._profile_general(st, alg, g, reml, grad=True)
        assert f1 == pytest.approx(f2, rel=1e-12)
        np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9)


def test_nested_gradient_matches_finite_differences() -> None:

    st = _nested_stats(22)
    g0 = np.array([0.4, 0.9])
    _, grad = nested._profile_nested(st, g0, True, grad=True)
    for r in range(2):
        h = 1e-6
        gp, gm = g0.copy(), g0.copy()
        gp[r] += h
        gm[r] -= h
        fd = (
            nested._profile_nested(st, gp, True, grad=False)[0]
            - nested._profile_nested(st, gm, True, grad=False)[0]
        ) / (2 * h)
        assert grad[r] == pytest.approx(fd, rel=1e-5)


@pytest.mark.parametrize("reml", [True, False])
def test_single_derivatives_match_finite_differences(reml: bool) -> None:
    """First and second derivatives of the single-intercept criterion used by Newton's method."""

    y, X, cl = _simulate(seed=17)
    cc, J = checks._codes(cl, len(y), "clusters")
    st = single._single_stats(y.to_numpy(), X.to_numpy(dtype=float), cc, J)
    for g in (0.3, 4.0):
        h = 1e-5 * g
        mid, up, dn = (single._single_eval(st, v, reml) for v in (g, g + h, g - h))
        assert mid.d == pytest.approx((up.f - dn.f) / (2 * h), rel=1e-6)
        assert mid.d2 == pytest.approx((up.d - dn.d) / (2 * h), rel=1e-6)
        grid = single._single_criterion(st, np.array([g, g + h]), reml)
        assert mid.f == pytest.approx(grid[0], rel=1e-12)
        assert up.f == pytest.approx(grid[1], rel=1e-12)
    # at zero (the boundary decision): second-order forward differences
    h = 1e-5
    e0, e1, e2 = (single._single_eval(st, v, reml) for v in (0.0, h, 2 * h))
    assert e0.d == pytest.approx((4 * e1.f - 3 * e0.f - e2.f) / (2 * h), rel=1e-6)
    assert e0.d2 == pytest.approx((4 * e1.d - 3 * e0.d - e2.d) / (2 * h), rel=1e-6)


@pytest.mark.parametrize("reml", [True, False])
def test_single_criterion_matches_general_algebra(reml: bool) -> None:
    """The single-intercept criterion from ``[X y]`` against the generic low-rank algebra."""

    y, X, cl = _simulate(seed=19)
    cc, J = checks._codes(cl, len(y), "clusters")
    Xv = X.to_numpy(dtype=float)
    st = single._single_stats(y.to_numpy(), Xv, cc, J)
    gen = algebra._build_stats(y.to_numpy(), Xv, cc, J, None)
    alg = algebra._Algebra(gen)
    for g in (0.0, 0.2, 3.0):
        V = nested._vstar(g, 0.0, gen)
        Vi = alg.inv(V)
        A = alg.xax(Vi)
        b = alg.xay(Vi, gen.resp)
        pwrss = alg.yay(Vi, gen.resp) - float(b @ np.linalg.solve(A, b))
        k = len(y) - X.shape[1] if reml else len(y)
        f = alg.logdet(V) + k * np.log(pwrss)
        if reml:
            f += np.linalg.slogdet(A)[1]
        assert single._single_eval(st, g, reml).f == pytest.approx(f, rel=1e-12)


def test_single_blocks_match_general_algebra() -> None:
    """Kenward-Roger / Satterthwaite blocks of the single model: closed form against algebra."""

    y, X, cl = _simulate(seed=23)
    cc, J = checks._codes(cl, len(y), "clusters")
    Xv = X.to_numpy(dtype=float)
    st = single._single_stats(y.to_numpy(), Xv, cc, J)
    gen = algebra._build_stats(y.to_numpy(), Xv, cc, J, None)
    psi = np.array([0.7, 2.5])
    beta = np.array([0.9, 0.4, 0.7])
    fast = single._single_blocks(st, psi, beta, resid=True)
    ref = nested._blocks_general(gen, algebra._Algebra(gen), psi, beta, resid=True)
    for name in ("P", "Q", "Kt", "trViG", "rMr", "u", "rQr"):
        np.testing.assert_allclose(
            getattr(fast, name), getattr(ref, name), rtol=1e-10, atol=1e-12, err_msg=name
        )


def test_nested_agrees_with_statsmodels_variance_components() -> None:
    """Independent cross-check of the nested fit against statsmodels MixedLM (REML)."""
    import statsmodels.formula.api as smf

    y, X, cl, ne = _simulate_nested(seed=8, n_clusters=10)
    fit = fit_random_intercept_model(y, X, cl, nested=ne, df_method="satterthwaite")
    d = pd.DataFrame({"y": y, "arm": X.arm, "x": X.x, "team": cl, "consumer": ne})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = smf.mixedlm(
            "y ~ arm + x", d, groups="team", re_formula="1", vc_formula={"c": "0 + C(consumer)"}
        ).fit(reml=True)
    np.testing.assert_allclose(fit.params.to_numpy(), ref.fe_params.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(fit.variance_components["residual"], ref.scale, rtol=1e-3)
    np.testing.assert_allclose(
        fit.variance_components["cluster"], float(ref.cov_re.iloc[0, 0]), rtol=1e-3
    )
    np.testing.assert_allclose(fit.variance_components["nested"], float(ref.vcomp[0]), rtol=1e-3)
    np.testing.assert_allclose(fit.loglik, ref.llf, rtol=1e-7)


def test_nested_invariant_to_row_order_and_reused_labels() -> None:
    y, X, cl, ne = _simulate_nested(seed=5)
    fit = fit_random_intercept_model(y, X, cl, nested=ne)
    perm = np.random.default_rng(1).permutation(len(y))
    unique_labels = cl.astype(str) + "/" + ne.astype(str)
    fit2 = fit_random_intercept_model(
        y.iloc[perm].reset_index(drop=True),
        X.iloc[perm].reset_index(drop=True),
        cl.iloc[perm].to_numpy(),
        nested=unique_labels.iloc[perm].to_numpy(),
    )
    np.testing.assert_allclose(fit.params, fit2.params, rtol=1e-9)
    np.testing.assert_allclose(fit.df, fit2.df, rtol=1e-7)
    np.testing.assert_allclose(fit.variance_components, fit2.variance_components, rtol=1e-8)
    assert fit.n_groups_nested == fit2.n_groups_nested


@pytest.mark.parametrize("zero", ["cluster", "nested"])
def test_nested_boundary_component_is_reported(zero: str) -> None:
    """A component simulated as zero and estimated at the boundary is exactly 0 and flagged."""
    sd = {"cluster": 0.0, "nested": 1.0} if zero == "cluster" else {"cluster": 1.0, "nested": 0.0}
    for seed in range(40):
        y, X, cl, ne = _simulate_nested(seed, sd_cluster=sd["cluster"], sd_nested=sd["nested"])
        fit = fit_random_intercept_model(y, X, cl, nested=ne, df_method="satterthwaite")
        if fit.variance_components[zero] == 0.0:
            break
    else:
        pytest.fail(f"no simulated dataset put the {zero} variance on the boundary")
    assert fit.at_boundary
    assert fit.converged
    other = "nested" if zero == "cluster" else "cluster"
    assert fit.variance_components[other] > 0
    assert np.all(np.isfinite(fit.df)) and np.all(fit.df > 0)


def test_rank_check_scale_invariant() -> None:
    """Rescaling a column does not trip the rank check; an exact duplicate does."""
    y, X, cl = _simulate(seed=3)
    big = X.assign(x=X["x"] * 1e6)
    fit = fit_random_intercept_model(y, big, cl, df_method="satterthwaite")
    ref = fit_random_intercept_model(y, X, cl, df_method="satterthwaite")
    assert fit.params["x"] * 1e6 == pytest.approx(ref.params["x"], rel=1e-8)
    with pytest.raises(MixedModelInputError, match="rank deficient"):
        fit_random_intercept_model(y, X.assign(x2=X["x"] + X["arm"]), cl)


def test_error_nested_not_identifiable() -> None:
    y, X, cl, ne = _simulate_nested(seed=2)
    with pytest.raises(MixedModelInputError, match="single observation"):
        fit_random_intercept_model(y, X, cl, nested=np.arange(len(y)))
    with pytest.raises(MixedModelInputError, match="single nested group"):
        fit_random_intercept_model(y, X, cl, nested=np.zeros(len(y)))


# -- the lean array entry point -----------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_array_entry_point_matches_dataframe_entry_point(method: str) -> None:
    from trial.stats.mixed import fit_random_intercept_arrays

    y, X, cl = _simulate(seed=29)
    ref = fit_random_intercept_model(y, X, cl, df_method=method)
    codes = pd.factorize(cl)[0]
    fit = fit_random_intercept_arrays(y.to_numpy(), X.to_numpy(), codes, df_method=method)
    np.testing.assert_allclose(fit.beta, ref.params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fit.cov, ref.cov.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fit.df, ref.df.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fit.variance_components, ref.variance_components, rtol=1e-12)
    assert fit.loglik == pytest.approx(ref.loglik, rel=1e-14)
    assert ref.arrays.df_method == method
    c = fit.contrast([0.0, 1.0, -1.0])
    assert c.estimate == pytest.approx(ref.contrast(pd.Series({"arm": 1.0, "x": -1.0})).estimate)
    assert c.df == pytest.approx(ref.contrast(pd.Series({"arm": 1.0, "x": -1.0})).df)
    tab = ref.summary_table()
    for key, values in fit.summary().items():
        np.testing.assert_allclose(values, tab[key].to_numpy(), rtol=1e-12, err_msg=key)


def test_array_entry_point_codes_need_not_be_dense() -> None:
    """Sparse, unordered integer identifiers (and unused codes) give the same fit."""
    from trial.stats.mixed import fit_random_intercept_arrays

    y, X, cl = _simulate(seed=31)
    dense = pd.factorize(cl)[0]
    a = fit_random_intercept_arrays(y.to_numpy(), X.to_numpy(), dense)
    # every other code unused; identifiers too large to count; reversed order
    for codes in (dense * 2 + 3, 10**12 - dense, dense.max() - dense):
        b = fit_random_intercept_arrays(y.to_numpy(), X.to_numpy(), codes.astype(np.int64))
        np.testing.assert_allclose(b.beta, a.beta, rtol=1e-9)
        np.testing.assert_allclose(b.df, a.df, rtol=1e-7)
        assert b.n_clusters == a.n_clusters


def test_array_entry_point_input_errors() -> None:
    from trial.stats.mixed import fit_random_intercept_arrays

    y, X, cl = _simulate(seed=33)
    yv, Xv, codes = y.to_numpy(), X.to_numpy(), pd.factorize(cl)[0]
    with pytest.raises(MixedModelInputError, match="integer codes"):
        fit_random_intercept_arrays(yv, Xv, cl.to_numpy())
    with pytest.raises(MixedModelInputError, match="negative"):
        fit_random_intercept_arrays(yv, Xv, codes - 1)
    with pytest.raises(MixedModelInputError, match="shape"):
        fit_random_intercept_arrays(yv, Xv, codes[:-1])
    with pytest.raises(MixedModelInputError, match="shape"):
        fit_random_intercept_arrays(yv, Xv[:-1], codes)
    y2 = yv.copy()
    y2[4] = np.nan
    with pytest.raises(MixedModelInputError, match="y contains"):
        fit_random_intercept_arrays(y2, Xv, codes)
    X2 = Xv.copy()
    X2[2, 2] = np.inf
    with pytest.raises(MixedModelInputError, match=r"columns \[2\]"):
        fit_random_intercept_arrays(yv, X2, codes)
    with pytest.raises(MixedModelInputError, match="rank deficient"):
        fit_random_intercept_arrays(yv, np.column_stack([Xv, 2.0 * Xv[:, 2]]), codes)
    with pytest.raises(MixedModelInputError, match="two clusters"):
        fit_random_intercept_arrays(yv, Xv[:, [0, 2]], np.zeros(len(yv), dtype=int))


# -- the per-cluster sums entry point (cluster bootstrap) -----------------------------------------


@pytest.mark.parametrize("method", ["kenward-roger", "satterthwaite"])
def test_sums_entry_point_fits_the_resampled_rows(method: str) -> None:
    """A replicate fitted from sums equals the fit of its rows, each copy a cluster of its own."""
    from trial.stats.mixed import (
        cluster_sums,
        fit_random_intercept_arrays,
        fit_random_intercept_sums,
    )

    y, X, cl = _simulate(seed=41, n_clusters=30)
    yv, Xv, codes = y.to_numpy(), X.to_numpy(), pd.factorize(cl, sort=True)[0]
    sums = cluster_sums(yv, Xv, codes)
    whole = fit_random_intercept_sums(sums, df_method=method)
    ref = fit_random_intercept_arrays(yv, Xv, codes, df_method=method)
    rng = np.random.default_rng(5)
    counts = rng.multinomial(30, np.full(30, 1 / 30))
    assert (counts == 0).any() and (counts > 1).any()
    picked = np.repeat(np.arange(30), counts)
    rows = np.concatenate([np.flatnonzero(codes == j) for j in picked])
    copies = np.repeat(np.arange(picked.size), np.bincount(codes)[picked])
    boot = fit_random_intercept_sums(sums, counts, df_method=method)
    boot_ref = fit_random_intercept_arrays(yv[rows], Xv[rows], copies, df_method=method)
    for fit, expected in ((whole, ref), (boot, boot_ref)):
        np.testing.assert_allclose(fit.beta, expected.beta, rtol=1e-10)
        np.testing.assert_allclose(fit.cov, expected.cov, rtol=1e-10)
        np.testing.assert_allclose(fit.df, expected.df, rtol=1e-8)
        np.testing.assert_allclose(
            fit.variance_components, expected.variance_components, rtol=1e-10
        )
        assert fit.loglik == pytest.approx(expected.loglik, rel=1e-12)
        assert (fit.n_obs, fit.n_clusters) == (expected.n_obs, expected.n_clusters)
    assert boot.n_clusters == 30 and boot.n_obs == int(np.bincount(codes)[picked].sum())


def test_sums_entry_point_without_inference_gives_the_same_estimates() -> None:
    """df_method=None (bootstrap replicates of the ICC) skips the small-sample step only: the
    estimates, variance components, ICC and unadjusted covariance are those of the
    Kenward-Roger fit to the last bit; df are NaN and contrasts are refused."""
    from trial.stats.mixed import cluster_sums, fit_random_intercept_sums

    y, X, cl = _simulate(seed=47, n_clusters=24)
    codes = pd.factorize(cl, sort=True)[0]
    sums = cluster_sums(y.to_numpy(), X.to_numpy(), codes)
    counts = np.random.default_rng(3).multinomial(24, np.full(24, 1 / 24))
    for c in (None, counts):
        kr = fit_random_intercept_sums(sums, c, df_method="kenward-roger")
        bare = fit_random_intercept_sums(sums, c, df_method=None)
        assert bare.icc == kr.icc
        np.testing.assert_array_equal(bare.beta, kr.beta)
        np.testing.assert_array_equal(bare.variance_components, kr.variance_components)
        np.testing.assert_array_equal(bare.cov, kr.cov_unadjusted)
        assert bare.loglik == kr.loglik and bare.df_method is None
        assert np.isnan(bare.df).all() and not np.isnan(kr.df).any()
        with pytest.raises(MixedModelInputError, match="without small-sample inference"):
            bare.contrast(np.eye(X.shape[1])[1])
        with pytest.raises(MixedModelInputError, match="without small-sample inference"):
            bare.f_test(np.eye(X.shape[1])[1:])


def test_sums_entry_point_input_errors() -> None:
    from trial.stats.mixed import cluster_sums, fit_random_intercept_sums

    y, X, cl = _simulate(seed=43)
    yv, Xv, codes = y.to_numpy(), X.to_numpy(), pd.factorize(cl)[0]
    sums = cluster_sums(yv, Xv, codes)
    J = sums.sizes.size
    with pytest.raises(MixedModelInputError, match="between-within"):
        fit_random_intercept_sums(sums, df_method="between-within")
    with pytest.raises(MixedModelInputError, match="non-negative integers"):
        fit_random_intercept_sums(sums, np.full(J, 1.0))
    with pytest.raises(MixedModelInputError, match="non-negative integers"):
        fit_random_intercept_sums(sums, np.ones(J - 1, dtype=int))
    one = np.zeros(J, dtype=int)
    one[3] = 1
    with pytest.raises(MixedModelInputError, match="two clusters"):
        fit_random_intercept_sums(sums, one)
    # only clusters of one arm drawn: the arm column is then all zeros or all ones
    arm = X.groupby(codes)["arm"].first().to_numpy()
    with pytest.raises(MixedModelInputError, match="rank deficient"):
        fit_random_intercept_sums(sums, (arm == 1).astype(int))
    with pytest.raises(MixedModelInputError, match="y contains"):
        cluster_sums(np.where(np.arange(len(yv)) == 4, np.nan, yv), Xv, codes)


def test_labelled_results_are_built_once_on_access() -> None:
    y, X, cl = _simulate(seed=37)
    fit = fit_random_intercept_model(y, X, cl)
    assert "params" not in vars(fit)
    assert fit.params is fit.params
    assert fit.cov is fit.cov
    assert list(fit.params.index) == list(X.columns)
    np.testing.assert_array_equal(fit.params.to_numpy(), fit.arrays.beta)
    assert list(fit.variance_components.index) == ["cluster", "residual"]


def test_single_kenward_roger_fused_matches_generic() -> None:
    """The fused Kenward-Roger path of the single model against the generic block computation."""

    y, X, cl = _simulate(seed=41, n_clusters=9)
    cc, J = checks._codes(cl, len(y), "clusters")
    st = single._single_stats(y.to_numpy(), X.to_numpy(dtype=float), cc, J)
    psi = np.array([0.8, 3.0])
    Phi = np.linalg.inv(st.G[:3, :3]) * 4.0
    inf, df = single._single_kr(st, psi, Phi)
    blocks = single._single_blocks(st, psi, np.zeros(3), resid=False)
    ref, cov, df_ref = ddf._inference(blocks, psi, Phi, True, "kenward-roger", None)
    np.testing.assert_allclose(inf.PhiA, cov, rtol=1e-12)
    np.testing.assert_allclose(df, df_ref, rtol=1e-12)
    np.testing.assert_allclose(inf.W, ref.W, rtol=1e-12)
    np.testing.assert_allclose(inf.P, ref.P, rtol=1e-12)


def test_cluster_sums_by_sorting_match_indicator_product(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large data sum clusters by sorting instead of an indicator matrix: same statistics."""

    y, X, cl = _simulate(seed=43)
    perm = np.random.default_rng(2).permutation(len(y))
    cc, J = checks._codes(cl.iloc[perm], len(y), "clusters")
    args = (y.to_numpy()[perm], X.to_numpy(dtype=float)[perm], cc, J)
    one_hot = single._single_stats(*args)
    monkeypatch.setattr(single, "_ONE_HOT_MAX", 0)
    sorted_ = single._single_stats(*args)
    np.testing.assert_allclose(sorted_.SSx, one_hot.SSx, rtol=1e-12)
    np.testing.assert_allclose(sorted_.G, one_hot.G, rtol=1e-12)


# -- the covariance of the variance components when the information is singular ----------------


def test_information_inverse_regular_and_singular() -> None:
    """``2 IE2^-1`` for a regular information, ``2 pinv(IE2)`` for a singular one."""

    regular2 = np.array([[4.0, 1.0], [1.0, 3.0]])
    np.testing.assert_allclose(ddf._inv_info(regular2), 2 * np.linalg.inv(regular2), rtol=1e-14)
    singular2 = np.array([[1.0, 2.0], [2.0, 4.0]])
    np.testing.assert_allclose(
        ddf._inv_info(singular2), 2 * np.linalg.pinv(singular2), rtol=1e-12
    )
    regular3 = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    np.testing.assert_allclose(ddf._inv_info(regular3), 2 * np.linalg.inv(regular3), rtol=1e-13)
    singular3 = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    np.testing.assert_allclose(
        ddf._inv_info(singular3), 2 * np.linalg.pinv(singular3), rtol=1e-12, atol=1e-14
    )
    # nearly singular (eigenvalue ratio 1e-13): the pseudo-inverse, not the cancelling closed
    # form; in large units too
    for scale in (1.0, 1e6):
        near = np.array([[1.0, 2.0], [2.0, 4.0 + 5e-13]]) * scale
        np.testing.assert_allclose(
            ddf._inv_info(near), 2 * np.linalg.pinv(near), rtol=1e-9, err_msg=str(scale)
        )
    # judged relative to the largest eigenvalue: an information in tiny units is still regular
    tiny = regular3 * 1e-24
    np.testing.assert_allclose(ddf._inv_info(tiny), 2 * np.linalg.inv(tiny), rtol=1e-12)
    np.testing.assert_allclose(
        ddf._inv_info(regular2 * 1e-24), 2 * np.linalg.inv(regular2 * 1e-24), rtol=1e-12
    )


def test_contrast_input_errors() -> None:
    from trial.stats.mixed import fit_random_intercept_arrays

    y, X, cl = _simulate(seed=47)
    fit = fit_random_intercept_arrays(y.to_numpy(), X.to_numpy(), pd.factorize(cl)[0])
    with pytest.raises(MixedModelInputError, match=r"^contrast weights are all zero$"):
        fit.contrast([0.0, 0.0, 0.0])
    with pytest.raises(MixedModelInputError, match=r"1-D vector of length 3, got shape \(1, 3\)"):
        fit.contrast([[0.0, 1.0, 0.0]])
    with pytest.raises(MixedModelInputError, match=r"1-D vector of length 3, got shape \(2,\)"):
        fit.contrast([0.0, 1.0])
    with pytest.raises(MixedModelInputError, match=r"^L must have 3 columns, got shape \(1, 2\)$"):
        fit.f_test([[0.0, 1.0]])
    with pytest.raises(MixedModelInputError, match=r"^contrast matrix has rank 0$"):
        fit.f_test(np.zeros((2, 3)))
    labelled = fit_random_intercept_model(y, X, cl)
    with pytest.raises(MixedModelInputError, match=r"unknown coefficient names in contrast"):
        labelled.contrast(pd.Series({"armm": 1.0}))
    with pytest.raises(MixedModelInputError, match=r"unknown coefficient names in contrast"):
        labelled.f_test(pd.DataFrame([[1.0]], columns=["armm"]))
    with pytest.raises(MixedModelInputError, match=r"1-D vector of length 3, got shape \(2,\)"):
        labelled.contrast([1.0, 0.0])


def test_kenward_roger_df_of_a_coefficient_free_of_the_variance_components() -> None:
    """A coefficient whose variance does not move with the variance components has infinite df.

    Blocks of the generic Kenward-Roger path built by hand: P_r (the derivatives of
    X'V^-1X) are zero in every row and column of coefficient 1, so its ``a`` is 0; the other
    coefficient's df must be pbkrtest's single-contrast df, computed by the general contrast
    route (``_kr_ddf``).
    """

    P = np.array([[[-2.0, 0.0], [0.0, 0.0]], [[-0.5, 0.0], [0.0, 0.0]]])
    Q = np.zeros((3, 2, 2))
    Q[:, 0, 0] = [0.8, 0.2, 0.1]
    blocks = ddf._Blocks(P, Q, np.array([[30.0, 4.0], [4.0, 60.0]]))
    Phi = np.diag([0.3, 0.2])
    inf, cov, df = ddf._inference(blocks, np.array([0.5, 2.0]), Phi, True, "kenward-roger", None)
    assert np.isinf(df[1]) and np.isfinite(df[0]) and df[0] > 0
    assert df[0] == pytest.approx(inf.contrast_df(np.array([[1.0, 0.0]])), rel=1e-10)
    assert cov[1, 1] == Phi[1, 1]
