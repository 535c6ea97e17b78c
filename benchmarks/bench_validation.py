"""Benchmark: the check of the raw tables that runs before any job, as the trial grows.

For each scenario the example's synthetic data are generated at that size (not timed) and three
things are timed on the same files in this process, in CPU seconds of this process (so that other
work on the machine does not count), best of ``--repeat`` runs:

* ``read``: every table read by pandas as text, without any check (the least any reader does);
* ``validate``: :func:`trial.data.validation.validate_inputs`, the strict reading and every check of
  the config's tables, within and across tables;
* ``preflight``: what the Snakefile runs before any job (the config file read and checked, then
  ``validate``).

Printed: CPU seconds of each and ``validate / read``, the price of strictness over plain reading.

Usage::

    python benchmarks/bench_validation.py                         # 27x403, 100x5000, 500x50000
    python benchmarks/bench_validation.py --scenario 27x403 --repeat 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from trial.cli.preflight import problems_screen
from trial.config.load import load_config
from trial.data.validation import validate_inputs
from trial.studies.synthetic import write_example

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import EXAMPLE, scaled_config  # noqa: E402


def best_of(repeat: int, work) -> float:  # noqa: ANN001 - any callable
    times = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", nargs="+", default=["27x403", "100x5000", "500x50000"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    example = load_config(EXAMPLE)
    print(f"{'scenario':>10} {'rows':>9} {'read s':>8} {'validate s':>11} {'preflight s':>12} "
          f"{'validate/read':>14}")  # fmt: skip
    for scenario in args.scenario:
        clusters, individuals = (int(x) for x in scenario.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = scaled_config(example, clusters, individuals, 2, None, folder)
            config["synthetic"]["truth_population"] = 1000  # the truth is not needed here
            write_example(config, config["paths"]["raw"])
            path = folder / "trial.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            files = [folder / "raw" / spec["file"] for spec in config["tables"].values()]

            def read(files=files) -> None:
                for file in files:
                    pd.read_csv(file, dtype=str, keep_default_na=False)

            rows = sum(len(pd.read_csv(f, usecols=[0])) for f in files)
            t_read = best_of(args.repeat, read)
            t_validate = best_of(args.repeat, lambda config=config: validate_inputs(config))
            t_pre = best_of(args.repeat, lambda path=path: problems_screen(path))
            print(f"{scenario:>10} {rows:>9} {t_read:>8.2f} {t_validate:>11.2f} {t_pre:>12.2f} "
                  f"{t_validate / t_read:>14.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
