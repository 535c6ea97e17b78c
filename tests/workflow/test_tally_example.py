"""The bundled post-only example (TALLY) end to end, by config alone: three arms, classes
randomised within schools, one end-of-year test, no baseline wave, no loss and nothing missing
(m = 1). Its estimates are checked against the generating truth, the run against the committed
expected results with `trial verify`, and its outputs for words of a design it does not have."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml

from trial.cli.main import main
from trial.cli.verify import compare_results
from trial.config.load import load_config

from ..conftest import ROOT
from .test_end_to_end import run_workflow, write_config

CONFIG = ROOT / "config" / "tally.yaml"
RAW = ROOT / "data" / "raw" / "tally"
EXPECTED = ROOT / "config" / "expected" / "tally.json"

pytestmark = pytest.mark.slow  # about three minutes on 2 busy cores


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tally")
    config = load_config(CONFIG)
    path = write_config(config, folder, RAW, "tally.yaml")
    config["paths"]["expected"] = str(EXPECTED)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run_workflow(path, folder, 2)
    return path, folder / "reports"


def test_each_arms_estimate_is_near_its_truth(run):
    """One trial of 36 classes: each arm's estimate lies within 2 SE of the true difference of
    the generating model (computed on a counterfactual population of 40,000 pupils)."""
    _, reports = run
    truth = json.loads((RAW / "truth.json").read_text())["outcomes"]["maths"]
    outcomes = pd.read_csv(reports / "tables" / "outcomes.csv").set_index("arm")
    for arm, true in truth["arm_minus_reference"].items():
        estimate, se = outcomes.loc[arm, "estimate"], outcomes.loc[arm, "se"]
        assert abs(estimate - true) < 2 * se, (arm, estimate, se, true)
        assert outcomes.loc[arm, "m"] == 1 and outcomes.loc[arm, "between"] == 0
    assert set(outcomes["standardised_by"]) == {"follow-up SD in the reference arm"}
    assert outcomes["sd_baseline"].isna().all()


def test_trial_verify_finds_the_committed_expected_results(run, capsys):
    path, reports = run
    assert compare_results(reports / "tables", EXPECTED) == []
    assert main(["verify", str(path)]) == 0
    assert "every number" in capsys.readouterr().out


def test_no_output_speaks_of_a_baseline_loss_or_imputation(run):
    _, reports = run
    flow = pd.read_csv(reports / "tables" / "flow.csv")
    assert not flow["stage"].str.contains("baseline|lost|imputation").any()
    pupils = pd.read_csv(RAW / "pupils.csv")
    recruited = flow[flow["stage"] == "recruited"]["n"].sum()
    assert recruited == len(pupils)
    text = re.sub(r"<[^>]+>", " ", (reports / "report.html").read_text(encoding="utf-8"))
    for phrase in ("assessed at baseline", "lost to follow-up:", "Baseline mean", "pooled over"):
        assert phrase not in text, phrase
