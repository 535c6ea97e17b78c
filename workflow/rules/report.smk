# Figures and the HTML report (which reads tables and figures and computes nothing).


rule make_figures:
    """Forest plot of pooled effects and the primary outcome's distribution."""
    input:
        outcomes=f"{REPORTS}/tables/outcomes.csv",
        table=f"{DERIVED}/scored/analysis_table.csv",
    output:
        forest=f"{REPORTS}/figures/forest.png",
        primary=f"{REPORTS}/figures/primary_distribution.png",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/make_figures.log",
    script:
        "../scripts/make_figures.py"


REPORT_INPUTS.update(
    outcomes=f"{REPORTS}/tables/outcomes.csv",
    flow=f"{REPORTS}/tables/flow.csv",
    baseline=f"{REPORTS}/tables/baseline.csv",
    forest_figure=f"{REPORTS}/figures/forest.png",
    primary_figure=f"{REPORTS}/figures/primary_distribution.png",
    traces=per_imputation(f"{DERIVED}/imputed/{{i}}.trace.csv"),
)


rule render_report:
    """The self-contained HTML report."""
    input:
        unpack(report_inputs),
    output:
        html=f"{REPORTS}/report.html",
        provenance=f"{REPORTS}/provenance.json",
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/render_report.log",
    params:
        config_path=CONFIG_PATH,
    script:
        "../scripts/render_report.py"
