"""ICC helpers: design effects and cluster sizes by hand; the within-arm ANOVA against the
one-group formula; the stratified bootstrap's design and behaviour; the table never pools arms."""

from __future__ import annotations

import numpy as np
import pytest

from trial.analyses.icc import (
    anova_icc,
    cluster_size_summary,
    design_effects,
    icc_bootstrap,
    icc_table,
)


def test_design_effects_by_hand() -> None:
    sizes = np.array([10, 20, 30])
    # mean 20, SD (divisor k-1) 10, cv 0.5
    s = cluster_size_summary(sizes)
    assert s.size_mean == 20 and s.size_sd == pytest.approx(10) and s.size_cv == 0.5
    assert (s.n_clusters, s.n_individuals, s.size_median) == (3, 60, 20)
    d = design_effects(0.05, sizes)
    assert d.deff_equal == pytest.approx(1 + 19 * 0.05)
    assert d.deff_unequal == pytest.approx(1 + ((0.25 + 1) * 20 - 1) * 0.05)
    assert d.icc_truncated == 0.05


def test_negative_icc_is_truncated_at_zero_in_design_effects() -> None:
    d = design_effects(-0.02, np.array([10, 20, 30]))
    assert d.as_row() == {"icc_truncated": 0.0, "deff_equal": 1.0, "deff_unequal": 1.0}


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
    assert within.msb == pytest.approx(msb) and within.msw == pytest.approx(msw)
    assert within.icc == pytest.approx((msb - msw) / (msb + (n - 1) * msw))
    # across arms, the arm effect of 5 inflates the ICC far above the within-arm one
    assert anova_icc(y, cl).icc > within.icc + 0.3


def test_a_cluster_in_two_arms_is_refused() -> None:
    with pytest.raises(ValueError, match="spans more than one group"):
        anova_icc(np.arange(6.0), np.array([1, 1, 2, 2, 3, 3]), groups=np.array([0, 1, 0, 0, 1, 1]))


def test_bootstrap_draws_keep_every_cluster_in_its_stratum() -> None:
    from trial.stats.bootstrap import ClusterLayout, bootstrap_weights, cluster_draw_counts

    clusters = np.repeat(np.arange(7), [3, 2, 4, 1, 5, 2, 3])
    strata = np.repeat(np.array(["a", "a", "b", "b", "b", "c", "c"]), [3, 2, 4, 1, 5, 2, 3])
    layout = ClusterLayout.from_labels(clusters, strata)
    weights = bootstrap_weights(layout, range(400), seed=1, keys=("t",), resampling="cluster")
    counts = cluster_draw_counts(layout, weights)
    assert counts.shape == (400, 7)
    # every replicate draws as many clusters from each stratum as it has
    for members, size in (([0, 1], 2), ([2, 3, 4], 3), ([5, 6], 2)):
        assert (counts[:, members].sum(axis=1) == size).all()
    assert (counts > 1).any() and (counts == 0).any()  # with replacement


def test_anova_icc_refuses_missing_values() -> None:
    with pytest.raises(ValueError, match="missing"):
        anova_icc(np.array([1.0, np.nan, 2.0, 3.0]), np.array([1, 1, 2, 2]))


def test_icc_table_is_within_or_conditional_on_arm_at_every_time(small_config) -> None:
    from trial.analyses.outcomes import build_analysis_table

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
    ).icc
    assert within.icc == pytest.approx(
        anova_icc(
            observed.loc[used, "functioning__followup"],
            observed.loc[used, "team_id"],
            groups=observed.loc[used, "arm"],
        ).icc
    )
    # the example's arm effect on functioning is large: pooling the arms would inflate the ICC
    assert pooled_arms > within.icc


def test_bootstrap_interval_is_reproducible_and_brackets_a_clear_icc() -> None:
    rng = np.random.default_rng(4)
    k = 60
    sizes = rng.integers(5, 15, k)
    cl = np.repeat(np.arange(k), sizes)
    arm = (np.arange(k) % 2)[cl]
    y = 2.0 * arm + rng.normal(0, 0.8, k)[cl] + rng.normal(0, 1, len(cl))
    lo, hi, n_ok = icc_bootstrap(y, cl, groups=arm, replicates=500, seed=9, keys=("t",))
    again = icc_bootstrap(y, cl, groups=arm, replicates=500, seed=9, keys=("t",))
    assert (lo, hi, n_ok) == again and n_ok == 500
    est = anova_icc(y, cl, groups=arm).icc
    assert lo < est < hi and lo > 0.1  # true within-arm ICC 0.39
    # the model-based interval refits the model on every replicate and brackets its estimate
    X = np.column_stack([np.ones(len(y)), arm])
    from trial.analyses.icc import adjusted_icc

    mlo, mhi, m_ok = icc_bootstrap(y, cl, groups=arm, X=X, replicates=100, seed=9, keys=("m",))
    assert m_ok == 100 and mlo < adjusted_icc(y, X, cl).icc < mhi and mlo > 0.1


def test_model_bootstrap_interval_equals_refitting_the_resampled_rows() -> None:
    """The per-cluster-sums refit gives the interval of refitting every replicate's rows."""
    from trial.analyses.icc import adjusted_icc
    from trial.stats.bootstrap import ClusterLayout, bootstrap_weights, cluster_draw_counts

    rng = np.random.default_rng(8)
    k = 24
    sizes = rng.integers(4, 12, k)
    cl = np.repeat(np.arange(k) * 3 + 7, sizes)  # labels that are not codes
    arm = (np.arange(k) % 2)[np.repeat(np.arange(k), sizes)]
    x = rng.normal(size=len(cl))
    y = arm + 0.5 * x + rng.normal(0, 0.5, k)[np.repeat(np.arange(k), sizes)]
    y += rng.normal(size=len(cl))
    X = np.column_stack([np.ones(len(y)), arm, x])
    lo, hi, ok = icc_bootstrap(y, cl, groups=arm, X=X, replicates=60, seed=3, keys=("r",))
    layout = ClusterLayout.from_labels(cl, arm)
    counts = cluster_draw_counts(
        layout, bootstrap_weights(layout, range(60), seed=3, keys=("r",), resampling="cluster")
    )
    members = np.split(layout.members, layout.member_start[1:])
    refits = []
    for row in counts:
        picked = np.repeat(np.arange(k), row)
        rows = np.concatenate([members[j] for j in picked])
        labels = np.repeat(np.arange(k), layout.sizes[picked])
        refits.append(adjusted_icc(y[rows], X[rows], labels).icc)
    assert ok == 60
    np.testing.assert_allclose([lo, hi], np.quantile(refits, [0.025, 0.975]), rtol=1e-10)
