"""Rule describe_trial: flow counts and baseline table."""

import pandas as pd

from trial.describe import baseline_table, flow_counts
from trial.runlog import start_log
from trial.validation import read_table

log = start_log(snakemake.log[0], snakemake.rule)
config = snakemake.config
table = pd.read_csv(snakemake.input.table)
clusters = read_table(config, config["design"]["cluster_table"])
flow_counts(config, table, clusters).to_csv(snakemake.output.flow, index=False, lineterminator="\n")
baseline_table(config, table, clusters).to_csv(
    snakemake.output.baseline, index=False, lineterminator="\n"
)
log.info("described %d individuals", len(table))
