"""Rule pool_pairwise: Rubin's rules over imputations for every active-vs-active contrast."""

from trial.analyses.pooled_outcomes import pool_pairwise
from trial.data.intermediate import read_intermediates
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
pooled = pool_pairwise(snakemake.config, read_intermediates(snakemake.config, snakemake.input))
log.info("\n%s", pooled.to_string())
pooled.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.10g")
