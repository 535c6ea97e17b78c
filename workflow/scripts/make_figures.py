"""Rule make_figures: forest plot and primary-outcome distribution."""

import pandas as pd

from trial.data.intermediate import read_intermediate
from trial.report.figures.outcomes import forest_plot, primary_distribution_plot
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
forest_plot(snakemake.config, pd.read_csv(snakemake.input.outcomes), snakemake.output.forest)
primary_distribution_plot(
    snakemake.config,
    read_intermediate(snakemake.config, snakemake.input.table),
    snakemake.output.primary,
)
log.info("figures written")
