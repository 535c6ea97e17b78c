"""Rule imputation_diagnostics: missingness table, chain traces, observed vs imputed, and the
check that the arm effect survives imputation."""

import pandas as pd

from trial.analyses.imputation_diagnostics import (
    arm_difference_check,
    imputed_vs_observed_table,
    missingness_table,
)
from trial.data.intermediate import read_intermediate, read_intermediates
from trial.report.blocks import figure_dpi
from trial.report.figures.diagnostics import (
    arm_difference_plot,
    imputed_vs_observed_plot,
    nothing_imputed_figure,
    trace_plot,
)
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
config = snakemake.config
table = read_intermediate(snakemake.config, snakemake.input.table)
completed = read_intermediates(snakemake.config, snakemake.input.imputed)
traces = pd.concat(read_intermediates(config, snakemake.input.traces), ignore_index=True)
out = snakemake.output
missingness_table(config, table).to_csv(
    out.missingness, index=False, lineterminator="\n", float_format="%.4g"
)
if config["imputation"]["m"] == 1:  # nothing analysed was missing (checked before imputing)
    for path in (out.comparison, out.arm_check):
        pd.DataFrame().to_csv(path, index=False)
    for path in (out.arm_check_figure, out.traces, out.imputed):
        nothing_imputed_figure(path, figure_dpi(config))
    log.info("no analysed value was missing: nothing was imputed")
else:
    imputed_vs_observed_table(config, table, completed).to_csv(
        out.comparison, index=False, lineterminator="\n", float_format="%.6g"
    )
    check = arm_difference_check(config, table, completed)
    check.to_csv(out.arm_check, index=False, lineterminator="\n", float_format="%.6g")
    arm_difference_plot(check, out.arm_check_figure, dpi=figure_dpi(snakemake.config))
    for row in check.itertuples():
        log.info(
            "%s (%s): arm difference observed %.4g, imputed %.4g, ratio %.3f; difference %.4g "
            "(noise SE %.4g, p %.3g); residual SD ratio %.3f%s",
            row.label,
            row.arm,
            row.observed_difference,
            row.imputed_difference,
            row.ratio,
            row.difference,
            row.difference_se,
            row.difference_p,
            row.sd_ratio,
            " FLAGGED" if row.flag_difference or row.flag_sd else "",
        )
    shown = trace_plot(config, traces, out.traces)
    imputed_vs_observed_plot(config, table, completed, out.imputed)
    log.info("diagnostics of %d imputations; traces of %s", len(completed), shown)
