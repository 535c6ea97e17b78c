# Secondary analyses: participation (non-randomised high vs low, and instrumental-variable
# complier-average and dose-response estimates), staff outcomes, sensitivity analyses of the
# primary outcome, and the ICC table.
# Each part runs only when the config has its section (participation, staff.outcomes,
# sensitivity, icc).


rule participation_scores:
    """Each treatment cluster's participation score and high/low class."""
    input:
        summary=f"{DERIVED}/validated/summary.json",
        raw=raw_inputs,
    output:
        f"{DERIVED}/participation/scores.parquet",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/participation_scores.log",
    params:
        **config_sections("design", "participation", "scales", "tables"),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/participation_scores.py"


rule pool_participation:
    """Pool the participation fits (Rubin's rules) and the bootstrap replicates."""
    input:
        fits=per_imputation(f"{DERIVED}/participation/fits/{{i}}.parquet"),
        bootstrap=per_imputation(f"{DERIVED}/participation/bootstrap/{{i}}.parquet"),
        outcomes=f"{REPORTS}/tables/outcomes.csv",
    output:
        csv=f"{REPORTS}/tables/participation.csv",
        json=f"{REPORTS}/tables/participation.json",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/pool_participation.log",
    params:
        **config_sections("analysis", "design", "participation", "scales", "tables"),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/pool_participation.py"


rule build_staff_table:
    """Score the staff outcomes: one row per staff member."""
    input:
        summary=f"{DERIVED}/validated/summary.json",
        raw=raw_inputs,
    output:
        f"{DERIVED}/staff/analysis_table.parquet",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/build_staff_table.log",
    params:
        **config_sections("design", "scales", "staff", "tables"),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/build_staff_table.py"


rule staff_outcomes:
    """Arm effect and (non-randomised) participation effect of each staff outcome."""
    input:
        table=f"{DERIVED}/staff/analysis_table.parquet",
        scores=participation_scores_file,
    output:
        f"{REPORTS}/tables/staff_outcomes.csv",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/staff_outcomes.log",
    params:
        **config_sections("analysis", "design", "participation", "scales", "staff", "tables"),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/staff_outcomes.py"


rule sensitivity_analyses:
    """Complete-case, unadjusted and cluster-level analyses of the primary outcome."""
    input:
        table=f"{DERIVED}/scored/analysis_table.parquet",
        imputed=per_imputation(f"{DERIVED}/imputed/{{i}}.parquet"),
    output:
        f"{REPORTS}/tables/sensitivity.csv",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/sensitivity_analyses.log",
    params:
        **config_sections("analysis", "covariates", "design", "tables"),
    threads: 1
    resources:
        mem_mb=1500,
    script:
        "../scripts/sensitivity_analyses.py"


rule rerandomisation_test:
    """Stratified re-randomisation test of the primary outcome on the observed data."""
    input:
        table=f"{DERIVED}/scored/analysis_table.parquet",
    output:
        f"{REPORTS}/tables/rerandomisation.json",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/rerandomisation_test.log",
    params:
        **config_sections("analysis", "covariates", "design", "seed", "sensitivity", "tables"),
    threads: 1
    resources:
        mem_mb=1500,
    script:
        "../scripts/rerandomisation_test.py"


rule delta_adjustment:
    """Missing-not-at-random delta adjustment of the imputed primary follow-up values."""
    input:
        table=f"{DERIVED}/scored/analysis_table.parquet",
        imputed=per_imputation(f"{DERIVED}/imputed/{{i}}.parquet"),
        latent=per_imputation(f"{DERIVED}/imputed/{{i}}.latent.parquet"),
    output:
        f"{REPORTS}/tables/delta_adjustment.csv",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/delta_adjustment.log",
    params:
        **config_sections("analysis", "covariates", "design", "estimands", "sensitivity", "tables"),
    threads: 1
    resources:
        mem_mb=1500,
    script:
        "../scripts/delta_adjustment.py"


rule tipping_point_figure:
    """Tipping-point plot of the delta adjustment."""
    input:
        delta=f"{REPORTS}/tables/delta_adjustment.csv",
    output:
        png=f"{REPORTS}/figures/tipping_point.png",
        vector=multiext(f"{REPORTS}/figures/tipping_point", ".svg", ".pdf"),
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/tipping_point_figure.log",
    params:
        **config_sections("design", "figures", "scales", "sensitivity"),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/tipping_point_figure.py"


rule secondary_figures:
    """The forest plot of all estimates."""
    input:
        unpack(forest_all_inputs),
    output:
        forest=f"{REPORTS}/figures/forest_all.png",
        forest_vector=multiext(f"{REPORTS}/figures/forest_all", ".svg", ".pdf"),
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/secondary_figures.log",
    params:
        **config_sections("design", "figures", "scales", "sensitivity"),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/secondary_figures.py"


rule icc_table:
    """Within-arm and model-adjusted ICCs with CIs, cluster sizes and design effects."""
    input:
        unpack(staff_table_input),
        table=f"{DERIVED}/scored/analysis_table.parquet",
    output:
        csv=f"{REPORTS}/tables/icc.csv",
        json=f"{REPORTS}/tables/icc.json",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/icc_table.log",
    params:
        **config_sections(
            "analysis", "covariates", "design", "icc", "scales", "seed", "staff", "tables",
        ),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/icc_table.py"
