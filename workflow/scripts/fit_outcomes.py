"""Rule fit_outcomes: fit every outcome's mixed model on one completed dataset."""

import pandas as pd

from trial.analysis import fit_outcomes
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
fits = fit_outcomes(snakemake.config, pd.read_csv(snakemake.input[0]))
log.info("\n%s", fits.to_string())
fits.to_csv(snakemake.output[0], index=False, lineterminator="\n", float_format="%.12g")
