"""Reporting-guideline checklists: where in the report each applicable item is answered.

Items are the guideline's own (standard text, not trial-specific); each lists the report sections
that can answer it. An item is marked as reported only when every section it needs is present in
this report, so the checklist follows whatever stages the config switches on; an item the report
answers only in part says what is left to the investigators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from trial.config.vocabulary import Config


@dataclass(frozen=True)
class ChecklistItem:
    """One guideline item and the report sections that answer it.

    ``sections``: where the answer is (linked from the checklist); the item counts as reported
    only when every one of ``required`` (default: the first of ``sections``) is present.
    ``gap``: what the report leaves out of the item even then ("" when it answers all of it);
    ``not_applicable``: why the item does not arise for the analyses this pipeline runs.
    """

    item: str
    topic: str
    text: str
    sections: tuple[str, ...]
    required: tuple[str, ...] = ()
    gap: str = ""
    not_applicable: str = ""


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
        gap="clusters and participants per group for the primary and secondary analyses only; "
        "sensitivity, non-randomised and economic analyses give totals over the groups",
    ),
    ChecklistItem(
        "17a",
        "Outcomes and estimation",
        "Results at the individual or cluster level for each primary and secondary "
        "outcome, estimated effect size and its precision, and a coefficient of "
        "intracluster correlation for each primary outcome",
        ("outcomes", "clustering"),
        required=("outcomes", "clustering"),
    ),
    ChecklistItem(
        "17b",
        "Outcomes and estimation",
        "For binary outcomes, presentation of both absolute and relative effect sizes",
        (),
        not_applicable="every outcome analysed is a continuous score; a binary outcome analysed "
        "elsewhere needs both effect sizes reported by the investigators",
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
) -> list[dict[str, object]]:
    """Rows of a checklist table; ``present`` maps section id to (number, title) in the report.

    Each row's ``status`` is "reported", "partly reported" (``note`` says what is not covered),
    "not applicable" (``note`` says why) or "not produced by this run"; ``links`` pairs each
    present section's anchor with its numbered title.
    """
    rows = []
    for entry in items:
        required = entry.required or entry.sections[:1]
        if entry.not_applicable:
            status, note = "not applicable", entry.not_applicable
        elif required and all(s in present for s in required):
            status = "partly reported" if entry.gap else "reported"
            note = f"not covered: {entry.gap}" if entry.gap else ""
        else:
            status, note = "not produced by this run", ""
        rows.append(
            {
                "item": entry.item,
                "topic": entry.topic,
                "text": entry.text,
                "status": status,
                "links": [
                    (s, f"{present[s][0]}. {present[s][1]}") for s in entry.sections if s in present
                ],
                "note": note,
            }
        )
    return rows


# (item, section, topic, where it is reported in this report or why it is not applicable);
# "{costs}" is the cost section's title.
_CHEERS_2022 = [
    (1, "Title", "Title", "outside the pipeline: title of the trial's economic publication"),
    (2, "Abstract", "Abstract", "outside the pipeline: the economic publication's abstract"),
    (
        3,
        "Introduction",
        "Background and objectives",
        "report header (trial title and reference); {costs}: aim stated in the opening paragraph",
    ),
    (
        4,
        "Methods",
        "Health economic analysis plan",
        "outside the pipeline: the trial protocol "
        "and analysis plan; this config records every analysis choice",
    ),
    (5, "Methods", "Study population", "Baseline characteristics section; Flow section"),
    (6, "Methods", "Setting and location", "report header and Design and methods section"),
    (7, "Methods", "Comparators", "{costs}: every estimate names its contrast (arms)"),
    (8, "Methods", "Perspective", "{costs}: methods paragraph (perspective)"),
    (9, "Methods", "Time horizon", "{costs}: methods paragraph (time horizon)"),
    (10, "Methods", "Discount rate", "{costs}: methods paragraph (discounting)"),
    (11, "Methods", "Selection of outcomes", "{costs}: methods paragraph (effect measure)"),
    (
        12,
        "Methods",
        "Measurement of outcomes",
        "Primary and secondary outcomes section; effect scale scoring in the config",
    ),
    (
        13,
        "Methods",
        "Valuation of outcomes",
        "not applicable: the effect is a clinical score, not a preference-based utility",
    ),
    (
        14,
        "Methods",
        "Measurement and valuation of resources and costs",
        "{costs}: unit cost table (source) and use and cost table",
    ),
    (
        15,
        "Methods",
        "Currency, price date, and conversion",
        "{costs}: unit cost table (currency, price year); no conversion",
    ),
    (
        16,
        "Methods",
        "Rationale and description of model",
        "not applicable: within-trial analysis, no decision model",
    ),
    (
        17,
        "Methods",
        "Analytics and assumptions",
        "{costs}: headline and methods paragraphs (two-stage bootstrap with shrinkage, mixed "
        "model, multiple imputation, GLM sensitivity, agreement between methods)",
    ),
    (18, "Methods", "Characterising heterogeneity", "not reported: no subgroup analysis"),
    (19, "Methods", "Characterising distributional effects", "not reported: not assessed"),
    (
        20,
        "Methods",
        "Characterising uncertainty",
        "{costs}: bootstrap CIs, CE plane, acceptability curve, net benefit CIs, GLM sensitivity",
    ),
    (
        21,
        "Methods",
        "Approach to engagement with patients and others affected by the study",
        "outside the pipeline: the trial's publications",
    ),
    (22, "Results", "Study parameters", "{costs}: unit cost table; config file in Provenance"),
    (
        23,
        "Results",
        "Summary of main results",
        "{costs}: adjusted cost difference table and cost-effectiveness table",
    ),
    (
        24,
        "Results",
        "Effect of uncertainty",
        "{costs}: CE plane, acceptability curve, net benefit table, sensitivity (GLM) rows",
    ),
    (
        25,
        "Results",
        "Effect of engagement with patients and others affected by the study",
        "outside the pipeline: the trial's publications",
    ),
    (
        26,
        "Discussion",
        "Study findings, limitations, generalisability, and current knowledge",
        "outside the pipeline: the economic publication; {costs} states the direction and the "
        "published figure",
    ),
    (
        27,
        "Other relevant information",
        "Source of funding",
        "outside the pipeline: the trial's publications",
    ),
    (
        28,
        "Other relevant information",
        "Conflicts of interest",
        "outside the pipeline: the trial's publications",
    ),
]

COST_SECTION_TITLE = "Service costs and cost-effectiveness"


def cheers_checklist(config: Config) -> pd.DataFrame:
    """The CHEERS 2022 checklist (Husereau et al 2022): where each item is reported.

    Returns
    -------
    pandas.DataFrame
        ``item, section, topic, applicable (yes | no | outside pipeline), where``.
    """
    rows = []
    for item, section, topic, where in _CHEERS_2022:
        applicable = (
            "no"
            if where.startswith("not applicable")
            else "outside pipeline"
            if where.startswith("outside")
            else "yes, not reported"
            if where.startswith("not reported")
            else "yes"
        )
        rows.append(
            {
                "item": item,
                "section": section,
                "topic": topic,
                "applicable": applicable,
                "where": where.format(costs=COST_SECTION_TITLE),
            }
        )
    return pd.DataFrame(rows)
