"""Rule rerandomisation_test: stratified re-randomisation test of the primary outcome."""

import json

import numpy as np
import pandas as pd

from trial.runlog import start_log
from trial.sensitivity import rerandomisation_test

log = start_log(snakemake.log[0], snakemake.rule)
summary, null = rerandomisation_test(
    snakemake.config, [pd.read_csv(p) for p in snakemake.input.imputed]
)
quantiles = [0.005, 0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975, 0.995]
values = np.quantile(null, quantiles)
summary["null_quantiles"] = {f"{q:g}": float(v) for q, v in zip(quantiles, values, strict=True)}
log.info("%s", summary)
with open(snakemake.output[0], "w", encoding="utf-8") as handle:
    json.dump(summary, handle, indent=2, sort_keys=True)
