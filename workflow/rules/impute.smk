# Multiple imputation: one job per completed dataset, each with its own derived seed.


rule check_imputation_model:
    """Stop unless the imputation model holds every term of each analysis model."""
    input:
        f"{DERIVED}/scored/analysis_table.csv",
    output:
        f"{DERIVED}/imputed/model.json",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/check_imputation_model.log",
    params:
        imputation=imputation_settings(),
        covariates=config["covariates"],
        outcomes=config["analysis"]["outcomes"],
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/check_imputation_model.py"


rule impute:
    """Make completed dataset number {i}."""
    input:
        table=f"{DERIVED}/scored/analysis_table.csv",
        model=f"{DERIVED}/imputed/model.json",
    output:
        data=f"{DERIVED}/imputed/{{i}}.csv",
        trace=f"{DERIVED}/imputed/{{i}}.trace.csv",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/impute/{{i}}.log",
    params:
        imputation=imputation_settings(),
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=1000,
    wildcard_constraints:
        i=r"\d+",
    script:
        "../scripts/impute.py"


rule imputation_diagnostics:
    """Missingness by outcome, time point and arm; chain traces; observed vs imputed values;
    the arm difference among imputed beside observed rows."""
    input:
        table=f"{DERIVED}/scored/analysis_table.csv",
        imputed=per_imputation(f"{DERIVED}/imputed/{{i}}.csv"),
        traces=per_imputation(f"{DERIVED}/imputed/{{i}}.trace.csv"),
    output:
        missingness=f"{REPORTS}/tables/missingness.csv",
        comparison=f"{REPORTS}/tables/imputed_vs_observed.csv",
        arm_check=f"{REPORTS}/tables/imputation_check.csv",
        traces=f"{REPORTS}/figures/imputation_traces.png",
        imputed=f"{REPORTS}/figures/imputed_vs_observed.png",
        arm_check_figure=f"{REPORTS}/figures/imputation_check.png",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/imputation_diagnostics.log",
    params:
        analysis=config["analysis"],
        imputation=imputation_settings(),
    threads: 1
    resources:
        mem_mb=1500,
    script:
        "../scripts/imputation_diagnostics.py"


REPORT_INPUTS.update(
    imputation_model=f"{DERIVED}/imputed/model.json",
    missingness=f"{REPORTS}/tables/missingness.csv",
    imputed_vs_observed=f"{REPORTS}/tables/imputed_vs_observed.csv",
    arm_check=f"{REPORTS}/tables/imputation_check.csv",
    arm_check_figure=f"{REPORTS}/figures/imputation_check.png",
    trace_figure=f"{REPORTS}/figures/imputation_traces.png",
    imputed_figure=f"{REPORTS}/figures/imputed_vs_observed.png",
)
