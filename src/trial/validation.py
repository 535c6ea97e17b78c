"""Validating the raw input tables before any analysis: every problem of every table at once.

Each table is read strictly into its declared types (:mod:`trial.raw_tables`) and checked on its
own (:mod:`trial.table_checks`); the tables that pass are then checked against each other
(:mod:`trial.cross_table_checks`). Every problem is collected and reported together, each naming
the file, line, column, value and what was expected.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trial.cross_table_checks import (
    check_consistency,
    check_date_order,
    check_design,
    check_references,
)
from trial.raw_tables import InputError, Problem, read_table, table_columns
from trial.table_checks import check_table
from trial.vocabulary import Config

__all__ = ["InputError", "Problem", "read_table", "table_columns", "validate_inputs"]


def validate_inputs(config: Config, raw_dir: str | Path | None = None) -> dict[str, int]:
    """Validate every table of the config; return row counts, or raise :class:`InputError`."""
    raw = Path(raw_dir or config["paths"]["raw"])
    problems: list[Problem] = []
    frames: dict[str, pd.DataFrame] = {}  # tables without problems, for cross-table checks
    readable: dict[str, pd.DataFrame] = {}  # tables that could be read, for within-row checks
    for name, spec in config["tables"].items():
        frame, table_problems = check_table(config, name, raw / spec["file"])
        problems += table_problems
        if frame is not None:
            readable[name] = frame
            if not table_problems:
                frames[name] = frame
    problems += check_references(config, frames)
    problems += check_date_order(config, readable)
    problems += check_design(config, frames)
    problems += check_consistency(config, frames)
    if problems:
        raise InputError(problems)
    return {name: len(frame) for name, frame in frames.items()}
