"""Participation scores, the complier-average estimator against simulation truth, the cluster
bootstrap's resampling design, staff outcomes and the published-vs-this-run table."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from trial.participation import (
    ParticipationError,
    cace_bootstrap,
    cace_fit,
    participation_scores,
    published_participation_table,
    secondary_config_problems,
    staff_analysis_table,
    staff_outcomes,
)
from trial.synthetic import participation_level

from ..conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"


def test_scores_are_part_means_and_high_is_at_or_above_the_median(config) -> None:
    scores = participation_scores(config).set_index("team_id")
    raw = pd.read_csv(RAW / "participation.csv")
    by_hand = raw.groupby("team_id")["attendance"].mean()
    np.testing.assert_allclose(scores.loc[by_hand.index, "participation_score"], by_hand)
    assert (scores["high"] == (scores["participation_score"] >= by_hand.median())).all()
    teams = pd.read_csv(RAW / "teams.csv")
    assert set(scores.index) == set(teams.loc[teams.arm == "refocus", "team_id"])
    # the generator classified the same clusters as high
    generator = participation_level(raw, config)
    assert ((generator.loc[scores.index] > 0).astype(int) == scores["high"]).all()


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


def test_cace_recovers_the_complier_effect_despite_selection() -> None:
    """Simulation truth: effect 2 in complying clusters; the as-treated contrast is biased."""
    d = _simulate(np.random.default_rng(123))
    exog = pd.DataFrame({"(Intercept)": 1.0, "base": d.base, "s": d.s})
    fit = cace_fit(d.y.to_numpy(), exog, d.d.to_numpy(), d.arm.to_numpy(), d.c.to_numpy())
    assert abs(fit["estimate"] - 2.0) < 3 * fit["se"]
    assert fit["se"] < 0.5
    assert fit["estimate"] == pytest.approx(fit["itt"] / fit["first_stage"], rel=1e-8)
    naive = d.loc[d.d == 1, "y"].mean() - d.loc[d.d == 0, "y"].mean()
    assert abs(naive - 2.0) > abs(fit["estimate"] - 2.0)


@pytest.mark.slow
def test_cace_interval_coverage_by_simulation() -> None:
    rng = np.random.default_rng(99)
    covered = 0
    reps = 300
    for _ in range(reps):
        d = _simulate(rng, n_clusters=30)
        exog = pd.DataFrame({"(Intercept)": 1.0, "base": d.base, "s": d.s})
        fit = cace_fit(d.y.to_numpy(), exog, d.d.to_numpy(), d.arm.to_numpy(), d.c.to_numpy())
        covered += fit["ci_low"] <= 2.0 <= fit["ci_high"]
    assert 0.91 <= covered / reps <= 0.99


def test_bootstrap_resamples_clusters_within_strata_and_is_seeded() -> None:
    d = _simulate(np.random.default_rng(5), n_clusters=24)
    exog = pd.DataFrame({"(Intercept)": 1.0, "base": d.base})
    strata = (d.arm.astype(str) + "/" + d.s.astype(str)).to_numpy()
    args = (d.y.to_numpy(), exog, d.d.to_numpy(), d.arm.to_numpy(), d.c.to_numpy(), strata)
    a = cace_bootstrap(*args, replicates=200, rng=np.random.default_rng(1))
    b = cace_bootstrap(*args, replicates=200, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    fit = cace_fit(d.y.to_numpy(), exog, d.d.to_numpy(), d.arm.to_numpy(), d.c.to_numpy())
    ok = a[np.isfinite(a)]
    assert len(ok) >= 190
    # the bootstrap SD is of the size of the cluster-robust SE (within a factor of 2)
    assert 0.5 < ok.std() / fit["se"] < 2.0


def _bootstrap_by_rows(y, exog, d, z, clusters, strata, replicates, rng):
    """Reference: each replicate's rows stacked, Z'X b = Z'y solved on the stacked rows."""
    W = exog.to_numpy(float)
    codes, uniques = pd.factorize(pd.Series(clusters))
    members = [np.flatnonzero(codes == k) for k in range(len(uniques))]
    cluster_stratum = pd.Series(strata).groupby(codes).first()
    groups = [np.asarray(g.index) for _, g in cluster_stratum.groupby(cluster_stratum)]
    out = np.full(replicates, np.nan)
    for b in range(replicates):
        picked = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        idx = np.concatenate([members[k] for k in picked])
        X = np.column_stack([W[idx], d[idx]])
        Z = np.column_stack([W[idx], z[idx]])
        A = Z.T @ X
        if np.linalg.matrix_rank(A) == A.shape[0]:
            out[b] = np.linalg.solve(A, Z.T @ y[idx])[-1]
    return out


