"""Smoke test of the simulation target: a few replicates through the real workflow rules."""

from __future__ import annotations

import copy
import subprocess
import sys

import pandas as pd
import yaml

from trial.simulation import METHODS, simulate_replicates

from ..conftest import ROOT


def test_simulation_target_runs_and_matches_the_library(example_config, tmp_path):
    config = copy.deepcopy(example_config)
    config["paths"] = {
        "raw": str(ROOT / config["paths"]["raw"]),
        "derived": str(tmp_path / "derived"),
        "reports": str(tmp_path / "reports"),
    }
    config["simulation"].update(replicates=2, replicates_per_job=2, m=2, iterations=2)
    config["simulation"]["methods"]["forest"] = {"replicates": 2, "m": 2, "iterations": 1}
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
    assert set(summary["method"]) == set(METHODS)
    assert set(summary["scenario"]) == set(config["simulation"]["scenarios"])
    counts = summary.set_index(["scenario", "method"])["n_replicates"]
    assert (counts.xs("forest", level="method") == 2).all()
    assert (counts.xs("multilevel", level="method") == 2).all()
    assert summary["coverage"].between(0, 1).all()
    assert (tmp_path / "reports" / "figures" / "simulation.png").stat().st_size > 0
    assert set(summary.loc[summary["scenario"] == "null_effect", "rejection_is"]) == {
        "type I error"
    }

    # one job of two replicates; the library gives replicate 2 alone the same result
    replicates = pd.read_csv(tmp_path / "derived" / "simulation" / "replicates.csv")
    got = replicates.query("method == 'multilevel' and scenario == 'null_effect'")
    direct = simulate_replicates(config, "null_effect", "multilevel", [2])
    assert got.set_index("replicate").loc[2, "estimate"] == float(
        f"{direct['estimate'].iloc[0]:.10g}"
    )
