"""Rule pool_outcomes: Rubin's rules with Barnard-Rubin df over all imputations."""

import pandas as pd

from trial.analysis import pool_outcomes
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
pooled = pool_outcomes(snakemake.config, [pd.read_csv(p) for p in snakemake.input])
log.info("\n%s", pooled.to_string())
pooled.to_csv(snakemake.output.csv, index=False, lineterminator="\n", float_format="%.10g")
pooled.to_json(snakemake.output.json, orient="records", indent=2, double_precision=10)
