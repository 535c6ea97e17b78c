"""Unit tests of trial.stats.cluster_level (the comparison with R is in
tests/reference/test_cluster_level_vs_r.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.reference.binary_cases import case
from trial.stats._families import ModelFitError, ModelInputError
from trial.stats.cluster_level import cluster_level_binary


def test_unadjusted_is_the_t_test_of_cluster_proportions() -> None:
    d = case("trial").data
    res = cluster_level_binary(d.y, d.arm, d.cluster)
    cl = d.groupby("cluster").agg(p=("y", "mean"), arm=("arm", "first"))
    a, b = cl.p[cl.arm == 1], cl.p[cl.arm == 0]
    tt = stats.ttest_ind(a, b)
    assert res.difference.estimate == pytest.approx(a.mean() - b.mean(), rel=1e-12)
    assert res.difference.t == pytest.approx(tt.statistic, rel=1e-10)
    assert res.difference.p == pytest.approx(tt.pvalue, rel=1e-9)
    assert res.difference.df == len(cl) - 2
    # the ratio of geometric mean proportions (pbar cancels from the ratio residuals)
    gm = np.exp(np.log(a).mean() - np.log(b).mean())
    assert res.ratio.estimate == pytest.approx(gm, rel=1e-12)
    np.testing.assert_allclose(
        res.summaries.to_frame().set_index("clusters").proportion, cl.p, rtol=1e-15
    )


def test_cluster_level_covariates_cost_degrees_of_freedom() -> None:
    d = case("trial").data
    only_x = cluster_level_binary(d.y, d.arm, d.cluster, covariates=d[["x"]])
    both = cluster_level_binary(d.y, d.arm, d.cluster, covariates=d[["stratum", "x"]])
    J = d.cluster.nunique()
    assert only_x.difference.df == J - 2 and only_x.n_cluster_level_covariates == 0
    assert both.difference.df == J - 3 and both.n_cluster_level_covariates == 1


def test_zero_correction_only_when_needed() -> None:
    d = case("trial").data
    assert cluster_level_binary(d.y, d.arm, d.cluster).zero_correction == 0.0
    r = case("rare").data
    res = cluster_level_binary(r.y, r.arm, r.cluster, zero_correction=0.25)
    assert res.zero_correction == 0.25
    s = res.summaries
    np.testing.assert_allclose(s.ratio_residual, (s.events + 0.25) / s.expected)


def test_bad_input() -> None:
    d = case("trial").data
    arm = d.arm.copy()
    arm.iloc[0] = 1 - arm.iloc[0]
    with pytest.raises(ModelInputError, match=r"^cluster .* has individuals in both arms$"):
        cluster_level_binary(d.y, arm, d.cluster)
    keep = d.cluster.isin(d.cluster[d.arm == 1].unique()[:1]) | (d.arm == 0)
    with pytest.raises(
        ModelInputError,
        match=r"^the t test needs at least two clusters per arm \(treated 1, control \d+\)$",
    ):
        cluster_level_binary(d.y[keep], d.arm[keep], d.cluster[keep])
    with pytest.raises(ModelInputError, match="0 or 1"):
        cluster_level_binary(d.y * 2, d.arm, d.cluster)
    with pytest.raises(ModelInputError, match=r"^treated must be 0/1 of shape \(\d+,\)$"):
        cluster_level_binary(d.y, d.arm * 2, d.cluster)
    with pytest.raises(ModelInputError, match="treated must be 0/1"):
        cluster_level_binary(d.y, d.arm.iloc[1:], d.cluster)


def test_effect_fields_are_the_arms_residual_means_and_alpha() -> None:
    """Each effect names its measure and level, and its arm means are the mean difference
    residual and the geometric mean ratio residual of the arm's clusters (hand calculation
    from the summaries)."""
    d = case("trial").data
    res = cluster_level_binary(d.y, d.arm, d.cluster, covariates=d[["x"]], alpha=0.1)
    s = res.summaries
    t, c = s.treated, ~s.treated
    diff, ratio = res.difference, res.ratio
    assert (diff.measure, ratio.measure) == ("risk difference", "risk ratio")
    assert diff.alpha == ratio.alpha == 0.1
    assert diff.mean_treated == pytest.approx(s.difference_residual[t].mean(), rel=1e-12)
    assert diff.mean_control == pytest.approx(s.difference_residual[c].mean(), rel=1e-12)
    assert ratio.mean_treated == pytest.approx(np.exp(np.log(s.ratio_residual[t]).mean()))
    assert ratio.mean_control == pytest.approx(np.exp(np.log(s.ratio_residual[c]).mean()))
    assert diff.estimate == pytest.approx(diff.mean_treated - diff.mean_control, rel=1e-12)
    assert ratio.estimate == pytest.approx(ratio.mean_treated / ratio.mean_control, rel=1e-12)


@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_stage_one_is_invariant_to_the_units_of_a_covariate(scale: float) -> None:
    """A covariate in other units (its coefficient scaled by 1 / scale) gives the same fitted
    risks, so the same analysis: the logistic regression's stopping rule must not depend on
    the size of the coefficients."""
    d = case("trial").data
    ref = cluster_level_binary(d.y, d.arm, d.cluster, covariates=d[["stratum", "x"]])
    scaled = d[["stratum", "x"]].assign(x=d.x * scale)
    got = cluster_level_binary(d.y, d.arm, d.cluster, covariates=scaled)
    for measure in ("difference", "ratio"):
        a, b = getattr(ref, measure), getattr(got, measure)
        for stat in ("estimate", "se", "p", "ci_low", "ci_high"):
            assert getattr(b, stat) == pytest.approx(getattr(a, stat), rel=1e-9), stat
    np.testing.assert_allclose(got.summaries.expected, ref.summaries.expected, rtol=1e-9)


def test_a_separating_covariate_is_an_error_not_an_estimate() -> None:
    """Under complete separation the stage-1 maximum likelihood estimate is infinite."""
    d = case("trial").data
    sep = pd.DataFrame({"sep": d.y.to_numpy() - 0.5})
    with pytest.raises(
        ModelFitError,
        match="^the stage-1 logistic regression did not converge: a covariate may separate the "
        "outcome$",
    ):
        cluster_level_binary(d.y, d.arm, d.cluster, covariates=sep)


def test_two_clusters_per_arm_is_enough() -> None:
    """The smallest design the t test allows: two clusters per arm, on 2 df."""
    d = case("trial").data
    arm_of = d.groupby("cluster").arm.first()
    keep = d.cluster.isin(list(arm_of[arm_of == 1].index[:2]) + list(arm_of[arm_of == 0].index[:2]))
    k = d[keep]
    res = cluster_level_binary(k.y, k.arm, k.cluster)
    cl = k.groupby("cluster").agg(p=("y", "mean"), arm=("arm", "first"))
    tt = stats.ttest_ind(cl.p[cl.arm == 1], cl.p[cl.arm == 0])
    assert (res.n_clusters_treated, res.n_clusters_control) == (2, 2)
    assert res.difference.df == 2
    assert res.difference.t == pytest.approx(tt.statistic, rel=1e-10)


def test_errors_name_the_cluster_and_the_covariate() -> None:
    d = case("trial").data
    # a cluster after the first treated one gets an individual of the other arm
    treated = d.cluster[d.arm == 1].unique()
    row = d.index[d.cluster == treated[-1]][0]
    arm = d.arm.copy()
    arm.loc[row] = 0
    with pytest.raises(
        ModelInputError, match=f"^cluster {treated[-1]!r} has individuals in both arms$"
    ):
        cluster_level_binary(d.y, arm, d.cluster)
    covs = d[["stratum", "x"]].copy()
    covs.iloc[3, 1] = np.nan
    with pytest.raises(ModelInputError, match="^covariates have a missing value in row 3, x$"):
        cluster_level_binary(d.y, d.arm, d.cluster, covariates=covs)
    with pytest.raises(ModelInputError, match="missing value in row 3, column 1$"):
        cluster_level_binary(d.y, d.arm, d.cluster, covariates=covs.to_numpy())


def test_one_degree_of_freedom_left_is_enough_and_none_is_an_error() -> None:
    """Two clusters per arm and one cluster-level covariate leave 4 - 2 - 1 = 1 df; a second
    one leaves none."""
    d = case("trial").data
    arm_of = d.groupby("cluster").arm.first()
    picked = list(arm_of[arm_of == 1].index[:2]) + list(arm_of[arm_of == 0].index[:2])
    k = d[d.cluster.isin(picked)]
    level = k.cluster.map(dict(zip(picked, [0.3, -1.2, 0.8, 0.1], strict=True)))
    covs = pd.DataFrame({"c1": level, "x": k.x})
    assert cluster_level_binary(k.y, k.arm, k.cluster, covariates=covs).difference.df == 1
    covs["c2"] = k.cluster.map(dict(zip(picked, [1.0, 0.0, 0.0, 1.0], strict=True)))
    with pytest.raises(
        ModelInputError, match=r"^no degrees of freedom left \(4 clusters, 2 cluster-level\)$"
    ):
        cluster_level_binary(k.y, k.arm, k.cluster, covariates=covs)
    with pytest.raises(
        ModelInputError, match=r"^the stage-1 covariates \(with an intercept\) are rank deficient$"
    ):
        cluster_level_binary(k.y, k.arm, k.cluster, covariates=covs.assign(c3=2 * covs.x))
