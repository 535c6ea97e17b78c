"""trial.report.figures.diagnostics: the imputation figures are the same bytes on a rerun."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trial.report.figures.diagnostics import imputed_vs_observed_plot, trace_plot

from ...analyses.test_impute_diagnostics import gapped_table


@pytest.fixture()
def table():
    return gapped_table()


def test_figures_are_byte_identical_on_rerun(small_config, table, tmp_path):
    traces = pd.DataFrame(
        {
            "imputation": np.repeat([1, 2], 6),
            "iteration": np.tile([1, 2, 3], 4),
            "variable": np.tile(np.repeat(["qpr_total__followup", "qpr_total__baseline"], 3), 2),
            "mean": np.arange(12.0),
            "sd": np.ones(12),
        }
    )
    completed = [table.fillna(v) for v in (38.0, 41.0)]
    for name in ("a", "b"):
        shown = trace_plot(small_config, traces, tmp_path / f"t{name}.png")
        imputed_vs_observed_plot(small_config, table, completed, tmp_path / f"i{name}.png")
    assert shown == ["qpr_total__baseline", "qpr_total__followup"]
    for stem in ("t", "i"):
        assert (tmp_path / f"{stem}a.png").read_bytes() == (tmp_path / f"{stem}b.png").read_bytes()
