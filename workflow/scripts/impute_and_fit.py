"""Rule impute_and_fit: make a chunk of completed datasets and fit every analysis on each."""

from trial.analysis import fit_outcomes, impute_analysis_table
from trial.estimands import undefined_after_events
from trial.impute.model import check_imputation_model
from trial.intermediate import read_intermediate
from trial.runlog import start_log

FLOATS = {"index": False, "lineterminator": "\n", "float_format": "%.12g"}

log = start_log(snakemake.log[0], snakemake.rule)
config, output = snakemake.config, snakemake.output
table = read_intermediate(config, snakemake.input.table)
model = check_imputation_model(config, table)
for k, index in enumerate(snakemake.params.imputations):
    result = impute_analysis_table(config, table, index, model)
    log.info("imputation %d with engine %s", index, result.engine)
    # scores that the declared estimands leave undefined (e.g. after death) keep no imputed value
    completed = undefined_after_events(config, table, result.completed)
    completed.to_csv(output.data[k], index=False, lineterminator="\n")
    result.trace.assign(imputation=index, engine=result.engine).to_csv(
        output.trace[k], index=False, lineterminator="\n"
    )
    # every analysis reads the completed dataset back from its file, as any later rule does
    data = read_intermediate(config, output.data[k])
    fits = fit_outcomes(config, data)
    log.info("\n%s", fits.to_string())
    fits.to_csv(output.fits[k], **FLOATS)
    if "cost_fits" in output.keys():
        from trial.costs import fit_costs

        cost_fits = fit_costs(config, data)
        log.info("\n%s", cost_fits.to_string())
        cost_fits.to_csv(output.cost_fits[k], **FLOATS)
    if "participation_fits" in output.keys():
        from trial.participation import fit_participation

        scores = read_intermediate(config, snakemake.input.scores)
        part_fits, bootstrap = fit_participation(config, data, scores, index)
        log.info("\n%s", part_fits.to_string())
        part_fits.to_csv(output.participation_fits[k], **FLOATS)
        bootstrap.to_csv(output.participation_bootstrap[k], **FLOATS)
