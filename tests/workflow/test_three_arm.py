"""The bundled three-arm example, end to end with no code change: every arm against the reference,
the joint arm test, flow by arm, and estimates near the generating truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from trial.config.load import load_config
from trial.stats.pooling import pool_d1

from ..conftest import ROOT
from .test_end_to_end import code_names_in_report, run_workflow, write_config

CONFIG = ROOT / "config" / "trio.yaml"
RAW = ROOT / "data" / "raw" / "trio"
ARMS = ("guided_self_help", "self_help_plus_groups")


def small_three_arm_trial(folder, **imputation) -> tuple[dict, object]:
    """The example with 4 imputations of 2 iterations (and ``imputation`` settings), its results
    in ``folder``: its config and the path it is written to."""
    config = load_config(CONFIG)
    # D1 needs k(m - 1) > 4 for Reiter's df; two iterations suffice to pass every rule's output
    # on (the estimates are checked at 2 SE, which the imputation noise leaves well inside)
    config["imputation"].update(m=4, iterations=2, **imputation)
    config["icc"]["bootstrap"] = 20
    path = write_config(config, folder, RAW, "trio.yaml")
    return config, path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trio")
    config, path = small_three_arm_trial(folder)
    run_workflow(path, folder, 2)
    return config, folder


def test_every_treatment_arm_is_compared_with_the_reference(run):
    config, folder = run
    outcomes = pd.read_csv(folder / "reports" / "tables" / "outcomes.csv")
    scales = [o["scale"] for o in config["analysis"]["outcomes"]]
    assert list(zip(outcomes["outcome"], outcomes["arm"], strict=True)) == [
        (s, a) for s in scales for a in ARMS
    ]
    labels = config["design"]["arm_labels"]
    for row in outcomes.itertuples():
        assert row.contrast == f"{labels[row.arm]} minus Usual care"


def test_primary_estimates_are_near_each_arms_truth(run):
    _, folder = run
    truth = json.loads((RAW / "truth.json").read_text())["outcomes"]["phq9"]
    outcomes = pd.read_csv(folder / "reports" / "tables" / "outcomes.csv")
    primary = outcomes[outcomes["outcome"] == "phq9"].set_index("arm")
    for arm in ARMS:
        own = truth["arm_minus_reference"][arm]
        other = truth["arm_minus_reference"][next(a for a in ARMS if a != arm)]
        estimate, se = primary.loc[arm, "estimate"], primary.loc[arm, "se"]
        # within 2 SE of its own arm's truth, and nearer to it than to the other arm's
        assert abs(estimate - own) < 2 * se, (arm, estimate, own)
        assert abs(estimate - own) < abs(estimate - other)
        assert 10 < primary.loc[arm, "df"] < 33  # cluster-level df with 33 practices


def test_joint_arm_test_is_d1_over_the_imputations(run):
    config, folder = run
    tests = pd.read_csv(folder / "reports" / "tables" / "arm_tests.csv").set_index("outcome")
    assert list(tests.index) == [o["scale"] for o in config["analysis"]["outcomes"]]
    assert (tests["num_df"] == 2).all()
    # recompute the primary outcome's D1 by hand from the per-imputation fit files
    fits = [pd.read_parquet(folder / "derived" / "fits" / f"{i}.parquet") for i in range(1, 5)]
    terms = ["allocation[guided_self_help]", "allocation[self_help_plus_groups]"]
    parts = [f[f["outcome"] == "phq9"].set_index("term").loc[terms] for f in fits]
    q = np.array([p["estimate"].to_numpy() for p in parts])
    u = np.array([p[[f"cov[{t}]" for t in terms]].to_numpy() for p in parts])
    expected = pool_d1(q, u, df_complete=float(np.mean([p["arms_den_df"].iloc[0] for p in parts])))
    assert tests.loc["phq9", "F"] == pytest.approx(expected.F, rel=1e-8)
    assert tests.loc["phq9", "den_df"] == pytest.approx(expected.den_df, rel=1e-8)
    # the covariance columns hold each arm's variance on the diagonal
    for p in parts:
        for t in terms:
            assert p.loc[t, f"cov[{t}]"] == pytest.approx(p.loc[t, "variance"], rel=1e-12)


def test_flow_counts_every_arm_from_the_raw_files(run):
    _, folder = run
    practices = pd.read_csv(RAW / "practices.csv")
    patients = pd.read_csv(RAW / "patients.csv")
    arm = patients["practice_id"].map(practices.set_index("practice_id")["allocation"])
    flow = pd.read_csv(folder / "reports" / "tables" / "flow.csv")
    assert set(flow["arm"]) == {*ARMS, "usual_care"}
    for code in (*ARMS, "usual_care"):
        got = flow[flow["arm"] == code].set_index("stage")["n"]
        assert got["randomised"] == (practices["allocation"] == code).sum()
        assert got["assessed at baseline"] == (arm == code).sum()
        assert got["followed up"] == ((arm == code) & (patients["week26_status"] == "seen")).sum()


def test_report_names_every_arm_and_the_joint_test(run):
    config, folder = run
    html = (folder / "reports" / "report.html").read_text()
    for label in config["design"]["arm_labels"].values():
        assert label in html
    assert "Joint test per outcome that every treatment arm equals Usual care" in html
    assert "generated from an invented model" in html  # no published figures to resemble
    assert "PT00001" not in html and "GP001" not in html  # no identifiers in the report
    assert code_names_in_report(config, html) == set()
