"""The stepped-wedge example through the workflow: the design's own targets, the library's numbers,
the committed expected results, and an invalid schedule stopped before any job."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from trial.analyses.stepped_wedge import analyse_design, effects_table, sensitivity_table
from trial.cli.verify import compare_results
from trial.config.load import load_config

from ..conftest import ROOT
from .test_end_to_end import run_workflow, snakemake_command, write_config

CONFIG = ROOT / "config" / "stepped.yaml"
RAW = ROOT / "data" / "raw" / "stepped"


def _config_in(folder, raw=RAW) -> tuple[dict, object]:
    config = load_config(CONFIG)
    path = write_config(config, folder, raw, "stepped.yaml")
    return config, path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stepped")
    config, path = _config_in(folder)
    run_workflow(path, folder, 1)
    return config, folder


def test_the_run_makes_the_designs_targets_and_no_parallel_ones(run):
    _, folder = run
    made = sorted(str(p.relative_to(folder / "reports")) for p in (folder / "reports").rglob("*"))
    assert made == [
        "figures",
        "figures/schedule.pdf",
        "figures/schedule.png",
        "figures/schedule.svg",
        "provenance.json",
        "report.html",
        "report.pdf",
        "tables",
        "tables/stepped_wedge.csv",
        "tables/stepped_wedge.json",
        "tables/stepped_wedge_flow.csv",
        "tables/stepped_wedge_sensitivity.csv",
    ]
    assert (folder / "reports" / "figures" / "schedule.png").read_bytes()[:4] == b"\x89PNG"
    assert (folder / "reports" / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_the_report_shows_the_designs_section_from_this_runs_tables(run):
    _, folder = run
    html = (folder / "reports" / "report.html").read_text(encoding="utf-8")
    table = pd.read_csv(folder / "reports" / "tables" / "stepped_wedge.csv").iloc[0]
    assert "Stepped-wedge design: schedule, flow and effects" in html
    assert f"{table['estimate']:.2f} ({table['ci_low']:.2f} to {table['ci_high']:.2f})" in html
    assert "imputation" not in html.lower().split("<nav>")[1].split("</nav>")[0]
    sensitivity = pd.read_csv(folder / "reports" / "tables" / "stepped_wedge_sensitivity.csv")
    for r in sensitivity.to_dict("records"):
        assert f"{r['estimate']:.2f} ({r['ci_low']:.2f} to {r['ci_high']:.2f})" in html


def test_the_table_holds_the_librarys_fit(run):
    config, folder = run
    table = pd.read_csv(folder / "reports" / "tables" / "stepped_wedge.csv")
    analysis = analyse_design(config)
    pd.testing.assert_frame_equal(table, effects_table(config, analysis), rtol=1e-9)
    sensitivity = pd.read_csv(folder / "reports" / "tables" / "stepped_wedge_sensitivity.csv")
    pd.testing.assert_frame_equal(sensitivity, sensitivity_table(config, analysis), rtol=1e-9)
    flow = pd.read_csv(
        folder / "reports" / "tables" / "stepped_wedge_flow.csv", dtype={"period": str}
    )
    pd.testing.assert_frame_equal(flow, analysis.flow)


def test_the_run_matches_the_committed_expected_results(run):
    _, folder = run
    assert (
        compare_results(folder / "reports" / "tables", ROOT / "config/expected/stepped.json") == []
    )


def test_an_invalid_schedule_stops_the_run_before_any_job(tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    wards = pd.read_csv(raw / "wards.csv", dtype=str)
    wards.loc[3, "crossover_period"] = ""
    wards.to_csv(raw / "wards.csv", index=False)
    _, path = _config_in(tmp_path, raw)
    done = subprocess.run(
        snakemake_command(path, tmp_path, "--cores", "1"), capture_output=True, text=True
    )
    assert done.returncode == 2
    assert (
        "wards.csv, line 5, column 'crossover_period'; expected the period at which cluster "
        "'W04' switches, one of design/periods ['1', '2', '3', '4', '5']" in done.stderr
    )
    assert not (tmp_path / "reports").exists()
