"""The Word export: real Word tables whose cells are the report's display text."""

from __future__ import annotations

import pandas as pd
import pytest

docx = pytest.importorskip("docx")

from trial.report.manuscript import write_docx  # noqa: E402
from trial.report.sections.outcomes import outcome_table  # noqa: E402

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


def test_display_columns_round_beside_the_full_precision_values():
    from trial.report.manuscript import display_columns

    frame = pd.DataFrame(
        {
            "label": ["a", "b", "c"],
            "estimate": [-1.23456, 1520.5, 0.5],
            "ci_low": [-2.5, -310.26, float("nan")],
            "ci_high": [0.0321, 3351.7, float("nan")],
            "p": [0.0712, 0.00049, float("nan")],
        }
    )
    two = display_columns(frame, 2)
    assert two["estimate_ci_display"].tolist() == [
        "-1.23 (-2.50 to 0.03)",
        "1520.50 (-310.26 to 3351.70)",
        "0.50",
    ]
    assert two["p_display"].tolist() == ["0.071", "<0.001", ""]
    pd.testing.assert_frame_equal(two[frame.columns], frame)  # full precision untouched
    assert display_columns(frame, 0)["estimate_ci_display"][1] == "1520 (-310 to 3352)"
    costs = frame.assign(estimand=["mean difference", "ratio of means", "mean difference"])
    assert display_columns(costs, 0)["estimate_ci_display"][:2].tolist() == [
        "-1 (-2 to 0)",
        "1520.500 (-310.260 to 3351.700)",
    ]
    icc = pd.DataFrame({"icc": [0.05935], "boot_low": [0.0], "boot_high": [0.09941]})
    assert display_columns(icc, 3)["icc_boot_ci_display"].tolist() == ["0.059 (0.000 to 0.099)"]


def test_publication_tables_hold_the_report_cells_the_numbers_and_the_run(small_config, tmp_path):
    from trial.report.manuscript import PROVENANCE_COLUMNS, publication_tables

    outcomes = pd.DataFrame(
        [
            {
                "outcome": "qpr_total",
                "arm": "refocus",
                "direction": "treatment_minus_reference",
                "contrast": "REFOCUS minus Usual care",
                "estimate": -0.1775494705,
                "ci_low": -2.806363382,
                "ci_high": 2.451264441,
                "p": 0.8887241144,
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
                "arm_label": label,
                "n_clusters": k,
                "n_analysed": n,
                "n_observed": o,
                "mean_baseline": 41.531752167430554,
                "sd_baseline": 8.294822516258215,
                "mean_followup": 40.83040061204618,
                "sd_followup": 9.111449934661058,
            }
            for arm, label, k, n, o in (
                ("refocus", "REFOCUS", 14, 199, 158),
                ("control", "Usual care", 13, 196, 139),
            )
        ]
    )
    baseline = pd.DataFrame({"characteristic": ["teams"], "REFOCUS": ["14"], "Usual care": ["13"]})
    inputs = {}
    for name, frame in (
        ("outcomes", outcomes),
        ("outcome_summary", summary),
        ("baseline", baseline),
    ):
        inputs[name] = tmp_path / f"{name}.csv"
        frame.to_csv(inputs[name], index=False)
    tables = publication_tables(inputs, outcome_table(small_config, outcomes, summary), PROVENANCE)
    # only the tables this run made; sensitivity, costs and ICC were not given
    assert set(tables) == {"table1_baseline", "table2_outcomes", "outcomes"}
    for frame in tables.values():
        for key in PROVENANCE_COLUMNS:
            assert (frame[key] == PROVENANCE[key]).all()
    table2 = tables["table2_outcomes"].set_index("arm")
    assert table2.loc["refocus", "difference_display"] == "-0.18 (-2.81 to 2.45)"
    assert table2.loc["refocus", "estimate"] == outcomes.loc[0, "estimate"]
    assert table2.loc["refocus", "baseline_display"] == "41.5 (8.3)"
    assert table2.loc["refocus", "mean_baseline"] == summary.loc[0, "mean_baseline"]
    assert table2.loc["control", "difference_display"] == "reference"
    assert pd.isna(table2.loc["control", "estimate"])
    assert tables["outcomes"]["p_display"].tolist() == ["0.889"]
    assert tables["table1_baseline"]["REFOCUS"].tolist() == ["14"]


def test_a_post_only_trial_has_no_baseline_column_and_names_no_imputation(tmp_path):
    """Every outcome of the post-only example lacks a baseline value: Table 2 has no empty
    baseline column, and with nothing missing (m = 1) its title claims no pooling."""
    from trial.config.load import load_config

    from ...conftest import ROOT

    config = load_config(ROOT / "config" / "tally.yaml")
    outcomes = pd.DataFrame(
        [
            {
                "outcome": "maths",
                "arm": arm,
                "direction": "treatment_minus_reference",
                "contrast": "",
                "estimate": estimate,
                "ci_low": estimate - 2.5,
                "ci_high": estimate + 2.5,
                "p": 0.1,
            }
            for arm, estimate in (("tutoring", 2.24), ("adaptive_app", 1.74))
        ]
    )
    summary = pd.DataFrame(
        [
            {
                "outcome": "maths",
                "label": "Maths",
                "role": "primary",
                "arm": arm,
                "n_clusters": 12,
                "n_analysed": n,
                "n_observed": n,
                "mean_baseline": float("nan"),
                "sd_baseline": float("nan"),
                "mean_followup": mean,
                "sd_followup": 9.8,
            }
            for arm, n, mean in (
                ("tutoring", 264, 26.5),
                ("adaptive_app", 225, 26.0),
                ("usual_teaching", 231, 24.3),
            )
        ]
    )
    blocks = outcome_table(config, outcomes, summary)
    path = tmp_path / "report.docx"
    baseline = pd.DataFrame({"level": ["cluster"], "characteristic": ["classes"]})
    write_docx(config, ["First sentence."], baseline, blocks, PROVENANCE, path)
    document = docx.Document(str(path))
    table2 = document.tables[1]
    assert [c.text for c in table2.rows[0].cells] == [
        "Outcome",
        "Arm",
        "Classes",
        "n analysed",
        "n observed",
        "Follow-up mean (SD)",
        "Adjusted difference (95% CI)",
        "p",
        "ICC (95% CI)",
    ]
    assert [c.text for c in table2.rows[1].cells][:6] == [
        "Maths",
        "Small-group tutoring",
        "12",
        "264",
        "264",
        "26.5 (9.8)",
    ]
    title = next(p.text for p in document.paragraphs if p.text.startswith("Table 2."))
    assert title.endswith("(nothing missing: no imputation)") and "pooled" not in title
