"""Rule analyse_stepped_wedge: the design's model for every outcome, its sensitivity analyses
and the schedule figure."""

from trial.analyses.stepped_wedge import analyse_design, effects_table, sensitivity_table
from trial.report.design_figures import plot_schedule
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
config = snakemake.config
analysis = analyse_design(config)
table = effects_table(config, analysis)
log.info("\n%s", table.to_string())
table.to_csv(snakemake.output.csv, index=False, lineterminator="\n", float_format="%.10g")
table.to_json(snakemake.output.json, orient="records", indent=2, double_precision=10)
sensitivity_table(config, analysis).to_csv(
    snakemake.output.sensitivity, index=False, lineterminator="\n", float_format="%.10g"
)
analysis.flow.to_csv(snakemake.output.flow, index=False, lineterminator="\n")
plot_schedule(config, analysis.schedule, snakemake.output.figure, analysis.counts)