def test_bootstrap_from_cluster_sums_equals_stacking_the_rows() -> None:
    # Few clusters per stratum, so some replicates draw no cluster receiving the treatment.
    d = _simulate(np.random.default_rng(1), n_clusters=8, comply=0.5)
    exog = pd.DataFrame({"(Intercept)": 1.0, "base": d.base, "s": d.s})
    strata = (d.arm.astype(str) + "/" + d.s.astype(str)).to_numpy()
    args = (
        d.y.to_numpy(), exog, d.d.to_numpy(float), d.arm.to_numpy(float), d.c.to_numpy(), strata
    )  # fmt: skip
    got = cace_bootstrap(*args, replicates=300, rng=np.random.default_rng(4))
    expected = _bootstrap_by_rows(*args, 300, np.random.default_rng(4))
    assert np.isnan(expected).any() and np.isfinite(expected).sum() > 150
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


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


def test_published_figures_are_turned_into_this_runs_direction(config) -> None:
    ours = pd.DataFrame(
        {
            "analysis": ["high_vs_low"],
            "outcome": ["qpr_interpersonal"],
            "estimate": [1.2],
            "ci_low": [0.1],
            "ci_high": [2.3],
            "p": [0.03],
        }
    )
    truth = {"outcomes": {"qpr_interpersonal": {"high_minus_low_participation": 1.6}}}
    table = published_participation_table(config, ours, None, truth).set_index("outcome")
    row = table.loc[config["scales"]["qpr_interpersonal"]["label"]]
    assert row["published"] == "1.60 (0.5 to 2.7)"  # stated -1.6 (-2.7 to -0.5), low minus high
    assert row["true_value"] == 1.6 and row["this_run"] == "1.20 (0.10 to 2.30)"
    staff_row = table.loc[config["scales"]["recovery_promotion"]["label"]]
    assert staff_row["this_run"] == "not analysed" and pd.isna(staff_row["true_value"])


def test_config_cross_references_are_checked(config) -> None:
    assert secondary_config_problems(config) == []
    config["staff"]["outcomes"].append({"scale": "nope", "direction": "treatment_minus_reference"})
    config["sensitivity"]["delta"]["arms"] = ["placebo"]
    problems = secondary_config_problems(config)
    assert any("'nope' is not a declared scale" in p for p in problems)
    assert any("'placebo' is not one of the arm values" in p for p in problems)


def test_received_score_makes_the_first_stage_the_mean_treated_score(config) -> None:
    from trial.analysis import build_analysis_table
    from trial.participation import fit_participation

    config["participation"].update(received="score", bootstrap=0)
    config["analysis"]["outcomes"] = config["analysis"]["outcomes"][:1]
    table = build_analysis_table(config)
    scores = participation_scores(config)
    fits, boot = fit_participation(config, table, scores, 1)
    cace = fits[fits["analysis"] == "cace"].iloc[0]
    used = table["qpr_total__followup"].notna() & table["qpr_total__baseline"].notna()
    treated = table[used & (table["treatment"] == 1)]
    mean_score = treated["team_id"].map(scores.set_index("team_id")["participation_score"]).mean()
    # with strata in the model the first stage is a within-stratum contrast; allow that margin
    assert cace["first_stage"] == pytest.approx(mean_score, abs=0.03)
    assert cace["estimate"] == pytest.approx(cace["itt"] / cace["first_stage"], rel=1e-8)
    assert boot.empty
