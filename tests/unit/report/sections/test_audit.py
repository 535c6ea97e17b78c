"""trial.report.sections.audit: the audit section of a binary-item audit."""

from __future__ import annotations

from trial.analyses.audit.data import prepare_audit, summarise_by_time
from trial.analyses.audit.fits import fit_audit_models
from trial.report.figures.audit import trajectory_plot
from trial.report.render import render_report
from trial.report.sections.audit import audit_section
from trial.seeding import derive_rng

from ...analyses.test_audit import ITEMS, simulate_logistic_audit


def test_report_section_shows_the_binary_results_with_labels(config, tmp_path):

    audit, clusters = simulate_logistic_audit(
        derive_rng(20240601, "test_audit", "report"), n_clusters=12, per_cluster=8, n_times=3
    )
    data = prepare_audit(config, audit, clusters)
    by_time = summarise_by_time(config, data.long)
    estimates, tests = fit_audit_models(config, data.long)
    inputs = {
        "audit_availability": tmp_path / "availability.csv",
        "audit_by_time": tmp_path / "by_time.csv",
        "audit_estimates": tmp_path / "estimates.csv",
        "audit_tests": tmp_path / "tests.csv",
        "audit_figure": tmp_path / "trajectories.png",
    }
    data.availability.to_csv(inputs["audit_availability"], index=False)
    by_time.to_csv(inputs["audit_by_time"], index=False)
    estimates.to_csv(inputs["audit_estimates"], index=False)
    tests.to_csv(inputs["audit_tests"], index=False)
    trajectory_plot(config, by_time, inputs["audit_figure"])
    html = render_report(config, [audit_section(config, inputs)])
    table = html[html.index("Audit table 4") :]
    table = table[: table.index("</table>")]
    rows = table.split("<tr>")[2:]
    assert len(rows) == len(ITEMS)
    labels = config["audit"]["item_labels"]
    for row, item in zip(rows, ITEMS, strict=True):
        assert labels[item] in row and item not in row
        fit = estimates[(estimates["model"] == "gee") & (estimates["measure"] == item)]
        fit = fit.set_index("quantity")
        odds = fit.loc["odds_ratio_at_final_time"]
        rd = fit.loc["risk_difference_at_final_time"]
        assert f"{odds['estimate']:.2f} ({odds['ci_low']:.2f} to {odds['ci_high']:.2f})" in row
        assert f"{100 * rd['estimate']:.1f} ({100 * rd['ci_low']:.1f}" in row
    assert "Kauermann-Carroll bias-corrected sandwich covariance" in html
    # the composite stays in the linear models' table; no item is shown there
    linear = html[html.index("Audit table 3") : html.index("Audit table 4")]
    assert config["audit"]["composite"]["label"] in linear
    assert not any(labels[item] in linear for item in ITEMS)
