"""Rule delta_adjustment: imputed primary follow-up values of one arm shifted by delta."""

from trial.analyses.sensitivity import delta_adjustment
from trial.data.intermediate import read_intermediate, read_intermediates
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
result = delta_adjustment(
    snakemake.config,
    read_intermediate(snakemake.config, snakemake.input.table),
    read_intermediates(snakemake.config, snakemake.input.imputed),
    read_intermediates(snakemake.config, snakemake.input.latent),
)
log.info("\n%s", result.to_string())
result.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.10g")
