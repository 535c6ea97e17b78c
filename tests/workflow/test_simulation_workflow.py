"""Smoke test of the simulation target: a few replicates through the real workflow rules."""

from __future__ import annotations

import copy
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from trial.studies.simulation import simulate_replicates

from ..conftest import ROOT

# a few simulation replicates through the workflow (about 15 s); CI runs it in its slow step
pytestmark = pytest.mark.slow


def test_simulation_target_runs_and_matches_the_library(example_config, tmp_path):
    config = copy.deepcopy(example_config)
    config["paths"] = {
        "raw": str(ROOT / config["paths"]["raw"]),
        "derived": str(tmp_path / "derived"),
        "reports": str(tmp_path / "reports"),
    }
    sim = config["simulation"]
    sim.update(replicates=2, replicates_per_job=2, m=2, iterations=2)
    sim["grid"] = {
        "clusters": [12],
        "icc": [0.05],
        "effect_sd": [0.0, 0.3],
        "cluster_size_cv": [0.6],
    }
    sim["extra_cells"] = {}
    sim["methods"] = {
        "complete_case": {},
        "multilevel": {},
        "forest": {"replicates": 2, "m": 2, "iterations": 1, "cells": ["c12_icc0.05_d0.3_cv0.6"]},
    }
    config_path = tmp_path / "trial.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(tmp_path), "--configfile", str(config_path),
        "--cores", "2", "-q", "--", "simulation",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

    summary = pd.read_csv(tmp_path / "reports" / "tables" / "simulation.csv")
    counts = summary.set_index(["cell", "method"])["n_replicates"]
    assert counts.to_dict() == {
        ("c12_icc0.05_d0_cv0.6", "complete_case"): 2,
        ("c12_icc0.05_d0_cv0.6", "multilevel"): 2,
        ("c12_icc0.05_d0.3_cv0.6", "complete_case"): 2,
        ("c12_icc0.05_d0.3_cv0.6", "multilevel"): 2,
        ("c12_icc0.05_d0.3_cv0.6", "forest"): 2,
    }
    assert {"bias_fail", "coverage_fail", "fail", "efficiency"} <= set(summary.columns)
    assert (tmp_path / "reports" / "figures" / "simulation.png").stat().st_size > 0
    null = summary[summary["cell"] == "c12_icc0.05_d0_cv0.6"]
    assert set(null["rejection_is"]) == {"type I error"}

    # one job of two replicates; the library gives replicate 2 alone the same result
    replicates = pd.read_csv(tmp_path / "derived" / "simulation" / "replicates.csv.gz")
    got = replicates.query("method == 'multilevel' and cell == 'c12_icc0.05_d0.3_cv0.6'")
    direct = simulate_replicates(config, "c12_icc0.05_d0.3_cv0.6", "multilevel", [2])
    assert got.set_index("replicate").loc[2, "estimate"] == float(
        f"{direct['estimate'].iloc[0]:.10g}"
    )
