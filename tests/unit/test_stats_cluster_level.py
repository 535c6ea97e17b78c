"""Unit tests of trial.stats.cluster_level (the comparison with R is in
tests/reference/test_cluster_level_vs_r.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tests.reference.binary_cases import case
from trial.stats._families import ModelInputError
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
    with pytest.raises(ModelInputError, match="both arms"):
        cluster_level_binary(d.y, arm, d.cluster)
    keep = d.cluster.isin(d.cluster[d.arm == 1].unique()[:1]) | (d.arm == 0)
    with pytest.raises(ModelInputError, match="two clusters per arm"):
        cluster_level_binary(d.y[keep], d.arm[keep], d.cluster[keep])
    with pytest.raises(ModelInputError, match="0 or 1"):
        cluster_level_binary(d.y * 2, d.arm, d.cluster)
