# Paths and helpers shared by every rule file.
from trial.report.registry import report_files

RAW = config["paths"]["raw"]
DERIVED = config["paths"]["derived"]
REPORTS = config["paths"]["reports"]
IMPUTATIONS = list(range(1, config["imputation"]["m"] + 1))


def raw_inputs(wildcards=None):
    """Every raw file the config declares."""
    return [f"{RAW}/{spec['file']}" for spec in config["tables"].values()]


def per_imputation(pattern):
    """One path per imputation, for rules that gather them all."""
    return [pattern.format(i=i) for i in IMPUTATIONS]


def truth_file(wildcards=None):
    """The generating values of a synthetic example, when present."""
    path = f"{RAW}/truth.json"
    return [path] if config["trial"]["synthetic"] and os.path.exists(path) else []


def report_inputs(wildcards):
    """Every file the report reads: the result files of the sections the config switches on
    (declared once, in trial.report.registry.SECTIONS), the raw tables and any truth file."""
    folders = {"reports": REPORTS, "derived": DERIVED}
    files = report_files(config, folders, IMPUTATIONS)
    return {**files, "raw": raw_inputs(), "truth": truth_file()}


def table_rules(wildcards):
    """Which rule writes each result table, for the report's provenance section."""
    made_by = {}
    for each in workflow.rules:
        for path in each.output:
            if f"{REPORTS}/tables/" in str(path):
                made_by[os.path.basename(str(path))] = each.name
    return made_by


# ---- audit ----
def audit_targets(wildcards=None):
    """The audit's result files, when the config has an `audit:` section."""
    if "audit" not in config:
        return []
    return [
        f"{REPORTS}/tables/audit_availability.csv",
        f"{REPORTS}/tables/audit_by_time.csv",
        f"{REPORTS}/tables/audit_estimates.csv",
        f"{REPORTS}/tables/audit_tests.csv",
        f"{REPORTS}/figures/audit_trajectories.png",
    ]


def audit_raw_inputs(wildcards=None):
    """The audit table and the cluster table it is joined to."""
    tables = config["tables"]
    names = [config["audit"]["table"], config["design"]["cluster_table"]]
    return [f"{RAW}/{tables[name]['file']}" for name in names]


# ---- costs ----
def cost_chunks():
    """Chunk numbers of the cost bootstrap (1..chunks)."""
    return list(range(1, config["costs"].get("bootstrap", {}).get("chunks", 1) + 1))


def cost_chunk_inputs(wildcards):
    """The completed datasets whose replicates cost bootstrap chunk {chunk} computes."""
    from trial.analyses.costs.bootstrap import chunk_replicates

    work = chunk_replicates(config, int(wildcards.chunk))
    return [f"{DERIVED}/imputed/{i}.parquet" for i in work]


def cost_targets(wildcards=None):
    """The cost stage's result files, when the config has a `costs:` section."""
    if "costs" not in config:
        return []
    return [
        f"{REPORTS}/tables/cost_use.csv",
        f"{REPORTS}/tables/unit_costs.csv",
        f"{REPORTS}/tables/costs.csv",
        f"{REPORTS}/tables/cost_effectiveness.csv",
        f"{REPORTS}/tables/ceac.csv",
        f"{REPORTS}/tables/cheers.csv",
        f"{REPORTS}/figures/ce_plane.png",
        f"{REPORTS}/figures/ceac.png",
    ]


# ---- secondary ----
HAS_PARTICIPATION = "participation" in config
HAS_STAFF_OUTCOMES = bool(config.get("staff", {}).get("outcomes"))
HAS_SENSITIVITY = "sensitivity" in config
HAS_DELTA = "delta" in config.get("sensitivity", {})
HAS_ICC = "icc" in config


SEVERAL_TREATMENT_ARMS = len(config["design"]["treatment_arms"]) > 1


HAS_MULTIPLICITY = "multiplicity" in config
# a stepped-wedge or crossover design: its own analysis (workflow/rules/stepped.smk) in place of
# the parallel trial's imputation, pooling and report
SCHEDULED = design_type(config) != "parallel"  # stepped-wedge or crossover


def design_targets(wildcards=None):
    """The main results of the design: the report and pooled outcomes of a parallel trial; the
    report, effects table and schedule figure of a stepped-wedge or crossover trial."""
    if SCHEDULED:
        return [
            f"{REPORTS}/report.html",
            f"{REPORTS}/report.pdf",
            f"{REPORTS}/tables/stepped_wedge.csv",
            f"{REPORTS}/tables/stepped_wedge.json",
            f"{REPORTS}/tables/stepped_wedge_flow.csv",
            f"{REPORTS}/figures/schedule.png",
        ]
    return [
        f"{REPORTS}/report.html",
        f"{REPORTS}/report.pdf",
        f"{REPORTS}/tables/outcomes.csv",
        f"{REPORTS}/tables/outcomes.json",
    ]


def arm_test_targets(wildcards=None):
    """The joint test of all arm effects and the active-vs-active contrasts, when several
    treatment arms face the reference arm; the multiplicity table, when configured."""
    targets = []
    if SEVERAL_TREATMENT_ARMS:
        targets += [f"{REPORTS}/tables/arm_tests.csv", f"{REPORTS}/tables/pairwise.csv"]
    if HAS_MULTIPLICITY:
        targets.append(f"{REPORTS}/tables/multiplicity.csv")
    return targets


def multiplicity_inputs(wildcards=None):
    """The pooled contrasts the multiplicity adjustment reads."""
    inputs = {"outcomes": f"{REPORTS}/tables/outcomes.csv"}
    if SEVERAL_TREATMENT_ARMS:
        inputs["pairwise"] = f"{REPORTS}/tables/pairwise.csv"
    return inputs


