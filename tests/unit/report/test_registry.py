"""trial.report.registry: the report's sections in order, the files each reads under a config,
and one key declared with two paths refused."""

from __future__ import annotations

import pytest
import yaml

from trial.report.registry import (
    SECTIONS,
    ReportInput,
    ReportSection,
    active_inputs,
    active_sections,
    report_files,
)

from ...conftest import ROOT

_FOLDERS = {"reports": "R", "derived": "D"}


def _refocus() -> dict:
    return yaml.safe_load((ROOT / "config" / "refocus.yaml").read_text(encoding="utf-8"))


def test_report_files_fill_each_folder_and_one_file_per_imputation():
    files = report_files(_refocus(), _FOLDERS, [1, 2])
    assert files["outcomes"] == "R/tables/outcomes.csv"
    assert files["imputation_model"] == "D/imputed/model.json"
    assert files["traces"] == ["D/imputed/1.trace.parquet", "D/imputed/2.trace.parquet"]


def test_sections_and_their_optional_files_follow_the_config():
    config = _refocus()
    assert {"costs", "audit_figure", "participation", "delta_adjustment"} <= set(
        active_inputs(config)
    )
    assert not {"arm_tests", "marginal_effects"} & set(active_inputs(config))
    for section in ("costs", "audit", "participation", "icc", "sensitivity"):
        config.pop(section, None)
    left = set(active_inputs(config))
    assert not {"costs", "audit_figure", "participation", "icc", "sensitivity"} & left
    assert "delta_adjustment" not in left  # its section is off


def test_one_key_declared_with_two_paths_is_refused():
    clash = (
        ReportSection("a", SECTIONS[0].builder, (ReportInput("x", "tables/x.csv"),)),
        ReportSection("b", SECTIONS[0].builder, (ReportInput("x", "tables/y.csv"),)),
    )
    with pytest.raises(ValueError, match="'x' is declared as reports/tables/x.csv and as"):
        active_inputs(_refocus(), clash)


def test_sections_are_in_the_order_of_evidence():
    assert [s.name for s in SECTIONS] == [
        "design",
        "estimands",
        "flow",
        "stepped_wedge",  # a stepped-wedge or crossover design's effects (its report only)
        "baseline",
        "outcomes",  # primary and secondary, the randomised staff outcomes among them
        "sensitivity",
        "imputation",
        "clustering",
        "participation",  # not randomised
        "costs",
        "audit",  # process
        "reproduction",  # published figures or truth, last (provenance follows)
    ]
    scheduled = [s.name for s in SECTIONS if s.scheduled]
    assert scheduled == ["stepped_wedge"]


def test_a_scheduled_design_reads_its_own_results_only():
    config = _refocus()
    config["design"]["type"] = "stepped_wedge"
    assert [s.name for s in active_sections(config)] == ["stepped_wedge"]
    assert set(active_inputs(config)) == {
        "stepped_wedge",
        "stepped_wedge_sensitivity",
        "stepped_wedge_flow",
        "schedule_figure",
    }
