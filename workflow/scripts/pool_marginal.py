"""Rule pool_marginal: standardised measures of binary outcomes pooled over all imputations."""

import pandas as pd

from trial.analysis import pool_marginal
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
pooled = pool_marginal(snakemake.config, [pd.read_csv(p) for p in snakemake.input])
log.info("\n%s", pooled.to_string())
pooled.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.10g")