def secondary_targets(wildcards=None):
    """Result files of the secondary analyses the config asks for."""
    targets = []
    if HAS_PARTICIPATION:
        targets += [
            f"{REPORTS}/tables/participation.csv",
            f"{REPORTS}/tables/participation.json",
        ]
    if HAS_STAFF_OUTCOMES:
        targets.append(f"{REPORTS}/tables/staff_outcomes.csv")
    if HAS_SENSITIVITY:
        targets += [
            f"{REPORTS}/tables/sensitivity.csv",
            f"{REPORTS}/tables/rerandomisation.json",
            f"{REPORTS}/figures/forest_all.png",
        ]
    if HAS_DELTA:
        targets += [
            f"{REPORTS}/tables/delta_adjustment.csv",
            f"{REPORTS}/figures/tipping_point.png",
        ]
    if HAS_ICC:
        targets += [f"{REPORTS}/tables/icc.csv", f"{REPORTS}/tables/icc.json"]
    return targets


def participation_scores_file(wildcards=None):
    """The participation scores, when the config has participation."""
    return [f"{DERIVED}/participation/scores.parquet"] if HAS_PARTICIPATION else []


def staff_table_input(wildcards=None):
    """The staff analysis table, when the config has staff outcomes."""
    if not HAS_STAFF_OUTCOMES:
        return {}
    return {"staff_table": f"{DERIVED}/staff/analysis_table.parquet"}


def forest_all_inputs(wildcards=None):
    """Every result table the summary forest plot draws on."""
    inputs = {
        "outcomes": f"{REPORTS}/tables/outcomes.csv",
        "sensitivity": f"{REPORTS}/tables/sensitivity.csv",
    }
    if HAS_PARTICIPATION:
        inputs["participation"] = f"{REPORTS}/tables/participation.csv"
    if HAS_STAFF_OUTCOMES:
        inputs["staff_outcomes"] = f"{REPORTS}/tables/staff_outcomes.csv"
    return inputs


def imputation_settings():
    """The imputation settings that change results (not the explanatory text), so that
    editing a comment-like key does not rerun every imputation."""
    return {
        k: v
        for k, v in config["imputation"].items()
        if k not in ("default_reason", "imputations_per_job")
    }


def config_sections(*names):
    """The named config sections, as a rule's params: every script is handed the whole config,
    but Snakemake reruns a job only when its params change, so each rule declares every section
    its library calls read (``tests/workflow/test_stale_results.py`` records the reads and checks
    them against these). The imputation section comes without its keys that change no result."""
    return {
        name: imputation_settings() if name == "imputation" else config.get(name) for name in names
    }


def imputation_chunks():
    """The imputation numbers of each imputation job, by job number: imputations_per_job
    consecutive numbers (the last job the rest)."""
    # the schema's default, also here: a cluster job reads the config file without the defaults
    # that validation fills in the main process, and must make the same jobs
    size = config["imputation"].get("imputations_per_job", 10)
    return {
        k // size + 1: IMPUTATIONS[k : k + size] for k in range(0, len(IMPUTATIONS), size)
    }


def imputation_job_outputs(numbers):
    """Every per-imputation file one imputation job writes, by kind."""
    outputs = {
        "data": [f"{DERIVED}/imputed/{i}.parquet" for i in numbers],
        "trace": [f"{DERIVED}/imputed/{i}.trace.parquet" for i in numbers],
        "latent": [f"{DERIVED}/imputed/{i}.latent.parquet" for i in numbers],
        "fits": [f"{DERIVED}/fits/{i}.parquet" for i in numbers],
    }
    if "costs" in config:
        outputs["cost_fits"] = [f"{DERIVED}/costs/fits/{i}.parquet" for i in numbers]
    if HAS_PARTICIPATION:
        outputs["participation_fits"] = [f"{DERIVED}/participation/fits/{i}.parquet" for i in numbers]
        outputs["participation_bootstrap"] = [
            f"{DERIVED}/participation/bootstrap/{i}.parquet" for i in numbers
        ]
    return outputs


def imputation_job_inputs(wildcards=None):
    """The analysis table, the checked imputation model and, for the participation analyses,
    the participation scores."""
    inputs = {
        "table": f"{DERIVED}/scored/analysis_table.parquet",
        "model": f"{DERIVED}/imputed/model.json",
    }
    if HAS_PARTICIPATION:
        inputs["scores"] = f"{DERIVED}/participation/scores.parquet"
    return inputs


# ---- simulation ----
def simulation_chunk_files(wildcards=None):
    """One result file per cell, method and chunk of replicates."""
    from trial.studies.simulation import simulation_jobs

    return [
        f"{DERIVED}/simulation/{cell}/{method}/{chunk}.parquet"
        for cell, method, chunk in simulation_jobs(config)
    ]


def simulation_reference_effect():
    """The grid's largest effect in outcome units: the bias tolerance of null cells."""
    sim = config["simulation"]
    return max(abs(e) for e in sim["grid"]["effect_sd"]) * sim["trial"]["outcome"]["sd"]


def simulation_job_settings(wildcards):
    """What one job's results depend on: its replicates, the method's settings, the cell."""
    chunks = replicate_chunks(config, wildcards.method)
    replicates = chunks[int(wildcards.chunk) - 1]
    return {
        "replicates": [replicates.start, replicates.stop - 1],
        "method": method_settings(config, wildcards.method)
        | {"replicates": None, "cells": None, "replicates_per_job": None},
        "cell": simulation_cells(config)[wildcards.cell],
        "trial": SIMULATION["trial"],
        "imputation": {
            k: config["imputation"].get(k)
            for k in ("by_arm", "blocks", "cluster_means", "mean_match_candidates")
        },
        "df_method": config["analysis"]["df_method"],
    }
