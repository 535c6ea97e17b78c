"""Rule cheers_checklist: where each CHEERS 2022 item is reported."""

from trial.report.checklist import cheers_checklist
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
table = cheers_checklist(snakemake.config)
table.to_csv(snakemake.output[0], index=False, lineterminator="\n")
log.info("%d items", len(table))
