"""Rule pool_costs: Rubin's rules, MI then bootstrap, cost-effectiveness and acceptability."""

import pandas as pd

from trial.analyses.costs.pooling import pool_costs
from trial.data.intermediate import read_intermediates
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
fits = read_intermediates(snakemake.config, snakemake.input.fits)
replicates = pd.concat(
    read_intermediates(snakemake.config, snakemake.input.chunks), ignore_index=True
)
pooled = pool_costs(snakemake.config, fits, replicates)
for name, output in (("costs", "costs"), ("cost_effectiveness", "ce"), ("ceac", "ceac")):
    table = getattr(pooled, name)
    log.info("%s:\n%s", name, table.to_string())
    table.to_csv(
        snakemake.output[output], index=False, lineterminator="\n", float_format="%.10g"
    )
