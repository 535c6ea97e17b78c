"""Participation scores, the instrumental-variable estimators against simulation truth, the
cluster bootstrap against a row-by-row reference, staff outcomes and the published-vs-this-run
table."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from trial.analyses.participation import IV_METHODS, ParticipationError, participation_scores
from trial.analyses.staff import staff_analysis_table, staff_outcomes
from trial.config.sections import secondary_config_problems
from trial.stats import iv
from trial.stats.bootstrap import ClusterLayout, bootstrap_weights, cluster_draw_counts
from trial.stats.iv import (
    IVIdentificationError,
    cluster_level_iv,
    iv_bootstrap,
    two_stage_least_squares,
)

from ...conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"


def test_scores_are_part_means_and_high_is_at_or_above_the_median(config) -> None:
    scores = participation_scores(config).set_index("team_id")
    raw = pd.read_csv(RAW / "participation.csv")
    by_hand = raw.groupby("team_id")["attendance"].mean()
    np.testing.assert_allclose(scores.loc[by_hand.index, "participation_score"], by_hand)
    assert (scores["high"] == (scores["participation_score"] >= by_hand.median())).all()
    teams = pd.read_csv(RAW / "teams.csv")
    assert set(scores.index) == set(teams.loc[teams.arm == "refocus", "team_id"])
    assert (scores["took_part"] == (by_hand.loc[scores.index] > 0).astype(int)).all()


def test_above_median_rule_puts_the_median_cluster_low(config) -> None:
    config["participation"]["high_rule"] = "above_median"
    scores = participation_scores(config)
    median = scores["participation_score"].median()
    assert (scores["high"] == (scores["participation_score"] > median)).all()


def _copy_raw(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    return raw


def test_missing_part_is_reported_by_cluster(config, tmp_path) -> None:
    raw = _copy_raw(tmp_path)
    table = pd.read_csv(raw / "participation.csv")
    table = table.drop(index=table.index[(table.team_id == "T04") & (table.part == "workshop")])
    table.to_csv(raw / "participation.csv", index=False)
    with pytest.raises(ParticipationError, match=r"T04 lacks \['workshop'\]"):
        participation_scores(config, raw)


def test_reference_cluster_with_participation_rows_is_refused(config, tmp_path) -> None:
    raw = _copy_raw(tmp_path)
    table = pd.read_csv(raw / "participation.csv")
    extra = pd.DataFrame({"team_id": ["T01"], "part": ["workshop"], "attendance": [0.5]})
    pd.concat([table, extra]).to_csv(raw / "participation.csv", index=False)
    with pytest.raises(ParticipationError, match="one-sided"):
        participation_scores(config, raw)


def _simulate(rng, n_clusters=80, effect=2.0, comply=0.6):
    rows = []
    for c in range(n_clusters):
        arm = c % 2
        complier_cluster = rng.random() < comply
        received = int(arm and complier_cluster)
        u = rng.normal(0, 0.5)
        size = rng.integers(8, 16)
        base = rng.normal(0, 1, size)
        # non-compliers have a different untreated mean (selection), which 2SLS must handle
        y = 1.0 * complier_cluster + 0.5 * base + effect * received + u + rng.normal(0, 1, size)
        rows.append(
            pd.DataFrame({"c": c, "s": c % 4 // 2, "arm": arm, "d": received, "base": base, "y": y})
        )
    return pd.concat(rows, ignore_index=True)


def test_2sls_recovers_the_complier_effect_despite_selection() -> None:
    """Simulation truth: effect 2 in complying clusters; the as-treated contrast is biased."""
    d = _simulate(np.random.default_rng(123))
    exog = pd.DataFrame({"(Intercept)": 1.0, "base": d.base, "s": d.s})
    fit = two_stage_least_squares(
        d.y.to_numpy(), exog, d.d.to_numpy(), d.arm.to_numpy(), d.c.to_numpy()
    )
    assert abs(fit.estimate - 2.0) < 3 * fit.se
    assert fit.se < 0.5
    assert fit.estimate == pytest.approx(fit.itt / fit.first_stage, rel=1e-8)
    naive = d.loc[d.d == 1, "y"].mean() - d.loc[d.d == 0, "y"].mean()
    assert abs(naive - 2.0) > abs(fit.estimate - 2.0)


def test_2sls_is_linearmodels_iv2sls_fit_to_the_last_bit() -> None:
    """The estimator and clustered covariance called directly give what IV2SLS(...).fit()
    reports; the default df count the columns constant within clusters (intercept, s)."""
    from linearmodels.iv import IV2SLS

    d = _simulate(np.random.default_rng(7))
    exog = pd.DataFrame({"(Intercept)": 1.0, "base": d.base, "s": d.s})
    fit = two_stage_least_squares(
        d.y.to_numpy(), exog, d.d.to_numpy(), d.arm.to_numpy(), d.c.to_numpy()
    )
    ref = IV2SLS(d.y, exog, d[["d"]].astype(float), d[["arm"]].astype(float)).fit(
        cov_type="clustered", clusters=pd.factorize(d.c)[0], debiased=True
    )
    assert fit.estimate == float(ref.params["d"])
    assert fit.se == float(ref.std_errors["d"])
    assert fit.df == d.c.nunique() - 2 - 1
    with pytest.raises(ValueError, match="regressors .* full column rank"):
        two_stage_least_squares(
            d.y.to_numpy(), exog.assign(b2=2 * d.base), d.d.to_numpy(), d.arm.to_numpy(),
            d.c.to_numpy(),
        )  # fmt: skip


def test_cluster_level_iv_is_the_wald_ratio_of_cluster_means() -> None:
    rng = np.random.default_rng(8)
    z = np.tile([1.0, 0.0], 10)
    dose = z * rng.uniform(0.2, 0.9, 20)
    r = 1.5 * dose + rng.normal(0, 0.3, 20)
    fit = cluster_level_iv(r, dose, z, df=17, n_individuals=200)
    by_hand = (r[z == 1].mean() - r[z == 0].mean()) / dose[z == 1].mean()
    assert fit.estimate == pytest.approx(by_hand, rel=1e-12)
    assert fit.first_stage == pytest.approx(dose[z == 1].mean()) and fit.df == 17
    # the structural residuals' two-sample variance over the squared first stage (delta method)
    e = r - fit.estimate * dose
    pooled = (np.var(e[z == 1], ddof=1) * 9 + np.var(e[z == 0], ddof=1) * 9) / 18
    assert fit.se == pytest.approx(np.sqrt(pooled * (1 / 10 + 1 / 10)) / fit.first_stage)
    assert fit.itt == pytest.approx(r[z == 1].mean() - r[z == 0].mean(), rel=1e-12)
    assert (fit.n_individuals, fit.n_clusters) == (200, 20)
    q = 2.1098155778333165  # R: qt(0.975, 17)
    assert (fit.ci_low, fit.ci_high) == pytest.approx(
        (fit.estimate - q * fit.se, fit.estimate + q * fit.se), rel=1e-12
    )
    with pytest.raises(IVIdentificationError, match="not identified"):
        cluster_level_iv(r, np.zeros(20), z, df=17, n_individuals=200)
    # a dose in other units (x 1e6) scales the effect by 1e-6 and leaves its t and p
    big = cluster_level_iv(r, dose * 1e6, z, df=17, n_individuals=200)
    assert (big.estimate * 1e6, big.se * 1e6) == pytest.approx((fit.estimate, fit.se), rel=1e-9)
    assert big.p == pytest.approx(fit.p, rel=1e-9)
    # the same doses in both arms, the treated ones shifted by 1e-12: a first stage of 1e-12
    # against doses of about 0.5 is zero to rounding, not an effect to divide by
    same = np.where(z == 1, dose[z == 1].repeat(2) + 1e-12, dose[z == 1].repeat(2))
    with pytest.raises(
        IVIdentificationError,
        match="^the treatment received does not differ between arms: the instrumental-variable "
        "effect is not identified$",
    ):
        cluster_level_iv(r, same, z, df=17, n_individuals=200)


def test_the_reported_iv_methods_are_the_estimators_the_kernel_replicates() -> None:
    """Every estimator the report lists can be bootstrapped, and no other."""
    assert tuple(IV_METHODS) == iv.METHODS


@pytest.mark.slow
def test_2sls_interval_coverage_by_simulation() -> None:
    rng = np.random.default_rng(99)
    covered = 0
    reps = 300
    for _ in range(reps):
        d = _simulate(rng, n_clusters=30)
        exog = pd.DataFrame({"(Intercept)": 1.0, "base": d.base, "s": d.s})
        fit = two_stage_least_squares(
            d.y.to_numpy(), exog, d.d.to_numpy(), d.arm.to_numpy(), d.c.to_numpy()
        )
        covered += fit.ci_low <= 2.0 <= fit.ci_high
    # 95% nominal; binomial MC SE with 300 replicates 1.3 points: within about 3 MC SE
    assert 0.91 <= covered / reps <= 0.99


def _bootstrap_args(d):
    exog = np.column_stack([np.ones(len(d)), d.base, d.s])
    strata = (d.arm.astype(str) + "/" + d.s.astype(str)).to_numpy()
    return (
        d.y.to_numpy(), exog, d.d.to_numpy(float), d.arm.to_numpy(float), d.c.to_numpy(), strata
    )  # fmt: skip


def _bootstrap_by_rows(y, W, d, z, clusters, strata, method, replicates, seed, keys):
    """Reference: each replicate's rows stacked (a cluster drawn twice is two clusters) and the
    estimator computed from scratch on them."""
    layout = ClusterLayout.from_labels(clusters, strata)
    counts = cluster_draw_counts(
        layout, bootstrap_weights(layout, range(replicates), seed=seed, keys=keys,
                                  resampling="cluster")
    )  # fmt: skip
    members = np.split(layout.members, layout.member_start[1:])
    out = np.full(replicates, np.nan)
    for b in range(replicates):
        picked = np.repeat(np.arange(layout.n_clusters), counts[b])
        idx = np.concatenate([members[k] for k in picked])
        label = np.repeat(np.arange(len(picked)), [len(members[k]) for k in picked])
        if method == "2sls":
            X = np.column_stack([W[idx], d[idx]])
            Z = np.column_stack([W[idx], z[idx]])
            A = Z.T @ X
            if np.linalg.matrix_rank(A) == A.shape[0]:
                out[b] = np.linalg.solve(A, Z.T @ y[idx])[-1]
            continue
        if np.linalg.matrix_rank(W[idx]) < W.shape[1]:
            continue
        beta = np.linalg.lstsq(W[idx], y[idx], rcond=None)[0]
        r = pd.Series(y[idx] - W[idx] @ beta).groupby(label).mean().to_numpy()
        dj = pd.Series(d[idx]).groupby(label).first().to_numpy()
        zj = pd.Series(z[idx]).groupby(label).first().to_numpy() == 1
        first = dj[zj].mean() - dj[~zj].mean()
        if first != 0:
            out[b] = (r[zj].mean() - r[~zj].mean()) / first
    return out


@pytest.mark.parametrize("method", ["2sls", "cluster_level"])
def test_bootstrap_from_cluster_sums_equals_stacking_the_rows(method) -> None:
    # Few clusters per stratum, so some replicates draw no cluster receiving the treatment.
    d = _simulate(np.random.default_rng(1), n_clusters=12, comply=0.5)
    args = _bootstrap_args(d)
    got = iv_bootstrap(*args, method=method, replicates=300, seed=4, keys=("t",))
    expected = _bootstrap_by_rows(*args, method, 300, 4, ("t",))
    assert np.isnan(expected).any() and np.isfinite(expected).sum() > 150
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_bootstrap_names_the_methods_it_knows() -> None:
    d = _simulate(np.random.default_rng(1), n_clusters=12)
    with pytest.raises(
        ValueError, match=r"^method must be one of \['2sls', 'cluster_level'\], not 'gmm'$"
    ):
        iv_bootstrap(*_bootstrap_args(d), method="gmm", replicates=2, seed=1, keys=("k",))


def test_bootstrap_is_seeded_and_its_spread_matches_the_standard_error() -> None:
    d = _simulate(np.random.default_rng(5), n_clusters=24)
    args = _bootstrap_args(d)
    a = iv_bootstrap(*args, method="2sls", replicates=200, seed=1, keys=("k",))
    b = iv_bootstrap(*args, method="2sls", replicates=200, seed=1, keys=("k",))
    np.testing.assert_array_equal(a, b)
    exog = pd.DataFrame(args[1], columns=["(Intercept)", "base", "s"])
    fit = two_stage_least_squares(args[0], exog, args[2], args[3], args[4])
    ok = a[np.isfinite(a)]
    assert len(ok) >= 190
    # the bootstrap SD is of the size of the cluster-robust SE (within a factor of 2)
    assert 0.5 < ok.std() / fit.se < 2.0


def test_staff_outcomes_use_a_missing_baseline_indicator(config) -> None:
    table = staff_analysis_table(config)
    table.loc[table.index[:40], "recovery_promotion__baseline"] = np.nan
    scores = participation_scores(config)
    res = staff_outcomes(config, table, scores).set_index(["analysis", "outcome"])
    row = res.loc[("arm", "recovery_promotion")]
    followed = table["recovery_promotion__followup"].notna()
    assert row["n_individuals"] == followed.sum()
    expected = (followed & table["recovery_promotion__baseline"].isna()).sum()
    assert row["n_missing_baseline"] == expected > 0
    assert row["n_clusters"] == 27
    hl = res.loc[("high_vs_low", "recovery_promotion")]
    assert hl["n_clusters"] == 14 and not hl["randomised"]
    assert hl["contrast"].startswith("high minus low")


def test_config_cross_references_are_checked(config) -> None:
    assert secondary_config_problems(config) == []
    config["staff"]["outcomes"].append({"scale": "nope", "direction": "treatment_minus_reference"})
    config["sensitivity"]["delta"]["arms"] = ["placebo"]
    problems = secondary_config_problems(config)
    assert any("'nope' is not a declared scale" in p for p in problems)
    assert any("'placebo' is not one of the arm values" in p for p in problems)


def test_fit_participation_on_the_example(config) -> None:
    """Every team of the example took part: the complier-average first stage is 1 and the
    estimate the ITT; the dose first stage is the mean score of the treated individuals."""
    from trial.analyses.outcomes import build_analysis_table
    from trial.analyses.participation import fit_participation

    config["participation"]["bootstrap"] = 5
    config["analysis"]["outcomes"] = config["analysis"]["outcomes"][:1]
    table = build_analysis_table(config)
    scores = participation_scores(config)
    assert scores["took_part"].all()
    fits, boot = fit_participation(config, table, scores, 1)
    fits = fits.set_index(["analysis", "method"])
    assert list(fits.index) == [
        ("high_vs_low", "mixed_model"),
        ("complier_average", "2sls"),
        ("complier_average", "cluster_level"),
        ("dose_response", "2sls"),
        ("dose_response", "cluster_level"),
    ]
    cace = fits.loc[("complier_average", "2sls")]
    assert cace["first_stage"] == pytest.approx(1.0) and cace["estimate"] == pytest.approx(
        cace["itt"]
    )
    assert cace["df"] == 27 - 2 - 1  # teams - (intercept, stratum) - received
    dose = fits.loc[("dose_response", "cluster_level")]
    mean_score = scores["participation_score"].mean()  # cluster-level: each team once
    assert dose["first_stage"] == pytest.approx(mean_score, rel=1e-10)
    assert dose["df"] == 27 - 2 - 2 + 1
    assert dose["estimate"] == pytest.approx(dose["itt"] / dose["first_stage"], rel=1e-10)
    assert len(boot) == 5 * 4 and set(boot["method"]) == {"2sls", "cluster_level"}


def test_one_participation_class_skips_high_vs_low_but_not_the_iv_analyses(config, tmp_path):
    """Most teams take no part: the median score is 0, every team is 'high', the
    non-randomised comparison cannot be made; the instrumental-variable analyses still can."""
    from trial.analyses.outcomes import build_analysis_table
    from trial.analyses.participation import fit_participation, high_vs_low_possible

    raw = _copy_raw(tmp_path)
    table = pd.read_csv(raw / "participation.csv")
    teams = sorted(table.team_id.unique())[:8]
    table.loc[table.team_id.isin(teams), "attendance"] = 0.0
    table.to_csv(raw / "participation.csv", index=False)
    scores = participation_scores(config, raw)
    assert not high_vs_low_possible(scores) and scores["took_part"].sum() == 6
    config["participation"]["bootstrap"] = 0
    config["analysis"]["outcomes"] = config["analysis"]["outcomes"][:1]
    fits, _ = fit_participation(config, build_analysis_table(config, raw), scores, 1)
    assert set(fits["analysis"]) == {"complier_average", "dose_response"}
    cace = fits[(fits.analysis == "complier_average") & (fits.method == "cluster_level")].iloc[0]
    assert cace["first_stage"] == pytest.approx(6 / 14)  # 6 of 14 teams took part
    staff = staff_outcomes(config, staff_analysis_table(config, raw), scores)
    assert set(staff["analysis"]) == {"arm"}
