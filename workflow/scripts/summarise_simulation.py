"""Rule summarise_simulation: performance table, decision rule and plot of the study."""

import pandas as pd

from trial.data.intermediate import read_intermediates
from trial.report.blocks import figure_dpi
from trial.report.figures.simulation import simulation_plot
from trial.runlog import start_log
from trial.studies.simulation import judge_simulation, summarise_simulation

log = start_log(snakemake.log[0], snakemake.rule)
results = pd.concat(read_intermediates(snakemake.config, snakemake.input), ignore_index=True)
results.to_csv(
    snakemake.output.replicates,
    index=False,
    lineterminator="\n",
    float_format="%.10g",
    compression={"method": "gzip", "mtime": 0},  # byte-identical on a rerun
)
alpha = snakemake.params.alpha
summary = judge_simulation(
    summarise_simulation(results, alpha=alpha),
    reference_effect=snakemake.params.reference_effect,
    alpha=alpha,
)
log.info("\n%s", summary.to_string())
summary.to_csv(snakemake.output.table, index=False, lineterminator="\n", float_format="%.6g")
simulation_plot(summary, snakemake.output.figure, alpha=alpha, dpi=figure_dpi(snakemake.config))
