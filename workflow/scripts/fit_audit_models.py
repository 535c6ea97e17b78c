"""Rule fit_audit_models: arm x time panel and mixed models for every audit measure."""

import time

from trial.analyses.audit.fits import fit_audit_models
from trial.data.intermediate import read_intermediate
from trial.runlog import start_log

log = start_log(snakemake.log[0], snakemake.rule)
long = read_intermediate(snakemake.config, snakemake.input[0])
started = time.perf_counter()
estimates, tests = fit_audit_models(snakemake.config, long)
log.info("fitted %d models in %.1f s", len(tests), time.perf_counter() - started)
estimates.to_csv(snakemake.output.estimates, index=False, lineterminator="\n")
tests.to_csv(snakemake.output.tests, index=False, lineterminator="\n")
