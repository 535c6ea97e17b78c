"""Rule imputation_diagnostics: missingness table, chain traces, observed vs imputed."""

import pandas as pd

from trial.impute.diagnostics import (
    imputed_vs_observed_plot,
    imputed_vs_observed_table,
    missingness_table,
    trace_plot,
)
from trial.intermediate import read_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
config = snakemake.config
table = read_intermediate(snakemake.config, snakemake.input.table)
completed = [read_intermediate(snakemake.config, p) for p in snakemake.input.imputed]
traces = pd.concat([pd.read_csv(p) for p in snakemake.input.traces], ignore_index=True)
out = snakemake.output
missingness_table(config, table).to_csv(
    out.missingness, index=False, lineterminator="\n", float_format="%.4g"
)
imputed_vs_observed_table(config, table, completed).to_csv(
    out.comparison, index=False, lineterminator="\n", float_format="%.6g"
)
shown = trace_plot(config, traces, out.traces)
imputed_vs_observed_plot(config, table, completed, out.imputed)
log.info("diagnostics of %d imputations; traces of %s", len(completed), shown)
