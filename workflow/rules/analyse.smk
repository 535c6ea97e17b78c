# Analysis: pool the fits of every outcome over the completed datasets (each fitted by the job
# that made it, workflow/rules/impute.smk).


rule pool_outcomes:
    """Pool the arm effects over imputations (Rubin's rules, Barnard-Rubin df)."""
    input:
        per_imputation(f"{DERIVED}/fits/{{i}}.parquet"),
    output:
        csv=report(
            f"{REPORTS}/tables/outcomes.csv",
            caption="../report/outcomes.rst",
            category="Outcomes",
        ),
        json=f"{REPORTS}/tables/outcomes.json",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/pool_outcomes.log",
    params:
        **config_sections("analysis", "design", "scales", "tables"),
    threads: 1
    resources:
        mem_mb=500,
    script:
        "../scripts/pool_outcomes.py"


if any(o.get("family", "gaussian") == "binomial" for o in config["analysis"]["outcomes"]):

    rule pool_marginal:
        """Pool the standardised risk difference, risk ratio and odds ratio of binary outcomes."""
        input:
            per_imputation(f"{DERIVED}/fits/{{i}}.parquet"),
        output:
            f"{REPORTS}/tables/marginal_effects.csv",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/pool_marginal.log",
        params:
            **config_sections("analysis", "design", "scales", "tables"),
        threads: 1
        resources:
            mem_mb=500,
        script:
            "../scripts/pool_marginal.py"


if SEVERAL_TREATMENT_ARMS:

    rule pool_arm_tests:
        """Test per outcome that every treatment arm equals the reference (D1 over imputations)."""
        input:
            per_imputation(f"{DERIVED}/fits/{{i}}.parquet"),
        output:
            f"{REPORTS}/tables/arm_tests.csv",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/pool_arm_tests.log",
        params:
            **config_sections("analysis", "design", "scales", "tables"),
        threads: 1
        resources:
            mem_mb=500,
        script:
            "../scripts/pool_arm_tests.py"

    rule pool_pairwise:
        """Pool the active-vs-active contrasts of every pair of treatment arms."""
        input:
            per_imputation(f"{DERIVED}/fits/{{i}}.parquet"),
        output:
            f"{REPORTS}/tables/pairwise.csv",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/pool_pairwise.log",
        params:
            **config_sections("analysis", "design", "scales", "tables"),
        threads: 1
        resources:
            mem_mb=500,
        script:
            "../scripts/pool_pairwise.py"


if HAS_MULTIPLICITY:

    rule adjust_multiplicity:
        """Holm-adjusted p-values over the families of hypotheses the config declares."""
        input:
            unpack(multiplicity_inputs),
        output:
            f"{REPORTS}/tables/multiplicity.csv",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/adjust_multiplicity.log",
        params:
            **config_sections("analysis", "design", "multiplicity"),
        threads: 1
        resources:
            mem_mb=500,
        script:
            "../scripts/adjust_multiplicity.py"


rule describe_estimands:
    """Intercurrent events by arm and how their follow-up values are handled."""
    input:
        f"{DERIVED}/scored/analysis_table.parquet",
    output:
        f"{REPORTS}/tables/intercurrent_events.csv",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/describe_estimands.log",
    params:
        **config_sections("costs", "design", "estimands", "tables"),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/describe_estimands.py"


rule describe_trial:
    """Flow counts and the baseline table, from the data."""
    input:
        table=f"{DERIVED}/scored/analysis_table.parquet",
        raw=raw_inputs,
    output:
        flow=f"{REPORTS}/tables/flow.csv",
        cluster_sizes=f"{REPORTS}/tables/cluster_sizes.csv",
        baseline=f"{REPORTS}/tables/baseline.csv",
        outcome_summary=f"{REPORTS}/tables/outcome_summary.csv",
        diagram_svg=f"{REPORTS}/figures/consort_flow.svg",
        diagram_pdf=f"{REPORTS}/figures/consort_flow.pdf",
        diagram=report(
            f"{REPORTS}/figures/consort_flow.png",
            caption="../report/consort_flow.rst",
            category="Flow and baseline",
        ),
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/describe_trial.log",
    params:
        **config_sections(
            "analysis", "covariates", "design", "estimands", "figures", "imputation",
            "participation", "scales", "tables",
        ),
    threads: 1
    resources:
        mem_mb=2000,  # reads every raw table
    script:
        "../scripts/describe_trial.py"
