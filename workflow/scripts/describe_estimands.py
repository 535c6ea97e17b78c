"""Rule describe_estimands: intercurrent events by arm and how their values are handled."""

from trial.analyses.estimands import handling_table
from trial.data.intermediate import read_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
table = handling_table(snakemake.config, read_intermediate(snakemake.config, snakemake.input[0]))
table.to_csv(snakemake.output[0], index=False, lineterminator="\n")
log.info("%d intercurrent-event rows", len(table))
