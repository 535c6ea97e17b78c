"""Reporting-guideline checklists: where in the report each applicable item is answered.

Items are the guideline's own (standard text, not trial-specific); each lists the report sections
that can answer it. An item is marked as reported only when one of those sections is present in
this report, so the checklist follows whatever stages the config switches on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ChecklistItem:
    """One guideline item and the report sections that answer it."""

    item: str
    topic: str
    text: str
    sections: tuple[str, ...]


# CONSORT 2010 extension to cluster randomised trials (Campbell et al 2012, BMJ 345:e5661):
# the items this pipeline can answer from data. Items about the trial's conduct (title, trial
# registration, eligibility, sample size, blinding) must be written by the investigators.
CONSORT_CLUSTER: tuple[ChecklistItem, ...] = (
    ChecklistItem(
        "12a",
        "Statistical methods",
        "Methods used to compare groups for primary and secondary outcomes, "
        "indicating how clustering was taken into account",
        ("design", "outcomes"),
    ),
    ChecklistItem(
        "12b",
        "Statistical methods",
        "Methods for additional analyses, such as subgroup analyses and adjusted analyses",
        ("sensitivity", "participation", "imputation"),
    ),
    ChecklistItem(
        "13a",
        "Participant flow",
        "For each group, the numbers of clusters and participants randomly assigned, "
        "receiving intended treatment, and analysed for the primary outcome",
        ("flow",),
    ),
    ChecklistItem(
        "13b",
        "Participant flow",
        "For each group, losses and exclusions after randomisation for both clusters "
        "and individuals, together with reasons",
        ("flow",),
    ),
    ChecklistItem(
        "15",
        "Baseline data",
        "Baseline characteristics for the individual and cluster levels as applicable "
        "for each group",
        ("baseline",),
    ),
    ChecklistItem(
        "16",
        "Numbers analysed",
        "For each group, number of clusters and participants included in each analysis",
        ("outcomes", "flow"),
    ),
    ChecklistItem(
        "17a",
        "Outcomes and estimation",
        "Results at the individual or cluster level for each primary and secondary "
        "outcome, estimated effect size and its precision, and a coefficient of "
        "intracluster correlation for each primary outcome",
        ("outcomes", "icc"),
    ),
    ChecklistItem(
        "17b",
        "Outcomes and estimation",
        "For binary outcomes, presentation of both absolute and relative effect sizes",
        ("audit",),
    ),
    ChecklistItem(
        "18",
        "Ancillary analyses",
        "Results of any other analyses performed, including subgroup and adjusted analyses",
        ("sensitivity", "participation", "staff", "costs", "audit"),
    ),
)


def checklist_rows(
    items: Sequence[ChecklistItem], present: dict[str, tuple[int, str]]
) -> list[dict[str, str]]:
    """Rows of a checklist table; ``present`` maps section id to (number, title) in the report."""
    rows = []
    for entry in items:
        where = [f"{present[s][0]}. {present[s][1]}" for s in entry.sections if s in present]
        rows.append(
            {
                "item": entry.item,
                "topic": entry.topic,
                "text": entry.text,
                "where": "; ".join(where) if where else "not produced by this run",
                "anchors": [s for s in entry.sections if s in present],
            }
        )
    return rows
