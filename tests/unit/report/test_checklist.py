"""CONSORT-cluster checklist: an item is ticked only when the report holds everything it asks."""

from __future__ import annotations

from trial.report.checklist import CONSORT_CLUSTER, checklist_rows

ALL = {
    name: (i + 1, name.title())
    for i, name in enumerate(
        ["design", "flow", "baseline", "outcomes", "sensitivity", "clustering", "costs"]
    )
}


def _status(present):
    return {r["item"]: r for r in checklist_rows(CONSORT_CLUSTER, present)}


def test_effect_and_icc_item_needs_both_the_outcomes_and_the_icc():
    assert _status(ALL)["17a"]["status"] == "reported"
    without_icc = {k: v for k, v in ALL.items() if k != "clustering"}
    row = _status(without_icc)["17a"]
    assert row["status"] == "not produced by this run"
    assert row["links"] == [("outcomes", "4. Outcomes")]


def test_numbers_analysed_is_only_partly_reported():
    row = _status(ALL)["16"]
    assert row["status"] == "partly reported"
    assert row["note"].startswith("not covered: ") and "sensitivity" in row["note"]


def test_binary_outcome_item_is_not_ticked():
    row = _status(ALL)["17b"]
    assert row["status"] == "not applicable" and row["links"] == []
    assert "continuous" in row["note"]


def test_an_item_whose_section_is_absent_is_not_produced():
    rows = _status({"design": (1, "Design")})
    assert rows["13a"]["status"] == "not produced by this run"
    assert rows["12a"]["status"] == "reported"  # the first listed section suffices by default
