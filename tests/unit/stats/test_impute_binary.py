"""Tests of the latent-normal random-intercept sampler for binary variables
(trial.stats.impute.binary), against known truths of simulated data and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from trial.stats.impute.binary import draw_latent, sample_binary_random_intercept


@pytest.mark.parametrize("eta", [-8.0, -2.0, 0.0, 1.5, 6.0])
def test_truncated_latent_draws(eta: float) -> None:
    """Signs as y says, and means equal to the truncated-normal means within 4 MC SEs."""
    rng = np.random.default_rng(11)
    n = 100_000
    for yv, (lo, hi) in ((1.0, (-eta, np.inf)), (0.0, (-np.inf, -eta))):
        z = draw_latent(np.full(n, yv), np.full(n, eta), rng)
        assert np.all(z > 0) if yv == 1 else np.all(z <= 0)
        tn = stats.truncnorm(lo, hi, loc=eta)
        assert abs(z.mean() - tn.mean()) < 4 * tn.std() / np.sqrt(n)


def _simulate(rng: np.random.Generator, J: int = 60, m: int = 25):
    clusters = np.repeat(np.arange(J), m)
    arm = np.repeat(np.arange(J) % 2, m).astype(float)
    x = rng.normal(size=J * m)
    X = np.column_stack([np.ones(J * m), arm, x])
    beta = np.array([-0.3, 0.6, 0.8])
    sigma2_u = 0.25
    u = rng.normal(0.0, np.sqrt(sigma2_u), J)
    y = (X @ beta + u[clusters] + rng.normal(size=J * m) > 0).astype(float)
    return y, X, clusters, beta, sigma2_u


def test_posterior_recovers_the_simulation_truth() -> None:
    """Posterior means within 3 posterior SDs of the parameters that generated the data."""
    rng = np.random.default_rng(2024)
    y, X, clusters, beta, sigma2_u = _simulate(rng)
    draws = sample_binary_random_intercept(
        y, X, clusters, int(clusters.max()) + 1, n_draws=1500, rng=rng
    )
    b = draws.beta[300:]
    s2 = draws.sigma2_u[300:]
    assert np.all(np.abs(b.mean(axis=0) - beta) < 3 * b.std(axis=0))
    assert abs(s2.mean() - sigma2_u) < 3 * s2.std()


def test_imputations_follow_the_model_under_mar() -> None:
    """Missingness driven by x: the imputed proportion matches the true proportion among the
    missing rows, which the complete cases do not."""
    rng = np.random.default_rng(7)
    y, X, clusters, *_ = _simulate(rng)
    miss = rng.random(y.size) < np.where(X[:, 2] > 0, 0.6, 0.1)
    y_obs = np.where(miss, np.nan, y)
    draws = sample_binary_random_intercept(
        y_obs, X, clusters, int(clusters.max()) + 1, n_draws=400, rng=rng
    )
    assert draws.y_missing.size == miss.sum()
    assert set(np.unique(draws.y_missing)) <= {0.0, 1.0}
    truth = y[miss].mean()
    se = np.sqrt(truth * (1 - truth) / miss.sum())
    # sampling noise of the draws plus that of the true missing values: sqrt(2) SE each;
    # 4 of those is the bound
    assert abs(draws.y_missing.mean() - truth) < 4 * np.sqrt(2) * se
    assert abs(np.nanmean(y_obs) - truth) > 4 * np.sqrt(2) * se  # the naive answer is off


def test_reproducible_with_the_same_seed() -> None:
    y, X, clusters, *_ = _simulate(np.random.default_rng(1), J=10, m=10)
    y[:5] = np.nan
    a = sample_binary_random_intercept(y, X, clusters, 10, n_draws=20, rng=np.random.default_rng(5))
    b = sample_binary_random_intercept(y, X, clusters, 10, n_draws=20, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.beta, b.beta)
    np.testing.assert_array_equal(a.y_missing, b.y_missing)


def test_bad_input() -> None:
    y, X, clusters, *_ = _simulate(np.random.default_rng(1), J=10, m=10)
    with pytest.raises(ValueError, match="row 3"):
        sample_binary_random_intercept(
            np.where(np.arange(y.size) == 3, 2.0, y),
            X,
            clusters,
            10,
            n_draws=5,
            rng=np.random.default_rng(0),
        )
    with pytest.raises(ValueError, match="singular"):
        sample_binary_random_intercept(
            y,
            np.column_stack([X, X[:, 1]]),
            clusters,
            10,
            n_draws=5,
            rng=np.random.default_rng(0),
        )
    with pytest.raises(ValueError, match="one value"):
        sample_binary_random_intercept(
            np.ones_like(y), X, clusters, 10, n_draws=5, rng=np.random.default_rng(0)
        )


@pytest.mark.slow
def test_posterior_is_calibrated_over_replicates() -> None:
    """Over 40 simulated trials the standardised error (posterior mean - truth) / posterior SD
    has mean 0 (within 3 Monte Carlo SEs, 3 / sqrt(40)) and SD 1 (0.7 to 1.4: about 3 Monte
    Carlo SEs of an SD from 40 replicates, 1 / sqrt(80) = 0.11)."""
    z = []
    for s in range(40):
        rng = np.random.default_rng(100 + s)
        y, X, clusters, beta, sigma2_u = _simulate(rng)
        d = sample_binary_random_intercept(y, X, clusters, 60, n_draws=800, rng=rng)
        b, s2 = d.beta[200:], d.sigma2_u[200:]
        z.append(np.r_[(b.mean(0) - beta) / b.std(0), (s2.mean() - sigma2_u) / s2.std()])
    z = np.array(z)
    assert np.all(np.abs(z.mean(axis=0)) < 3 / np.sqrt(len(z)))
    assert np.all((z.std(axis=0) > 0.7) & (z.std(axis=0) < 1.4))


def test_multilevel_engine_imputes_a_binary_column_from_its_model() -> None:
    """Chained equations with a 0/1 column beside a normal one: the imputed 0/1 values are 0/1,
    observed values are kept, and under MAR (missingness depends on the normal column) the
    imputed rows' mean matches the true mean of the deleted values within noise, where the
    observed mean (3 SE away by design) does not."""
    import pandas as pd

    from trial.stats.impute.multilevel import impute_multilevel

    rng = np.random.default_rng(11)
    J, m = 50, 40
    cluster = np.repeat(np.arange(J), m)
    arm = np.repeat(rng.permutation(np.arange(J) % 2), m).astype(float)
    x = rng.standard_normal(J * m) + 0.3 * arm
    u = 0.4 * rng.standard_normal(J)[cluster]
    y = (x + 0.5 * arm + u - 0.2 + rng.standard_normal(J * m) > 0).astype(float)
    lost = rng.random(J * m) < stats.norm.cdf(-0.6 + 0.9 * x)  # MAR on x
    data = pd.DataFrame({"c": cluster, "arm": arm, "x": x, "y": np.where(lost, np.nan, y)})
    means = []
    for seed in range(4):
        out = impute_multilevel(
            data,
            cluster="c",
            impute=["y", "x"],
            predictors=["arm"],
            seed=seed,
            iterations=5,
            binary=["y"],
        ).completed
        assert set(np.unique(out["y"])) == {0.0, 1.0}
        np.testing.assert_array_equal(out.loc[~lost, "y"], y[~lost])
        means.append(out.loc[lost, "y"].mean())
    truth = y[lost].mean()
    # each imputed mean is the truth plus Bernoulli noise and posterior noise (~ sqrt(2) x)
    se = np.sqrt(2 * truth * (1 - truth) / lost.sum() / len(means))
    assert abs(np.mean(means) - truth) < 3 * se
    assert abs(y[~lost].mean() - truth) > 3 * se


def test_multilevel_engine_refuses_a_binary_column_it_does_not_impute() -> None:
    import pandas as pd

    from trial.stats.impute.multilevel import impute_multilevel

    data = pd.DataFrame({"c": [0, 0, 1, 1], "y": [0.0, np.nan, 1.0, 0.0], "x": [1.0, 2, 3, 4]})
    with pytest.raises(ValueError, match="binary must name level-1 columns of impute"):
        impute_multilevel(data, cluster="c", impute=["y"], predictors=["x"], seed=1, binary=["x"])


@pytest.mark.parametrize("eta", [-2.5, -0.3, 0.0, 1.2])
def test_shifted_draw_moves_the_log_odds_by_delta(eta: float) -> None:
    """delta 0 gives back 1{eta + e > 0}; the shifted draws are 1 with probability
    expit(logit(Phi(eta)) + delta) (within 4 MC SEs), and never fall as delta grows."""
    from trial.stats.impute.binary import shifted_draw

    rng = np.random.default_rng(5)
    n = 200_000
    e = rng.standard_normal(n)
    etas = np.full(n, eta)
    np.testing.assert_array_equal(shifted_draw(etas, e, 0.0), (etas + e > 0).astype(float))
    previous = shifted_draw(etas, e, -3.0)
    for delta in (-1.0, 0.5, 2.0):
        drawn = shifted_draw(etas, e, delta)
        p0 = stats.norm.cdf(eta)
        p = 1 / (1 + np.exp(-(np.log(p0 / (1 - p0)) + delta)))
        assert abs(drawn.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
        assert np.all(drawn >= previous)
        previous = drawn


def test_final_latent_draws_give_the_imputed_values() -> None:
    rng = np.random.default_rng(3)
    y, X, clusters, *_ = _simulate(rng, J=20, m=10)
    y[::4] = np.nan
    draws = sample_binary_random_intercept(
        y, X, clusters, int(clusters.max()) + 1, n_draws=5, rng=rng
    )
    miss = np.isnan(y)
    np.testing.assert_allclose(
        draws.eta_missing, X[miss] @ draws.beta[-1] + draws.u[clusters[miss]], rtol=1e-12
    )
    np.testing.assert_array_equal(
        draws.y_missing, (draws.eta_missing + draws.e_missing > 0).astype(float)
    )
