"""Rule validate_inputs: check every raw table; write row counts."""

import json
import sys

from trial.cli.preflight import EXIT_INVALID
from trial.data.validation import InputError, validate_inputs
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
try:
    counts = validate_inputs(snakemake.config)
except InputError as error:  # the list of problems, not a traceback (as before any job)
    log.error("%s", error)
    print(error, file=sys.stderr)
    sys.exit(EXIT_INVALID)
log.info("validated %s", counts)
with open(snakemake.output[0], "w", encoding="utf-8") as handle:
    json.dump({"rows": counts}, handle, indent=2, sort_keys=True)
