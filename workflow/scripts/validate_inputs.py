"""Rule validate_inputs: check every raw table; write row counts."""

import json

from trial.runlog import start_log
from trial.validation import validate_inputs

log = start_log(snakemake.log[0], snakemake.rule)
counts = validate_inputs(snakemake.config)
log.info("validated %s", counts)
with open(snakemake.output[0], "w", encoding="utf-8") as handle:
    json.dump({"rows": counts}, handle, indent=2, sort_keys=True)
