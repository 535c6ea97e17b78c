"""The simulation study: generator truth, seeding per replicate, performance measures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trial.mixed import fit_random_intercept_model
from trial.seeding import derive_rng
from trial.simulation import (
    generate_replicate,
    replicate_chunks,
    simulate_replicates,
    simulation_config,
    summarise_simulation,
)


def test_generator_recovers_its_parameters(config):
    config["simulation"]["trial"]["clusters"] = {
        "SLaM": {"control": 100, "refocus": 100},
        "2gether": {"control": 50, "refocus": 50},
    }
    config["simulation"]["trial"]["individuals"] = 30000
    spec = config["simulation"]["trial"]
    table = generate_replicate(config, 3.0, derive_rng(1, "generator-test"))
    assert len(table) == 30000 and table["team_id"].nunique() == 300
    base, follow = table["qpr_total__baseline"], table["qpr_total__followup"]
    assert base.mean() == pytest.approx(spec["outcome"]["mean"], abs=0.3)
    assert base.std() == pytest.approx(spec["outcome"]["sd"], rel=0.03)
    assert follow.isna().mean() == pytest.approx(spec["dropout"]["rate"], abs=0.01)
    # MAR: those lost had lower baseline scores (negative log-odds per SD of baseline)
    assert base[follow.isna()].mean() < base[follow.notna()].mean() - 0.5
    design = pd.DataFrame({"(Intercept)": 1.0, "treatment": table["treatment"].astype(float)})
    fit = fit_random_intercept_model(base, design, table["team_id"], df_method="satterthwaite")
    assert fit.icc == pytest.approx(spec["outcome"]["icc"], abs=0.015)
    assert abs(fit.params["treatment"]) < 4 * np.sqrt(fit.cov.loc["treatment", "treatment"])
    # the follow-up effect, estimated on the (MAR) observed rows adjusted for baseline
    rows = follow.notna()
    X = pd.DataFrame(
        {"(Intercept)": 1.0, "treatment": table["treatment"].astype(float), "baseline": base}
    )[rows]
    fit = fit_random_intercept_model(follow[rows], X, table.loc[rows, "team_id"])
    se = np.sqrt(fit.cov.loc["treatment", "treatment"])
    assert abs(fit.params["treatment"] - 3.0) < 4 * se and se < 0.4


def test_chunks_cover_every_replicate_once(config):
    config["simulation"]["replicates"] = 103
    config["simulation"]["replicates_per_job"] = 25
    chunks = replicate_chunks(config, "multilevel")
    assert [r for chunk in chunks for r in chunk] == list(range(1, 104))
    config["simulation"]["methods"]["forest"] = {"replicates": 40}  # a method's override
    assert [r for chunk in replicate_chunks(config, "forest") for r in chunk] == list(range(1, 41))


def test_a_replicate_does_not_depend_on_its_chunk(config):
    config["simulation"]["m"] = 2
    config["simulation"]["iterations"] = 2
    together = simulate_replicates(config, "null_effect", "multilevel", range(1, 4))
    alone = simulate_replicates(config, "null_effect", "multilevel", [3])
    pd.testing.assert_frame_equal(together.iloc[[2]].reset_index(drop=True), alone)
    assert together["estimate"].nunique() == 3
    # the same trial for every method: complete case analyses the same observed rows
    cc = simulate_replicates(config, "null_effect", "complete_case", [3])
    assert cc["n_individuals"].iloc[0] == alone["n_individuals"].iloc[0]
    assert cc["n_analysed"].iloc[0] < alone["n_analysed"].iloc[0] == alone["n_individuals"].iloc[0]


def test_simulation_config_keeps_the_primary_outcome_and_method_settings(config):
    sim = simulation_config(config, "forest", 123)
    assert [o["scale"] for o in sim["analysis"]["outcomes"]] == ["qpr_total"]
    assert sim["seed"] == 123 and sim["imputation"]["engine"] == "forest"
    assert sim["imputation"]["m"] == config["simulation"]["methods"]["forest"]["m"]
    assert "costs" not in sim


def test_performance_measures_by_hand():
    results = pd.DataFrame(
        {
            "scenario": "s",
            "method": "multilevel",
            "replicate": [1, 2, 3, 4],
            "true_effect": 1.0,
            "estimate": [0.0, 1.0, 2.0, 3.0],
            "se": [1.0, 1.0, 2.0, 2.0],
            "ci_low": [-1.0, 0.5, 1.5, -1.0],
            "ci_high": [1.0, 2.0, 3.0, 7.0],
            "p": [0.5, 0.01, 0.2, 0.04],
            "m": 5,
            "iterations": 3,
        }
    )
    row = summarise_simulation(results).iloc[0]
    emp_se = np.sqrt(((np.arange(4) - 1.5) ** 2).sum() / 3)  # sample SD of 0, 1, 2, 3
    assert row["bias"] == pytest.approx(0.5)
    assert row["empirical_se"] == pytest.approx(emp_se)
    assert row["bias_mcse"] == pytest.approx(emp_se / 2)
    assert row["empirical_se_mcse"] == pytest.approx(emp_se / np.sqrt(6))
    assert row["model_se"] == pytest.approx(1.5)
    assert row["model_se_mcse"] == pytest.approx(np.std([1, 1, 2, 2], ddof=1) / 2)
    assert row["coverage"] == pytest.approx(0.75)  # replicates 1, 2 and 4 cover 1.0
    assert row["coverage_mcse"] == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    assert row["rejection"] == pytest.approx(0.5) and row["rejection_is"] == "power"
