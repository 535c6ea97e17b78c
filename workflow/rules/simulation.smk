# Calibration study of the missing-data methods: its own target, not part of `all`.
#   nice snakemake --cores 1 simulation
# Jobs are chunks of replicates of one cell and method; each replicate is seeded from the trial
# seed, the cell and its number, so the chunking does not change any result.

from trial.studies.simulation import method_settings, replicate_chunks, simulation_cells

SIMULATION = config.get("simulation")


if SIMULATION:

    rule simulate_replicates:
        """Simulate and analyse chunk {chunk} of the replicates of cell {cell} with {method}."""
        output:
            f"{DERIVED}/simulation/{{cell}}/{{method}}/{{chunk}}.parquet",
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/simulate_replicates/{{cell}}/{{method}}/{{chunk}}.log",
        params:
            settings=simulation_job_settings,
            seed=config["seed"],
        threads: 1
        resources:
            mem_mb=1000,
        wildcard_constraints:
            chunk=r"\d+",
            cell=r"[A-Za-z0-9_.]+",
            method=r"[A-Za-z_][A-Za-z0-9_]*",
        script:
            "../scripts/simulate_replicates.py"

    rule summarise_simulation:
        """Bias, SEs, coverage and type I error of every method, with Monte Carlo SEs, and the
        decision rule."""
        input:
            simulation_chunk_files,
        output:
            replicates=f"{DERIVED}/simulation/replicates.csv.gz",
            table=f"{REPORTS}/tables/simulation.csv",
            figure=f"{REPORTS}/figures/simulation.png",
            figure_vector=multiext(f"{REPORTS}/figures/simulation", ".svg", ".pdf"),
        conda:
            "../envs/trial.yaml"
        log:
            f"{DERIVED}/logs/summarise_simulation.log",
        params:
            alpha=config["analysis"]["alpha"],
            reference_effect=simulation_reference_effect(),
        threads: 1
        resources:
            mem_mb=1000,
        script:
            "../scripts/summarise_simulation.py"

    rule simulation:
        """The simulation study's table and figure."""
        input:
            rules.summarise_simulation.output.table,
            rules.summarise_simulation.output.figure,
