"""The Word export: real Word tables whose cells are the report's display text."""

from __future__ import annotations

import pandas as pd
import pytest

docx = pytest.importorskip("docx")

from trial.manuscript import write_docx  # noqa: E402
from trial.report import outcome_table  # noqa: E402

PROVENANCE = {
    "run_at_utc": "2026-01-01T00:00:00Z",
    "config_sha256": "ab" * 32,
    "code_version": "0123456789abcdef",
    "seed": 7,
}


def test_word_tables_hold_the_baseline_and_outcome_cells(small_config, tmp_path):
    baseline = pd.DataFrame(
        {
            "level": ["cluster", "individual"],
            "characteristic": ["teams", "age"],
            "statistic": ["n", "mean (SD); missing"],
            "REFOCUS": ["14", "40.9 (12.0); 0"],
            "Usual care": ["13", "41.1 (11.2); 1"],
        }
    )
    outcomes = pd.DataFrame(
        [
            {
                "outcome": "qpr_total",
                "arm": "refocus",
                "direction": "reference_minus_treatment",
                "contrast": "Usual care minus REFOCUS",
                "estimate": -1.234,
                "ci_low": -2.5,
                "ci_high": 0.0321,
                "p": 0.0712,
            }
        ]
    )
    summary = pd.DataFrame(
        [
            {
                "outcome": "qpr_total",
                "label": "QPR total",
                "role": "primary",
                "arm": arm,
                "n_clusters": k,
                "n_analysed": n,
                "n_observed": o,
                "mean_baseline": 40.04,
                "sd_baseline": 8.26,
                "mean_followup": 41.0,
                "sd_followup": float("nan"),
            }
            for arm, k, n, o in (("refocus", 14, 199, 158), ("control", 13, 196, 139))
        ]
    )
    blocks = outcome_table(small_config, outcomes, summary)
    path = tmp_path / "report.docx"
    write_docx(small_config, ["First sentence."], baseline, blocks, PROVENANCE, path)

    document = docx.Document(str(path))
    table1, table2 = document.tables
    assert [[c.text for c in r.cells] for r in table1.rows[1:]] == baseline.to_numpy().tolist()
    assert [c.text for c in table2.rows[1].cells] == [
        "QPR total",
        "REFOCUS",
        "14",
        "199",
        "158",
        "40.0 (8.3)",
        "41.0 (-)",
        "-1.23 (-2.50 to 0.03) (Usual care minus REFOCUS)",
        "0.071",
        "",
    ]
    assert [c.text for c in table2.rows[2].cells][:3] == ["", "Usual care", "13"]
    assert table2.rows[2].cells[7].text == "reference"
    # header rows repeat on every page; the run is named on every page and under the tables
    for table in (table1, table2):
        assert table.rows[0]._tr.trPr.xml.count("tblHeader") == 1
    footer = document.sections[0].footer.paragraphs[0].text
    assert PROVENANCE["config_sha256"] in footer and "seed 7" in footer
    assert "First sentence." in [p.text for p in document.paragraphs]
    assert round(document.sections[0].page_width.mm) == 297  # A4 landscape
