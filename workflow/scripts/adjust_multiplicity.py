"""Rule adjust_multiplicity: Holm (and serial gatekeeping) over the declared families."""

import pandas as pd

from trial.analyses.multiplicity import adjust_families
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
inputs = snakemake.input
table = adjust_families(
    snakemake.config,
    pd.read_csv(inputs.outcomes),
    pd.read_csv(inputs.pairwise) if "pairwise" in inputs.keys() else None,
)
log.info("\n%s", table.to_string())
table.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.10g")
