"""Rule participation_scores: each treatment cluster's participation score and class."""

from trial.analyses.participation import participation_scores
from trial.data.intermediate import write_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
scores = participation_scores(snakemake.config)
log.info("\n%s", scores.to_string())
write_intermediate(snakemake.config, scores, snakemake.output[0])
