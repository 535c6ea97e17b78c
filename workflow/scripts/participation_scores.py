"""Rule participation_scores: each treatment cluster's participation score and class."""

from trial.participation import participation_scores
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
scores = participation_scores(snakemake.config)
log.info("\n%s", scores.to_string())
scores.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.10g")
