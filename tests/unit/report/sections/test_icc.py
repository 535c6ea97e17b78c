"""trial.report.sections.icc: the clustering section shows the analysis model's ICCs of the 0/1
outcomes (Table I2) from the outcomes table, and nothing of the kind for a trial without them."""

from __future__ import annotations

import pandas as pd

from trial.analyses.icc import icc_table
from trial.analyses.outcomes import build_analysis_table
from trial.report.sections.icc import icc_section


def test_binary_model_iccs_come_from_the_outcomes_table_once_per_outcome(small_config, tmp_path):
    small_config["icc"]["bootstrap"] = 5
    icc_table(small_config, build_analysis_table(small_config)).to_csv(tmp_path / "icc.csv")
    inputs = {"icc": tmp_path / "icc.csv", "outcomes": tmp_path / "outcomes.csv"}
    # a trial of linear outcomes only writes no family column
    pd.DataFrame({"outcome": ["qpr_total"], "estimate": [1.0]}).to_csv(inputs["outcomes"])
    section = icc_section(small_config, inputs)
    assert section.context["binary"] == [] and section.context["rows"]
    outcomes = pd.DataFrame(
        {
            "outcome": ["qpr_total", "remission", "remission"],  # one row per contrast
            "family": ["gaussian", "binomial", "binomial"],
            "icc_mean": [float("nan"), 0.12, 0.12],
            "icc_proportion_mean": [float("nan"), 0.05, 0.05],
        }
    )
    outcomes.to_csv(inputs["outcomes"], index=False)
    binary = icc_section(small_config, inputs).context["binary"]
    assert [(r["outcome"], r["icc_mean"], r["icc_proportion_mean"]) for r in binary] == [
        ("remission", 0.12, 0.05)
    ]
