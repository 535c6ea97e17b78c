"""Rule fit_participation: high vs low and instrumental-variable fits on one completed dataset."""

from trial.intermediate import read_intermediate
from trial.participation import fit_participation
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
fits, bootstrap = fit_participation(
    snakemake.config,
    read_intermediate(snakemake.config, snakemake.input.data),
    read_intermediate(snakemake.config, snakemake.input.scores),
    int(snakemake.wildcards.i),
)
log.info("\n%s", fits.to_string())
fits.to_csv(snakemake.output.fits, index=False, lineterminator="\n", float_format="%.12g")
bootstrap.to_csv(snakemake.output.bootstrap, index=False, lineterminator="\n", float_format="%.12g")
