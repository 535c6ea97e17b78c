"""Checking that a run reproduces committed expected results.

Every CSV table under a run's ``tables/`` folder is compared with the committed expected-results
file: text columns must match exactly, numbers within ``atol + rtol * |expected|``. Every mismatch
is listed; a table or row that is missing or extra is a mismatch too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9


@dataclass(frozen=True)
class Mismatch:
    """One difference between a run and the expected results."""

    table: str
    row: int | None
    column: str | None
    expected: Any
    found: Any

    def __str__(self) -> str:
        where = self.table
        if self.row is not None:
            where += f", row {self.row + 1}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: expected {self.expected!r}, found {self.found!r}"


def read_results(tables_dir: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Every CSV table of a run, as lists of records keyed by file name."""
    results = {}
    for path in sorted(Path(tables_dir).glob("*.csv")):
        try:
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:  # a table with nothing to hold, e.g. no imputation
            results[path.name] = []
            continue
        results[path.name] = [
            {k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")
        ]
    return results


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_expected(
    tables_dir: str | Path,
    expected_path: str | Path,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> None:
    """Record a run's tables as the expected results (with the tolerances to check them by)."""
    payload = {"rtol": rtol, "atol": atol, "tables": read_results(tables_dir)}
    path = Path(expected_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def compare_results(tables_dir: str | Path, expected_path: str | Path) -> list[Mismatch]:
    """All differences between a run's tables and the expected results."""
    expected = json.loads(Path(expected_path).read_text(encoding="utf-8"))
    rtol, atol = expected["rtol"], expected["atol"]
    found = read_results(tables_dir)
    mismatches: list[Mismatch] = []
    for name, rows in expected["tables"].items():
        if name not in found:
            mismatches.append(Mismatch(name, None, None, f"{len(rows)} rows", "no such table"))
            continue
        got = found[name]
        if len(got) != len(rows):
            mismatches.append(Mismatch(name, None, None, f"{len(rows)} rows", f"{len(got)} rows"))
        for i, (want_row, got_row) in enumerate(zip(rows, got, strict=False)):
            for column, want in want_row.items():
                value = got_row.get(column, "<no such column>")
                if not _same(want, value, rtol, atol):
                    mismatches.append(Mismatch(name, i, column, want, value))
    for name in sorted(set(found) - set(expected["tables"])):
        mismatches.append(Mismatch(name, None, None, "no such table", f"{len(found[name])} rows"))
    return mismatches


def _same(want: Any, got: Any, rtol: float, atol: float) -> bool:
    if want is None or got is None:
        return want is got
    numbers = (int, float)
    if isinstance(want, numbers) and isinstance(got, numbers) and not isinstance(want, bool):
        return abs(got - want) <= atol + rtol * abs(want)
    return want == got
