# Ingest: validate the raw tables, then score them into the analysis table.
# (The synthetic example is made outside the DAG, by `trial generate`, because raw inputs must
# never be outputs of the workflow.)


rule validate_inputs:
    """Check every raw table against the config; stop with all problems listed."""
    input:
        raw_inputs,
    output:
        f"{DERIVED}/validated/summary.json",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/validate_inputs.log",
    params:
        **config_sections(
            "tables", "consistency", "analysis", "audit", "costs", "covariates", "design",
            "participation", "scales", "staff",
        ),
    threads: 1
    resources:
        mem_mb=2000,  # about 0.55 GiB peak for a 500-cluster, 50,000-individual trial
    script:
        "../scripts/validate_inputs.py"


rule build_analysis_table:
    """Score every outcome scale and assemble one row per individual."""
    input:
        summary=f"{DERIVED}/validated/summary.json",
        raw=raw_inputs,
    output:
        f"{DERIVED}/scored/analysis_table.parquet",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/build_analysis_table.log",
    params:
        **config_sections(
            "analysis", "costs", "covariates", "design", "estimands", "imputation", "scales",
            "tables",
        ),
    threads: 1
    resources:
        mem_mb=2000,  # about 0.6 GiB peak for a 500-cluster, 50,000-individual trial
    script:
        "../scripts/build_analysis_table.py"
