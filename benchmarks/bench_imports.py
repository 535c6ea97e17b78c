"""Benchmark: start-up cost of every workflow job type (the imports of its script).

Every workflow job is a fresh Python process running one script of ``workflow/scripts/``, so
each pays for its imports before any statistics; a run of the example has about 200 jobs. For
each script this reads its import statements (``ast``, without running it), runs them alone in a
new interpreter under ``python -X importtime`` and prints, per job type, the median CPU time of
the process, the summed import time, and which heavy packages it loads. The floor, in the same
run, is a process importing only numpy and pandas (which every job needs to read a table).

Only module-level imports are measured: a package the library imports inside the function that
uses it (scipy.stats for p-values, matplotlib for figures, statsmodels for Holm's procedure) is
still paid by the jobs that call that function, when they call it, and by no other job.

With ``--against REV`` the same is measured, in the same run, for the library as it was at git
revision ``REV`` (its ``src/`` exported to a temporary folder), and the ratio printed.

Usage: ``python benchmarks/bench_imports.py [--repeats N] [--against REV]``
"""

from __future__ import annotations

import argparse
import ast
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"
HEAVY = (
    "scipy.stats",
    "statsmodels",
    "matplotlib",
    "linearmodels",
    "pandera",
    "jinja2",
    "jsonschema",
    "miceforest",
    "lightgbm",
)
FLOOR = "import numpy, pandas"


def script_imports(path: Path) -> str:
    """The script's top-level import statements, as code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    return "\n".join(ast.unparse(n) for n in nodes) or "pass"


def child_cpu() -> float:
    """CPU seconds (user and system) used so far by finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(code: str, src: Path, repeats: int) -> tuple[float, float, set[str]]:
    """Median CPU seconds of a process running ``code`` (less sensitive than wall time to other
    work on the machine), median summed import seconds, and the heavy packages it loaded."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    cpus, totals, loaded = [], [], set()
    for _ in range(repeats):
        started = child_cpu()
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        cpus.append(child_cpu() - started)
        total = 0
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            _, self_us, _, name = (part.strip() for part in line.replace(":", "|", 1).split("|"))
            total += int(self_us)
            # a package may be logged by its submodules only (scipy loads submodules lazily)
            loaded.update(h for h in HEAVY if name == h or name.startswith(h + "."))
        totals.append(total / 1e6)
    return statistics.median(cpus), statistics.median(totals), loaded


def export_src(revision: str, folder: Path) -> Path:
    """The library's ``src/`` at a git revision, written under ``folder``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "src"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per job type")
    parser.add_argument("--against", help="git revision whose library to compare with")
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"now": ROOT / "src"}
        if args.against:
            trees[args.against] = export_src(args.against, Path(scratch))
        floor = measure(FLOOR, trees["now"], args.repeats)
        print(f"floor ({FLOOR}): {floor[0]:.2f} s CPU, {floor[1]:.2f} s importing")
        header = f"{'job type':<28}" + "".join(
            f"{name[:10] + ' CPU s':>17}{'import s':>9}" for name in trees
        )
        if args.against:
            header += f"{'ratio':>7}"
        print(header + "  heavy packages loaded now")
        sums = dict.fromkeys(trees, 0.0)
        for path in sorted(SCRIPTS.glob("*.py")):
            code = script_imports(path)
            line = f"{path.stem:<28}"
            results = {}
            for name, src in trees.items():
                results[name] = measure(code, src, args.repeats)
                sums[name] += results[name][0]
                line += f"{results[name][0]:>17.2f}{results[name][1]:>9.2f}"
            heavy = results["now"][2]
            if args.against:
                line += f"{results['now'][0] / results[args.against][0]:>7.2f}"
            print(line + "  " + (", ".join(sorted(heavy)) or "-"))
        total = f"{'sum over job types':<28}" + "".join(f"{sums[n]:>17.2f}{'':>9}" for n in trees)
        if args.against:
            total += f"{sums['now'] / sums[args.against]:>7.2f}"
        print(total)
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
