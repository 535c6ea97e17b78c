"""Rule pool_arm_tests: joint test of every treatment arm against the reference (D1)."""

from trial.analyses.pooled_outcomes import pool_arm_tests
from trial.data.intermediate import read_intermediates
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
tests = pool_arm_tests(snakemake.config, read_intermediates(snakemake.config, snakemake.input))
log.info("\n%s", tests.to_string())
tests.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.10g")
