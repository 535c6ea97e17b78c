"""The report section of a scheduled design: what it shows is what the result tables hold, its
methods text names the model that was fitted, and the whole report renders from these files."""

from __future__ import annotations

import copy
import json
import re

import pandas as pd
import pytest

from trial.analyses.stepped_wedge import (
    analyse_design,
    effects_table,
    sensitivity_models,
    sensitivity_table,
)
from trial.config.load import load_config
from trial.report.design_figures import plot_schedule
from trial.report.render import build_sections, render_report
from trial.report.sections.stepped import (
    methods_text,
    stepped_summary,
    stepped_wedge_section,
    truth_rows,
)

from ..analyses.test_stepped_wedge import CONFIG, RAW


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config(CONFIG)


@pytest.fixture(scope="module")
def inputs(config, tmp_path_factory) -> dict:
    """The result files of rule analyse_stepped_wedge, written as its script writes them."""
    folder = tmp_path_factory.mktemp("stepped_report")
    analysis = analyse_design(config, RAW)
    files = {
        "stepped_wedge": folder / "stepped_wedge.csv",
        "stepped_wedge_sensitivity": folder / "stepped_wedge_sensitivity.csv",
        "stepped_wedge_flow": folder / "stepped_wedge_flow.csv",
        "schedule_figure": folder / "schedule.png",
    }
    effects_table(config, analysis).to_csv(files["stepped_wedge"], index=False)
    sensitivity_table(config, analysis).to_csv(files["stepped_wedge_sensitivity"], index=False)
    analysis.flow.to_csv(files["stepped_wedge_flow"], index=False)
    plot_schedule(config, analysis.schedule, files["schedule_figure"], analysis.counts)
    return {"raw": [], **files, "truth": [RAW / "truth.json"]}


def test_sensitivity_models_change_one_assumption_of_the_primary_at_a_time():
    assert sensitivity_models("nested_exchangeable", False) == [
        ("hussey_hughes", False),
        ("nested_exchangeable", True),
    ]
    assert sensitivity_models("hussey_hughes", True) == [
        ("nested_exchangeable", True),
        ("hussey_hughes", False),
    ]


def test_the_section_shows_the_result_tables_numbers(config, inputs):
    section = stepped_wedge_section(config, inputs)
    s = section.context
    primary = pd.read_csv(inputs["stepped_wedge"])
    sensitivity = pd.read_csv(inputs["stepped_wedge_sensitivity"])
    assert [r["estimate"] for r in s["effects"]] == primary["estimate"].tolist()
    assert [r["df"] for r in s["sensitivity"]] == sensitivity["df"].tolist()
    assert [r["cac"] for r in s["correlation"]] == primary["cac"].tolist()
    flow = pd.read_csv(inputs["stepped_wedge_flow"], dtype={"period": str})
    assert [r["period"] for r in s["flow"]] == ["1", "2", "3", "4", "5"]
    shown = [a["n_analysed"] for r in s["flow"] for a in r["arms"]]
    assert shown == flow["n_analysed"].tolist()  # usual care then programme, period by period
    assert s["n_excluded"] == primary["n_excluded"].iloc[0]  # the model's exclusions, all counted
    assert section.id == "stepped_wedge"


