"""The report's wording and tables for binomial and poisson outcomes."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest

from trial.config.load import load_config
from trial.report.sections.outcomes import headline, non_gaussian_methods, outcome_table
from trial.report.sections.reproduction import reproduction_table

from ....conftest import ROOT


@pytest.fixture()
def pulse() -> dict:
    return copy.deepcopy(load_config(ROOT / "config" / "pulse.yaml"))


def _outcomes() -> pd.DataFrame:
    """Pooled rows as pool_outcomes writes them: a log odds ratio and a log rate ratio."""
    common = {"arm": "nurse_review", "direction": "treatment_minus_reference", "p": 0.0123}
    return pd.DataFrame(
        [
            {
                **common,
                "outcome": "bp_controlled",
                "label": "BP controlled",
                "role": "primary",
                "contrast": "Nurse-led review over Usual care",
                "estimate": math.log(1.5),
                "ci_low": math.log(1.1),
                "ci_high": math.log(2.0),
                "measure": "log odds ratio",
                "ratio": 1.5,
                "ratio_ci_low": 1.1,
                "ratio_ci_high": 2.0,
            },
            {
                **common,
                "outcome": "consultations",
                "label": "Consultations",
                "role": "secondary",
                "contrast": "Nurse-led review over Usual care",
                "estimate": math.log(0.8),
                "ci_low": math.log(0.7),
                "ci_high": math.log(0.9),
                "measure": "log rate ratio",
                "ratio": 0.8,
                "ratio_ci_low": 0.7,
                "ratio_ci_high": 0.9,
            },
        ]
    )


def _summary() -> pd.DataFrame:
    rows = []
    for outcome, role, means in (
        ("bp_controlled", "primary", (0.25, 0.5)),
        ("consultations", "secondary", (4.0, 3.0)),
    ):
        for arm in ("nurse_review", "usual_care"):
            rows.append(
                {
                    "outcome": outcome,
                    "label": outcome,
                    "role": role,
                    "arm": arm,
                    "n_clusters": 17,
                    "n_analysed": 500,
                    "n_observed": 400,
                    "n_imputed": 100,
                    "n_baseline": 500,
                    "mean_baseline": means[0],
                    "sd_baseline": 0.5,
                    "mean_followup": means[1],
                    "sd_followup": 0.5,
                }
            )
    return pd.DataFrame(rows)


def test_headline_states_the_odds_ratio_and_its_null_value(pulse):
    text = headline(pulse, _outcomes(), _summary())[0]
    assert "adjusted odds ratio 1.50 (95% CI 1.10 to 2.00; p = 0.012)." in text
    assert "favours Nurse-led review; the 95% CI excludes one." in text


def test_outcome_table_gives_n_percent_for_0_1_outcomes_and_ratios(pulse):
    blocks = {b["outcome"]: b for b in outcome_table(pulse, _outcomes(), _summary())}
    binary = blocks["bp_controlled"]["rows"][0]
    assert binary["baseline"] == "125 (25.0%)" and binary["followup"] == "200 (50.0%)"
    assert binary["difference"] == "1.50 (1.10 to 2.00)" and binary["contrast"] == "odds ratio"
    count = blocks["consultations"]["rows"][0]
    assert count["followup"] == "3.0 (0.5)"
    assert count["difference"] == "0.80 (0.70 to 0.90)" and count["contrast"] == "rate ratio"


def test_truth_is_compared_through_the_risk_difference_and_never_with_a_ratio(pulse):
    truth = {
        "outcomes": {
            "bp_controlled": {"arm_minus_reference": {"nurse_review": 0.12}},
            "consultations": {"arm_minus_reference": {"nurse_review": -0.5}},
        }
    }
    marginal = pd.DataFrame(
        [
            {
                "outcome": "bp_controlled",
                "arm": "nurse_review",
                "measure": "risk difference",
                "estimate": 0.1,
                "ci_low": 0.02,
                "ci_high": 0.18,
                "p": 0.01,
                "risk_arm": 0.6,
                "contrast": "Nurse-led review minus Usual care",
            },
            {
                "outcome": "bp_controlled",
                "arm": "nurse_review",
                "measure": "risk ratio",
                "estimate": 1.2,
                "ci_low": 1.05,
                "ci_high": 1.4,
                "p": 0.01,
                "risk_arm": 0.6,
                "contrast": "Nurse-led review over Usual care",
            },
        ]
    )
    table = reproduction_table(pulse, _outcomes(), truth, marginal)
    assert len(table) == 1  # the count's rate ratio has no true value to compare with
    row = table.iloc[0]
    assert row["outcome"].endswith("(standardised risk difference)")
    assert row["this_run"] == "0.10 (0.02 to 0.18)" and row["true_value"] == "0.12"
    assert reproduction_table(pulse, _outcomes(), truth).empty


def test_methods_text_names_the_model_df_and_correction(pulse):
    text = non_gaussian_methods(pulse)
    assert "logistic mixed model (GLMM)" in text
    assert "adaptive Gauss-Hermite quadrature with 10 nodes per practice" in text
    assert "between-within degrees of freedom" in text and "log-linear mixed model" in text
    pulse["analysis"]["non_gaussian"].update(method="gee", gee_covariance="fay-graubard")
    text = non_gaussian_methods(pulse)
    assert "exchangeable working correlation" in text and "population-averaged" in text
    assert "fay-graubard bias-corrected sandwich covariance" in text
    assert "practices minus coefficients degrees of freedom" in text
    for outcome in pulse["analysis"]["outcomes"]:
        outcome["family"] = "gaussian"
    assert non_gaussian_methods(pulse) == ""


def test_baseline_table_counts_a_0_1_outcome(pulse):
    from trial.analyses.describe import baseline_table
    from trial.analyses.outcomes import build_analysis_table
    from trial.data.validation import read_table

    pulse["paths"]["raw"] = str(ROOT / "data" / "raw" / "pulse")
    table = build_analysis_table(pulse)
    rows = baseline_table(pulse, table, read_table(pulse, "practices")).set_index("statistic")
    row = rows.loc["n (%); missing"]
    usual = table[table["allocation"] == "usual_care"]["bp_controlled__baseline"]
    ones = int((usual == 1).sum())
    assert row["Usual care"] == f"{ones} ({100 * ones / len(usual):.1f}%); 0"
    assert rows.loc["mean (SD); missing", "characteristic"].iloc[-1].startswith("GP consultations")


def test_default_population_summary_names_the_ratio_measures(pulse):
    from trial.report.sections.estimands import estimand_rows

    del pulse["estimands"]["summary"]
    summary = {r["attribute"]: r["value"] for r in estimand_rows(pulse)}["Population-level summary"]
    assert summary.startswith("cluster-specific odds ratio for 0/1 outcomes")
    assert "cluster-specific rate ratio for counts" in summary
    assert "difference in means" not in summary
    pulse["analysis"]["non_gaussian"]["method"] = "gee"
    summary = {r["attribute"]: r["value"] for r in estimand_rows(pulse)}["Population-level summary"]
    assert summary.startswith("population-averaged odds ratio")
