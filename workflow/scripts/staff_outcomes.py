"""Rule staff_outcomes: arm and participation effects of the staff outcomes."""

from trial.analyses.staff import staff_outcomes
from trial.data.intermediate import read_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
scores = (
    read_intermediate(snakemake.config, snakemake.input.scores[0])
    if snakemake.input.scores
    else None
)
result = staff_outcomes(
    snakemake.config, read_intermediate(snakemake.config, snakemake.input.table), scores
)
log.info("\n%s", result.to_string())
result.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.10g")
