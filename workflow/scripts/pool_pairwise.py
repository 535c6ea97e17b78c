"""Rule pool_pairwise: Rubin's rules over imputations for every active-vs-active contrast."""

import pandas as pd

from trial.analysis import pool_pairwise
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
pooled = pool_pairwise(snakemake.config, [pd.read_csv(p) for p in snakemake.input])
log.info("\n%s", pooled.to_string())
pooled.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.10g")
