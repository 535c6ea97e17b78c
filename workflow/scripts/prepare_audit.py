"""Rule prepare_audit: the long audit table and the counts of records not available."""

from trial.analyses.audit.data import prepare_audit
from trial.data.intermediate import write_intermediate
from trial.data.validation import read_table
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
config = snakemake.config
audit = read_table(config, config["audit"]["table"])
clusters = read_table(config, config["design"]["cluster_table"])
data = prepare_audit(config, audit, clusters)
write_intermediate(config, data.long, snakemake.output.long)
data.availability.to_csv(snakemake.output.availability, index=False, lineterminator="\n")
totals = data.availability[data.availability["time"] == "total"]
for row in totals.itertuples():
    log.info(
        "arm %s: %d records, %d not available (%.1f%%), %d available with an item missing",
        row.arm,
        row.n_records,
        row.n_not_available,
        row.pct_not_available,
        row.n_item_missing,
    )
