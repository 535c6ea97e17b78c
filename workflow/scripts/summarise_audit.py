"""Rule summarise_audit: per time point and arm, proportion or mean with a cluster-robust CI."""

from trial.analyses.audit.data import summarise_by_time
from trial.data.intermediate import read_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
long = read_intermediate(snakemake.config, snakemake.input[0])
by_time = summarise_by_time(snakemake.config, long)
by_time.to_csv(snakemake.output[0], index=False, lineterminator="\n")
log.info("%d measure x time x arm summaries", len(by_time))
