"""trial.report.sections.participation: published participation figures beside this run's."""

from __future__ import annotations

import pandas as pd

from trial.report.sections.participation import published_participation_table


def test_published_figures_are_turned_into_this_runs_direction(config) -> None:
    ours = pd.DataFrame(
        {
            "analysis": ["high_vs_low"],
            "outcome": ["qpr_interpersonal"],
            "estimate": [1.2],
            "ci_low": [0.1],
            "ci_high": [2.3],
            "p": [0.03],
        }
    )
    truth = {"outcomes": {"qpr_interpersonal": {"high_minus_low_participation": 1.6}}}
    table = published_participation_table(config, ours, None, truth).set_index("outcome")
    row = table.loc[config["scales"]["qpr_interpersonal"]["label"]]
    assert row["published"] == "1.60 (0.5 to 2.7)"  # stated -1.6 (-2.7 to -0.5), low minus high
    assert row["true_value"] == 1.6 and row["this_run"] == "1.20 (0.10 to 2.30)"
    staff_row = table.loc[config["scales"]["recovery_promotion"]["label"]]
    assert staff_row["this_run"] == "not analysed" and pd.isna(staff_row["true_value"])
