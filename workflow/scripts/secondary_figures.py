"""Rule secondary_figures: the forest plot of all estimates."""

import pandas as pd

from trial.report.blocks import figure_dpi
from trial.report.figures.sensitivity import forest_plot_all, forest_rows
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
inputs = snakemake.input
rows = forest_rows(
    snakemake.config,
    pd.read_csv(inputs.outcomes),
    pd.read_csv(inputs.participation) if "participation" in inputs.keys() else None,
    pd.read_csv(inputs.staff_outcomes) if "staff_outcomes" in inputs.keys() else None,
    pd.read_csv(inputs.sensitivity),
)
forest_plot_all(rows, snakemake.output.forest, dpi=figure_dpi(snakemake.config))
log.info("figures written; forest rows:\n%s", rows.to_string())
