"""The CONSORT-cluster flow diagram: enrolment, allocation with cluster sizes, follow-up and
analysis, every number in a box read from the flow table and the cluster sizes."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

from trial.analyses.describe import (
    HIGH_PARTICIPATION,
    RECEIVED,
    cluster_sizes,
    describe_trial,
    enrolment_counts,
)
from trial.report.consort import flow_diagram

from ...conftest import ROOT


def svg_texts(path) -> set[str]:
    svg = path.with_suffix(".svg").read_text(encoding="utf-8")
    return {t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)}


def test_cluster_sizes_by_hand_counting_an_empty_cluster_as_zero(small_config):
    design = small_config["design"]
    clusters = pd.DataFrame(
        {
            design["cluster_id"]: ["a", "b", "c", "d", "e"],
            design["arm"]: ["refocus"] * 3 + ["control"] * 2,
        }
    )
    people = pd.DataFrame({design["cluster_id"]: ["a"] * 4 + ["b"] * 7 + ["d"] * 5 + ["e"] * 2})
    sizes = cluster_sizes(small_config, people, clusters).set_index("arm")
    # refocus: 4, 7 and 0 (c has nobody) -> median 4, range 0-7; control: 5 and 2 -> median 3.5
    assert sizes.loc["refocus"].tolist() == [3, 4.0, 0, 7]
    assert sizes.loc["control"].tolist() == [2, 3.5, 2, 5]


def test_enrolment_rows_come_from_the_config_and_must_add_up(small_config):
    assert enrolment_counts(small_config, 27) == []  # nothing declared, nothing counted
    small_config["design"]["enrolment"] = {
        "clusters_assessed": 30,
        "clusters_excluded": {"declined": 2, "merged": 1},
        "individuals_assessed": 500,
        "individuals_excluded": {"not eligible": 97},
    }
    assert enrolment_counts(small_config, 27) == [
        ("cluster", "assessed for eligibility", "all", 30),
        ("cluster", "excluded: declined", "all", 2),
        ("cluster", "excluded: merged", "all", 1),
        ("individual", "assessed for eligibility", "all", 500),
        ("individual", "excluded: not eligible", "all", 97),
    ]
    with pytest.raises(
        ValueError,
        match="30 clusters assessed less 3 excluded leaves 27, but the cluster table randomises 26",
    ):
        enrolment_counts(small_config, 26)


def flow_table(enrolment: bool) -> pd.DataFrame:
    rows = []
    if enrolment:
        rows += [
            ("cluster", "assessed for eligibility", "all", 31),
            ("cluster", "excluded: declined", "all", 4),
        ]
    for arm, k, n, f in (("refocus", 14, 201, 158), ("control", 13, 202, 139)):
        rows += [
            ("cluster", "randomised", arm, k),
            *(
                [("cluster", RECEIVED, arm, k - 3), ("cluster", HIGH_PARTICIPATION, arm, 6)]
                if arm == "refocus"
                else []
            ),
            ("cluster", "with individuals followed up", arm, k),
            ("cluster", "analysed", arm, k),
            ("individual", "assessed at baseline", arm, n),
            ("individual", "followed up", arm, f),
            ("individual", "lost to follow-up", arm, n - f),
            ("individual", "lost: withdrew", arm, n - f),
            ("individual", "primary outcome observed", arm, f),
            ("individual", "analysed (multiple imputation, intention to treat)", arm, n),
        ]
    return pd.DataFrame(rows, columns=["level", "stage", "arm", "n"])


def test_every_box_count_is_the_flow_table_count(small_config, tmp_path):
    sizes = pd.DataFrame(
        {
            "arm": ["refocus", "control"],
            "n_clusters": [14, 13],
            "median": [14.5, 15.0],
            "smallest": [10, 9],
            "largest": [20, 21],
        }
    )
    path = tmp_path / "flow.png"
    flow_diagram(small_config, flow_table(enrolment=True), path, sizes)
    texts = svg_texts(path)
    assert {"31 teams assessed for eligibility", "4 teams excluded", "declined: 4"} <= texts
    assert "27 teams randomised" in texts
    for label, k, n, f, size in (
        ("REFOCUS", 14, 201, 158, "median 14.5 (range 10-20)"),
        ("Usual care", 13, 202, 139, "median 15 (range 9-21)"),
    ):
        assert f"Allocated to {label}" in texts
        assert f"{n} consumers assessed at baseline" in texts
        assert f"consumers per team: {size}" in texts
        assert f"{f} consumers followed up" in texts
        assert f"{k} teams, {n} consumers" in texts
    # receipt as the participation measure defines it, in the treatment arm only
    assert "11 teams took part (participation score above 0)" in texts
    assert "6 teams with high participation (score at or above median)" in texts
    assert not any(
        "took part" in t or "received" in t
        for t in texts - {"11 teams took part (participation score above 0)"}
    )
    # without enrolment counts the diagram says they were not recorded, and invents none
    flow_diagram(small_config, flow_table(enrolment=False), path, sizes)
    texts = svg_texts(path)
    assert "not recorded in the data" in texts
    assert not any("assessed for eligibility" in t and t[0].isdigit() for t in texts)


def test_receipt_counts_are_the_participation_measure_counted_by_hand(config, tmp_path):
    """The allocation box counts the teams that took part (score above 0) and those in the high
    class (score at or above the median of the treatment teams), as the participation analyses
    define them, from a participation table where three teams took no part."""
    from trial.analyses.outcomes import build_analysis_table

    raw = tmp_path / "raw"
    shutil.copytree(ROOT / "data" / "raw" / "refocus", raw)
    table = pd.read_csv(raw / "participation.csv")
    idle = sorted(table.team_id.unique())[:3]
    table.loc[table.team_id.isin(idle), "attendance"] = 0.0
    table.to_csv(raw / "participation.csv", index=False)
    score = table.groupby("team_id")["attendance"].mean()
    took_part, high = int((score > 0).sum()), int((score >= score.median()).sum())
    assert (took_part, len(score)) == (11, 14)

    flow, _, sizes = describe_trial(config, build_analysis_table(config, raw), raw)
    path = tmp_path / "flow.png"
    flow_diagram(config, flow, path, sizes)
    texts = svg_texts(path)
    assert f"{took_part} teams took part (participation score above 0)" in texts
    assert f"{high} teams with high participation (score at or above median)" in texts
    # the reference arm's box claims no receipt, and its flow has no receipt row
    assert sum("took part" in t for t in texts) == 1
    received = flow[flow["stage"] == RECEIVED].set_index("arm")["n"]
    assert received.to_dict() == {"refocus": took_part}


def test_a_trial_without_participation_data_has_no_receipt_rows():
    """Without a participation measure nothing in the data says what clusters received, so the
    flow table (and the report's flow section, which shows it) counts no receipt for any arm."""
    from trial.analyses.outcomes import build_analysis_table
    from trial.config.load import load_config

    trio = load_config(ROOT / "config" / "trio.yaml")
    flow, _, _ = describe_trial(trio, build_analysis_table(trio), ROOT / trio["paths"]["raw"])
    assert not flow["stage"].isin([RECEIVED, HIGH_PARTICIPATION]).any()
    assert set(flow.loc[flow["stage"] == "randomised", "arm"]) == set(trio["design"]["arm_labels"])


def test_without_a_participation_measure_receipt_is_not_claimed(small_config, tmp_path):
    small_config.pop("participation")
    flow = flow_table(enrolment=False)
    flow = flow[~flow["stage"].isin([RECEIVED, HIGH_PARTICIPATION])]
    path = tmp_path / "flow.png"
    flow_diagram(small_config, flow, path)
    texts = svg_texts(path)
    assert "not recorded in the data" in texts and "receipt of the intervention" in texts
    assert not any("took part" in t or "received" in t for t in texts)


def test_a_design_without_baseline_or_loss_has_no_such_stages(tmp_path):
    """The post-only example declares no baseline wave and no reason for loss, and has nothing
    missing: its flow counts the pupils recruited (not assessed at baseline), has no loss stage,
    and says they were analysed as observed; the diagram says the same, its counts read from
    the raw files."""
    from trial.analyses.describe import flow_counts
    from trial.analyses.outcomes import build_analysis_table
    from trial.config.load import load_config

    from ...conftest import ROOT

    config = load_config(ROOT / "config" / "tally.yaml")
    raw = ROOT / config["paths"]["raw"]
    clusters = pd.read_csv(raw / "classrooms.csv", dtype=str)
    pupils = pd.read_csv(raw / "pupils.csv", dtype=str)
    flow = flow_counts(config, build_analysis_table(config), clusters)
    assert not flow["stage"].str.contains("baseline|lost").any()
    per_arm = pupils["class_id"].map(clusters.set_index("class_id")["arm"]).value_counts()
    for arm, n in per_arm.items():
        got = flow[flow["arm"] == arm].set_index("stage")["n"]
        assert got["recruited"] == got["followed up"] == n
        assert got["analysed (intention to treat, nothing missing)"] == n
    path = tmp_path / "flow.png"
    flow_diagram(config, flow, path, cluster_sizes(config, build_analysis_table(config), clusters))
    texts = svg_texts(path)
    assert not any("baseline" in t or "lost" in t or "imputation" in t for t in texts)
    assert "Analysed (intention to treat," in texts and "nothing missing):" in texts
    assert f"{per_arm['tutoring']} pupils recruited" in texts
