# Service costs and cost-effectiveness (config section `costs:`): use and cost tables, the
# adjusted cost difference per completed data set, the joint cluster bootstrap of incremental cost
# and effect in parallel seeded chunks, pooling over imputations, figures and the CHEERS 2022
# checklist. Total costs are imputed with the outcome scores, and the adjusted cost difference
# fitted on each completed data set, by the imputation jobs (workflow/rules/impute.smk).


if "costs" in config:

    rule describe_costs:
        """Observed use and cost by service, category and arm; the unit costs used."""
        input:
            summary=f"{DERIVED}/validated/summary.json",
            raw=raw_inputs,
        output:
            use=f"{REPORTS}/tables/cost_use.csv",
            unit_costs=f"{REPORTS}/tables/unit_costs.csv",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/describe_costs.log",
        params:
            **config_sections("costs", "design", "scales", "tables"),
        threads: 1
        resources:
            mem_mb=1000,
        script:
            "../scripts/describe_costs.py"

    rule bootstrap_costs:
        """Bootstrap replicates of chunk {chunk} of incremental cost and effect (a run of the
        imputations x replicates grid)."""
        input:
            cost_chunk_inputs,
        output:
            f"{DERIVED}/costs/bootstrap/{{chunk}}.parquet",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/bootstrap_costs/{{chunk}}.log",
        params:
            **config_sections(
                "analysis", "costs", "covariates", "design", "estimands", "imputation", "seed",
                "tables",
            ),
        threads: 1
        wildcard_constraints:
            chunk=r"\d+",
        resources:
            mem_mb=2000,
        script:
            "../scripts/bootstrap_costs.py"

    rule pool_costs:
        """Cost difference pooled over imputations; cost-effectiveness and acceptability curve."""
        input:
            fits=per_imputation(f"{DERIVED}/costs/fits/{{i}}.parquet"),
            chunks=expand(f"{DERIVED}/costs/bootstrap/{{chunk}}.parquet", chunk=cost_chunks()),
        output:
            costs=f"{REPORTS}/tables/costs.csv",
            ce=f"{REPORTS}/tables/cost_effectiveness.csv",
            ceac=f"{REPORTS}/tables/ceac.csv",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/pool_costs.log",
        params:
            **config_sections("analysis", "costs", "design", "tables"),
        threads: 1
        resources:
            mem_mb=1000,
        script:
            "../scripts/pool_costs.py"

    rule plot_costs:
        """Cost-effectiveness plane and acceptability curve."""
        input:
            chunks=expand(f"{DERIVED}/costs/bootstrap/{{chunk}}.parquet", chunk=cost_chunks()),
            ce=f"{REPORTS}/tables/cost_effectiveness.csv",
            ceac=f"{REPORTS}/tables/ceac.csv",
        output:
            plane=f"{REPORTS}/figures/ce_plane.png",
            ceac=f"{REPORTS}/figures/ceac.png",
            plane_vector=multiext(f"{REPORTS}/figures/ce_plane", ".svg", ".pdf"),
            ceac_vector=multiext(f"{REPORTS}/figures/ceac", ".svg", ".pdf"),
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/plot_costs.log",
        params:
            **config_sections("analysis", "costs", "figures", "scales", "tables"),
        threads: 1
        resources:
            mem_mb=1000,
        script:
            "../scripts/plot_costs.py"

    rule cheers_checklist:
        """Where each CHEERS 2022 item is reported."""
        output:
            f"{REPORTS}/tables/cheers.csv",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/cheers_checklist.log",
        params:
            costs=config["costs"],
        threads: 1
        resources:
            mem_mb=1000,
        script:
            "../scripts/cheers_checklist.py"
