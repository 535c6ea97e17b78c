# Stepped-wedge and cluster-crossover designs (design: type): the design's mixed model of every
# outcome on the individuals with an observed outcome, and the cluster x period schedule.


rule analyse_stepped_wedge:
    """Fit the Hussey & Hughes or nested-exchangeable model to every outcome, and its sensitivity
    analyses; count clusters and individuals per period and condition; draw the schedule."""
    input:
        raw_inputs(),
    output:
        csv=f"{REPORTS}/tables/stepped_wedge.csv",
        json=f"{REPORTS}/tables/stepped_wedge.json",
        sensitivity=f"{REPORTS}/tables/stepped_wedge_sensitivity.csv",
        flow=f"{REPORTS}/tables/stepped_wedge_flow.csv",
        figure=f"{REPORTS}/figures/schedule.png",
        figure_vector=multiext(f"{REPORTS}/figures/schedule", ".svg", ".pdf"),
    conda:
        "../envs/trial.yaml"
    log:
        f"{DERIVED}/logs/analyse_stepped_wedge.log",
    params:
        **config_sections("analysis", "design", "figures", "paths", "scales", "tables"),
    threads: 1
    resources:
        mem_mb=500,
    script:
        "../scripts/analyse_stepped_wedge.py"

