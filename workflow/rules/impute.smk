# Multiple imputation: one job per completed dataset, each with its own derived seed.


rule impute:
    """Make completed dataset number {i}."""
    input:
        f"{DERIVED}/scored/analysis_table.csv",
    output:
        data=f"{DERIVED}/imputed/{{i}}.csv",
        trace=f"{DERIVED}/imputed/{{i}}.trace.csv",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/impute/{{i}}.log",
    params:
        imputation=config["imputation"],
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=1000,
    wildcard_constraints:
        i=r"\d+",
    script:
        "../scripts/impute.py"
