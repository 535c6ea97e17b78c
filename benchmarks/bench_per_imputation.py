"""Benchmark: the per-imputation hot paths at scale, this tree against a baseline revision.

A scaled copy of the example (``--scenario CLUSTERSxINDIVIDUALS``, default 500 x 50,000, made as
in ``bench_scale.py``) is generated once into ``--data`` (kept between runs): the raw tables,
then the analysis table, participation scores and imputation model by Snakemake, and one
completed dataset (imputation 1, made by this tree). Each stage is then run on the same inputs
by the code of ``--baseline`` (a git revision, extracted with ``git archive``) and by this tree,
alternately, ``--repeats`` times, each run in a fresh Python process; the CPU time of the stage's
call alone (``time.process_time`` around it, imports and reading excluded, except imports made
inside the call) is measured in that process. CPU time, not wall time, because the machine is
shared. Printed per stage: median CPU seconds of each, their ratio, and whether the results are
identical (``DataFrame.equals``, exact floats); the machine's load before and after.

Stages:

* ``participation``: :func:`trial.analyses.participation.fit_participation` on the completed dataset
(high vs low, both instrumental-variable analyses by both estimators with their bootstrap); *
``costs``: :func:`trial.analyses.costs.fits.fit_costs` on the completed dataset (the mixed model,
least squares and the gamma GLM; its statsmodels import is inside the call, so it is timed);
* ``icc``: :func:`trial.analyses.icc.icc_table` on the analysis table (ICCs with their cluster
  bootstrap intervals; the staff table is left out);
* ``diagnostics``: :func:`trial.analyses.imputation_diagnostics.arm_difference_check` of the
analysis
  table against the completed dataset given twice (m = 2; its cost is per completed dataset).

Usage::

    python benchmarks/bench_per_imputation.py --data /tmp/bench-500 --baseline main
    python benchmarks/bench_per_imputation.py --data /tmp/bench-500 --stages icc --repeats 3
"""

from __future__ import annotations

import os

# One BLAS thread, as in a workflow job (see the Snakefile); set before numpy loads.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("participation", "costs", "icc", "diagnostics")


def _paths(data: Path) -> dict[str, Path]:
    derived = data / "derived"
    return {
        "config": data / "config.yaml",
        "table": derived / "scored" / "analysis_table.parquet",
        "scores": derived / "participation" / "scores.parquet",
        "model": derived / "imputed" / "model.json",
        "completed": data / "completed_1.parquet",
    }


def prepare(data: Path, clusters: int, individuals: int) -> None:
    """Generate the scenario's inputs into ``data`` unless they are there already."""
    import yaml

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_scale import EXAMPLE, scaled_config

    from trial.studies.synthetic import write_example

    paths = _paths(data)
    if not paths["table"].exists():
        data.mkdir(parents=True, exist_ok=True)
        with EXAMPLE.open(encoding="utf-8") as handle:
            example = yaml.safe_load(handle)
        config = scaled_config(example, clusters, individuals, 20, "multilevel", data)
        paths["config"].write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        write_example(config, config["paths"]["raw"])
        targets = [str(paths[k]) for k in ("table", "scores", "model")]
        subprocess.run(
            [
                sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
                "--directory", str(data), "--configfile", str(paths["config"]),
                "--cores", "1", *targets,
            ],
            check=True, stdout=subprocess.DEVNULL, cwd=data,
        )  # fmt: skip
    if not paths["completed"].exists():
        from trial.analyses.estimands import undefined_after_events
        from trial.analyses.imputation import check_imputation_model
        from trial.analyses.outcomes import impute_analysis_table
        from trial.config.load import load_config
        from trial.data.intermediate import read_intermediate, write_intermediate

        config = load_config(paths["config"])
        table = read_intermediate(config, paths["table"])
        result = impute_analysis_table(config, table, 1, check_imputation_model(config, table))
        completed = undefined_after_events(config, table, result.completed)
        write_intermediate(config, completed, paths["completed"])


