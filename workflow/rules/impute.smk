# Multiple imputation: each completed dataset from its own derived seed, analysed in the job that
# makes it.


rule check_imputation_model:
    """Stop unless the imputation model holds every term of each analysis model."""
    input:
        f"{DERIVED}/scored/analysis_table.parquet",
    output:
        f"{DERIVED}/imputed/model.json",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/check_imputation_model.log",
    params:
        **config_sections("analysis", "costs", "covariates", "design", "imputation", "tables"),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/check_imputation_model.py"


# One job per chunk of `imputation.imputations_per_job` imputations (a rule per chunk, as each
# names its own files): it makes each completed dataset and fits every analysis on it, so that
# the start-up of a job is paid once per chunk rather than four times per imputation. Each
# imputation is seeded from the trial seed and its own number and analysed as read back from its
# file, so the files are the same whatever the chunking.
for chunk, numbers in imputation_chunks().items():

    rule:
        """Make a chunk of completed datasets and fit every analysis on each."""
        name:
            f"impute_and_fit_{chunk}"
        input:
            **imputation_job_inputs(),
        output:
            **imputation_job_outputs(numbers),
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/impute_and_fit/{chunk}.log",
        # the imputation jobs start the longest chain of jobs (pooling waits for all of them):
        # they go first when they compete for a core with jobs that wait for nothing
        priority: 10
        params:
            imputations=numbers,
            **config_sections(
                "analysis", "costs", "covariates", "design", "estimands", "imputation",
                "participation", "seed", "tables",
            ),
        threads: 1
        resources:
            mem_mb=1500,
        script:
            "../scripts/impute_and_fit.py"


rule imputation_diagnostics:
    """Missingness by outcome, time point and arm; chain traces; observed vs imputed values;
    the arm difference among imputed beside observed rows."""
    input:
        table=f"{DERIVED}/scored/analysis_table.parquet",
        imputed=per_imputation(f"{DERIVED}/imputed/{{i}}.parquet"),
        traces=per_imputation(f"{DERIVED}/imputed/{{i}}.trace.parquet"),
    output:
        missingness=f"{REPORTS}/tables/missingness.csv",
        comparison=f"{REPORTS}/tables/imputed_vs_observed.csv",
        arm_check=f"{REPORTS}/tables/imputation_check.csv",
        traces=f"{REPORTS}/figures/imputation_traces.png",
        imputed=f"{REPORTS}/figures/imputed_vs_observed.png",
        arm_check_figure=f"{REPORTS}/figures/imputation_check.png",
        traces_vector=multiext(f"{REPORTS}/figures/imputation_traces", ".svg", ".pdf"),
        imputed_vector=multiext(f"{REPORTS}/figures/imputed_vs_observed", ".svg", ".pdf"),
        arm_check_vector=multiext(f"{REPORTS}/figures/imputation_check", ".svg", ".pdf"),
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/imputation_diagnostics.log",
    params:
        **config_sections(
            "analysis", "costs", "covariates", "design", "figures", "imputation", "scales", "tables"
        ),
    threads: 1
    resources:
        mem_mb=1500,
    script:
        "../scripts/imputation_diagnostics.py"
