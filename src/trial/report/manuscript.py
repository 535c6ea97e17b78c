"""The manuscript export: the report's summary, Table 1 and Table 2 as an editable Word file.

The cells are the same display text as the HTML report's (the baseline table as written by
:func:`trial.analyses.describe.baseline_table`, the outcomes table from
:func:`trial.report.sections.outcomes.outcome_table`), so a number pasted from the Word file is
the number in the report. Every page carries the run's provenance: the config hash, the code
version and the seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from trial.config.vocabulary import Config, outcome_has_baseline, unit_plural
from trial.report.blocks import fmt, p_text

# Columns of Table 2 after the outcome: keys of a row of
# trial.report.sections.outcomes.outcome_table.
OUTCOME_KEYS = (
    "arm",
    "clusters",
    "analysed",
    "observed",
    "baseline",
    "followup",
    "difference",
    "p",
)


# Result tables exported for a manuscript (input name of the render rule -> decimals of their
# display columns): effects on score scales to 2, costs to whole units, ICCs to 3.
PUBLICATION_TABLES = {"outcomes": 2, "sensitivity": 2, "costs": 0, "icc": 3}
RATIO_DIGITS = 3

# The run's record carried by every row of an exported table, so that a row pasted elsewhere
# still names the run it came from.
PROVENANCE_COLUMNS = ("config_sha256", "code_version", "seed")

# Full-precision interval columns of the result tables: (estimate, lower, upper, display name).
INTERVALS = (
    ("estimate", "ci_low", "ci_high", "estimate_ci_display"),
    ("icc", "boot_low", "boot_high", "icc_boot_ci_display"),
)


def display_columns(frame: pd.DataFrame, digits: int) -> pd.DataFrame:
    """The table with rounded display text beside its full-precision columns.

    An estimate with its CI becomes ``"<estimate> (<lower> to <upper>)"`` rounded to ``digits``
    decimals (``estimate_ci_display``; an ICC with its bootstrap CI ``icc_boot_ci_display``; a
    row whose ``estimand`` is a ratio of means to :data:`RATIO_DIGITS`),
    and a p-value its reported form (``p_display``: three decimals, ``<0.001`` below that).
    Blank where the numbers are missing. The full-precision columns are kept unchanged.
    """
    out = frame.copy()
    places = [digits] * len(frame)
    if "estimand" in frame.columns:  # a ratio of means is shown to RATIO_DIGITS decimals
        places = [RATIO_DIGITS if e == "ratio of means" else digits for e in frame["estimand"]]
    for estimate, low, high, name in INTERVALS:
        if {estimate, low, high} <= set(frame.columns):
            out[name] = [
                f"{fmt(e, d)} ({fmt(lo, d)} to {fmt(hi, d)})"
                if not (pd.isna(e) or pd.isna(lo) or pd.isna(hi))
                else fmt(e, d)
                for e, lo, hi, d in zip(
                    frame[estimate], frame[low], frame[high], places, strict=True
                )
            ]
    if "p" in frame.columns:
        out["p_display"] = [p_text(p) for p in frame["p"]]
    return out


def with_provenance(frame: pd.DataFrame, provenance: Mapping[str, Any]) -> pd.DataFrame:
    """The table with the run's config hash, code version and seed in every row."""
    return frame.assign(**{key: provenance[key] for key in PROVENANCE_COLUMNS})


