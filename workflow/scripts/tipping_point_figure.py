"""Rule tipping_point_figure: pooled primary estimate against the delta-adjustment shift."""

import pandas as pd

from trial.report.figures.sensitivity import tipping_point_plot
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
tipping_point_plot(snakemake.config, pd.read_csv(snakemake.input.delta), snakemake.output.png)
log.info("tipping-point figure written")
