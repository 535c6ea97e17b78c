"""Rule plot_audit: trajectories by arm with the intervention period marked."""

import pandas as pd

from trial.report.figures.audit import trajectory_plot
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
trajectory_plot(snakemake.config, pd.read_csv(snakemake.input[0]), snakemake.output[0])
log.info("figure written")
