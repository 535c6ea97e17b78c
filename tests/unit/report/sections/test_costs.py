"""trial.report.sections.costs: the texts of the economic section."""

from __future__ import annotations


def test_congeniality_is_claimed_only_for_the_engine_that_contains_the_analysis(config):
    from trial.report.sections.costs import congeniality_text

    config["imputation"]["engine"] = "forest"
    forest = congeniality_text(config)
    assert "congeniality is not established" in forest
    config["imputation"]["engine"] = "multilevel"
    multilevel = congeniality_text(config)
    assert "not established" not in multilevel and "contain the linear" in multilevel
    for text in (forest, multilevel):
        assert "MI then bootstrap" in text and "was not done" in text  # says which, and why
