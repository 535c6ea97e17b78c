"""Rule rerandomisation_test: stratified re-randomisation test of the primary outcome."""

import json

import pandas as pd

from trial.runlog import start_log
from trial.sensitivity import rerandomisation_test

log = start_log(snakemake.log[0], snakemake.rule)
summary, _ = rerandomisation_test(snakemake.config, pd.read_csv(snakemake.input.table))
log.info("%s", summary)
with open(snakemake.output[0], "w", encoding="utf-8") as handle:
    json.dump(summary, handle, indent=2, sort_keys=True)
