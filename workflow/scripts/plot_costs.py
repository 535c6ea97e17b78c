"""Rule plot_costs: cost-effectiveness plane and acceptability curve."""

import pandas as pd

from trial.data.intermediate import read_intermediates
from trial.report.figures.costs import ce_plane_plot, ceac_plot
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
replicates = pd.concat(
    read_intermediates(snakemake.config, snakemake.input.chunks), ignore_index=True
)
replicates = replicates.sort_values(["imputation", "replicate"], kind="stable")
ce_plane_plot(snakemake.config, replicates, pd.read_csv(snakemake.input.ce), snakemake.output.plane)
ceac_plot(snakemake.config, pd.read_csv(snakemake.input.ceac), snakemake.output.ceac)
log.info("figures written from %d replicates", len(replicates))
