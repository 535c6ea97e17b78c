"""The checks of one raw table: its columns' codes, ranges, missingness and key.

Allowed codes and missingness are pandera schemas built from the config; ranges and duplicate
keys are checked as whole blocks here, so that each problem names its line and the earlier line
holding the same key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # imported on use: only the jobs that check raw tables need it
    import pandera.pandas as pa

from trial.config.vocabulary import Config
from trial.data.raw_tables import Problem, read_typed, table_columns


def check_table(config: Config, name: str, path: Path) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Table ``name`` read from ``path`` with its declared types (None if it cannot be read),
    and every problem of its cells, columns and key."""
    frame, problems = read_typed(config, name, path)
    if frame is None:
        return None, problems
    columns = table_columns(config, name)
    problems += _range_problems(path.name, frame, columns)
    problems += _duplicate_keys(path.name, frame, config["tables"][name]["key"])
    import pandera.pandas as pa

    try:
        _schema(config, name, columns).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        located = {(p.line, p.column) for p in problems}  # a cell of the wrong type: said once
        for problem in _describe_failures(path.name, exc.failure_cases):
            if (problem.line, problem.column) not in located:
                problems.append(problem)
    return frame, sorted(problems, key=lambda p: (p.line or 0, str(p.column)))


def _schema(
    config: Config, name: str, columns: Mapping[str, Mapping[str, Any]]
) -> pa.DataFrameSchema:
    spec = config["tables"][name]
    # Keys, links to other tables and the design's own columns may never be blank.
    design = config["design"]
    required = {*spec["key"], *spec.get("references", {})}
    if name == design["cluster_table"]:
        required |= {design["cluster_id"], design["arm"], *design["strata"]}
    if name == design["individual_table"]:
        required |= {design["cluster_id"], design["followup_status"]}
    if design["timepoint"] in columns:
        required.add(design["timepoint"])
    costs = config.get("costs")
    if costs and name == costs["use_table"]:  # a cost needs the quantity of the service used
        required |= {costs["service"], costs["quantity"]}
    import pandera.pandas as pa

    pandera_columns = {}
    for column, col in columns.items():
        checks = []
        if "values" in col:
            checks.append(pa.Check.isin(col["values"], error=f"one of {col['values']}"))
        nullable = column not in required and col.get("missing", "allowed") == "allowed"
        if checks or not nullable:  # the types were set cell by cell, the ranges as a block
            pandera_columns[column] = pa.Column(None, checks=checks, nullable=nullable)
    return pa.DataFrameSchema(pandera_columns)


def _duplicate_keys(file: str, frame: pd.DataFrame, key: list[str]) -> list[Problem]:
    """Every row whose key an earlier row already has, with the line of that earlier row."""
    rows = frame.loc[frame[key].notna().all(axis=1), key]  # a blank key part is reported as blank
    lines = rows.index.to_series()
    first = lines.groupby([rows[k] for k in key], sort=False).transform("first")
    problems = []
    for line in lines[lines != first]:
        value = ", ".join(str(v) for v in rows.loc[line])
        expected = f"a unique {' and '.join(key)} (this one is also on line {first[line]})"
        problems.append(Problem(file, int(line), ", ".join(key), value, expected))
    return problems


def _range_problems(
    file: str, frame: pd.DataFrame, columns: Mapping[str, Mapping[str, Any]]
) -> list[Problem]:
    """Numbers below their column's ``min`` or above its ``max``, all columns at once."""
    bounded = [c for c, col in columns.items() if "min" in col or "max" in col]
    if not bounded:
        return []
    values = frame[bounded].astype(float).to_numpy()
    lo = np.array([columns[c].get("min", -np.inf) for c in bounded], dtype=float)
    hi = np.array([columns[c].get("max", np.inf) for c in bounded], dtype=float)
    problems = []
    with np.errstate(invalid="ignore"):
        for outside, bound, word in ((values < lo, lo, "at least"), (values > hi, hi, "at most")):
            for i, j in zip(*np.nonzero(outside), strict=True):
                value = values[i, j]
                value = int(value) if columns[bounded[j]]["type"] == "integer" else float(value)
                problems.append(
                    Problem(file, int(frame.index[i]), bounded[j], value, f"{word} {bound[j]:g}")
                )
    return problems


def _describe_failures(file: str, failures: pd.DataFrame) -> list[Problem]:
    problems: dict[tuple[object, object, str], Problem] = {}
    for row in failures.itertuples(index=False):
        check = str(row.check)
        column = row.column
        line = None if pd.isna(row.index) else int(row.index)
        value = row.failure_case
        if check == "not_nullable":
            expected = "a value (this column may not be blank)"
            value = ""
        else:
            expected = check
        value = value.item() if hasattr(value, "item") else value  # numpy scalar -> plain value
        problem = Problem(file, line, column, value, expected)
        problems.setdefault((line, column, expected), problem)
    return list(problems.values())
