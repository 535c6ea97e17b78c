"""Benchmark: the whole workflow, end to end, as the trial and the number of imputations grow.

Each scenario is a temporary copy of the example config whose ``synthetic`` section is scaled
(clusters per stratum and arm, individuals; staff and audited records grow with the clusters so
that each cluster keeps the example's shape), whose ``imputation`` section is changed (``m``,
optionally the engine) and whose paths point into a temporary folder. The data are generated
with :func:`trial.studies.synthetic.write_example` (not timed) and ``snakemake --cores N`` is run
on them in its own working directory (timed). Printed per scenario:

* wall-clock time of the Snakemake run;
* peak memory: the largest resident set of any one job (``getrusage`` of the children, exact)
  and the peak sum over the whole process tree (sampled every 0.2 s with psutil);
* busy time per rule (from Snakemake's job start and finish stamps, 1-s resolution), so one can
  see where the time goes, and the largest resident set of any job of each rule (sampled).

Usage::

    python benchmarks/bench_scale.py                      # the default grid (long: see below)
    python benchmarks/bench_scale.py --scenario 500x50000 --m 20 --engine multilevel
    python benchmarks/bench_scale.py --scenario 27x403 --m 5 20 50

A scenario is ``CLUSTERSxINDIVIDUALS``; ``--m`` lists the numbers of imputations to run for
every scenario. ``--keep DIR`` keeps the generated data and outputs. The grid of the issue (m = 5,
20, 50 at the example's size; 27 -> 100 -> 500 clusters and 400 -> 5,000 -> 50,000 individuals
at m = 20) takes about an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import psutil
import yaml

from trial.studies.synthetic import write_example

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "refocus.yaml"


def scaled_config(
    example: dict,
    clusters: int,
    individuals: int,
    m: int,
    engine: str | None,
    folder: Path,
    drop: tuple[str, ...] = (),
) -> dict:
    """A copy of the example config with the trial scaled and outputs under ``folder``.

    Top-level sections named in ``drop`` (optional analyses such as ``costs``) are removed, so
    their rules leave the workflow.
    """
    config = copy.deepcopy(example)
    for section in drop:
        config.pop(section, None)
    syn = config["synthetic"]
    cells = [(s, a) for s, arms in syn["clusters"].items() for a in arms]
    old_clusters = sum(n for arms in syn["clusters"].values() for n in arms.values())
    # Spread the clusters evenly over the stratum x arm cells, the remainder to the first cells.
    base, extra = divmod(clusters, len(cells))
    for k, (stratum, arm) in enumerate(cells):
        syn["clusters"][stratum][arm] = base + (1 if k < extra else 0)
    ratio = clusters / old_clusters
    syn["individuals"] = individuals
    width = len(str(max(clusters, individuals))) + 1
    syn["cluster_id_format"] = f"T{{:0{len(str(clusters))}d}}"
    syn["individual_id_format"] = f"C{{:0{width}d}}"
    if "staff" in syn:
        syn["staff"] = round(syn["staff"] * ratio)
        syn["staff_id_format"] = f"S{{:0{width}d}}"
    if "audit" in syn:
        syn["audit"]["individuals"] = round(syn["audit"]["individuals"] * ratio)
        syn["audit"]["id_format"] = f"A{{:0{width}d}}"
    config["imputation"]["m"] = m
    if engine:
        config["imputation"]["engine"] = engine
    config["paths"] = {
        "raw": str(folder / "raw"),
        "derived": str(folder / "derived"),
        "reports": str(folder / "reports"),
    }
    return config


class TreeMemory:
    """Sample the summed resident memory of a process and all its descendants.

    Also keeps the largest resident set seen of each rule's job process, recognised by the
    name of the script Snakemake runs (``.snakemake/scripts/tmpXXXX.<script>.py``; every rule's
    script bears the rule's name).
    """

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.peak_by_rule: dict[str, int] = defaultdict(int)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                    cmdline = proc.cmdline()
                except psutil.NoSuchProcess:
                    continue
                total += rss
                for arg in cmdline[1:2]:
                    if match := _SCRIPT.search(arg):
                        rule = match.group(1)
                        self.peak_by_rule[rule] = max(self.peak_by_rule[rule], rss)
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


_SCRIPT = re.compile(r"\.snakemake/scripts/tmp\w+\.(\w+)\.py$")
_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_START = re.compile(r"^(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_DONE = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def rule_busy_seconds(log_text: str) -> dict[str, tuple[int, float]]:
    """Jobs and summed run time per rule, from Snakemake's job start and finish stamps."""
    stamp = None
    pending_rule = None
    started: dict[str, tuple[str, datetime]] = {}
    busy: dict[str, list[float]] = defaultdict(list)
    for line in log_text.splitlines():
        if match := _STAMP.match(line):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
        elif match := _START.match(line):
            pending_rule = match.group(1)
        elif (match := _JOBID.match(line)) and pending_rule and stamp:
            started[match.group(1)] = (pending_rule, stamp)
            pending_rule = None
        elif (match := _DONE.match(line)) and stamp and match.group(1) in started:
            rule, begun = started.pop(match.group(1))
            busy[rule].append((stamp - begun).total_seconds())
    return {rule: (len(times), sum(times)) for rule, times in busy.items()}


def run_scenario(
    example: dict,
    clusters: int,
    individuals: int,
    m: int,
    engine: str | None,
    cores: int,
    folder: Path,
    drop: tuple[str, ...] = (),
    extra_args: tuple[str, ...] = (),
) -> dict:
    """Generate one scenario's data, run the workflow on it and return the measurements."""
    folder.mkdir(parents=True, exist_ok=True)
    # The data are generated from the whole config (every raw table the config declares
    # exists); the run config then leaves out the dropped sections.
    full = scaled_config(example, clusters, individuals, m, engine, folder)
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(full, sort_keys=False), encoding="utf-8")
    t0 = time.perf_counter()
    write_example(full, full["paths"]["raw"])
    generate_seconds = time.perf_counter() - t0
    config = scaled_config(example, clusters, individuals, m, engine, folder, drop)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(folder),
        "--configfile", str(config_path),
        "--cores", str(cores),
        *extra_args,
    ]  # fmt: skip
    log_path = folder / "snakemake.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        with TreeMemory(process.pid) as tree:
            returncode = process.wait()
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    log_text = log_path.read_text(encoding="utf-8")
    analysed = folder / "derived" / "scored" / "analysis_table.parquet"
    return {
        "clusters": clusters,
        "individuals": individuals,
        "m": m,
        "engine": config["imputation"]["engine"],
        "cores": cores,
        "dropped": list(drop),
        "extra_args": list(extra_args),
        "returncode": returncode,
        "generate_s": round(generate_seconds, 1),
        "workflow_s": round(seconds, 1),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        # ru_maxrss of children is the largest single descendant ever waited for (KiB on Linux).
        "peak_job_rss_mib": round(after.ru_maxrss / 1024),
        "peak_tree_rss_mib": round(tree.peak / 2**20),
        "analysis_table_mib": round(analysed.stat().st_size / 2**20, 1)
        if analysed.exists()
        else None,
        "rules": rule_busy_seconds(log_text),
        "rule_peak_rss_mib": {rule: round(rss / 2**20) for rule, rss in tree.peak_by_rule.items()},
        "load_before_after": None,
        "log": str(log_path) if returncode else None,
        "log_tail": log_text.splitlines()[-30:] if returncode else None,
    }


