"""Rule build_analysis_table: score scales into one row per individual."""

from trial.analyses.outcomes import build_analysis_table
from trial.data.intermediate import write_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
table = build_analysis_table(snakemake.config)
log.info("%d individuals; missing per column:\n%s", len(table), table.isna().sum().to_string())
write_intermediate(snakemake.config, table, snakemake.output[0])
