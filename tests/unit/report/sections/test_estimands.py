"""trial.report.sections.estimands: the methods text the estimands generate."""

from __future__ import annotations

import copy

from trial.config.load import validate_config
from trial.report.sections.estimands import methods_paragraphs


def test_the_text_cites_the_delta_adjustment_only_when_it_is_run(config):
    assert "delta-adjustment" in methods_paragraphs(config)[-1]["text"]
    without = copy.deepcopy(config)
    del without["sensitivity"]["delta"]
    validate_config(without)  # delta is optional
    assert "delta-adjustment" not in methods_paragraphs(without)[-1]["text"]
