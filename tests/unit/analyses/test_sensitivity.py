"""Sensitivity analyses: re-randomisation null distribution enumerated exactly, cluster-level
analysis against scipy/statsmodels, delta adjustment and tipping points by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trial.analyses.sensitivity import tipping_points
from trial.stats.permutation import stratified_permutation_test
from trial.stats.two_stage import cluster_level_fit


def _brute_force_null(values, strata, treated):
    """Every allocation with the observed number treated per stratum, by direct enumeration."""
    values, strata, treated = map(np.asarray, (values, strata, treated))
    levels = np.unique(strata)
    per_stratum = []
    for s in levels:
        idx = np.flatnonzero(strata == s)
        per_stratum.append([set(c) for c in itertools.combinations(idx, int(treated[idx].sum()))])
    null = []
    for choice in itertools.product(*per_stratum):
        chosen = set().union(*choice)
        alloc = np.array([i in chosen for i in range(len(values))])
        null.append(values[alloc].mean() - values[~alloc].mean())
    return np.array(null)


TINY = {
    "values": [1.3, -0.4, 2.2, 0.1, -1.0, 0.7, 1.9, -0.3],
    "strata": ["a", "a", "a", "a", "b", "b", "b", "b"],
    "treated": [1, 1, 0, 0, 1, 0, 1, 0],
}


def test_exact_null_distribution_equals_brute_force_enumeration() -> None:
    res = stratified_permutation_test(
        TINY["values"],
        TINY["strata"],
        TINY["treated"],
        max_enumerated=10_000,
        permutations=999,
        rng=np.random.default_rng(1),
    )
    brute = _brute_force_null(TINY["values"], TINY["strata"], TINY["treated"])
    assert res.method == "exact"
    assert res.n_allocations == len(brute) == 6 * 6  # C(4,2) x C(4,2)
    np.testing.assert_allclose(np.sort(res.null), np.sort(brute), rtol=0, atol=1e-12)
    v, t = np.array(TINY["values"]), np.array(TINY["treated"], bool)
    observed = v[t].mean() - v[~t].mean()
    assert res.statistic == pytest.approx(observed)
    assert res.p == pytest.approx(np.mean(np.abs(brute) >= abs(observed) - 1e-12))


def test_stratification_restricts_the_allocations() -> None:
    """Unstratified would allow C(8,4) = 70 allocations; two strata of 4 allow 36."""
    res = stratified_permutation_test(
        TINY["values"],
        ["x"] * 8,
        TINY["treated"],
        max_enumerated=10_000,
        permutations=999,
        rng=np.random.default_rng(1),
    )
    assert res.n_allocations == 70


def test_unequal_strata_and_monte_carlo_agree_with_exact() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(size=11)
    strata = np.array([0] * 6 + [1] * 5)
    treated = np.array([1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0])
    exact = stratified_permutation_test(
        values, strata, treated, max_enumerated=10_000, permutations=999, rng=rng
    )
    brute = _brute_force_null(values, strata, treated)
    np.testing.assert_allclose(np.sort(exact.null), np.sort(brute), atol=1e-12)
    mc = stratified_permutation_test(
        values, strata, treated, max_enumerated=1, permutations=20_000, rng=np.random.default_rng(3)
    )
    assert mc.method == "monte_carlo" and mc.n_allocations == 20_000
    # binomial Monte Carlo error of p with 20000 draws is below 0.004
    assert abs(mc.p - exact.p) < 0.015


def test_permutation_test_rejects_a_large_effect_and_not_a_null_one() -> None:
    rng = np.random.default_rng(11)
    strata = np.repeat([0, 1], 8)
    treated = np.tile([1, 0], 8)
    null_values = rng.normal(size=16)
    shifted = null_values + 3.0 * treated
    kw = {"max_enumerated": 10**6, "permutations": 999, "rng": rng}
    assert stratified_permutation_test(shifted, strata, treated, **kw).p < 0.01
    assert stratified_permutation_test(null_values, strata, treated, **kw).p > 0.05


def test_cluster_level_unweighted_is_the_pooled_two_sample_t_test() -> None:
    rng = np.random.default_rng(5)
    means = rng.normal(size=13)
    treated = np.array([1] * 7 + [0] * 6)
    fit = cluster_level_fit(means, treated)
    ref = stats.ttest_ind(means[treated == 1], means[treated == 0], equal_var=True)
    assert fit.df == 11
    assert fit.estimate == pytest.approx(means[treated == 1].mean() - means[treated == 0].mean())
    assert fit.estimate / np.sqrt(fit.variance) == pytest.approx(ref.statistic)


def test_cluster_level_weighted_matches_statsmodels_wls() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(6)
    means = rng.normal(size=13)
    treated = np.array([1] * 7 + [0] * 6)
    sizes = rng.integers(3, 20, size=13)
    fit = cluster_level_fit(means, treated, sizes)
    ref = sm.WLS(means, sm.add_constant(treated.astype(float)), weights=sizes).fit()
    assert fit.estimate == pytest.approx(ref.params[1], rel=1e-10)
    assert np.sqrt(fit.variance) == pytest.approx(ref.bse[1], rel=1e-10)
    assert fit.df == ref.df_resid


def test_tipping_points_interpolate_the_crossing_by_hand() -> None:
    delta = pd.DataFrame(
        {
            "arm_shifted": ["t"] * 3 + ["c"] * 3,
            "delta": [-2.0, 0.0, 2.0] * 2,
            "ci_low": [-3.0, -1.0, 1.0, -1.0, -0.8, -0.6],
            "ci_high": [1.0, 3.0, 5.0, 2.0, 2.2, 2.4],
        }
    )
    tp = tipping_points(delta)
    t_rows = tp[tp["arm_shifted"] == "t"]
    # ci_low goes -1 -> 1 between 0 and 2: crosses at 1; ci_high 1 -> 3 never crosses
    assert list(t_rows["limit"]) == ["ci_low"]
    assert t_rows["tipping_delta"].iloc[0] == pytest.approx(1.0)
    c_rows = tp[tp["arm_shifted"] == "c"]
    assert len(c_rows) == 1 and np.isnan(c_rows["tipping_delta"].iloc[0])


def test_monte_carlo_p_carries_its_monte_carlo_error_and_exact_has_none() -> None:
    kw = {"permutations": 4000, "rng": np.random.default_rng(2)}
    exact = stratified_permutation_test(**TINY, max_enumerated=10_000, **kw)
    assert exact.method == "exact" and exact.mc_se == 0.0
    mc = stratified_permutation_test(**TINY, max_enumerated=10, **kw)
    assert mc.method == "monte_carlo"
    assert mc.mc_se == pytest.approx(np.sqrt(mc.p * (1 - mc.p) / 4000))


def test_rerandomisation_uses_observed_data_and_the_two_stage_statistic(small_config) -> None:
    from trial.analyses.outcomes import build_analysis_table
    from trial.analyses.sensitivity import cluster_mean_residuals, rerandomisation_test

    observed = build_analysis_table(small_config)
    summary, null = rerandomisation_test(small_config, observed)
    stage1 = cluster_mean_residuals(small_config, observed, "qpr_total").clusters
    treated = stage1["treated"] == 1
    by_hand = stage1.loc[treated, "residual"].mean() - stage1.loc[~treated, "residual"].mean()
    assert summary["statistic"] == pytest.approx(by_hand)
    assert summary["n_individuals"] == observed["qpr_total__followup"].notna().sum()
    # 16 clusters (8 treated) in one stratum, 11 (6 treated) in the other: every allocation
    assert summary["method"] == "exact" and summary["mc_se"] == 0
    assert summary["n_allocations"] == len(null) == 12870 * 462
    small_config["sensitivity"]["max_enumerated"] = 1000
    sampled, _ = rerandomisation_test(small_config, observed)
    assert sampled["method"] == "monte_carlo" and sampled["mc_se"] > 0
    assert abs(sampled["p"] - summary["p"]) < 4 * sampled["mc_se"] + 1e-3


def test_two_stage_df_counts_cluster_level_parameters_only(small_config) -> None:
    from trial.analyses.outcomes import build_analysis_table
    from trial.analyses.sensitivity import cluster_mean_residuals, two_stage_df

    stage1 = cluster_mean_residuals(small_config, build_analysis_table(small_config), "qpr_total")
    # intercept and one stratum dummy are constant within teams; the baseline value is not
    assert stage1.cluster_level_parameters == 2
    assert stage1.df == two_stage_df(27, 2) == 27 - 2 - 2 + 1
