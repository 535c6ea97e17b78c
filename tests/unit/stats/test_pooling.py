"""Unit tests of trial.stats.pooling on cases small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from trial.stats.pooling import D1Result, PooledEstimate, pool_d1, pool_rubin


class TestRubinHandCalculated:
    # m = 3, estimates 1, 2, 3, every variance 0.5, complete-data df 10:
    # Q-bar = 2, W-bar = 0.5, B = 1, T = 0.5 + (4/3) 1 = 11/6,
    # riv = (4/3) / 0.5 = 8/3, lambda = (4/3) / (11/6) = 8/11,
    # v_old = (m - 1) / lambda^2 = 242/64, v_obs = (11/13) 10 (3/11) = 30/13,
    # df = 1 / (64/242 + 13/30) = 3630/2533.
    @property
    def res(self) -> PooledEstimate:
        # computed when a test runs, not when the module is imported
        return pool_rubin([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], df_complete=10)

    def test_variance_components(self) -> None:
        assert self.res.estimate == pytest.approx(2.0)
        assert self.res.within == pytest.approx(0.5)
        assert self.res.between == pytest.approx(1.0)
        assert self.res.total == pytest.approx(11 / 6)
        assert self.res.se == pytest.approx(math.sqrt(11 / 6))
        assert self.res.riv == pytest.approx(8 / 3)
        assert self.res.lambda_ == pytest.approx(8 / 11)
        assert self.res.mc_se == pytest.approx(math.sqrt(1 / 3))
        assert self.res.m == 3
        assert self.res.df_complete == 10 and self.res.alpha == 0.05

    def test_barnard_rubin_df(self) -> None:
        assert self.res.df == pytest.approx(3630 / 2533, rel=1e-12)

    def test_inference(self) -> None:
        df = 3630 / 2533
        se = math.sqrt(11 / 6)
        assert self.res.t == pytest.approx(2 / se)
        assert self.res.p == pytest.approx(2 * stats.t.sf(2 / se, df))
        crit = stats.t.ppf(0.975, df)
        assert self.res.ci_low == pytest.approx(2 - crit * se)
        assert self.res.ci_high == pytest.approx(2 + crit * se)
        assert self.res.fmi == pytest.approx((8 / 3 + 2 / (df + 3)) / (11 / 3))

    def test_alpha_changes_only_the_interval(self) -> None:
        res90 = pool_rubin([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], df_complete=10, alpha=0.1)
        assert res90.ci_high - res90.ci_low < self.res.ci_high - self.res.ci_low
        assert res90.p == self.res.p
        assert res90.alpha == 0.1

    def test_as_dict(self) -> None:
        d = self.res.as_dict()
        assert list(d) == [f.name for f in PooledEstimate.__dataclass_fields__.values()]
        assert d["df"] == self.res.df and d["lambda_"] == self.res.lambda_


def test_infinite_df_complete_gives_classic_rubin_df() -> None:
    res = pool_rubin([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], df_complete=math.inf)
    r = 8 / 3
    assert res.df == pytest.approx((3 - 1) * (1 + 1 / r) ** 2, rel=1e-12)  # = 242/64
    assert res.fmi == pytest.approx((r + 2 / (res.df + 3)) / (r + 1))


def test_large_df_complete_approaches_classic_rubin_df() -> None:
    classic = pool_rubin([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], df_complete=math.inf).df
    big = pool_rubin([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], df_complete=1e9).df
    assert big == pytest.approx(classic, rel=1e-6)
    assert big < classic


def test_df_never_exceeds_complete_data_df() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        est = rng.normal(size=5)
        var = rng.uniform(0.1, 2.0, size=5)
        dfc = float(rng.uniform(3, 100))
        assert pool_rubin(est, var, df_complete=dfc).df <= dfc


class TestNoBetweenVariance:
    def test_finite_df_complete(self) -> None:
        res = pool_rubin([0.7] * 4, [0.04, 0.06, 0.05, 0.05], df_complete=25)
        assert res.between == 0.0
        assert res.riv == 0.0 and res.lambda_ == 0.0 and res.mc_se == 0.0
        assert res.total == pytest.approx(0.05)
        # the observed-data df (v + 1) / (v + 3) v
        assert res.df == pytest.approx(26 / 28 * 25, rel=1e-12)
        assert res.fmi == pytest.approx(2 / (res.df + 3))
        assert res.p == pytest.approx(2 * stats.t.sf(0.7 / math.sqrt(0.05), res.df))

    def test_infinite_df_complete(self) -> None:
        res = pool_rubin([0.7] * 4, [0.05] * 4, df_complete=math.inf)
        assert math.isinf(res.df)
        assert res.fmi == 0.0
        z = 0.7 / math.sqrt(0.05)
        assert res.p == pytest.approx(2 * stats.norm.sf(z))
        assert res.ci_high == pytest.approx(0.7 + stats.norm.ppf(0.975) * math.sqrt(0.05))

    def test_tiny_between_variance_is_continuous(self) -> None:
        exact = pool_rubin([0.7] * 4, [0.05] * 4, df_complete=25).df
        near = pool_rubin([0.7, 0.7, 0.7, 0.7 + 1e-12], [0.05] * 4, df_complete=25).df
        assert near == pytest.approx(exact, rel=1e-9)


def test_one_dataset_is_the_complete_data_analysis() -> None:
    # m = 1 (nothing imputed): estimate 1.5, SE sqrt(0.25) = 0.5, t = 3 on the analysis's own
    # 10 df; no between variance, FMI 0
    res = pool_rubin([1.5], [0.25], df_complete=10)
    assert (res.estimate, res.se, res.df, res.t) == (1.5, 0.5, 10.0, 3.0)
    assert res.p == pytest.approx(2 * stats.t.sf(3.0, 10), rel=1e-12)
    crit = stats.t.ppf(0.975, 10)
    assert (res.ci_low, res.ci_high) == pytest.approx((1.5 - 0.5 * crit, 1.5 + 0.5 * crit))
    assert (res.between, res.riv, res.lambda_, res.fmi, res.mc_se, res.m) == (0, 0, 0, 0, 0, 1)


def test_one_dataset_d1_is_the_wald_f_test() -> None:
    # m = 1, k = 2: F = q' U^-1 q / k = (1^2 / 0.5 + 2^2 / 2) / 2 = 2 on (2, 25) df
    res = pool_d1(np.array([[1.0, 2.0]]), np.diag([0.5, 2.0])[None], df_complete=25)
    assert (res.F, res.num_df, res.den_df, res.riv) == (2.0, 2, 25.0, 0.0)
    assert res.p == pytest.approx(stats.f.sf(2.0, 2, 25), rel=1e-12)


class TestRubinInputErrors:
    def test_no_estimate(self) -> None:
        with pytest.raises(ValueError, match="^there is no estimate to pool$"):
            pool_rubin([], [], df_complete=10)

    def test_length_mismatch(self) -> None:
        with pytest.raises(ValueError, match="differ in length"):
            pool_rubin([1.0, 2.0, 3.0], [0.5, 0.5], df_complete=10)

    def test_not_one_dimensional(self) -> None:
        with pytest.raises(ValueError, match="1-D"):
            pool_rubin([[1.0, 2.0]], [[0.5, 0.5]], df_complete=10)
        # either argument alone
        with pytest.raises(ValueError, match=r"must be 1-D, got shapes \(1, 2\) and \(2,\)"):
            pool_rubin([[1.0, 2.0]], [0.5, 0.5], df_complete=10)
        with pytest.raises(ValueError, match=r"must be 1-D, got shapes \(2,\) and \(2, 1\)"):
            pool_rubin([1.0, 2.0], [[0.5], [0.5]], df_complete=10)

    @pytest.mark.parametrize("var", [[0.5, 0.0], [0.5, -1.0]])
    def test_non_positive_variance(self, var: list[float]) -> None:
        with pytest.raises(ValueError, match="^variances must be positive$"):
            pool_rubin([1.0, 2.0], var, df_complete=10)

    def test_non_finite(self) -> None:
        with pytest.raises(ValueError, match="^estimates and variances must be finite$"):
            pool_rubin([1.0, np.nan], [0.5, 0.5], df_complete=10)
        with pytest.raises(ValueError, match="^estimates and variances must be finite$"):
            pool_rubin([1.0, 2.0], [0.5, np.inf], df_complete=10)

    @pytest.mark.parametrize("dfc", [0.0, -3.0, math.nan])
    def test_bad_df_complete(self, dfc: float) -> None:
        with pytest.raises(ValueError, match="df_complete"):
            pool_rubin([1.0, 2.0], [0.5, 0.5], df_complete=dfc)

    def test_df_complete_below_one_is_allowed(self) -> None:
        # positive is all that is asked: v = 0.5 gives v_obs = (1.5 / 3.5) 0.5 (1 - lambda)
        res = pool_rubin([1.0, 2.0], [0.5, 0.5], df_complete=0.5)
        lam = 1.5 * 0.5 / (0.5 + 1.5 * 0.5)
        v_old = 1 / lam**2
        v_obs = (1 - lam) * 1.5 / 3.5 * 0.5
        assert res.df == pytest.approx(1 / (1 / v_old + 1 / v_obs), rel=1e-12)
        assert res.df_complete == 0.5

    @pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5])
    def test_bad_alpha(self, alpha: float) -> None:
        with pytest.raises(ValueError, match="alpha"):
            pool_rubin([1.0, 2.0], [0.5, 0.5], df_complete=10, alpha=alpha)


class TestD1:
    def test_single_parameter_reduces_to_rubin(self) -> None:
        est = np.array([1.0, 2.0, 3.0, 2.5, 1.5, 2.2])
        var = np.array([0.5, 0.4, 0.6, 0.5, 0.55, 0.45])
        rubin = pool_rubin(est, var, df_complete=20)
        d1 = pool_d1(est[:, None], var[:, None, None], df_complete=20)
        assert isinstance(d1, D1Result)
        assert d1.num_df == 1
        assert d1.F == pytest.approx(rubin.t**2)
        assert d1.riv == pytest.approx(rubin.riv)

    def test_hand_calculated_two_parameters(self) -> None:
        # identity within covariance; B = diag(2/3, 4/3) (the columns' deviations are
        # orthogonal, so B_12 = 0) and r = (5/4) tr(B) / 2
        est = np.array([[1.0, 1.0], [2.0, -1.0], [3.0, 1.0], [2.0, -1.0]])
        cov = np.broadcast_to(np.eye(2), (4, 2, 2))
        b11 = np.var(est[:, 0], ddof=1)
        b22 = np.var(est[:, 1], ddof=1)
        r = (1 + 1 / 4) * (b11 + b22) / 2
        qbar = est.mean(axis=0)
        res = pool_d1(est, cov, df_complete=math.inf)
        assert res.riv == pytest.approx(r)
        assert res.F == pytest.approx(qbar @ qbar / (2 * (1 + r)))
        t = 2 * 3
        assert res.den_df == pytest.approx(4 + (t - 4) * (1 + (1 - 2 / t) / r) ** 2)
        assert res.p == pytest.approx(stats.f.sf(res.F, 2, res.den_df))

    def test_no_between_variance(self) -> None:
        est = np.tile([0.3, 0.1, -0.2], (5, 1))
        cov = np.broadcast_to(np.diag([0.04, 0.05, 0.06]), (5, 3, 3))
        res = pool_d1(est, cov, df_complete=25)
        assert res.riv == 0.0
        assert res.den_df == pytest.approx(26 / 28 * 25)  # Reiter's df at r = 0
        inf = pool_d1(est, cov, df_complete=math.inf)
        assert math.isinf(inf.den_df)
        assert inf.p == pytest.approx(stats.chi2.sf(3 * inf.F, 3))

    def test_shape_errors(self) -> None:
        est = np.zeros((5, 2))
        with pytest.raises(ValueError, match=r"shape \(m, k\)"):
            pool_d1(np.zeros(5), np.ones((5, 1, 1)), df_complete=25)
        with pytest.raises(ValueError, match=r"\(m, k, k\)"):
            pool_d1(est, np.ones((5, 2, 3)), df_complete=25)
        with pytest.raises(ValueError, match=r"\(m, k, k\)"):
            pool_d1(est, np.ones((4, 2, 2)), df_complete=25)

    def test_no_estimate(self) -> None:
        with pytest.raises(ValueError, match="no estimate"):
            pool_d1(np.zeros((0, 2)), np.zeros((0, 2, 2)), df_complete=25)

    def test_reiter_needs_enough_imputations(self) -> None:
        rng = np.random.default_rng(0)
        est = rng.normal(size=(3, 2))  # k (m - 1) = 4
        cov = np.broadcast_to(np.eye(2), (3, 2, 2))
        with pytest.raises(
            ValueError,
            match=r"^Reiter's small-sample df needs k \(m - 1\) > 4, got k=2, m=3; "
            r"use more imputations$",
        ):
            pool_d1(est, cov, df_complete=25)
        assert pool_d1(est, cov, df_complete=math.inf).den_df > 0

    def test_singular_within_covariance(self) -> None:
        est = np.random.default_rng(0).normal(size=(5, 2))
        with pytest.raises(
            ValueError, match="^the mean within-imputation covariance matrix is singular$"
        ):
            pool_d1(est, np.ones((5, 2, 2)), df_complete=25)

    @pytest.mark.parametrize("where", ["estimates", "covariances"])
    @pytest.mark.parametrize("bad", [math.nan, math.inf])
    def test_non_finite_input(self, where: str, bad: float) -> None:
        est = np.random.default_rng(1).normal(size=(6, 2))
        cov = np.broadcast_to(np.eye(2), (6, 2, 2)).copy()
        if where == "estimates":
            est[3, 1] = bad
        else:
            cov[2, 0, 1] = bad
        with pytest.raises(ValueError, match="^estimates and covariances must be finite$"):
            pool_d1(est, cov, df_complete=25)

    def test_no_parameter(self) -> None:
        with pytest.raises(ValueError, match="^at least one parameter is needed$"):
            pool_d1(np.zeros((4, 0)), np.zeros((4, 0, 0)), df_complete=25)

    def test_two_imputations_are_enough(self) -> None:
        # m = 2, k = 3: k (m - 1) = 3, Li et al's small-t df t (1 + 1/k) (1 + 1/r)^2 / 2
        est = np.array([[0.1, 0.3, -0.2], [0.3, 0.2, 0.0]])
        cov = np.broadcast_to(np.eye(3) * 0.05, (2, 3, 3))
        res = pool_d1(est, cov, df_complete=math.inf)
        r = 1.5 * (0.02 + 0.005 + 0.02) / 0.05 / 3  # (1 + 1/m) tr(B) / (0.05 k)
        assert res.riv == pytest.approx(r)
        assert res.den_df == pytest.approx(3 * (4 / 3) * (1 + 1 / r) ** 2 / 2)


def test_integer_input_is_pooled_as_float() -> None:
    """Integer estimates and variances (e.g. counts, costs in whole units) pool like floats."""
    ints = pool_rubin([1, 2, 4], [2, 2, 3], df_complete=10)
    floats = pool_rubin([1.0, 2.0, 4.0], [2.0, 2.0, 3.0], df_complete=10)
    assert ints == floats
    d1_int = pool_d1(
        np.array([[1, 2], [3, 1], [2, 2]]),
        np.array([np.eye(2, dtype=int) * 2] * 3),
        df_complete=math.inf,
    )
    d1_float = pool_d1(
        np.array([[1.0, 2], [3, 1], [2, 2]]), np.array([np.eye(2) * 2.0] * 3), df_complete=math.inf
    )
    assert d1_int == d1_float


def test_li_raghunathan_rubin_df_at_t_equal_5() -> None:
    """k (m - 1) = 5 is the first value of the large-t form 4 + (t - 4) (1 + (1 - 2/t) / r)^2."""
    est = np.array([[0.1, 0.3, -0.2, 0.0, 0.4], [0.3, 0.2, 0.0, 0.1, 0.2]])  # m = 2, k = 5
    cov = np.broadcast_to(np.eye(5) * 0.05, (2, 5, 5))
    res = pool_d1(est, cov, df_complete=math.inf)
    b = est.var(axis=0, ddof=1)
    r = 1.5 * b.sum() / 0.05 / 5
    assert res.riv == pytest.approx(r)
    assert res.den_df == pytest.approx(4 + (5 - 4) * (1 + (1 - 2 / 5) / r) ** 2)


@pytest.mark.parametrize("bad", [None, "x"])
def test_values_that_are_not_numbers(bad: object) -> None:
    """Missing values become NaN and are refused as not finite; text is refused as such."""
    with pytest.raises(ValueError, match="finite" if bad is None else "could not convert"):
        pool_rubin([1.0, bad, 2.0], [0.5, 0.5, 0.5], df_complete=10)
    with pytest.raises(ValueError, match="finite" if bad is None else "could not convert"):
        pool_rubin([1.0, 1.5, 2.0], [0.5, bad, 0.5], df_complete=10)
    est = np.array([[1.0, 2.0], [3.0, bad], [2.0, 2.0]], dtype=object)
    cov = np.array([np.eye(2)] * 3)
    with pytest.raises(ValueError, match="finite" if bad is None else "could not convert"):
        pool_d1(est, cov, df_complete=math.inf)
    cov_bad = cov.astype(object)
    cov_bad[1, 0, 0] = bad
    with pytest.raises(ValueError, match="finite" if bad is None else "could not convert"):
        pool_d1(np.ones((3, 2)), cov_bad, df_complete=math.inf)
