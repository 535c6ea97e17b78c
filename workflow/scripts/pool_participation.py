"""Rule pool_participation: Rubin's rules over imputations; bootstrap percentile interval."""

import pandas as pd

from trial.participation import pool_participation
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
pooled = pool_participation(
    snakemake.config,
    [pd.read_csv(p) for p in snakemake.input.fits],
    [pd.read_csv(p) for p in snakemake.input.bootstrap],
    pd.read_csv(snakemake.input.outcomes),
)
log.info("\n%s", pooled.to_string())
pooled.to_csv(snakemake.output.csv, index=False, lineterminator="\n", float_format="%.10g")
pooled.to_json(snakemake.output.json, orient="records", indent=2, double_precision=10)
