"""Rule icc_table: ICCs with CIs, cluster sizes and design effects of every outcome."""


from trial.analyses.icc import icc_table
from trial.data.intermediate import read_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
inputs = snakemake.input
has_staff = "staff_table" in inputs.keys()
table = icc_table(
    snakemake.config,
    read_intermediate(snakemake.config, inputs.table),
    read_intermediate(snakemake.config, inputs.staff_table) if has_staff else None,
)
log.info("\n%s", table.to_string())
table.to_csv(snakemake.output.csv, index=False, lineterminator="\n", float_format="%.10g")
table.to_json(snakemake.output.json, orient="records", indent=2, double_precision=10)
