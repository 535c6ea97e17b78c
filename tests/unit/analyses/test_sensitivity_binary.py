"""Re-randomisation test and delta adjustment of a binary primary outcome."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from trial.analyses.sensitivity import delta_adjustment, rerandomisation_test
from trial.config.load import load_config

from ...conftest import ROOT
from ..analyses.test_sensitivity import _brute_force_null

OBSERVED = ROOT / "tests" / "reference" / "fixtures" / "binary_sensitivity" / "observed.csv"


@pytest.fixture(scope="module")
def pulse() -> dict:
    config = load_config(ROOT / "config" / "pulse.yaml")
    config["sensitivity"] = {"permutations": 2000, "max_enumerated": 10_000_000}
    return config


@pytest.fixture(scope="module")
def observed() -> pd.DataFrame:
    table = pd.read_csv(OBSERVED, dtype={"region": str, "sex": str})
    # 12 practices (6 per region) keep every allocation enumerable by brute force
    keep = table.groupby("region")["practice_id"].unique().map(lambda ids: sorted(ids)[:6])
    return table[table["practice_id"].isin(np.concatenate(keep.to_list()))].reset_index(drop=True)


def _difference_residuals(table: pd.DataFrame) -> pd.DataFrame:
    """Stage 1 by statsmodels' Logit (arm left out), residuals per practice by groupby."""
    rows = table.dropna(subset=["bp_controlled__followup"])
    Z = pd.DataFrame(
        {
            "const": 1.0,
            "baseline": rows["bp_controlled__baseline"],
            "west": (rows["region"] == "west").astype(float),
            "age": rows["age"],
            "male": (rows["sex"] == "male").astype(float),
        }
    )
    expected = sm.Logit(rows["bp_controlled__followup"], Z).fit(disp=0, tol=1e-12).predict(Z)
    per = rows.assign(e=expected).groupby("practice_id")
    return pd.DataFrame(
        {
            "residual": (per["bp_controlled__followup"].sum() - per["e"].sum()) / per.size(),
            "treated": per["treatment"].first(),
            "region": per["region"].first(),
        }
    )


def test_statistic_is_the_cluster_level_risk_difference_and_p_is_exact(pulse, observed):
    summary, null = rerandomisation_test(pulse, observed)
    by_hand = _difference_residuals(observed)
    treated = by_hand["treated"] == 1
    statistic = by_hand.loc[treated, "residual"].mean() - by_hand.loc[~treated, "residual"].mean()
    assert summary["statistic"] == pytest.approx(statistic, rel=1e-8)
    assert summary["n_individuals"] == observed["bp_controlled__followup"].notna().sum()
    assert summary["n_clusters"] == 12
    brute = _brute_force_null(by_hand["residual"], by_hand["region"], by_hand["treated"])
    assert summary["method"] == "exact" and summary["n_allocations"] == len(brute)
    np.testing.assert_allclose(np.sort(null), np.sort(brute), rtol=1e-8, atol=1e-12)
    p = np.mean(np.abs(brute) >= abs(statistic) - 1e-12)
    assert summary["p"] == pytest.approx(p)
    assert "risk difference" in summary["description"]


def test_reversed_direction_flips_the_statistic_not_the_p(pulse, observed):
    summary, null = rerandomisation_test(pulse, observed)
    reverse = copy.deepcopy(pulse)
    reverse["analysis"]["outcomes"][0]["direction"] = "reference_minus_treatment"
    flipped, flipped_null = rerandomisation_test(reverse, observed)
    assert flipped["statistic"] == pytest.approx(-summary["statistic"])
    assert flipped["p"] == summary["p"]
    np.testing.assert_allclose(np.sort(flipped_null), np.sort(-null))