def _parse_scenario(text: str) -> tuple[int, int]:
    try:
        clusters, individuals = (int(x) for x in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"scenario {text!r} is not CLUSTERSxINDIVIDUALS") from exc
    return clusters, individuals


def print_result(result: dict) -> None:
    """One readable block per scenario."""
    head = (
        f"{result['clusters']} clusters, {result['individuals']} individuals, m = {result['m']} "
        f"({result['engine']}), --cores {result['cores']} {' '.join(result['extra_args'])}"
    )
    if result["dropped"]:
        head += f"; config sections left out: {', '.join(result['dropped'])}"
    print(f"\n== {head}")
    if result["returncode"]:
        print(f"   FAILED (exit {result['returncode']}); log: {result['log']}")
        print("\n".join("   | " + line for line in result["log_tail"]))
        return
    print(f"   load average before/after: {result['load_before_after']}")
    print(f"   data generation (not timed in the total): {result['generate_s']:.1f} s")
    print(
        f"   workflow: {result['workflow_s']:.1f} s wall ({result['workflow_s'] / 60:.1f} min), "
        f"{result['cpu_s']:.1f} s CPU"
    )
    print(
        f"   peak memory: largest job {result['peak_job_rss_mib']} MiB, "
        f"whole process tree {result['peak_tree_rss_mib']} MiB (sampled)"
    )
    print(f"   analysis table: {result['analysis_table_mib']} MiB")
    print("   busy time per rule (jobs, seconds summed over jobs; largest sampled job RSS):")
    peaks = result.get("rule_peak_rss_mib", {})
    for rule, (jobs, busy) in sorted(result["rules"].items(), key=lambda kv: -kv[1][1]):
        peak = f"{peaks[rule]:>6} MiB" if rule in peaks else ""
        print(f"     {rule:<28} {jobs:>4} jobs {busy:>8.0f} s {peak}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--scenario", nargs="+", type=_parse_scenario, metavar="CxN",
        help="CLUSTERSxINDIVIDUALS (default: the issue's grid)",
    )  # fmt: skip
    ap.add_argument("--m", nargs="+", type=int, help="numbers of imputations (default: 20)")
    ap.add_argument("--engine", choices=["forest", "multilevel"], help="imputation engine")
    ap.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    ap.add_argument(
        "--drop-section", nargs="+", default=[], metavar="SECTION",
        help="leave these top-level config sections (optional analyses) out, e.g. costs",
    )  # fmt: skip
    ap.add_argument(
        "--snakemake-args", default="",
        help="further snakemake arguments, e.g. \"--resources mem_mb=8000\"",
    )  # fmt: skip
    ap.add_argument("--keep", type=Path, help="keep data and outputs under this folder")
    ap.add_argument("--json", type=Path, help="also write the measurements to this JSON file")
    args = ap.parse_args()

    with EXAMPLE.open(encoding="utf-8") as handle:
        example = yaml.safe_load(handle)
    if args.scenario:
        plan = [(c, n, m) for c, n in args.scenario for m in (args.m or [20])]
    else:  # the grid: m grows at the example's size, then the trial grows at m = 20
        plan = [(27, 403, m) for m in (5, 20, 50)] + [(100, 5000, 20), (500, 50000, 20)]

    results = []
    with tempfile.TemporaryDirectory(prefix="trial-bench-") as scratch:
        base = args.keep or Path(scratch)
        for clusters, individuals, m in plan:
            folder = base / f"c{clusters}_n{individuals}_m{m}_{args.engine or 'config'}"
            load_before = os.getloadavg()
            result = run_scenario(
                example, clusters, individuals, m, args.engine, args.cores, folder,
                tuple(args.drop_section), tuple(args.snakemake_args.split()),
            )  # fmt: skip
            load_after = os.getloadavg()
            result["load_before_after"] = (
                f"{load_before[0]:.2f} -> {load_after[0]:.2f} (1-min), "
                f"{load_before[2]:.2f} -> {load_after[2]:.2f} (15-min)"
            )
            print_result(result)
            sys.stdout.flush()
            results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
