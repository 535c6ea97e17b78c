"""Rule simulate_replicates: one chunk of simulation replicates of one cell and method."""

from trial.data.intermediate import write_intermediate
from trial.runlog import start_log
from trial.studies.simulation import replicate_chunks, simulate_replicates

log = start_log(snakemake.log[0], snakemake.rule)
method = snakemake.wildcards.method
replicates = replicate_chunks(snakemake.config, method)[int(snakemake.wildcards.chunk) - 1]
results = simulate_replicates(snakemake.config, snakemake.wildcards.cell, method, replicates)
log.info("%d replicates done", len(results))
write_intermediate(snakemake.config, results, snakemake.output[0])
