"""Validating the raw input tables before any analysis: every problem of every table at once.

Each table is read strictly into its declared types (:mod:`trial.data.raw_tables`) and checked on
its own (:mod:`trial.data.table_checks`); the tables that pass are then checked against each other
(:mod:`trial.data.cross_table_checks`). Every problem is collected and reported together, each
naming the file, line, column, value and what was expected.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trial.config.vocabulary import Config
from trial.data.cross_table_checks import (
    check_consistency,
    check_date_order,
    check_design,
    check_references,
)
from trial.data.raw_tables import InputError, Problem, read_table, table_columns
from trial.data.table_checks import check_table

__all__ = [
    "InputCheck",
    "InputError",
    "Problem",
    "check_inputs",
    "read_table",
    "table_columns",
    "validate_inputs",
]


@dataclass(frozen=True)
class InputCheck:
    """What the checks of the raw tables found.

    Attributes
    ----------
    problems
        Every problem of every table checked.
    frames
        Each table that was read and has no problem of its own, typed (index = line in file).
    skipped
        Each check that could not run, with why (a table with problems of its own is left out of
        the checks across tables, which would otherwise report its problems a second time).
    """

    problems: list[Problem]
    frames: dict[str, pd.DataFrame]
    skipped: list[str]


def check_inputs(
    config: Config,
    raw_dir: str | Path | None = None,
    *,
    tables: Collection[str] | None = None,
    across: bool = True,
) -> InputCheck:
    """Check the raw tables of the config and collect every problem, without raising.

    Parameters
    ----------
    config
        The trial config (schema-valid in its ``paths``, ``tables``, ``design`` and ``scales``).
    raw_dir
        Folder of the raw files; by default the config's ``paths.raw``.
    tables
        The tables to check (by default every table of the config); the others are not read.
    across
        Whether to run the checks across tables (they need a config free of problems).
    """
    raw = Path(raw_dir or config["paths"]["raw"])
    names = (
        list(config["tables"]) if tables is None else [t for t in config["tables"] if t in tables]
    )
    problems: list[Problem] = []
    frames: dict[str, pd.DataFrame] = {}  # tables without problems, for cross-table checks
    readable: dict[str, pd.DataFrame] = {}  # tables that could be read, for within-row checks
    for name in names:
        frame, table_problems = check_table(config, name, raw / config["tables"][name]["file"])
        problems += table_problems
        if frame is not None:
            readable[name] = frame
            if not table_problems:
                frames[name] = frame
    skipped = []
    if across:
        problems += check_references(config, frames)
        problems += check_date_order(config, readable)
        problems += check_design(config, frames)
        problems += check_consistency(config, frames)
        left_out = [config["tables"][t]["file"] for t in names if t not in frames]
        if left_out:
            own = (
                "it has problems of its own"
                if len(left_out) == 1
                else "they have problems of their own"
            )
            skipped.append(f"checks across tables for {_listed(left_out)}: {own}")
    return InputCheck(problems, frames, skipped)


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def validate_inputs(config: Config, raw_dir: str | Path | None = None) -> dict[str, int]:
    """Validate every table of the config; return row counts, or raise :class:`InputError`."""
    found = check_inputs(config, raw_dir)
    if found.problems:
        raise InputError(found.problems)
    return {name: len(frame) for name, frame in found.frames.items()}