def table2_frame(
    outcomes: pd.DataFrame, summary: pd.DataFrame, blocks: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """Table 2 for export: per outcome and arm the display cells of the report's table beside
    the full-precision counts, means, SDs, pooled difference, CI and p they show."""
    cells = pd.DataFrame(
        [
            {
                "outcome": block["outcome"],
                "arm_label": row["arm"],
                "icc_display": block["icc"],
                **{
                    f"{key}_display": row[key]
                    for key in OUTCOME_KEYS
                    if key not in ("arm", "clusters", "analysed", "observed")
                },
            }
            for block in blocks
            for row in block["rows"]
        ]
    )
    effects = outcomes[["outcome", "arm", "contrast", "estimate", "ci_low", "ci_high", "p"]]
    table = summary.merge(effects, on=["outcome", "arm"], how="left", validate="one_to_one")
    return table.merge(cells, on=["outcome", "arm_label"], how="left", validate="one_to_one")


def publication_tables(
    inputs: Mapping[str, Any],
    blocks: Sequence[Mapping[str, Any]],
    provenance: Mapping[str, Any],
) -> dict[str, pd.DataFrame]:
    """The tables a manuscript is written from, each row naming the run.

    ``table1_baseline`` and ``table2_outcomes`` are the report's Tables 1 and 2 (``blocks`` from
    :func:`trial.report.sections.outcomes.outcome_table`); the result tables of
    :data:`PUBLICATION_TABLES` that this run made follow with their display columns
    (:func:`display_columns`).
    """
    baseline = pd.read_csv(inputs["baseline"], dtype=str, keep_default_na=False)
    outcomes = pd.read_csv(inputs["outcomes"])
    tables = {
        "table1_baseline": baseline,
        "table2_outcomes": table2_frame(outcomes, pd.read_csv(inputs["outcome_summary"]), blocks),
    }
    for name, digits in PUBLICATION_TABLES.items():
        if inputs.get(name):
            tables[name] = display_columns(pd.read_csv(inputs[name]), digits)
    return {name: with_provenance(frame, provenance) for name, frame in tables.items()}


def write_publication_tables(tables: Mapping[str, pd.DataFrame], folder: str | Path) -> None:
    """Write each exported table as ``<folder>/<name>.csv`` (UTF-8, ``\\n`` line ends)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False, lineterminator="\n")


def provenance_line(provenance: Mapping[str, Any]) -> str:
    """The sentence identifying the run every exported number comes from."""
    return (
        f"Run {provenance['run_at_utc']}: config SHA-256 {provenance['config_sha256']}, "
        f"code {provenance['code_version']}, seed {provenance['seed']}."
    )


def write_docx(
    config: Config,
    summary: Sequence[str],
    baseline: pd.DataFrame,
    outcomes: Sequence[Mapping[str, Any]],
    provenance: Mapping[str, Any],
    path: str | Path,
) -> None:
    """Write the manuscript Word file.

    Parameters
    ----------
    config
        Trial configuration (names, labels, the synthetic flag).
    summary
        The report's opening sentences (:func:`trial.report.sections.outcomes.headline`).
    baseline
        Table 1 as written to ``tables/baseline.csv``.
    outcomes
        Table 2 blocks (:func:`trial.report.sections.outcomes.outcome_table`).
    provenance
        The run's provenance record (:func:`trial.report.render.provenance`).
    path
        Where to write the ``.docx`` file.
    """
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.shared import Mm, Pt

    design = config["design"]
    level = round((1 - config["analysis"]["alpha"]) * 100)
    document = Document()
    section = document.sections[0]
    # A4 landscape: Table 2 has ten columns.
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(297), Mm(210)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(15))
    document.styles["Normal"].font.size = Pt(9)
    section.footer.paragraphs[0].text = provenance_line(provenance)

    document.add_heading(f"{config['trial']['name']}: outcomes", level=1)
    if config["trial"].get("synthetic"):
        document.add_paragraph(
            "SYNTHETIC DATA: every number here comes from a synthetic dataset; none of it is "
            "evidence about any intervention."
        ).runs[0].bold = True
    document.add_heading("Summary", level=2)
    for sentence in summary:
        document.add_paragraph(sentence)

    document.add_heading(
        f"Table 1. Baseline characteristics by arm at {design['cluster_label']} and "
        f"{design['individual_label']} level",
        level=2,
    )
    _add_table(document, [str(c) for c in baseline.columns], baseline.astype(str).to_numpy())

    m = config["imputation"]["m"]
    document.add_heading(
        f"Table 2. Outcomes at follow-up by arm; adjusted difference from "
        f"{design['arm_labels'][design['reference_arm']]} ({level}% CI) "
        + (f"pooled over {m} imputations" if m > 1 else "(nothing missing: no imputation)"),
        level=2,
    )
    headings = [
        "Outcome",
        "Arm",
        unit_plural(design, "cluster").capitalize(),
        "n analysed",
        "n observed",
        "Baseline mean (SD)",
        "Follow-up mean (SD)",
        f"Adjusted difference ({level}% CI)",
        "p",
        f"ICC ({level}% CI)",
    ]
    keys = OUTCOME_KEYS
    if not any(outcome_has_baseline(config, o["scale"]) for o in config["analysis"]["outcomes"]):
        headings.remove("Baseline mean (SD)")  # post-only: no outcome has a baseline value
        keys = tuple(k for k in keys if k != "baseline")
    rows = []
    for block in outcomes:
        for i, row in enumerate(block["rows"]):
            difference = row["difference"] + (f" ({row['contrast']})" if row["contrast"] else "")
            cells = {**row, "difference": difference}
            rows.append(
                [
                    block["label"] if i == 0 else "",
                    *(cells[key] for key in keys),
                    block["icc"] if i == 0 else "",
                ]
            )
    _add_table(document, headings, rows)
    document.add_paragraph(provenance_line(provenance))
    document.save(str(path))


def _add_table(document: Any, headings: Sequence[str], rows: Any) -> None:
    """A Word table with a header row repeated on every page."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    table = document.add_table(rows=1, cols=len(headings))
    table.style = "Table Grid"
    header = table.rows[0]
    for cell, text in zip(header.cells, headings, strict=True):
        cell.text = text
        cell.paragraphs[0].runs[0].bold = True
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    header._tr.get_or_add_trPr().append(repeat)
    for values in rows:
        for cell, text in zip(table.add_row().cells, values, strict=True):
            cell.text = str(text)
