"""Rule bootstrap_costs: one chunk of joint bootstrap replicates (a run of imputations)."""

import re

from trial.analyses.costs.bootstrap import bootstrap_costs, chunk_replicates
from trial.data.intermediate import read_intermediate, write_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
tables = {
    int(re.search(r"(\d+)\.parquet$", path).group(1)): read_intermediate(snakemake.config, path)
    for path in snakemake.input
}
replicates = chunk_replicates(snakemake.config, int(snakemake.wildcards.chunk))
result = bootstrap_costs(snakemake.config, tables, replicates)
log.info("replicates by imputation: %s", replicates)
write_intermediate(snakemake.config, result, snakemake.output[0])