def _one_arm_missing(pulse: dict, p_reference: float, p_treated: float, fraction: float):
    """PULSE-shaped table with no clustering and no covariate effects: follow-up missing
    completely at random in the treated arm only."""
    rng = np.random.default_rng(20261201)
    n_clusters, size = 40, 60
    cluster = np.repeat(np.arange(n_clusters), size)
    treated = np.repeat(np.arange(n_clusters) % 2, size)
    n = cluster.size
    y = (rng.random(n) < np.where(treated == 1, p_treated, p_reference)).astype(float)
    missing = (treated == 1) & (rng.random(n) < fraction)
    arms = pulse["design"]["arm_labels"]
    reference = pulse["design"]["reference_arm"]
    active = next(a for a in arms if a != reference)
    table = pd.DataFrame(
        {
            "patient_id": [f"P{i:05d}" for i in range(n)],
            "practice_id": [f"C{c:03d}" for c in cluster],
            "treatment": treated,
            "allocation": np.where(treated == 1, active, reference),
            "region": np.where(
                np.repeat(np.arange(n_clusters) // 2 % 2, size) == 1, "west", "east"
            ),
            "age": pd.array(rng.integers(40, 80, n), dtype="Int64"),
            "sex": np.where(rng.random(n) < 0.5, "male", "female"),
            "month12_status": np.where(missing, "declined", "seen"),
            "bp_controlled__baseline": (rng.random(n) < 0.4).astype(float),
            "bp_controlled__followup": np.where(missing, np.nan, y),
            "consultations__baseline": rng.poisson(4.0, n).astype(float),
            "consultations__followup": rng.poisson(4.0, n).astype(float),
        }
    )
    return table, active


def test_binary_delta_moves_the_log_odds_ratio_by_the_expected_amount(pulse):
    """All missing values in one arm, missing completely at random, no clustering and no
    covariate effects: redrawing the imputed values with their log odds shifted by delta makes
    that arm's proportion ``(1 - f) p + f expit(logit(p) + delta)``, so the log odds ratio moves
    by ``logit`` of that minus ``logit(p)`` (``p`` the arm's observed proportion, ``f`` the
    fraction imputed). Checked within 3 SEs of the spread of the per-imputation shifts; the other
    arm, with nothing imputed, does not move."""
    from trial.analyses.outcomes import impute_analysis_table
    from trial.stats.impute.binary import shifted_draw

    config = copy.deepcopy(pulse)
    config["analysis"]["non_gaussian"]["method"] = "gee"
    config["imputation"]["iterations"] = 10
    deltas = [0.0, -1.5, 1.5]
    table, active = _one_arm_missing(config, 0.3, 0.4, 0.4)
    config["sensitivity"]["delta"] = {
        "arms": [active, config["design"]["reference_arm"]],
        "grid": deltas,
    }
    m = 8
    results = [impute_analysis_table(config, table, k) for k in range(1, m + 1)]
    completed = [r.completed for r in results]
    latent = [r.latent for r in results]
    pooled = delta_adjustment(config, table, completed, latent)
    per = pd.concat(
        [
            delta_adjustment(config, table, [c], [lat]).assign(imputation=k)
            for k, (c, lat) in enumerate(zip(completed, latent, strict=True))
        ]
    )
    # Rubin's pooled estimate is the mean of the per-imputation ones
    means = per.groupby(["arm_shifted", "delta"])["estimate"].mean()
    np.testing.assert_allclose(
        pooled.set_index(["arm_shifted", "delta"])["estimate"],
        means.loc[pooled.set_index(["arm_shifted", "delta"]).index],
        rtol=1e-10,
    )
    mine = per[per["arm_shifted"] == active].pivot(
        index="imputation", columns="delta", values="estimate"
    )
    y = table["bp_controlled__followup"]
    treated = table["treatment"] == 1
    p = y[treated].mean()
    f = y[treated].isna().mean()
    logit = lambda q: np.log(q / (1 - q))  # noqa: E731
    for delta in deltas[1:]:
        shifts = mine[delta] - mine[0.0]
        q = (1 - f) * p + f / (1 + np.exp(-(logit(p) + delta)))
        expected = logit(q) - logit(p)
        se = shifts.std(ddof=1) / np.sqrt(m)
        assert abs(expected) > 0.4
        assert abs(shifts.mean() - expected) < 3 * se + 0.01, (delta, shifts.mean(), expected, se)
    # a probit shift of delta would move the arm far more: the test tells the two apart
    probit_q = (1 - f) * p + f * stats.norm.cdf(stats.norm.ppf(p) + 1.5)
    assert abs(logit(probit_q) - logit(p) - (mine[1.5] - mine[0.0]).mean()) > 0.15
    other = pooled[pooled["arm_shifted"] == config["design"]["reference_arm"]]
    assert (other["n_shifted"] == 0).all()
    np.testing.assert_allclose(other["estimate"], other["estimate"].iloc[0], rtol=1e-12)
    # delta 0 is the primary analysis of the completed datasets
    assert (pooled["delta_scale"] == "log odds").all()
    # every imputed value has its latent draw, which reproduces it
    for c, lat in zip(completed, latent, strict=True):
        rows = lat["row"].to_numpy()
        np.testing.assert_array_equal(
            shifted_draw(lat["eta"], lat["e"], 0.0), c["bp_controlled__followup"].iloc[rows]
        )
        assert sorted(rows) == list(np.flatnonzero(y.isna()))


def test_binary_delta_needs_latent_draws_that_match(pulse, observed):
    config = copy.deepcopy(pulse)
    config["sensitivity"]["delta"] = {"arms": ["nurse_review"], "grid": [0.0, 1.0]}
    with pytest.raises(ValueError, match="one latent table per completed dataset"):
        delta_adjustment(config, observed, [observed])


def test_latent_draws_map_to_the_table_rows_when_arms_are_imputed_apart(pulse):
    """With ``imputation.by_arm`` each arm is imputed on its own rows: the latent draws still
    name the analysis table's positions and reproduce every imputed 0/1 value."""
    from trial.analyses.outcomes import build_analysis_table, impute_analysis_table
    from trial.stats.impute.binary import shifted_draw

    config = copy.deepcopy(pulse)
    config["imputation"].update(by_arm=True, iterations=3)
    table = build_analysis_table(config)
    result = impute_analysis_table(config, table, 1)
    y = table["bp_controlled__followup"]
    latent = result.latent[result.latent["variable"] == y.name]
    rows = latent["row"].to_numpy()
    assert sorted(rows) == list(np.flatnonzero(y.isna()))
    np.testing.assert_array_equal(
        shifted_draw(latent["eta"], latent["e"], 0.0),
        result.completed[y.name].to_numpy()[rows],
    )
    assert result.engine.endswith(
        "latent-normal probit for 0/1 variables, predictive mean matching"
    )
