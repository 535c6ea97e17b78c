"""Rule summarise_simulation: performance table and plot of the simulation study."""

import pandas as pd

from trial.runlog import start_log
from trial.simulation import simulation_plot, summarise_simulation

log = start_log(snakemake.log[0], snakemake.rule)
results = pd.concat([pd.read_csv(p) for p in snakemake.input], ignore_index=True)
results.to_csv(snakemake.output.replicates, index=False, lineterminator="\n", float_format="%.10g")
summary = summarise_simulation(results, alpha=snakemake.params.alpha)
log.info("\n%s", summary.to_string())
summary.to_csv(snakemake.output.table, index=False, lineterminator="\n", float_format="%.6g")
simulation_plot(summary, snakemake.output.figure, alpha=snakemake.params.alpha)
