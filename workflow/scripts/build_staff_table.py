"""Rule build_staff_table: score the staff outcomes, one row per staff member."""

from trial.analyses.staff import staff_analysis_table
from trial.data.intermediate import write_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
table = staff_analysis_table(snakemake.config)
log.info("%d staff; non-missing values:\n%s", len(table), table.notna().sum().to_string())
write_intermediate(snakemake.config, table, snakemake.output[0])
