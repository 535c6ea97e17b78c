# The repeated-measures audit (config section `audit:`): availability counts, per-time summaries
# with cluster-robust CIs, arm x time models and the trajectory figure.


if "audit" in config:

    rule prepare_audit:
        """Join arm and strata to the audit, add the composite, count unavailable records."""
        input:
            summary=f"{DERIVED}/validated/summary.json",
            raw=audit_raw_inputs,
        output:
            long=f"{DERIVED}/audit/long.parquet",
            availability=f"{REPORTS}/tables/audit_availability.csv",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/prepare_audit.log",
        params:
            **config_sections("audit", "design", "scales", "tables"),
        threads: 1
        resources:
            mem_mb=1500,
        script:
            "../scripts/prepare_audit.py"

    rule summarise_audit:
        """Per time point and arm: proportion or mean with a cluster-robust CI."""
        input:
            f"{DERIVED}/audit/long.parquet",
        output:
            f"{REPORTS}/tables/audit_by_time.csv",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/summarise_audit.log",
        params:
            **config_sections("analysis", "audit", "design", "tables"),
        threads: 1
        resources:
            mem_mb=1000,
        script:
            "../scripts/summarise_audit.py"

    rule fit_audit_models:
        """Arm x time: panel model (cluster-robust SEs) and nested mixed model, every measure."""
        input:
            f"{DERIVED}/audit/long.parquet",
        output:
            estimates=f"{REPORTS}/tables/audit_estimates.csv",
            tests=f"{REPORTS}/tables/audit_tests.csv",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/fit_audit_models.log",
        params:
            **config_sections("analysis", "audit", "design", "tables"),
        threads: 1
        resources:
            mem_mb=1000,
        script:
            "../scripts/fit_audit_models.py"

    rule plot_audit:
        """Trajectories by arm with CIs, the intervention period shaded."""
        input:
            f"{REPORTS}/tables/audit_by_time.csv",
        output:
            f"{REPORTS}/figures/audit_trajectories.png",
            vector=multiext(f"{REPORTS}/figures/audit_trajectories", ".svg", ".pdf"),
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/plot_audit.log",
        params:
            **config_sections("audit", "design", "figures"),
        threads: 1
        resources:
            mem_mb=1000,
        script:
            "../scripts/plot_audit.py"
