"""The whole workflow on the post-only three-arm reference trial, by config alone.

The trial of ``tests/reference/data/post_only`` (no baseline wave, a 42-level stratum, a
single-variable outcome, nothing missing, m = 1) run end to end: its outcome table matches
lme4 + pbkrtest (``tests/reference/fixtures/post_only/lmer_kr.csv``) and no output speaks of a
baseline wave the trial does not have.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from ..conftest import ROOT
from .test_end_to_end import run_workflow, write_config

DATA = ROOT / "tests" / "reference" / "data" / "post_only"
FIXTURE = ROOT / "tests" / "reference" / "fixtures" / "post_only" / "lmer_kr.csv"

pytestmark = pytest.mark.slow  # about a minute on 2 cores


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("post_only")
    config = yaml.safe_load((DATA / "post_only.yaml").read_text())
    path = write_config(config, folder, DATA)
    run_workflow(path, folder, 2)
    return folder / "reports"


def test_outcomes_match_lme4_pbkrtest(run):
    outcomes = pd.read_csv(run / "tables" / "outcomes.csv").set_index("arm")
    reference = pd.read_csv(FIXTURE)
    reference = reference[reference["versus"] == "control"].set_index("arm")
    for arm in ("tutoring", "software"):
        got, want = outcomes.loc[arm], reference.loc[arm]
        np.testing.assert_allclose(got["estimate"], want["estimate"], rtol=1e-6)
        np.testing.assert_allclose(got["se"], want["se"], rtol=1e-6)
        np.testing.assert_allclose(got["df"], want["df"], rtol=1e-6)
    assert set(outcomes["standardised_by"]) == {"follow-up SD in the reference arm"}
    assert outcomes["sd_baseline"].isna().all()


def test_no_output_speaks_of_a_baseline_wave(run):
    flow = pd.read_csv(run / "tables" / "flow.csv")
    assert not flow["stage"].str.contains("baseline").any()
    assert "recruited" in set(flow["stage"])
    text = re.sub(r"<[^>]+>", " ", (run / "report.html").read_text(encoding="utf-8"))
    for phrase in ("assessed at baseline", "baseline value", "Baseline mean", "baseline SD"):
        assert phrase not in text, phrase
