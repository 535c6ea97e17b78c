"""Rule rerandomisation_test: stratified re-randomisation test of the primary outcome."""

import json

from trial.analyses.sensitivity import rerandomisation_test
from trial.data.intermediate import read_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
summary, _ = rerandomisation_test(
    snakemake.config, read_intermediate(snakemake.config, snakemake.input.table)
)
log.info("%s", summary)
with open(snakemake.output[0], "w", encoding="utf-8") as handle:
    json.dump(summary, handle, indent=2, sort_keys=True)
