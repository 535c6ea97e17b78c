"""trial.stats.bootstrap: shrinkage by hand (Davison and Hinkley's balanced case), the two-stage
bootstrap variance against its closed form, frequency-weighted least squares against repeated
rows, and reproducibility whatever the chunking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trial.stats.bootstrap import (
    BootstrapInputError,
    ClusterLayout,
    bootstrap_weights,
    shrink_two_stage,
    shrinkage_factors,
    weighted_ols_coefficient,
)


def balanced(a: int = 8, b: int = 5, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clusters = np.repeat(np.arange(a), b)
    y = 2.0 * rng.standard_normal(a)[clusters] + rng.standard_normal(a * b) + 10
    return y, clusters


def test_shrinkage_factors_balanced_by_hand():
    y, clusters = balanced()
    a, b = 8, 5
    layout = ClusterLayout.from_labels(clusters)
    means = np.array([y[clusters == i].mean() for i in range(a)])
    ssw = sum(((y[clusters == i] - means[i]) ** 2).sum() for i in range(a))
    msw = ssw / (a * (b - 1))
    msb = b * ((means - y.mean()) ** 2).sum() / (a - 1)
    sigma_b = (msb - msw) / b
    f = shrinkage_factors(y, layout)
    assert f.sigma2_within == pytest.approx(msw)
    assert f.sigma2_between == pytest.approx(sigma_b)
    assert f.d == pytest.approx(np.sqrt(b / (b - 1)))
    assert f.c == pytest.approx(np.sqrt(sigma_b / np.mean((means - y.mean()) ** 2)))


def test_shrinkage_keeps_group_means_and_zero_between_variance_gives_c_zero():
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(10), 6)
    groups = np.where(clusters < 5, "x", "y")
    y = rng.standard_normal(60)  # no cluster effect: sigma_b estimated at (or near) zero
    layout = ClusterLayout.from_labels(clusters, groups)
    shrunk = shrink_two_stage(y, layout)
    for g in ("x", "y"):
        assert shrunk[groups == g].mean() == pytest.approx(y[groups == g].mean())
    constant = np.repeat(rng.standard_normal(10), 6) * 0 + 5.0 + rng.standard_normal(60) * 0
    assert shrinkage_factors(constant, layout).c == 0.0


def test_two_stage_variance_of_mean_matches_closed_form():
    """Balanced, one group: Var*(mean) = (sigma_b^2 + sigma_w^2 / b) / a exactly, by design."""
    y, clusters = balanced(a=10, b=6, seed=7)
    layout = ClusterLayout.from_labels(clusters)
    f = shrinkage_factors(y, layout)
    expected = (f.sigma2_between + f.sigma2_within / 6) / 10
    shrunk = shrink_two_stage(y, layout)
    weights = bootstrap_weights(layout, range(4000), seed=5, keys=("t",), resampling="two-stage")
    means = weights @ shrunk / weights.sum(axis=1)
    # relative SE of a variance from B draws of a ~normal statistic: sqrt(2 / B) = 2.2%
    assert np.var(means, ddof=1) == pytest.approx(expected, rel=0.08)
    # without shrinkage: (1/a) [S_b + SSW / (a b^2)], the within variance entering twice
    cluster_means = pd.Series(y).groupby(clusters).mean().to_numpy()
    ssw = float(((y - cluster_means[clusters]) ** 2).sum())
    raw_expected = (np.var(cluster_means) + ssw / (10 * 36)) / 10
    raw = weights @ y / weights.sum(axis=1)
    assert np.var(raw, ddof=1) == pytest.approx(raw_expected, rel=0.08)


def test_cluster_bootstrap_variance_of_mean_matches_closed_form():
    """One stage, equal sizes: Var*(mean) = S_b / a with S_b the 1/a variance of cluster means."""
    y, clusters = balanced(a=12, b=4, seed=11)
    layout = ClusterLayout.from_labels(clusters)
    cluster_means = pd.Series(y).groupby(clusters).mean().to_numpy()
    expected = np.var(cluster_means) / 12
    weights = bootstrap_weights(layout, range(4000), seed=5, keys=("c",), resampling="cluster")
    means = weights @ y / weights.sum(axis=1)
    assert np.var(means, ddof=1) == pytest.approx(expected, rel=0.08)


def test_cluster_counts_are_the_draws_of_the_one_stage_weights():
    from trial.stats.bootstrap import bootstrap_cluster_counts, cluster_draw_counts

    clusters = np.repeat(np.array([5, 2, 9, 7, 3, 8, 1]), [3, 2, 4, 1, 5, 2, 3])
    layout = ClusterLayout.from_labels(clusters, np.where(clusters < 6, "a", "b"))
    weights = bootstrap_weights(layout, [4, 0, 11], seed=3, keys=("i", 2), resampling="cluster")
    counts = bootstrap_cluster_counts(layout, [4, 0, 11], seed=3, keys=("i", 2))
    np.testing.assert_array_equal(counts, cluster_draw_counts(layout, weights))
    np.testing.assert_array_equal(counts[:, layout.cluster], weights)
    assert bootstrap_cluster_counts(layout, [], seed=3, keys=()).shape == (0, 7)
    # float weights (for matrix products) are the same draws
    two = bootstrap_weights(layout, [4, 0], seed=3, keys=("i",), resampling="two-stage")
    as_float = bootstrap_weights(
        layout, [4, 0], seed=3, keys=("i",), resampling="two-stage", dtype=float
    )
    assert as_float.dtype == np.float64 and two.dtype == np.int64
    np.testing.assert_array_equal(as_float, two)


def test_weights_keep_cluster_and_group_totals():
    clusters = np.repeat(np.arange(9), [3, 4, 5, 3, 4, 5, 2, 2, 6])
    groups = np.where(clusters < 4, "a", "b")
    layout = ClusterLayout.from_labels(clusters, groups)
    w = bootstrap_weights(layout, range(20), seed=2, keys=("k",), resampling="two-stage")
    for row in w:
        drawn = np.bincount(clusters, weights=row) / layout.sizes
        # individuals drawn per cluster are multiples of its size; clusters per group are fixed
        assert np.allclose(drawn, np.round(drawn))
        assert np.round(drawn)[:4].sum() == 4 and np.round(drawn)[4:].sum() == 5


def test_weighted_ols_equals_repeated_rows():
    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(30), rng.integers(0, 2, 30), rng.standard_normal(30)])
    y = rng.standard_normal(30)
    w = rng.integers(0, 3, 30)
    rows = np.repeat(np.arange(30), w)
    expected = np.linalg.lstsq(X[rows], y[rows], rcond=None)[0][1]
    assert weighted_ols_coefficient(y, X, w, 1) == pytest.approx(expected, rel=1e-10)
    singular = np.zeros(30)
    singular[:2] = 1
    assert np.isnan(weighted_ols_coefficient(y, X, np.vstack([w, singular]), 1)[1])


def test_replicates_do_not_depend_on_chunking():
    clusters = np.repeat(np.arange(6), 4)
    layout = ClusterLayout.from_labels(clusters, clusters < 3)
    whole = bootstrap_weights(layout, range(10), seed=9, keys=("c", 1), resampling="two-stage")
    parts = [
        bootstrap_weights(layout, r, seed=9, keys=("c", 1), resampling="two-stage")
        for r in (range(7, 10), range(0, 3), range(3, 7))
    ]
    np.testing.assert_array_equal(whole, np.vstack([parts[1], parts[2], parts[0]]))


def test_layout_errors_are_named():
    with pytest.raises(BootstrapInputError, match="at least two clusters"):
        ClusterLayout.from_labels([1, 1, 2, 2, 3], ["a", "a", "a", "a", "b"])
    with pytest.raises(BootstrapInputError, match="varies within cluster"):
        ClusterLayout.from_labels([1, 1, 2, 2], ["a", "b", "a", "a"])
    layout = ClusterLayout.from_labels([1, 1, 2, 2])
    with pytest.raises(BootstrapInputError, match="resampling must be"):
        bootstrap_weights(layout, range(1), seed=1, keys=(), resampling="three-stage")


# -- the second stage of the two-stage bootstrap ------------------------------------------------


def _two_stage_layout() -> tuple[ClusterLayout, np.ndarray]:
    sizes = np.array([60, 7, 12, 30, 5, 18, 40, 9])  # two groups of four clusters
    clusters = np.repeat(np.arange(8), sizes)
    return ClusterLayout.from_labels(clusters, clusters % 2), sizes


B_STAGE2 = 3000


@pytest.fixture(scope="module")
def stage2_weights() -> np.ndarray:
    layout, _ = _two_stage_layout()
    return bootstrap_weights(layout, range(B_STAGE2), seed=17, keys=("s2",), resampling="two-stage")


def test_two_stage_draws_each_member_alike(stage2_weights):
    """Within a drawn cluster, individuals are drawn uniformly with replacement.

    A cluster of size n in a group of J clusters is drawn D ~ Binomial(J, 1/J) times, then its
    members are drawn D n times, so a member's weight w has E w = E D = 1 and
    Var w = E[D n (1/n)(1 - 1/n)] + Var D = (1 - 1/n) + (1 - 1/J).
    """
    layout, sizes = _two_stage_layout()
    w = stage2_weights
    n_i = sizes[layout.cluster].astype(float)
    J_g = 4.0
    var_w = (1 - 1 / n_i) + (1 - 1 / J_g)
    # every individual's mean weight: z-scores against 1 (Monte Carlo SE sqrt(Var w / B));
    # 231 individuals, so |z| < 4.5 fails by chance with probability about 0.002
    z = (w.mean(axis=0) - 1.0) / np.sqrt(var_w / B_STAGE2)
    assert np.max(np.abs(z)) < 4.5
    # mean squared weight per cluster, E w^2 = Var w + 1, over members and replicates: the
    # replicates are independent, so its Monte Carlo SE comes from the per-replicate means
    for i, n in enumerate(sizes):
        members = layout.cluster == i
        per_rep = (w[:, members] ** 2).mean(axis=1)
        expected = (1 - 1 / n) + (1 - 1 / J_g) + 1
        se = per_rep.std(ddof=1) / np.sqrt(B_STAGE2)
        assert abs(per_rep.mean() - expected) < 4.5 * se, (i, per_rep.mean(), expected)


def test_two_stage_distinct_individuals_per_replicate(stage2_weights):
    """Distinct individuals in a replicate, against the exact expectation.

    A cluster drawn d times contributes n (1 - (1 - 1/n)^(d n)) distinct members on average;
    d is Binomial(J, 1/J). For the 60-member cluster drawn once that is about 38 of 60.
    """
    from scipy import stats

    _, sizes = _two_stage_layout()
    J = 4
    d = np.arange(J + 1)
    pd_ = stats.binom.pmf(d, J, 1 / J)
    expected = sum(float(pd_ @ (n * (1 - (1 - 1 / n) ** (d * n)))) for n in sizes)
    distinct = (stage2_weights > 0).sum(axis=1)
    se = distinct.std(ddof=1) / np.sqrt(B_STAGE2)
    assert abs(distinct.mean() - expected) < 4.5 * se, (distinct.mean(), expected)
    # and the cluster totals stay whole draws of each cluster
    layout, _ = _two_stage_layout()
    totals = np.stack([np.bincount(layout.cluster, weights=r) for r in stage2_weights[:50]])
    np.testing.assert_array_equal(totals % sizes, 0)


# -- shrinkage: unbalanced groups, small units, a negative between-cluster estimate ------------


def _anova_by_hand(y: list[list[list[float]]]) -> dict[str, float]:
    """One-way ANOVA pooled over groups, written out term by term: y[group][cluster][member]."""
    N = sum(len(c) for g in y for c in g)
    J = sum(len(g) for g in y)
    G = len(y)
    ssw = ssb = s_b = 0.0
    n0_sum = 0.0
    for g in y:
        n_g = sum(len(c) for c in g)
        m_g = sum(sum(c) for c in g) / n_g
        for c in g:
            ybar = sum(c) / len(c)
            ssw += sum((v - ybar) ** 2 for v in c)
            ssb += len(c) * (ybar - m_g) ** 2
            s_b += (ybar - m_g) ** 2
            n0_sum += len(c) ** 2 / n_g
    msw = ssw / (N - J)
    msb = ssb / (J - G)
    n0 = (N - n0_sum) / (J - G)
    return {"msw": msw, "msb": msb, "n0": n0, "s_b": s_b / J, "N": N, "J": J}


def _layout_of(y: list[list[list[float]]]) -> tuple[np.ndarray, ClusterLayout]:
    values, clusters, groups = [], [], []
    k = 0
    for gi, g in enumerate(y):
        for c in g:
            values += c
            clusters += [k] * len(c)
            groups += [gi] * len(c)
            k += 1
    return np.array(values), ClusterLayout.from_labels(clusters, groups)


# utilities (0-1 scale): between-cluster variance about 0.01, far below 1
UTILITIES = [
    [[0.71, 0.65, 0.80], [0.55, 0.62], [0.90, 0.84, 0.88, 0.79]],
    [[0.60, 0.58], [0.75, 0.81, 0.69], [0.52, 0.47, 0.58]],
]
# cluster means nearly equal within each group, members spread: MSB < MSW
NEGATIVE_BETWEEN = [
    [[0.2, 0.9, 0.5], [0.1, 1.0], [0.8, 0.3, 0.45, 0.55]],
    [[1.0, 0.0], [0.6, 0.4, 0.5], [0.95, 0.05, 0.5]],
]


def test_shrinkage_small_units_by_hand():
    a = _anova_by_hand(UTILITIES)
    sigma2_b = (a["msb"] - a["msw"]) / a["n0"]
    assert 0 < sigma2_b < 0.05  # positive and far below 1 (a floor at 1 would show)
    y, layout = _layout_of(UTILITIES)
    f = shrinkage_factors(y, layout)
    assert f.sigma2_within == pytest.approx(a["msw"], rel=1e-12)
    assert f.sigma2_between == pytest.approx(sigma2_b, rel=1e-12)
    assert f.c == pytest.approx(np.sqrt(sigma2_b / a["s_b"]), rel=1e-12)
    assert f.d == pytest.approx(np.sqrt(a["N"] / (a["N"] - a["J"])), rel=1e-12)
    # the shrunk data, member by member: m_g + c (ybar - m_g) + d (y - ybar)
    expected = []
    for g in UTILITIES:
        m_g = sum(sum(c) for c in g) / sum(len(c) for c in g)
        for c in g:
            ybar = sum(c) / len(c)
            expected += [m_g + f.c * (ybar - m_g) + f.d * (v - ybar) for v in c]
    np.testing.assert_allclose(shrink_two_stage(y, layout), expected, rtol=1e-12)


def test_shrinkage_negative_between_estimate_gives_c_zero():
    a = _anova_by_hand(NEGATIVE_BETWEEN)
    assert a["msb"] < a["msw"] and a["s_b"] > 0  # the moment estimate is negative
    y, layout = _layout_of(NEGATIVE_BETWEEN)
    f = shrinkage_factors(y, layout)
    assert f.sigma2_between == 0.0 and f.c == 0.0
    assert f.sigma2_within == pytest.approx(a["msw"], rel=1e-12)
    # every cluster mean is replaced by its group mean; within deviations are inflated by d
    shrunk = shrink_two_stage(y, layout)
    groups = layout.group_of_individual()
    cluster_mean = np.bincount(layout.cluster, weights=y) / layout.sizes
    group_mean = np.array([y[groups == g].mean() for g in (0, 1)])
    expected = group_mean[groups] + f.d * (y - cluster_mean[layout.cluster])
    np.testing.assert_allclose(shrunk, expected, rtol=1e-12)


def test_shrinkage_singleton_clusters():
    """Every cluster of one member: no within-cluster variance (MSW 0) and d = 1."""
    y = np.array([0.3, 0.5, 0.9, 0.2, 0.4, 0.8])
    layout = ClusterLayout.from_labels(np.arange(6), [0, 0, 0, 1, 1, 1])
    f = shrinkage_factors(y, layout)
    assert f.sigma2_within == 0.0 and f.d == 1.0
    # n0 = 1, MSB = sum (y - m_g)^2 / (J - G): sigma_b^2 = MSB and c^2 = MSB / S_b
    dev = y - np.repeat([y[:3].mean(), y[3:].mean()], 3)
    msb = float(dev @ dev) / 4
    assert f.sigma2_between == pytest.approx(msb, rel=1e-12)
    assert f.c == pytest.approx(np.sqrt(msb / np.mean(dev**2)), rel=1e-12)


def test_shrink_columns_with_common_and_own_factors():
    y, layout = _layout_of(UTILITIES)
    x = y**2 + 0.1 * np.arange(y.size)
    both = shrink_two_stage(np.column_stack([y, x]), layout)
    np.testing.assert_allclose(both[:, 0], shrink_two_stage(y, layout), rtol=1e-12)
    np.testing.assert_allclose(both[:, 1], shrink_two_stage(x, layout), rtol=1e-12)
    common = shrinkage_factors(y, layout)
    np.testing.assert_allclose(
        shrink_two_stage(np.column_stack([y, x]), layout, common)[:, 1],
        shrink_two_stage(x, layout, common),
        rtol=1e-12,
    )
    # the given factors, not x's own: m_g + c (xbar - m_g) + d (x - xbar) with y's c and d
    own = shrinkage_factors(x, layout)
    assert abs(own.c - common.c) > 0.05
    groups = layout.group_of_individual()
    xbar = (np.bincount(layout.cluster, weights=x) / layout.sizes)[layout.cluster]
    m_g = np.array([x[groups == g].mean() for g in (0, 1)])[groups]
    np.testing.assert_allclose(
        shrink_two_stage(x, layout, common),
        m_g + common.c * (xbar - m_g) + common.d * (x - xbar),
        rtol=1e-12,
    )
    frame = pd.DataFrame({"y": y, "x": x})
    np.testing.assert_allclose(shrink_two_stage(frame, layout), both, rtol=1e-12)
    bad = y.copy()
    bad[2] = np.nan
    with pytest.raises(BootstrapInputError, match="complete"):
        shrink_two_stage(bad, layout)


# -- replicate seeding, layout codes and the inputs' types ----------------------------------------


def test_replicate_r_uses_the_seed_the_keys_and_r():
    from trial.seeding import derive_rng
    from trial.stats.bootstrap import replicate_weights

    layout, _ = _two_stage_layout()
    w = bootstrap_weights(layout, [3, 7], seed=11, keys=("cost", 2), resampling="two-stage")
    for row, r in zip(w, [3, 7], strict=True):
        own = replicate_weights(derive_rng(11, "cost", 2, r), layout, "two-stage")
        np.testing.assert_array_equal(row, own)
    for other in (
        bootstrap_weights(layout, [3], seed=12, keys=("cost", 2), resampling="two-stage"),
        bootstrap_weights(layout, [3], seed=11, keys=("cost", 3), resampling="two-stage"),
    ):
        assert (other[0] != w[0]).any()


def test_no_replicates_gives_an_empty_integer_array():
    layout, sizes = _two_stage_layout()
    w = bootstrap_weights(layout, range(0), seed=1, keys=(), resampling="cluster")
    assert w.shape == (0, sizes.sum()) and w.dtype == np.int64


def test_weights_do_not_depend_on_row_order_or_label_order():
    """Codes follow the sorted labels and members keep their row order within a cluster, so a
    replicate gives each person the same weight however the clusters' rows are interleaved
    (the one-stage bootstrap whatever the row order)."""
    rng = np.random.default_rng(3)
    sizes = rng.integers(2, 40, size=30)
    cluster = np.repeat(np.arange(30), sizes)
    labels = np.array([f"c{j:02d}" for j in range(30)])[cluster]
    groups = np.where(cluster % 3 == 0, "b", "a")
    # interleave the clusters' rows at random, each cluster's rows kept in their order
    keys = rng.random(cluster.size)
    for j in range(30):
        keys[cluster == j] = np.sort(keys[cluster == j])
    interleave = np.argsort(keys)
    shuffle = rng.permutation(cluster.size)
    a = ClusterLayout.from_labels(labels, groups)
    for perm, schemes in ((interleave, ("cluster", "two-stage")), (shuffle, ("cluster",))):
        b = ClusterLayout.from_labels(labels[perm], groups[perm])
        for resampling in schemes:
            wa = bootstrap_weights(a, range(3), seed=4, keys=("o",), resampling=resampling)
            wb = bootstrap_weights(b, range(3), seed=4, keys=("o",), resampling=resampling)
            np.testing.assert_array_equal(wb, wa[:, perm])
    b = ClusterLayout.from_labels(labels[shuffle], groups[shuffle])
    # members of a cluster in row order; clusters of a group in code order
    for layout in (a, b):
        for j in range(layout.n_clusters):
            start = layout.member_start[j]
            block = layout.members[start : start + layout.sizes[j]]
            assert (np.diff(block) > 0).all()
        for g in np.unique(layout.group):
            in_group = layout.group_order[layout.group[layout.group_order] == g]
            assert (np.diff(in_group) > 0).all()


def test_integer_values_are_shrunk_as_floats():
    y, layout = _layout_of(UTILITIES)
    counts = np.round(y * 100).astype(int)
    np.testing.assert_allclose(
        shrink_two_stage(counts, layout), shrink_two_stage(counts.astype(float), layout), rtol=1e-15
    )


def test_one_weight_vector_gives_a_number():
    rng = np.random.default_rng(5)
    X = np.column_stack([np.ones(20), rng.standard_normal(20)])
    y = 1.0 + 2.0 * X[:, 1] + 0.1 * rng.standard_normal(20)
    one = weighted_ols_coefficient(y, X, np.ones(20, dtype=int), 1)
    assert np.ndim(one) == 0
    assert one == pytest.approx(np.linalg.lstsq(X, y, rcond=None)[0][1], rel=1e-12)


def test_layout_error_messages_name_the_problem():
    with pytest.raises(
        BootstrapInputError, match="^cluster labels must be present for every individual$"
    ):
        ClusterLayout.from_labels(["a", None, "b", "b"])
    with pytest.raises(
        BootstrapInputError, match="^cluster labels must be present for every individual$"
    ):
        ClusterLayout.from_labels([])
    with pytest.raises(BootstrapInputError, match=r"at least two clusters.*\[1\]$"):
        ClusterLayout.from_labels(["a"])
    with pytest.raises(
        BootstrapInputError, match="^resampling-group labels must be present for everyone$"
    ):
        ClusterLayout.from_labels([1, 1, 2, 2], ["x", "x", None, None])
    with pytest.raises(
        BootstrapInputError, match=r"^resampling group varies within cluster\(s\) \['2'\]$"
    ):
        ClusterLayout.from_labels([1, 1, 2, 2, 3, 3], ["a", "a", "a", "b", "b", "b"])
    with pytest.raises(
        BootstrapInputError,
        match=r"^every resampling group needs at least two clusters to be resampled; "
        r"clusters per group: \[2, 1\]$",
    ):
        ClusterLayout.from_labels([1, 1, 2, 2, 3], ["a", "a", "a", "a", "b"])
    y, layout = _layout_of(UTILITIES)
    y[0] = np.inf
    with pytest.raises(BootstrapInputError, match="^values to shrink must be complete and finite$"):
        shrink_two_stage(y, layout)
