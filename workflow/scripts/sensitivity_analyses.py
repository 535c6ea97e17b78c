"""Rule sensitivity_analyses: complete-case, unadjusted and cluster-level primary analyses."""

from trial.analyses.sensitivity import sensitivity_analyses
from trial.data.intermediate import read_intermediate, read_intermediates
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
result = sensitivity_analyses(
    snakemake.config,
    read_intermediate(snakemake.config, snakemake.input.table),
    read_intermediates(snakemake.config, snakemake.input.imputed),
)
log.info("\n%s", result.to_string())
result.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.10g")
