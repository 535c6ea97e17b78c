"""Rule check_imputation_model: stop unless the imputation model holds every analysis term."""

import json

from trial.analyses.imputation import check_imputation_model
from trial.data.intermediate import read_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
model = check_imputation_model(
    snakemake.config, read_intermediate(snakemake.config, snakemake.input[0])
)
log.info("imputation model: %s", model.as_dict())
with open(snakemake.output[0], "w", encoding="utf-8") as handle:
    json.dump(model.as_dict(), handle, indent=2)