def test_the_methods_text_names_the_fitted_model_and_its_df(config, inputs):
    primary = pd.read_csv(inputs["stepped_wedge"])
    text = methods_text(config, primary)
    assert "random intercepts per ward and per ward-period" in text
    assert "Kenward-Roger degrees of freedom" in text
    assert "each of 5 periods" in text and "stepped-wedge" in text
    hussey = primary.assign(model="hussey_hughes", df_method="satterthwaite")
    other = methods_text(config, hussey)
    assert "a random intercept per ward (Hussey & Hughes 2007)" in other
    assert "Satterthwaite degrees of freedom" in other and "ward-period (nested" not in other
    exposure = methods_text(config, primary.assign(time_on_treatment=True))
    assert "one indicator per period of exposure" in exposure
    # the adjustment as the table records it: the example's, none, a cluster-level covariate
    assert "adjusted for the outcome's baseline score and age." in text
    assert "without an observed outcome (or baseline score) are excluded" in text
    unadjusted = methods_text(config, primary.assign(adjusted_for=float("nan")))
    assert "with no other covariate." in unadjusted and "(or baseline score)" not in unadjusted
    beds = copy.deepcopy(config)
    beds["tables"]["wards"]["columns"]["beds"] = {"type": "integer"}
    beds["covariates"] = ["age", "beds"]
    with_beds = methods_text(beds, primary.assign(adjusted_for="age; beds"))
    assert "adjusted for age and beds (ward level)." in with_beds


def test_truth_rows_measure_the_estimate_from_the_generating_value_in_ses(config, inputs):
    effects = stepped_wedge_section(config, inputs).context["effects"]
    truth = json.loads((RAW / "truth.json").read_text())
    true = truth["outcomes"]["readiness"]["arm_minus_reference"]["programme"]
    (row,) = truth_rows(config, effects, truth)
    assert row["truth"] == true
    assert row["z"] == pytest.approx((effects[0]["estimate"] - true) / effects[0]["se"])
    # the example's estimate lies within 2 SE of its truth
    assert abs(row["z"]) < 2
    flipped = copy.deepcopy(config)
    flipped["analysis"]["outcomes"][0]["direction"] = "reference_minus_treatment"
    reversed_rows = [{**effects[0], "estimate": -effects[0]["estimate"]}]
    (back,) = truth_rows(flipped, reversed_rows, truth)
    assert back["truth"] == -true and back["z"] == pytest.approx(-row["z"])
    assert truth_rows(config, effects, {}) == []


def test_the_report_of_a_scheduled_design_renders_its_section_and_summary(config, inputs):
    sections = build_sections(config, inputs)
    assert [s.id for s in sections] == ["stepped_wedge", "consort"]
    summary = stepped_summary(config, inputs)
    html = render_report(config, sections, summary)
    primary = pd.read_csv(inputs["stepped_wedge"]).iloc[0]
    interval = f"{primary['estimate']:.2f} ({primary['ci_low']:.2f} to {primary['ci_high']:.2f})"
    assert interval in html
    assert f"<td class=\"num\">{primary['df']:.1f}</td>" in html
    assert re.search(r"<img src=\"data:image/png;base64,[A-Za-z0-9+/=]{1000,}\"", html)
    assert f"{int(primary['n_excluded'])} had no observed outcome or baseline score" in html
    assert "Table S3. Sensitivity analyses" in html
    assert "random intercept (Hussey & Hughes), one treatment effect" in html
    assert f"{primary['cac']:.3f}" in html
    (sentence,) = summary
    assert f"{primary['estimate']:.2f} (95% CI {primary['ci_low']:.2f} to " in sentence
    assert "adjusted for period, the outcome's baseline score and age." in sentence
    assert (
        f"{int(primary['n_excluded'])} without an observed outcome or baseline score were "
        "excluded" in sentence
    )
    assert "imputations" not in html.split("Contents")[0]  # nothing was imputed


def test_the_checklist_points_at_the_designs_section_and_says_what_it_leaves_out(config, inputs):
    (consort,) = [s for s in build_sections(config, inputs) if s.id == "consort"]
    rows = {r["item"]: r for r in consort.context["rows"]}
    for item in ("12a", "13a", "17a"):
        assert rows[item]["status"] == "reported", item
        assert [anchor for anchor, _ in rows[item]["links"]] == ["stepped_wedge"], item
    assert rows["13b"]["status"] == "partly reported" and "reasons" in rows["13b"]["note"]
    assert rows["15"]["status"] == "not produced by this run"  # no baseline table
