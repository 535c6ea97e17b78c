"""Rule pool_participation: Rubin's rules over imputations; bootstrap percentile interval."""

import pandas as pd

from trial.analyses.participation import pool_participation
from trial.data.intermediate import read_intermediates
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
pooled = pool_participation(
    snakemake.config,
    read_intermediates(snakemake.config, snakemake.input.fits),
    read_intermediates(snakemake.config, snakemake.input.bootstrap),
    pd.read_csv(snakemake.input.outcomes),
)
log.info("\n%s", pooled.to_string())
pooled.to_csv(snakemake.output.csv, index=False, lineterminator="\n", float_format="%.10g")
pooled.to_json(snakemake.output.json, orient="records", indent=2, double_precision=10)
