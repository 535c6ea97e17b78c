"""ICC helpers: design effects and cluster sizes by hand; bootstrap interval behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from trial.icc import anova_icc, cluster_size_summary, design_effects, icc_bootstrap


def test_design_effects_by_hand() -> None:
    sizes = np.array([10, 20, 30])
    # mean 20, SD (divisor k-1) 10, cv 0.5
    s = cluster_size_summary(sizes)
    assert s["size_mean"] == 20 and s["size_sd"] == pytest.approx(10) and s["size_cv"] == 0.5
    assert (s["n_clusters"], s["n_individuals"], s["size_median"]) == (3, 60, 20)
    d = design_effects(0.05, sizes)
    assert d["deff_equal"] == pytest.approx(1 + 19 * 0.05)
    assert d["deff_unequal"] == pytest.approx(1 + ((0.25 + 1) * 20 - 1) * 0.05)


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
    lo, hi = icc_bootstrap(y, cl, replicates=500, rng=np.random.default_rng(9))
    again = icc_bootstrap(y, cl, replicates=500, rng=np.random.default_rng(9))
    assert (lo, hi) == again
    est = anova_icc(y, cl)["icc"]
    assert lo < est < hi and lo > 0.1  # true ICC 0.39


def test_anova_icc_refuses_missing_values() -> None:
    with pytest.raises(ValueError, match="missing"):
        anova_icc(np.array([1.0, np.nan, 2.0, 3.0]), np.array([1, 1, 2, 2]))
