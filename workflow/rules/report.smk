# Figures and the HTML report (which reads tables and figures and computes nothing).


rule make_figures:
    """Forest plot of pooled effects and the primary outcome's distribution."""
    input:
        outcomes=f"{REPORTS}/tables/outcomes.csv",
        table=f"{DERIVED}/scored/analysis_table.parquet",
    output:
        forest=report(
            f"{REPORTS}/figures/forest.png", caption="../report/forest.rst", category="Outcomes"
        ),
        primary=report(
            f"{REPORTS}/figures/primary_distribution.png",
            caption="../report/primary_distribution.rst",
            category="Flow and baseline",
        ),
        # every figure is also written as SVG and PDF beside its PNG (reporting.save_figure)
        forest_vector=multiext(f"{REPORTS}/figures/forest", ".svg", ".pdf"),
        primary_vector=multiext(f"{REPORTS}/figures/primary_distribution", ".svg", ".pdf"),
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/make_figures.log",
    params:
        **config_sections("analysis", "design", "figures", "scales", "tables"),
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../scripts/make_figures.py"


rule render_report:
    """The self-contained HTML report."""
    input:
        unpack(report_inputs),
    output:
        html=report(
            f"{REPORTS}/report.html", caption="../report/report.rst", category="Report"
        ),
        provenance=f"{REPORTS}/provenance.json",
        pdf=f"{REPORTS}/report.pdf",
        # Word export and Tables 1 and 2 and the main result tables with rounded display columns
        # beside the full-precision ones, every row naming the run
        # (trial.report.manuscript.publication_tables); a stepped-wedge or crossover design has neither
        **(
            {}
            if SCHEDULED
            else {
                "docx": f"{REPORTS}/report.docx",
                "publication": directory(f"{REPORTS}/publication"),
            }
        ),
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/render_report.log",
    params:
        config_path=CONFIG_PATH,
        table_rules=table_rules,
        # the report states the reason for the imputation engine, which imputation_settings()
        # leaves out
        imputation_reason=config["imputation"].get("default_reason"),
        **config_sections(
            "analysis", "audit", "costs", "covariates", "design", "estimands", "icc",
            "imputation", "multiplicity", "participation", "scales", "seed", "sensitivity",
            "staff", "tables", "trial",
        ),
    threads: 1
    resources:
        mem_mb=2000,  # hashes every raw input for the provenance record
    script:
        "../scripts/render_report.py"


rule verify:
    """Compare this run's result tables with the committed expected results (not part of `all`)."""
    input:
        f"{REPORTS}/report.html",
    output:
        touch(f"{DERIVED}/verified.flag"),
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/verify.log",
    params:
        config_path=CONFIG_PATH,
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "trial verify {params.config_path} 2>&1 | tee {log}"
