"""Benchmark: the whole bundled example, from clean derived folders, as a user runs it.

Copies the Snakefile, ``workflow/``, ``config/`` and the raw data into a temporary folder (no
derived or report files), runs ``snakemake --cores N`` there with this tree's library and prints

* wall time and CPU time (user + system, of Snakemake and every job),
* the number of jobs Snakemake ran,
* the peak resident memory of the largest job (sampled every 0.1 s from the process tree, with
  the job's script named) and of the Snakemake process itself,
* the load average of the machine before and after (the figures mean little on a busy machine),

and then, in the same run, the R anchor of the primary analysis (``r_primary_analysis.R``:
mice ``2l.pan``, ``lmer``, ``mitml`` on the pipeline's own analysis table, with the config's m
and iterations) for scale. The R anchor does the primary outcome only, where the pipeline does
every analysis of the report: compare it with ``bench_primary_vs_r.py`` for like with like.

Usage: ``python benchmarks/bench_pipeline.py [--cores 2] [--config config/refocus.yaml]
[--no-r] [--keep]``
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_primary_vs_r import run_r  # noqa: E402

from trial.data.intermediate import read_intermediate  # noqa: E402


def copy_project(folder: Path, config_path: Path) -> Path:
    """The workflow, the configs and the config's raw data under ``folder``."""
    shutil.copy2(ROOT / "Snakefile", folder / "Snakefile")
    shutil.copytree(ROOT / "workflow", folder / "workflow")
    shutil.copytree(ROOT / "config", folder / "config")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    raw = config["paths"]["raw"]
    shutil.copytree(ROOT / raw, folder / raw)
    return folder / config_path.relative_to(ROOT)


class MemoryWatch:
    """Peak resident memory of each process under a root process, sampled in a thread."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self.root, self.interval = root, interval
        self.peaks: dict[str, int] = {}  # job label -> peak bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def label(process: psutil.Process) -> str:
        command = " ".join(process.cmdline())
        script = re.search(r"\.snakemake/scripts/tmp\w+\.(\w+)\.py", command)
        return f"job {script.group(1)}" if script else "other"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.root)
                processes = [(root, "snakemake")] + [
                    (p, None) for p in root.children(recursive=True)
                ]
                for process, label in processes:
                    try:
                        rss = process.memory_info().rss
                        label = label or self.label(process)
                    except psutil.Error:
                        continue
                    self.peaks[label] = max(self.peaks.get(label, 0), rss)
            except psutil.Error:
                pass
            self._stop.wait(self.interval)


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "refocus.yaml")
    parser.add_argument("--no-r", action="store_true", help="skip the R anchor")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    config_path = args.config.resolve()
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))

    scratch = Path(tempfile.mkdtemp(prefix="trial-pipeline-"))
    try:
        copied = copy_project(scratch, config_path)
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        command = [sys.executable, "-m", "snakemake", "--cores", str(args.cores)]
        if copied != scratch / "config" / "refocus.yaml":
            command += ["--configfile", str(copied)]
        load_before = os.getloadavg()
        cpu_before = child_cpu()
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=scratch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        with MemoryWatch(process.pid) as watch:
            output, _ = process.communicate()
        wall = time.perf_counter() - started
        cpu = child_cpu() - cpu_before
        load_after = os.getloadavg()
        text = output.decode(errors="replace")
        if process.returncode:
            raise SystemExit(f"snakemake failed:\n{text[-4000:]}")
        done = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
        jobs = int(done[-1][1]) if done else -1

        jobs_peak = {k: v for k, v in watch.peaks.items() if k.startswith("job ")}
        largest = max(jobs_peak, key=jobs_peak.get)
        print(
            f"{config_path.relative_to(ROOT)}: "
            f"m = {config['imputation']['m']}, engine {config['imputation']['engine']}, "
            f"{config['imputation']['iterations']} iterations; --cores {args.cores} on "
            f"{os.cpu_count()} cores"
        )
        print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
        print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (user + system, all jobs), {jobs} jobs")
        print(
            f"peak resident memory: largest job {jobs_peak[largest] / 2**20:.0f} MiB "
            f"({largest}), Snakemake itself {watch.peaks.get('snakemake', 0) / 2**20:.0f} MiB"
        )
        for label, peak in sorted(jobs_peak.items(), key=lambda kv: -kv[1])[:5]:
            print(f"  {label:<36}{peak / 2**20:>8.0f} MiB")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in load_after)}")

        if not args.no_r and shutil.which("Rscript"):
            table = scratch / "analysis_table.csv"  # the R script reads a CSV
            derived = scratch / config["paths"]["derived"]
            scored = read_intermediate(config, derived / "scored" / "analysis_table.parquet")
            scored.to_csv(table, index=False, lineterminator="\n")
            maxit = config["imputation"]["iterations"]
            try:
                r_times, _ = run_r(table, config["imputation"]["m"], maxit, config["seed"])
            except RuntimeError as error:  # the R script names the example's columns
                print(f"R anchor not run: {str(error)[:300]}")
                return
            print(
                f"R anchor, primary outcome only (m = {config['imputation']['m']}, {maxit} "
                f"iterations): {r_times['total']:.1f} s (impute {r_times['impute']:.1f}, fit "
                f"{r_times['fit']:.1f}, pool {r_times['pool']:.1f}); load average after R: "
                f"{os.getloadavg()[0]:.2f}"
            )
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
