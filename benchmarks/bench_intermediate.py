"""Benchmark: writing and reading the tables passed between rules, Parquet against CSV.

Builds the example's scored analysis table and times, in the same process, one write and one
read of it (and of a copy ``--copies`` times longer, as a larger trial's table would be):

* Parquet through :mod:`trial.data.intermediate` (what the workflow does);
* CSV as the workflow wrote intermediates before: ``DataFrame.to_csv`` and a reader that takes
  the config's text columns as text and guesses the type of every other column.

Prints seconds (best of ``--repeat``), the ratio CSV / Parquet, the file sizes and the number of
columns whose type or values a round trip changed. The longer table repeats the example's rows,
so it compresses better than a real trial's table would: its Parquet size is a lower bound.

Usage: ``python benchmarks/bench_intermediate.py [--config config/refocus.yaml] [--copies 20]
[--repeat 5]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from trial.analyses.outcomes import build_analysis_table
from trial.config.load import load_config
from trial.data.intermediate import read_intermediate, text_columns, write_intermediate

ROOT = Path(__file__).resolve().parents[1]


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def read_csv(config: dict, path: Path) -> pd.DataFrame:
    header = pd.read_csv(path, nrows=0).columns
    text = [c for c in header if c in text_columns(config)]
    return pd.read_csv(path, dtype=dict.fromkeys(text, str), keep_default_na=False, na_values=[""])


def timed(action, repeat: int) -> float:
    """Best of ``repeat`` timings of ``action()``, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return min(times)


def differences(frame: pd.DataFrame, read: pd.DataFrame) -> int:
    """Columns whose type or values differ after a round trip."""
    changed = 0
    for column in frame.columns:
        a, b = frame[column], read[column]
        same_kind = a.dtype.kind == b.dtype.kind or {a.dtype.kind, b.dtype.kind} <= {"O", "T"}
        if not same_kind or not a.astype(object).equals(b.astype(object)):
            changed += 1
    return changed


def measure(config: dict, frame: pd.DataFrame, folder: Path, repeat: int) -> None:
    """Print the write and read times and the file sizes of ``frame`` in both formats."""
    csv, parquet = folder / "t.csv", folder / "t.parquet"
    figures = {
        "CSV write": timed(lambda: write_csv(frame, csv), repeat),
        "CSV read": timed(lambda: read_csv(config, csv), repeat),
        "Parquet write": timed(lambda: write_intermediate(config, frame, parquet), repeat),
        "Parquet read": timed(lambda: read_intermediate(config, parquet), repeat),
    }
    csv_total = figures["CSV write"] + figures["CSV read"]
    parquet_total = figures["Parquet write"] + figures["Parquet read"]
    print(
        f"{len(frame)} rows x {frame.shape[1]} columns: "
        + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in figures.items())
    )
    print(
        f"  write + read: CSV {1e3 * csv_total:.1f} ms, Parquet {1e3 * parquet_total:.1f} ms, "
        f"ratio CSV / Parquet {csv_total / parquet_total:.2f}; size CSV "
        f"{csv.stat().st_size / 2**10:.0f} KiB, Parquet {parquet.stat().st_size / 2**10:.0f} KiB"
    )
    print(
        "  columns changed by the round trip: CSV "
        f"{differences(frame, read_csv(config, csv))}, Parquet "
        f"{differences(frame, read_intermediate(config, parquet))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "refocus.yaml")
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    config = load_config(args.config)
    os.chdir(ROOT)  # the config's paths are relative to the project root
    table = build_analysis_table(config)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="trial-intermediate-") as scratch:
        for copies in (1, args.copies):
            frame = pd.concat([table] * copies, ignore_index=True)
            measure(config, frame, Path(scratch), args.repeat)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
