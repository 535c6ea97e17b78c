"""Rule impute_and_fit: make a chunk of completed datasets and fit every analysis on each."""

from trial.analyses.estimands import undefined_after_events
from trial.analyses.imputation import check_imputation_model
from trial.analyses.outcomes import fit_outcomes, impute_analysis_table
from trial.data.intermediate import read_intermediate, write_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
config, output = snakemake.config, snakemake.output
table = read_intermediate(config, snakemake.input.table)
model = check_imputation_model(config, table)
for k, index in enumerate(snakemake.params.imputations):
    result = impute_analysis_table(config, table, index, model)
    log.info("imputation %d with engine %s", index, result.engine)
    # scores that the declared estimands leave undefined (e.g. after death) keep no imputed value
    completed = undefined_after_events(config, table, result.completed)
    write_intermediate(config, completed, output.data[k])
    write_intermediate(
        config, result.trace.assign(imputation=index, engine=result.engine), output.trace[k]
    )
    # final latent draws of imputed 0/1 values: the delta adjustment redraws them
    write_intermediate(config, result.latent, output.latent[k])
    # every analysis reads the completed dataset back from its file, as any later rule does
    data = read_intermediate(config, output.data[k])
    fits = fit_outcomes(config, data)
    log.info("\n%s", fits.to_string())
    write_intermediate(config, fits, output.fits[k])
    if "cost_fits" in output.keys():
        from trial.analyses.costs.fits import fit_costs

        cost_fits = fit_costs(config, data)
        log.info("\n%s", cost_fits.to_string())
        write_intermediate(config, cost_fits, output.cost_fits[k])
    if "participation_fits" in output.keys():
        from trial.analyses.participation import fit_participation

        scores = read_intermediate(config, snakemake.input.scores)
        part_fits, bootstrap = fit_participation(config, data, scores, index)
        log.info("\n%s", part_fits.to_string())
        write_intermediate(config, part_fits, output.participation_fits[k])
        write_intermediate(config, bootstrap, output.participation_bootstrap[k])
