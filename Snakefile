# Analysis of a cluster-randomised trial. This file is an index: it loads and validates the
# config, includes one rule file per stage and names the final targets.
#   snakemake --cores 2                                  # the bundled REFOCUS example
#   snakemake --cores 2 --configfile config/other.yaml   # another trial
import os

from trial.cli.preflight import stop_if_invalid, stop_if_unreadable
from trial.config.schedule import design_type

# Every rule declares `threads: 1`, but Snakemake limits the threads of numerical libraries for
# shell commands only: a script job's BLAS would start a thread per core, and jobs running side by
# side would compete for the cores (at 50,000 individuals the multilevel imputation then took
# about 4 times the CPU). Jobs inherit these settings; with one thread, no BLAS sum depends on
# the number of cores either (at 50,000 individuals, imputed values differed by up to 2e-10).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"


# The bundled example unless another config is named with --configfile (configs are not merged:
# keys of the example must never leak into another trial's analysis).
CONFIG_PATH = (workflow.overwrite_configfiles or ["config/refocus.yaml"])[-1]
# The config and every raw table are checked once, before any job (not again in each cluster
# job): a problem stops the run with the list of problems and exit code 2.
if workflow.is_main_process:
    stop_if_unreadable(CONFIG_PATH)
if not workflow.overwrite_configfiles:

    configfile: "config/refocus.yaml"


if workflow.is_main_process:
    stop_if_invalid(CONFIG_PATH, config)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/impute.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/audit.smk"
include: "workflow/rules/costs.smk"
include: "workflow/rules/secondary.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/simulation.smk"
include: "workflow/rules/stepped.smk"


rule all:
    input:
        design_targets,
        arm_test_targets,
        audit_targets,
        cost_targets,
        secondary_targets,
    default_target: True