def child(stage: str, data: Path, result: Path) -> None:
    """Run one stage in this process and write its CPU time and result."""
    from trial.config.load import load_config
    from trial.data.intermediate import read_intermediate

    paths = _paths(data)
    config = load_config(paths["config"])
    if stage == "participation":
        from trial.analyses.participation import fit_participation

        completed = read_intermediate(config, paths["completed"])
        scores = read_intermediate(config, paths["scores"])

        def call():  # noqa: ANN202
            return fit_participation(config, completed, scores, 1)

    elif stage == "costs":
        from trial.analyses.costs.fits import fit_costs

        completed = read_intermediate(config, paths["completed"])

        def call():  # noqa: ANN202
            return (fit_costs(config, completed),)

    elif stage == "diagnostics":
        from trial.analyses.imputation_diagnostics import arm_difference_check

        table = read_intermediate(config, paths["table"])
        completed = read_intermediate(config, paths["completed"])

        def call():  # noqa: ANN202
            return (arm_difference_check(config, table, [completed, completed]),)

    else:
        from trial.analyses.icc import icc_table

        table = read_intermediate(config, paths["table"])

        def call():  # noqa: ANN202
            return (icc_table(config, table, None),)

    t0 = time.process_time()
    frames = call()
    cpu = time.process_time() - t0
    with result.open("wb") as handle:
        pickle.dump({"cpu": cpu, "frames": frames}, handle)


def run(stage: str, data: Path, src: Path, scratch: Path, tag: str) -> dict:
    """One run of a stage in a fresh process with ``src`` first on the path."""
    result = scratch / f"{stage}-{tag}.pkl"
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run(
        [sys.executable, __file__, "--child", stage, "--data", str(data), "--result", str(result)],
        check=True, env=env,
    )  # fmt: skip
    with result.open("rb") as handle:
        return pickle.load(handle)


def same(a: tuple, b: tuple) -> str:
    """Whether two results are identical, or the largest difference of their numbers."""
    import numpy as np

    if all(x.equals(y) for x, y in zip(a, b, strict=True)):
        return "identical"
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        num = x.select_dtypes("number").columns
        diff = np.abs(x[num].to_numpy(float) - y[num].to_numpy(float))
        worst = max(worst, float(np.nanmax(diff)) if diff.size else 0.0)
    return f"DIFFERENT (largest absolute difference {worst:.3g})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of the generated inputs")
    ap.add_argument("--scenario", default="500x50000", help="CLUSTERSxINDIVIDUALS")
    ap.add_argument("--baseline", default="main", help="git revision to compare against")
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.data, args.result)
        return
    clusters, individuals = (int(x) for x in args.scenario.lower().split("x"))
    prepare(args.data.resolve(), clusters, individuals)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="trial-bench-") as scratch_name:
        scratch = Path(scratch_name)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline, "src"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
        sources = {"baseline": scratch / "src", "this tree": ROOT / "src"}
        print(f"{args.scenario}: baseline {args.baseline} against this tree, CPU s of the call")
        for stage in args.stages:
            cpu: dict[str, list[float]] = {tag: [] for tag in sources}
            frames = {}
            for _ in range(args.repeats):
                for tag, src in sources.items():
                    out = run(stage, args.data.resolve(), src, scratch, tag.replace(" ", "_"))
                    cpu[tag].append(out["cpu"])
                    frames[tag] = out["frames"]
            base = statistics.median(cpu["baseline"])
            now = statistics.median(cpu["this tree"])
            print(
                f"  {stage:<14} baseline {base:6.2f} s  this tree {now:6.2f} s  "
                f"ratio {base / now:5.2f}  runs {json.dumps(cpu)}  results: "
                f"{same(frames['baseline'], frames['this tree'])}"
            )
            sys.stdout.flush()
    load_after = os.getloadavg()
    print(
        f"load average (1-min) before/after: {load_before[0]:.2f} -> {load_after[0]:.2f}; "
        f"(15-min) {load_before[2]:.2f} -> {load_after[2]:.2f}"
    )


if __name__ == "__main__":
    main()
