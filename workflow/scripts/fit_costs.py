"""Rule fit_costs: adjusted cost difference on one completed data set."""

from trial.costs import fit_costs
from trial.intermediate import read_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
fits = fit_costs(snakemake.config, read_intermediate(snakemake.config, snakemake.input[0]))
log.info("\n%s", fits.to_string())
fits.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.12g")
