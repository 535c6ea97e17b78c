"""The report's opening summary, its display names, and the observed outcomes by arm they rest
on, against hand counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trial.analyses.describe import outcome_summary
from trial.report.sections.outcomes import headline


@pytest.fixture()
def table(small_config) -> pd.DataFrame:
    """Three teams per arm; hand-chosen follow-up values, one death (while-alive) per arm."""
    rows = []
    values = {
        "refocus": [40.0, 44.0, np.nan, 50.0, 46.0, np.nan],
        "control": [30.0, np.nan, 34.0, 38.0, np.nan, np.nan],
    }
    status = {
        "refocus": ["completed", "completed", "died", "completed", "completed", "withdrew"],
        "control": ["completed", "withdrew", "completed", "completed", "too_unwell", "died"],
    }
    for arm, offset in (("refocus", 0), ("control", 10)):
        for i, (value, st) in enumerate(zip(values[arm], status[arm], strict=True)):
            rows.append(
                {
                    "consumer_id": f"C{offset + i:04d}",
                    "team_id": f"T{offset + i % 3:02d}",
                    "arm": arm,
                    "followup_status": st,
                    "qpr_total__baseline": 40.0 + i,
                    "qpr_total__followup": value,
                    "functioning__baseline": np.nan if i == 0 else 50.0,
                    "functioning__followup": 55.0 if st == "completed" else np.nan,
                }
            )
    return pd.DataFrame(rows)


def test_outcome_summary_counts_and_moments_by_hand(small_config, table):
    summary = outcome_summary(small_config, table).set_index(["outcome", "arm"])
    refocus = summary.loc[("qpr_total", "refocus")]
    # the death is left out; of the other five, four have the follow-up recorded
    assert refocus["n_analysed"] == 5
    assert refocus["n_observed"] == 4 and refocus["n_imputed"] == 1
    assert refocus["n_clusters"] == 3
    assert refocus["mean_followup"] == pytest.approx(45.0)
    assert refocus["sd_followup"] == pytest.approx(np.std([40, 44, 50, 46], ddof=1))
    # baseline over the five analysed: 40, 41, 43, 44, 45 (the death, 42, is left out)
    assert refocus["mean_baseline"] == pytest.approx(np.mean([40, 41, 43, 44, 45]))
    control = summary.loc[("qpr_total", "control")]
    assert (control["n_analysed"], control["n_observed"], control["n_imputed"]) == (5, 3, 2)
    assert control["mean_followup"] == pytest.approx(34.0)
    functioning = summary.loc[("functioning", "refocus")]
    assert functioning["n_baseline"] == 4  # first consumer's baseline missing
    assert summary.loc[("qpr_total", "refocus"), "role"] == "primary"
    assert list(summary.index.get_level_values(0).unique()) == ["qpr_total", "functioning"]


def _outcomes(estimate, ci, direction="treatment_minus_reference", p=0.04):
    return pd.DataFrame(
        [
            {
                "outcome": "qpr_total",
                "label": "QPR total",
                "role": "primary",
                "arm": "refocus",
                "direction": direction,
                "contrast": "REFOCUS minus Usual care",
                "estimate": estimate,
                "ci_low": ci[0],
                "ci_high": ci[1],
                "p": p,
            },
            {
                "outcome": "functioning",
                "label": "Functioning",
                "role": "secondary",
                "arm": "refocus",
                "direction": direction,
                "contrast": "REFOCUS minus Usual care",
                "estimate": 9.0,
                "ci_low": 1.0,
                "ci_high": 17.0,
                "p": 0.02,
            },
        ]
    )


def test_headline_states_estimate_direction_and_counts(small_config, table):
    summary = outcome_summary(small_config, table)
    (sentence,) = headline(small_config, _outcomes(2.5, (0.1, 4.9)), summary)
    assert "adjusted difference 2.50 (95% CI 0.10 to 4.90; p = 0.040)" in sentence
    assert "Higher scores are better, so the point estimate favours REFOCUS" in sentence
    assert "the 95% CI excludes zero" in sentence
    assert "REFOCUS 3 teams and 5 consumers (4 observed, 1 imputed)" in sentence
    assert "Usual care 3 teams and 5 consumers (3 observed, 2 imputed)" in sentence
    assert "Functioning" not in sentence  # secondary outcomes are not in the headline


def test_headline_favoured_arm_follows_better_and_direction(small_config, table):
    summary = outcome_summary(small_config, table)
    # a negative treatment-minus-reference difference favours the reference when higher is better
    (text,) = headline(small_config, _outcomes(-1.0, (-3.0, 1.0), p=0.3), summary)
    assert "favours Usual care" in text and "includes zero" in text
    # reported as reference minus treatment, the same negative number favours the treatment
    (text,) = headline(
        small_config, _outcomes(-1.0, (-3.0, 1.0), "reference_minus_treatment"), summary
    )
    assert "favours REFOCUS" in text
    small_config["scales"]["qpr_total"]["better"] = "lower"
    (text,) = headline(small_config, _outcomes(-1.0, (-3.0, 1.0), p=0.0004), summary)
    assert "Lower scores are better, so the point estimate favours REFOCUS" in text
    assert "p < 0.001" in text
    del small_config["scales"]["qpr_total"]["better"]
    (text,) = headline(small_config, _outcomes(-1.0, (-3.0, 1.0)), summary)
    assert "does not declare which scores are better" in text and "favours" not in text


def test_display_names_replace_codes_with_labels(small_config):
    from trial.report.blocks import display_name

    def name(code):
        return display_name(small_config, code)

    assert name("qpr_total") == small_config["scales"]["qpr_total"]["label"]
    assert name("qpr_total__followup") == f"{name('qpr_total')} at follow-up"
    assert name("functioning__baseline") == f"{name('functioning')} at baseline"
    assert name("trust[2gether]") == "trust: 2gether"
    assert name("gender[T.male]") == "gender: male"
    assert name("treatment[refocus]") == "arm: REFOCUS"
    assert name("team_id") == "team" and name("consumer_id") == "consumer"
    assert name("kenward-roger") == "Kenward-Roger"
    assert name("kenward-roger, Barnard-Rubin") == "Kenward-Roger, Barnard-Rubin"
    assert name("inpatient_day") == "inpatient day"
    assert name(float("nan")) == "" and name(None) == ""


def test_robustness_rows_put_each_sensitivity_analysis_beside_the_primary(small_config, tmp_path):
    import json

    from trial.report.sections.outcomes import robustness_rows

    _outcomes(2.5, (0.1, 4.9)).to_csv(tmp_path / "outcomes.csv", index=False)
    pd.DataFrame(
        [
            {
                "analysis": "complete_case",
                "estimate": 2.0,
                "ci_low": -0.5,
                "ci_high": 4.5,
                "p": 0.11,
            },
            {"analysis": "unadjusted", "estimate": 3.0, "ci_low": 0.5, "ci_high": 5.5, "p": 0.02},
        ]
    ).to_csv(tmp_path / "sensitivity.csv", index=False)
    (tmp_path / "rerandomisation.json").write_text(json.dumps({"method": "monte_carlo", "p": 0.03}))
    # shifting control by delta: the lower limit goes 0.4 -> -0.4 between 0 and 2 (crosses at 1);
    # shifting refocus never crosses
    pd.DataFrame(
        [
            {"arm_shifted": arm, "arm_label": label, "delta": d, "ci_low": lo, "ci_high": 9.0}
            for arm, label, d, lo in (
                ("control", "Usual care", 0, 0.4),
                ("control", "Usual care", 2, -0.4),
                ("refocus", "REFOCUS", 0, 0.4),
                ("refocus", "REFOCUS", 2, 0.8),
            )
        ]
    ).to_csv(tmp_path / "delta.csv", index=False)
    inputs = {
        "outcomes": tmp_path / "outcomes.csv",
        "sensitivity": tmp_path / "sensitivity.csv",
        "rerandomisation": tmp_path / "rerandomisation.json",
        "delta_adjustment": tmp_path / "delta.csv",
    }
    rows = robustness_rows(small_config, inputs)
    assert [(r["analysis"], r["estimate"], r["p"]) for r in rows] == [
        ("Primary analysis (40 imputations)", "2.50 (0.10 to 4.90)", "0.040"),
        ("Complete case", "2.00 (-0.50 to 4.50)", "0.110"),
        ("Unadjusted", "3.00 (0.50 to 5.50)", "0.020"),
        ("Re-randomisation test (observed data, Monte Carlo)", "", "0.030"),
        (
            "Imputed values of Usual care shifted (MNAR)",
            "tipping point: a CI limit crosses zero at a shift of 1.00",
            "",
        ),
        (
            "Imputed values of REFOCUS shifted (MNAR)",
            "tipping point: none for shifts from 0 to 2",
            "",
        ),
    ]
    assert robustness_rows(small_config, {"outcomes": tmp_path / "outcomes.csv"}) == []
    # a binary outcome's delta is a shift of log odds, and the row says so
    delta = pd.read_csv(tmp_path / "delta.csv").assign(delta_scale="log odds")
    delta.to_csv(tmp_path / "delta.csv", index=False)
    assert robustness_rows(small_config, inputs)[-2]["estimate"] == (
        "tipping point: a CI limit crosses zero at a shift of 1.00 in the log odds of an imputed 1"
    )


def test_reader_points_flag_what_the_tables_show(small_config, tmp_path):
    from trial.report.sections.outcomes import reader_points

    outcomes = _outcomes(2.5, (0.1, 4.9)).assign(n_boundary_fits=[0, 3])
    outcomes.to_csv(tmp_path / "outcomes.csv", index=False)
    pd.DataFrame(
        [
            {"label": "QPR total", "flag_difference": False, "flag_sd": True, "sd_ratio": 0.61},
            {"label": "Functioning", "flag_difference": False, "flag_sd": False, "sd_ratio": 1.0},
        ]
    ).to_csv(tmp_path / "check.csv", index=False)
    pd.DataFrame(
        [
            {
                "label": "Headline",
                "agrees": None,
                "estimate": -500,
                "ci_low": -900,
                "ci_high": -100,
            },
            {"label": "Gamma GLM", "agrees": False, "estimate": 300, "ci_low": 10, "ci_high": 590},
            {"label": "Mixed model", "agrees": True, "estimate": -480, "ci_low": -9, "ci_high": 1},
        ]
    ).to_csv(tmp_path / "costs.csv", index=False)
    pd.DataFrame(
        [
            {"quantity": "incremental_effect", "estimate": 0.1, "ci_low": -0.2, "ci_high": 0.4},
            {"quantity": "icer", "estimate": -5000.0, "ci_low": None, "ci_high": None},
        ]
    ).to_csv(tmp_path / "ce.csv", index=False)
    inputs = {
        "outcomes": tmp_path / "outcomes.csv",
        "arm_check": tmp_path / "check.csv",
        "costs": tmp_path / "costs.csv",
        "cost_effectiveness": tmp_path / "ce.csv",
    }
    points = reader_points(small_config, inputs)
    assert [p["anchor"] for p in points] == ["imputation", "outcomes", "costs", "costs"]
    assert points[0]["text"].startswith("QPR total: the spread of imputed values (SD ratio 0.61)")
    assert "Functioning (REFOCUS minus Usual care)" in points[1]["text"]
    assert "zero in 3 of 40 imputations" in points[1]["text"]
    assert points[2]["text"].startswith("Costs: Gamma GLM gives 300 (10 to 590)")
    assert "(-0.20 to 0.40) includes zero" in points[3]["text"]
    assert "the ICER is not reported" in points[3]["text"]
    # a cost analysis with no delivery cost declared is flagged; one declared zero is not
    small_config["costs"] = {"currency": "GBP"}
    texts = [p["text"] for p in reader_points(small_config, inputs)]
    assert "Costs: no intervention delivery cost was declared in the config" in texts[3]
    small_config["costs"]["intervention_cost"] = {"per_individual": 0, "basis": "none"}
    assert len(reader_points(small_config, inputs)) == len(points)
    del small_config["costs"]
    # an effect CI clear of zero, agreeing costs and clean checks leave nothing to flag
    pd.DataFrame(
        [
            {"quantity": "incremental_effect", "estimate": 0.3, "ci_low": 0.1, "ci_high": 0.5},
            {"quantity": "icer", "estimate": 2000.0, "ci_low": None, "ci_high": None},
        ]
    ).to_csv(tmp_path / "ce.csv", index=False)
    _outcomes(2.5, (0.1, 4.9)).assign(n_boundary_fits=0).to_csv(
        tmp_path / "outcomes.csv", index=False
    )
    inputs.pop("arm_check")
    inputs.pop("costs")
    assert reader_points(small_config, inputs) == []
