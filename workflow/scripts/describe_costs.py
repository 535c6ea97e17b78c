"""Rule describe_costs: observed use and cost by service, category and arm; unit costs."""

from trial.analyses.costs.use import unit_cost_table, use_and_cost_table
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
table = use_and_cost_table(snakemake.config)
table.to_csv(snakemake.output.use, index=False, lineterminator="\n", float_format="%.6g")
unit_cost_table(snakemake.config).to_csv(
    snakemake.output.unit_costs, index=False, lineterminator="\n"
)
log.info("use and cost table: %d rows", len(table))
