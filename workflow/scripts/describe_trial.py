"""Rule describe_trial: flow counts, cluster sizes, the CONSORT flow diagram, the baseline table
and the observed outcomes by arm."""

from trial.analyses.describe import describe_trial, outcome_summary
from trial.data.intermediate import read_intermediate
from trial.report.consort import flow_diagram
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
config = snakemake.config
table = read_intermediate(snakemake.config, snakemake.input.table)
flow, baseline, sizes = describe_trial(config, table)
flow.to_csv(snakemake.output.flow, index=False, lineterminator="\n")
sizes.to_csv(snakemake.output.cluster_sizes, index=False, lineterminator="\n")
baseline.to_csv(snakemake.output.baseline, index=False, lineterminator="\n")
outcome_summary(config, table).to_csv(
    snakemake.output.outcome_summary, index=False, lineterminator="\n"
)
flow_diagram(config, flow, snakemake.output.diagram, sizes)
log.info("described %d individuals", len(table))
