"""Rule pool_marginal: standardised measures of binary outcomes pooled over all imputations."""

from trial.analyses.pooled_outcomes import pool_marginal
from trial.data.intermediate import read_intermediates
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
pooled = pool_marginal(snakemake.config, read_intermediates(snakemake.config, snakemake.input))
log.info("\n%s", pooled.to_string())
pooled.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.10g")
