"""The calibration study: generator truth, seeding per replicate, performance measures, the
decision rule, and a small study that fails an imputation that leaves the arm out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import trial.analyses.outcomes as analysis
from trial.seeding import derive_rng
from trial.stats.impute import ImputationResult
from trial.stats.mixed import fit_random_intercept_model
from trial.studies.simulation import (
    AUXILIARY,
    generate_replicate,
    judge_simulation,
    method_settings,
    replicate_chunks,
    simulate_replicates,
    simulation_cells,
    simulation_config,
    summarise_simulation,
)

CELL = "c27_icc0.1_d0.3_cv0.6"


def test_the_grid_has_every_combination_and_the_extra_cells(config):
    cells = simulation_cells(config)
    grid = config["simulation"]["grid"]
    assert len(cells) == np.prod([len(v) for v in grid.values()]) + len(
        config["simulation"].get("extra_cells", {})
    )
    assert cells[CELL] == {
        "clusters": 27,
        "icc": 0.1,
        "effect_sd": 0.3,
        "cluster_size_cv": 0.6,
        "nonlinear": 0.0,
    }


def test_generator_recovers_its_parameters(config):
    cell = {"clusters": 400, "icc": 0.1, "effect_sd": 0.3, "cluster_size_cv": 0.6}
    cell["nonlinear"] = 0.0
    spec = config["simulation"]["trial"]
    sim = simulation_config(config, "complete_case", 1)
    table = generate_replicate(sim, cell, derive_rng(1, "generator-test"))
    sd = spec["outcome"]["sd"]
    assert len(table) == 400 * spec["mean_cluster_size"] and table["team_id"].nunique() == 400
    sizes = table.groupby("team_id").size()
    assert sizes.std() / sizes.mean() == pytest.approx(0.6, abs=0.08)
    # arms balanced within each stratum
    arms = table.drop_duplicates("team_id").groupby(["trust", "treatment"]).size()
    assert (arms.groupby("trust").max() - arms.groupby("trust").min() <= 1).all()
    base, follow = table["qpr_total__baseline"], table["qpr_total__followup"]
    assert base.std() == pytest.approx(sd, rel=0.03)
    assert follow.isna().mean() == pytest.approx(spec["dropout"]["rate"], abs=0.02)
    # MAR on the auxiliary variable (positive log-odds) and on baseline (negative)
    lost = follow.isna()
    assert table.loc[lost, AUXILIARY].mean() > table.loc[~lost, AUXILIARY].mean() + 0.3
    assert base[lost].mean() < base[~lost].mean()
    # more loss in reference clusters, and loss rates that vary between clusters beyond chance
    rate = lost.groupby(table["treatment"]).mean()
    assert rate[0] > rate[1] + 0.05
    # (expected ratio to the binomial variance about 1.5 with a log-odds SD of 0.5; over 400
    # clusters the ratio's sampling SD is about sqrt(2 / 400) = 0.07, so 1.2 is far from 1)
    by_cluster = lost.groupby(table["team_id"]).agg(["mean", "size"])
    p_lost = by_cluster["mean"].mean()
    binomial = (p_lost * (1 - p_lost) / by_cluster["size"]).mean()
    assert by_cluster["mean"].var() > 1.2 * binomial
    design = pd.DataFrame({"(Intercept)": 1.0, "treatment": table["treatment"].astype(float)})
    fit = fit_random_intercept_model(base, design, table["team_id"], df_method="satterthwaite")
    assert fit.icc == pytest.approx(0.1, abs=0.025)
    # the follow-up effect, estimated on all rows before the loss (known here only through
    # the generator: rebuild the full follow-up by fitting among observed rows adjusted for
    # the auxiliary variable, which makes the loss ignorable)
    rows = follow.notna()
    X = pd.DataFrame(
        {
            "(Intercept)": 1.0,
            "treatment": table["treatment"].astype(float),
            "baseline": base,
            "auxiliary": table[AUXILIARY],
        }
    )[rows]
    fit = fit_random_intercept_model(follow[rows], X, table.loc[rows, "team_id"])
    se = np.sqrt(fit.cov.loc["treatment", "treatment"])
    assert abs(fit.params["treatment"] - 0.3 * sd) < 4 * se and se < 0.4


def test_the_auxiliary_variable_predicts_the_followup_beyond_the_baseline(config):
    cell = simulation_cells(config)[CELL] | {"clusters": 300, "icc": 0.02}
    sim = simulation_config(config, "complete_case", 1)
    table = generate_replicate(sim, cell, derive_rng(2, "aux"))
    rows = table["qpr_total__followup"].notna()
    y = table.loc[rows, "qpr_total__followup"]
    X = np.column_stack(
        [np.ones(rows.sum()), table.loc[rows, ["treatment", "qpr_total__baseline", AUXILIARY]]]
    )
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    # the auxiliary's slope: sd * sqrt(1 - icc) * sqrt(1 - rho^2) * correlation
    spec = config["simulation"]["trial"]
    rho, lam = spec["outcome"]["rho"], spec["auxiliary_correlation"]
    expected = spec["outcome"]["sd"] * np.sqrt(1 - 0.02) * np.sqrt(1 - rho**2) * lam
    assert coef[3] == pytest.approx(expected, rel=0.1)


def test_chunks_cover_every_replicate_once(config):
    config["simulation"]["methods"]["multilevel"] = {"replicates": 103}
    config["simulation"]["replicates_per_job"] = 25
    chunks = replicate_chunks(config, "multilevel")
    assert [r for chunk in chunks for r in chunk] == list(range(1, 104))
    config["simulation"]["methods"]["forest"] = {"replicates": 40, "replicates_per_job": 40}
    assert [list(c) for c in replicate_chunks(config, "forest")] == [list(range(1, 41))]
    config["simulation"]["methods"]["forest"]["cells"] = ["nowhere"]
    with pytest.raises(ValueError, match="no such cells"):
        method_settings(config, "forest")


def test_a_replicate_does_not_depend_on_its_chunk(config):
    config["simulation"].update(m=2, iterations=2)
    config["simulation"]["methods"]["multilevel"] = {}
    together = simulate_replicates(config, CELL, "multilevel", range(1, 4))
    alone = simulate_replicates(config, CELL, "multilevel", [3])
    pd.testing.assert_frame_equal(together.iloc[[2]].reset_index(drop=True), alone)
    assert together["estimate"].nunique() == 3
    # the same trial for every method: complete case analyses the same observed rows
    cc = simulate_replicates(config, CELL, "complete_case", [3])
    assert cc["n_individuals"].iloc[0] == alone["n_individuals"].iloc[0]
    assert cc["n_analysed"].iloc[0] == alone["n_individuals"].iloc[0] - alone["n_missing"].iloc[0]


def test_simulation_config_keeps_the_primary_outcome_and_method_settings(config):
    config["simulation"]["methods"]["variant"] = {"engine": "multilevel", "by_arm": True}
    sim = simulation_config(config, "variant", 123)
    assert [o["scale"] for o in sim["analysis"]["outcomes"]] == ["qpr_total"]
    assert sim["seed"] == 123 and sim["imputation"]["engine"] == "multilevel"
    assert sim["imputation"]["by_arm"] is True
    assert sim["imputation"]["auxiliary"] == [AUXILIARY] and sim["covariates"] == []
    assert "costs" not in sim and "cluster_variables" not in sim["imputation"]
    forest = simulation_config(config, "forest", 1)["imputation"]
    assert forest["engine"] == "forest"
    assert forest["m"] == config["simulation"]["methods"]["forest"]["m"]


def _results(estimates, ses, truth=1.0, method="multilevel", cell="s"):
    estimates, ses = np.asarray(estimates, float), np.asarray(ses, float)
    return pd.DataFrame(
        {
            "cell": cell,
            "method": method,
            "replicate": np.arange(1, estimates.size + 1),
            "true_effect": truth,
            "estimate": estimates,
            "se": ses,
            "ci_low": estimates - 2 * ses,
            "ci_high": estimates + 2 * ses,
            "p": [0.5, 0.01, 0.2, 0.04][: estimates.size],
            "m": 5,
            "iterations": 3,
        }
    )


def test_performance_measures_by_hand():
    row = summarise_simulation(_results([0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 2.0, 2.0])).iloc[0]
    emp_se = np.sqrt(((np.arange(4) - 1.5) ** 2).sum() / 3)  # sample SD of 0, 1, 2, 3
    assert row["bias"] == pytest.approx(0.5)
    assert row["empirical_se"] == pytest.approx(emp_se)
    assert row["bias_mcse"] == pytest.approx(emp_se / 2)
    assert row["empirical_se_mcse"] == pytest.approx(emp_se / np.sqrt(6))
    assert row["model_se"] == pytest.approx(np.sqrt(2.5))  # root mean of 1, 1, 4, 4
    assert row["model_se_mcse"] == pytest.approx(np.sqrt(np.var([1, 1, 4, 4], ddof=1) / 40))
    assert row["se_ratio"] == pytest.approx(np.sqrt(2.5) / emp_se)
    # intervals: [-2, 2], [-1, 3], [-2, 6], [-1, 7] all cover 1
    assert row["coverage"] == pytest.approx(1.0) and row["coverage_mcse"] == 0.0
    assert row["rejection"] == pytest.approx(0.5) and row["rejection_is"] == "power"


def test_the_decision_rule_by_hand():
    n = 1000
    mcse_nominal = np.sqrt(0.95 * 0.05 / n)  # 0.00689
    summary = pd.DataFrame(
        {
            "cell": ["a", "a", "b", "b", "c"],
            "method": ["complete_case", "x", "complete_case", "x", "x"],
            "n_replicates": n,
            "true_effect": [2.0, 2.0, 0.0, 0.0, 2.0],
            # x in a: bias 0.05 > 2 MCSE (0.02) but within 2% of the effect (0.04)? no: 0.05
            # is beyond both, so it fails; x in b: bias 0.03 beyond 2 MCSE and beyond 2% of
            # the reference effect 1.0 (0.02), fails; complete case in b: 0.015 within 2%
            "bias": [0.03, 0.05, 0.015, 0.03, 0.05],
            "bias_mcse": [0.01, 0.01, 0.01, 0.01, 0.04],
            "coverage": [0.95, 0.95 - 1.9 * mcse_nominal, 0.95, 0.95, 0.95 + 2.1 * mcse_nominal],
            "empirical_se": [1.0, 0.8, 1.0, 1.1, 0.9],
        }
    )
    judged = judge_simulation(summary, reference_effect=1.0).set_index(["cell", "method"])
    assert judged["bias_tolerance"].tolist() == pytest.approx([0.04, 0.04, 0.02, 0.02, 0.04])
    assert judged["bias_fail"].tolist() == [False, True, False, True, False]
    assert judged["coverage_fail"].tolist() == [False, False, False, False, True]
    assert judged["fail"].tolist() == [False, True, False, True, True]
    assert judged.loc[("a", "x"), "efficiency"] == pytest.approx(0.8)
    assert np.isnan(judged.loc[("c", "x"), "efficiency"])  # no complete case in cell c


def _small_study(config, replicates: int) -> pd.Series:
    """Bias of the multilevel method in a cell where dilution is large: 1 SD effect."""
    config["simulation"].update(m=5, iterations=5)
    config["simulation"]["extra_cells"] = {
        "large_effect": {"clusters": 27, "icc": 0.02, "effect_sd": 1.0, "cluster_size_cv": 0.0}
    }
    config["simulation"]["methods"]["multilevel"] = {}
    results = simulate_replicates(config, "large_effect", "multilevel", range(1, replicates + 1))
    return summarise_simulation(results).iloc[0]


def test_a_small_study_passes_the_engine_and_fails_one_that_ignores_the_arm(config, monkeypatch):
    # The same few replicates through the study's own code, twice: with the workflow's
    # imputation, whose bias must lie within 3 Monte Carlo SEs of zero, and with an imputation
    # that draws each missing value from the observed ones, ignoring the arm (and everything
    # else), which imputes the lost 30% as if from the average of both arms and so shrinks the
    # 1-SD effect by about 15% of it (~1.4 points): the same check must then fail. Fixed seeds
    # make both outcomes deterministic; 3 MCSE keeps a chance failure of the first at 0.3%.
    good = _small_study(config, 20)
    assert abs(good["bias"]) < 3 * good["bias_mcse"], good[["bias", "bias_mcse"]]

    def hot_deck(config, model, seed):
        rng = np.random.default_rng(seed)
        completed = model.data.copy()
        for column in model.impute:
            values = completed[column].to_numpy(dtype=float, copy=True)
            missing = np.isnan(values)
            values[missing] = rng.choice(values[~missing], missing.sum())
            completed[column] = values
        return ImputationResult(completed=completed, trace=_EMPTY_TRACE, engine="hot deck")

    monkeypatch.setattr(analysis, "_impute_part", hot_deck)
    bad = _small_study(config, 20)
    assert bad["bias"] < -3 * bad["bias_mcse"], bad[["bias", "bias_mcse"]]
    assert bad["bias"] < good["bias"] - 0.7


_EMPTY_TRACE = pd.DataFrame(
    {"iteration": [1], "variable": ["qpr_total__followup"], "mean": [0.0], "sd": [0.0]}
)
