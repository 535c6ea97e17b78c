"""Rule impute: make one completed dataset."""

from trial.analysis import impute_analysis_table
from trial.estimands import undefined_after_events
from trial.intermediate import read_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
index = int(snakemake.wildcards.i)
table = read_intermediate(snakemake.config, snakemake.input.table)
result = impute_analysis_table(snakemake.config, table, index)
log.info("imputation %d with engine %s", index, result.engine)
# scores that the declared estimands leave undefined (e.g. after death) keep no imputed value
completed = undefined_after_events(snakemake.config, table, result.completed)
completed.to_csv(snakemake.output.data, index=False, lineterminator="\n")
result.trace.assign(imputation=index, engine=result.engine).to_csv(
    snakemake.output.trace, index=False, lineterminator="\n"
)
