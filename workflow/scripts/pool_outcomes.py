"""Rule pool_outcomes: Rubin's rules with Barnard-Rubin df over all imputations."""

from trial.analyses.pooled_outcomes import pool_outcomes
from trial.data.intermediate import read_intermediates
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
pooled = pool_outcomes(snakemake.config, read_intermediates(snakemake.config, snakemake.input))
log.info("\n%s", pooled.to_string())
pooled.to_csv(snakemake.output.csv, index=False, lineterminator="\n", float_format="%.10g")
pooled.to_json(snakemake.output.json, orient="records", indent=2, double_precision=10)
