"""Unit tests of trial.stats.marginal (the comparison with R is in
tests/reference/test_marginal_vs_r.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

from tests.reference.binary_cases import case
from trial.stats._families import ModelInputError
from trial.stats.gee import fit_gee
from trial.stats.glmm import fit_glmm
from trial.stats.marginal import counterfactual_designs, standardise


def test_arm_only_model_by_hand() -> None:
    """With arm as the only covariate the standardised risks are expit(b0 + b1) and expit(b0)."""
    c = case("trial")
    X = c.X[["(Intercept)", "arm"]]
    m = fit_gee(c.y, X, c.clusters, cov_type="robust")
    b0, b1 = m.params
    res = standardise(m, *counterfactual_designs(X, "arm"), df=20.0, alpha=0.1)
    p1, p0 = expit(b0 + b1), expit(b0)
    assert res.risk_treated == pytest.approx(p1, rel=1e-12)
    assert res.risk_control == pytest.approx(p0, rel=1e-12)
    # delta method by hand: d p1 = p1 (1 - p1) (1, 1), d p0 = p0 (1 - p0) (1, 0)
    g = np.array([p1 * (1 - p1) - p0 * (1 - p0), p1 * (1 - p1)])
    se = math.sqrt(g @ m.cov.to_numpy() @ g)
    rd = res.difference
    assert rd.se == pytest.approx(se, rel=1e-10)
    q = stats.t.ppf(0.95, 20.0)
    assert (rd.ci_low, rd.ci_high) == pytest.approx((p1 - p0 - q * se, p1 - p0 + q * se))
    # the marginal odds ratio of an arm-only model is exp(b1), its log-scale SE that of b1
    assert res.odds_ratio.estimate == pytest.approx(math.exp(b1), rel=1e-10)
    assert res.odds_ratio.se == pytest.approx(math.sqrt(m.cov.loc["arm", "arm"]), rel=1e-10)
    assert res.ratio.estimate == pytest.approx(p1 / p0)
    assert res.ratio.ci_low < p1 / p0 < res.ratio.ci_high
    # t against 0 for the difference, against 1 (log 0) for the ratios, on the df given
    assert rd.t == pytest.approx((p1 - p0) / se, rel=1e-10)
    assert res.odds_ratio.t == pytest.approx(b1 / res.odds_ratio.se, rel=1e-10)
    assert res.ratio.t == pytest.approx(math.log(p1 / p0) / res.ratio.se, rel=1e-10)
    for contrast in (rd, res.ratio, res.odds_ratio):
        assert (contrast.df, contrast.alpha) == (20.0, 0.1)
        assert contrast.p == pytest.approx(2 * stats.t.sf(abs(contrast.t), 20.0), rel=1e-10)
    assert [c.log_scale for c in (rd, res.ratio, res.odds_ratio)] == [False, True, True]
    assert [c.measure for c in (rd, res.ratio, res.odds_ratio)] == [
        "risk difference",
        "risk ratio",
        "odds ratio",
    ]
    # the two risks' covariance: d p1' V d p0 with the gradients above
    V = m.cov.to_numpy()
    d1, d0 = p1 * (1 - p1) * np.array([1.0, 1.0]), p0 * (1 - p0) * np.array([1.0, 0.0])
    assert res.covariance == pytest.approx(d1 @ V @ d0, rel=1e-10)
    assert res.se_treated == pytest.approx(math.sqrt(d1 @ V @ d1), rel=1e-10)
    assert res.n_obs == len(X)


def test_offset_enters_the_predicted_risks() -> None:
    """Arm-only model with a known offset o: the standardised risks are the means of
    expit(b0 + b1 + o) and expit(b0 + o) (hand calculation from the fitted coefficients)."""
    c = case("trial")
    X = c.X[["(Intercept)", "arm"]]
    o = np.linspace(-1.0, 1.0, len(X))
    m = fit_gee(c.y, X, c.clusters, offset=o, cov_type="robust")
    b0, b1 = m.params
    res = standardise(m, *counterfactual_designs(X, "arm"), offset=o)
    assert res.risk_treated == pytest.approx(np.mean(expit(b0 + b1 + o)), rel=1e-12)
    assert res.risk_control == pytest.approx(np.mean(expit(b0 + o)), rel=1e-12)


def test_df_are_those_of_the_column_set_to_one_and_zero() -> None:
    """Standardising over a column that varies within clusters uses that column's
    between-within df (observations minus clusters minus within-cluster parameters), not the
    smaller df of the cluster-level terms."""
    c = case("trial")
    X = c.X.assign(w=(c.X.x > 0).astype(float))
    m = fit_glmm(c.y, X, c.clusters, n_agq=2)
    assert m.df["w"] > m.df["arm"]
    assert standardise(m, *counterfactual_designs(X, "w")).df == m.df["w"]
    assert standardise(m, *counterfactual_designs(X, "arm")).df == m.df["arm"]


def test_boundary_glmm_integrated_equals_zero() -> None:
    c = case("boundary")
    m = fit_glmm(c.y, c.X, c.clusters, n_agq=3)
    assert m.theta == 0.0
    X1, X0 = counterfactual_designs(c.X, "arm")
    a = standardise(m, X1, X0)
    b = standardise(m, X1, X0, random_effects="zero")
    assert a.difference.estimate == b.difference.estimate
    assert a.difference.se == b.difference.se


def test_integrated_risks_are_closer_to_half_than_conditional_ones() -> None:
    """Averaging expit over a random intercept pulls a risk below 1/2 upwards (and a risk
    above 1/2 downwards): the marginal odds ratio is nearer 1 than the conditional one."""
    c = case("rare")
    m = fit_glmm(c.y, c.X, c.clusters, n_agq=5)
    X1, X0 = counterfactual_designs(c.X, "arm")
    integ = standardise(m, X1, X0)
    zero = standardise(m, X1, X0, random_effects="zero")
    assert integ.risk_control > zero.risk_control
    assert abs(math.log(integ.odds_ratio.estimate)) < abs(m.params["arm"])


def test_arrays_and_labels_agree() -> None:
    c = case("trial")
    m = fit_glmm(c.y, c.X, c.clusters, n_agq=2)
    a = standardise(m, *counterfactual_designs(c.X, "arm"))
    b = standardise(m.arrays, *counterfactual_designs(c.X.to_numpy(), 1))
    assert b.difference.estimate == pytest.approx(a.difference.estimate, rel=1e-14)
    assert b.ratio.ci_high == pytest.approx(a.ratio.ci_high, rel=1e-12)


def test_bad_input() -> None:
    c = case("counts")
    pois = fit_gee(c.y, c.X, c.clusters, family="poisson", offset=c.offset)
    with pytest.raises(
        ModelInputError, match=r"^standardised risks need a binomial \(logit\) fit$"
    ):
        standardise(pois, *counterfactual_designs(c.X, "arm"))
    t = case("trial")
    m = fit_gee(t.y, t.X, t.clusters)
    with pytest.raises(ModelInputError, match="^the treated and control designs are identical$"):
        standardise(m, t.X, t.X)
    with pytest.raises(
        ModelInputError,
        match=r"^the two designs must have the same shape \(n, 4\); got \(\d+, 4\) and \(\d+, 2\)$",
    ):
        standardise(m, t.X, t.X.iloc[:, :2])
    with pytest.raises(
        ModelInputError,
        match=r"^random_effects must be one of \('integrated', 'zero'\), got 'mean'$",
    ):
        standardise(m, *counterfactual_designs(t.X, "arm"), random_effects="mean")
    with pytest.raises(ModelInputError, match="^no column 'treatment' in the design$"):
        counterfactual_designs(t.X, "treatment")
