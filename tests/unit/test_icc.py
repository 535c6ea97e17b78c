"""ICC helpers: design effects and cluster sizes by hand; the within-arm ANOVA against the
one-group formula; the stratified bootstrap's design and behaviour; the table never pools arms."""

from __future__ import annotations

import numpy as np
import pytest

from trial.icc import (
    anova_icc,
    cluster_size_summary,
    design_effects,
    icc_bootstrap,
    icc_table,
    stratified_cluster_draws,
)


def test_design_effects_by_hand() -> None:
    sizes = np.array([10, 20, 30])
    # mean 20, SD (divisor k-1) 10, cv 0.5
    s = cluster_size_summary(sizes)
    assert s["size_mean"] == 20 and s["size_sd"] == pytest.approx(10) and s["size_cv"] == 0.5
    assert (s["n_clusters"], s["n_individuals"], s["size_median"]) == (3, 60, 20)
    d = design_effects(0.05, sizes)
    assert d["deff_equal"] == pytest.approx(1 + 19 * 0.05)
    assert d["deff_unequal"] == pytest.approx(1 + ((0.25 + 1) * 20 - 1) * 0.05)
    assert d["icc_truncated"] == 0.05


def test_negative_icc_is_truncated_at_zero_in_design_effects() -> None:
    d = design_effects(-0.02, np.array([10, 20, 30]))
    assert d == {"icc_truncated": 0.0, "deff_equal": 1.0, "deff_unequal": 1.0}


def test_within_arm_anova_equals_the_one_group_formula_on_arm_centred_data() -> None:
    """Taking MSB about each arm's mean is the one-way ANOVA of arm-centred values with k - A
    between-cluster df (equal sizes, so n0 is the common size either way)."""
    rng = np.random.default_rng(3)
    k, n = 16, 7
    arm = np.repeat(np.arange(k) % 2, n)
    cl = np.repeat(np.arange(k), n)
    y = 5.0 * arm + rng.normal(0, 0.6, k)[cl] + rng.normal(0, 1, k * n)
    within = anova_icc(y, cl, groups=arm)
    centred = y - np.where(arm == 1, y[arm == 1].mean(), y[arm == 0].mean())
    groups = centred.reshape(k, n)
    msb = n * np.sum(groups.mean(axis=1) ** 2) / (k - 2)
    msw = groups.var(axis=1, ddof=1).mean()
    assert within["msb"] == pytest.approx(msb) and within["msw"] == pytest.approx(msw)
    assert within["icc"] == pytest.approx((msb - msw) / (msb + (n - 1) * msw))
    # across arms, the arm effect of 5 inflates the ICC far above the within-arm one
    assert anova_icc(y, cl)["icc"] > within["icc"] + 0.3


def test_a_cluster_in_two_arms_is_refused() -> None:
    with pytest.raises(ValueError, match="spans more than one group"):
        anova_icc(np.arange(6.0), np.array([1, 1, 2, 2, 3, 3]), groups=np.array([0, 1, 0, 0, 1, 1]))


def test_stratified_draws_keep_every_cluster_in_its_stratum() -> None:
    strata = np.array(["a", "a", "b", "b", "b", "c"])
    draws = stratified_cluster_draws(strata, 500, np.random.default_rng(1))
    assert draws.shape == (500, 6)
    assert (strata[draws] == strata[None, :]).all()
    assert set(np.unique(draws[:, 2:5])) == {2, 3, 4}  # every member of b is drawn sometimes
    assert (draws[:, 5] == 5).all()  # a stratum of one cluster always draws it


def test_anova_icc_with_equal_sizes_is_the_textbook_balanced_formula() -> None:
    rng = np.random.default_rng(2)
    k, n = 15, 6
    y = (rng.normal(0, 0.7, k)[:, None] + rng.normal(0, 1, (k, n))).ravel()
    cl = np.repeat(np.arange(k), n)
    res = anova_icc(y, cl)
    groups = y.reshape(k, n)
    msb = n * groups.mean(axis=1).var(ddof=1)
    msw = groups.var(axis=1, ddof=1).mean()
    assert res["n0"] == pytest.approx(n)
    assert res["icc"] == pytest.approx((msb - msw) / (msb + (n - 1) * msw))
    assert res["ci_low"] < res["icc"] < res["ci_high"]


def test_bootstrap_interval_is_reproducible_and_brackets_a_clear_icc() -> None:
    rng = np.random.default_rng(4)
    k = 60
    sizes = rng.integers(5, 15, k)
    cl = np.repeat(np.arange(k), sizes)
    y = rng.normal(0, 0.8, k)[cl] + rng.normal(0, 1, len(cl))
    lo, hi, n_ok = icc_bootstrap(y, cl, replicates=500, rng=np.random.default_rng(9))
    again = icc_bootstrap(y, cl, replicates=500, rng=np.random.default_rng(9))
    assert (lo, hi, n_ok) == again and n_ok == 500
    est = anova_icc(y, cl)["icc"]
    assert lo < est < hi and lo > 0.1  # true ICC 0.39


def test_anova_icc_refuses_missing_values() -> None:
    with pytest.raises(ValueError, match="missing"):
        anova_icc(np.array([1.0, np.nan, 2.0, 3.0]), np.array([1, 1, 2, 2]))


def test_icc_table_is_within_or_conditional_on_arm_at_every_time(small_config) -> None:
    from trial.analysis import build_analysis_table

    small_config["icc"]["bootstrap"] = 20
    table = icc_table(small_config, build_analysis_table(small_config))
    assert set(table["estimator"]) == {"within_arm_anova", "model_adjusted"}
    assert len(table) == 2 * 2 * 2  # outcomes x time points x estimators
    assert (table["n_boot"] == 20).all()
    assert (table["deff_equal"] >= 1).all() and (table["icc_truncated"] >= 0).all()
    follow = table[(table.outcome == "functioning") & (table.timepoint == "followup")]
    within = follow.set_index("estimator").loc["within_arm_anova"]
    observed = build_analysis_table(small_config)
    used = observed["functioning__followup"].notna()
    pooled_arms = anova_icc(
        observed.loc[used, "functioning__followup"], observed.loc[used, "team_id"]
    )["icc"]
    assert within["icc"] == pytest.approx(
        anova_icc(
            observed.loc[used, "functioning__followup"],
            observed.loc[used, "team_id"],
            groups=observed.loc[used, "arm"],
        )["icc"]
    )
    # the example's arm effect on functioning is large: pooling the arms would inflate the ICC
    assert pooled_arms > within["icc"]
