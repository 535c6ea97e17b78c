"""Reading and validating the raw input tables before any analysis.

Column checks (type, range, allowed codes, missingness, unique keys) are pandera schemas built
from the config; checks that span tables (every referenced ID exists, every arm has at least two
clusters) are written here because a single-table schema cannot express them. Every problem is
collected and reported together, each naming the file, line, column, value and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from trial.config import Config, arms, treatment_arms

_MAX_LISTED = 50  # problems listed per table before summarising the rest


@dataclass(frozen=True)
class Problem:
    """One validation problem, located as precisely as the check allows."""

    file: str
    line: int | None  # line in the file, the header being line 1
    column: str | None
    value: object
    expected: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column {self.column!r}"
        value = "" if self.value is None else f": value {self.value!r}"
        return f"{where}{value}; expected {self.expected}"


class InputError(ValueError):
    """The raw inputs are invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = problems[: _MAX_LISTED * 4]
        text = "\n".join(f"  - {p}" for p in shown)
        more = (
            f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        )
        super().__init__(
            f"input validation failed with {len(problems)} problem(s); no analysis was run\n"
            f"{text}{more}"
        )


def table_columns(config: Config, name: str) -> dict[str, dict[str, Any]]:
    """Every column of a table: its declared columns, then the scale items stored in it."""
    columns = {k: dict(v) for k, v in config["tables"][name]["columns"].items()}
    for scale_name, scale in config["scales"].items():
        if scale["table"] != name:
            continue
        lo, hi = scale["item_range"]
        for item in scale["items"]:
            columns.setdefault(
                item,
                {
                    "type": "integer",
                    "min": lo,
                    "max": hi,
                    "missing": "allowed",
                    "description": f"item of {scale_name}",
                },
            )
        for item in scale.get("gate", []):
            columns.setdefault(
                item,
                {
                    "type": "integer",
                    "min": 0,
                    "max": 1,
                    "missing": "allowed",
                    "description": f"gate item of {scale_name}",
                },
            )
    return columns


def read_table(config: Config, name: str, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """Read one raw table with the types its config declares (assumes it has been validated)."""
    spec = config["tables"][name]
    path = Path(raw_dir or config["paths"]["raw"]) / spec["file"]
    frame = pd.read_csv(
        path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
    )
    for column, col in table_columns(config, name).items():
        frame[column] = _convert(frame[column], col["type"])
    return frame


def _convert(values: pd.Series, kind: str) -> pd.Series:
    if kind == "integer":
        return pd.to_numeric(values).astype("Int64")
    if kind == "number":
        return pd.to_numeric(values).astype(float)
    if kind == "date":
        return pd.to_datetime(values, format="%Y-%m-%d")
    return values.astype(object)


def validate_inputs(config: Config, raw_dir: str | Path | None = None) -> dict[str, int]:
    """Validate every table of the config; return row counts, or raise :class:`InputError`."""
    raw = Path(raw_dir or config["paths"]["raw"])
    problems: list[Problem] = []
    frames: dict[str, pd.DataFrame] = {}  # tables without problems, for cross-table checks
    readable: dict[str, pd.DataFrame] = {}  # tables that could be read, for within-row checks
    for name, spec in config["tables"].items():
        frame, table_problems = _check_table(config, name, raw / spec["file"])
        problems += table_problems
        if frame is not None:
            readable[name] = frame
            if not table_problems:
                frames[name] = frame
    problems += _check_references(config, frames)
    problems += _check_date_order(config, readable)
    problems += _check_design(config, frames)
    if problems:
        raise InputError(problems)
    return {name: len(frame) for name, frame in frames.items()}


def _check_table(
    config: Config, name: str, path: Path
) -> tuple[pd.DataFrame | None, list[Problem]]:
    file = path.name
    if not path.is_file():
        return None, [Problem(file, None, None, None, f"the file {path} to exist (table {name!r})")]
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [
            Problem(
                file,
                line,
                None,
                raw[exc.start : exc.start + 8],
                "UTF-8 text (save the file as UTF-8 CSV)",
            )
        ]
    if not raw.strip():
        return None, [
            Problem(file, None, None, None, "a header line and data rows; the file is empty")
        ]
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
        )
    except pd.errors.ParserError as exc:
        found = re.search(r"line (\d+), saw (\d+)", str(exc))
        if found:
            line, fields = int(found.group(1)), int(found.group(2))
            expected = "as many fields as the header (check for stray commas or unquoted text)"
            return None, [Problem(file, line, None, f"{fields} fields", expected)]
        return None, [Problem(file, None, None, None, f"comma-separated values ({exc})")]
    columns = table_columns(config, name)
    header = list(frame.columns)
    problems = []
    if len(header) == 1 and len(columns) > 1 and any(sep in header[0] for sep in ";\t|"):
        return None, [
            Problem(
                file,
                1,
                None,
                header[0],
                "comma-separated columns; the file seems to use another delimiter",
            )
        ]
    for column in columns:
        if column not in header:
            problems.append(Problem(file, 1, column, None, "this column in the header"))
    for column in header:
        if column not in columns:
            problems.append(
                Problem(
                    file,
                    1,
                    column,
                    None,
                    f"only declared columns in table {name!r}; this one is not in the config",
                )
            )
    if problems:
        return None, problems
    if frame.empty:
        return None, [Problem(file, None, None, None, "at least one data row")]
    schema = _schema(config, name, columns)
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        problems += _describe_failures(
            file, exc.failure_cases, columns, config["tables"][name]["key"]
        )
    return frame, problems


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
    pandera_columns = {}
    for column, col in columns.items():
        checks = []
        if "values" in col:
            checks.append(pa.Check.isin(col["values"], error=f"one of {col['values']}"))
        if "min" in col:
            checks.append(pa.Check.ge(col["min"], error=f"at least {col['min']:g}"))
        if "max" in col:
            checks.append(pa.Check.le(col["max"], error=f"at most {col['max']:g}"))
        if col["type"] == "date":
            # Checked as text so that each bad date is reported with its row and value.
            checks.append(pa.Check(_is_iso_date, error=_EXPECTED_TYPE["date"]))
        dtype = {"integer": "Int64", "number": float}.get(col["type"], str)
        pandera_columns[column] = pa.Column(
            dtype,
            checks=checks,
            coerce=True,
            nullable=column not in required and col.get("missing", "allowed") == "allowed",
        )
    return pa.DataFrameSchema(pandera_columns, unique=spec["key"], strict=True)


def _is_iso_date(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="%Y-%m-%d", errors="coerce").notna()


_EXPECTED_TYPE = {
    "integer": "a whole number",
    "number": "a number",
    "date": "a date YYYY-MM-DD",
    "string": "text",
    "category": "text",
}


def _describe_failures(
    file: str, failures: pd.DataFrame, columns: Mapping[str, Mapping[str, Any]], key: list[str]
) -> list[Problem]:
    problems: dict[tuple[object, object, str], Problem] = {}
    for row in failures.itertuples(index=False):
        check = str(row.check)
        column = row.column
        index = row.index
        line = None if pd.isna(index) else int(index) + 2
        if check.startswith(("coerce_dtype", "dtype")):
            expected = _EXPECTED_TYPE[columns[column]["type"]]
        elif check == "not_nullable":
            expected = "a value (this column may not be blank)"
        elif "uniqueness" in check:
            expected = f"a unique combination of {key} (this key appears more than once)"
            column = ", ".join(key)
        else:
            expected = check
        value = row.failure_case
        value = value.item() if hasattr(value, "item") else value  # numpy scalar -> plain value
        problem = Problem(file, line, column, value, expected)
        problems.setdefault((line, column, expected), problem)
    return sorted(problems.values(), key=lambda p: (p.line or 0, str(p.column)))


def _check_references(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    problems = []
    for name, spec in config["tables"].items():
        if name not in frames:
            continue
        frame = frames[name]
        for column, target in spec.get("references", {}).items():
            if target not in frames:
                continue
            target_key = config["tables"][target]["key"][0]
            known = set(frames[target][target_key].dropna())
            bad = frame[column].notna() & ~frame[column].isin(known)
            for index in frame.index[bad]:
                problems.append(
                    Problem(
                        spec["file"],
                        int(index) + 2,
                        column,
                        frame.at[index, column],
                        f"a {target_key} listed in {config['tables'][target]['file']}",
                    )
                )
    return problems


def _check_date_order(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    problems = []
    for name, spec in config["tables"].items():
        if name not in frames:
            continue
        for earlier, later in spec.get("date_order", []):
            # unreadable dates are reported by the column checks; compare the readable ones
            first = pd.to_datetime(frames[name][earlier], format="%Y-%m-%d", errors="coerce")
            second = pd.to_datetime(frames[name][later], format="%Y-%m-%d", errors="coerce")
            for index in frames[name].index[second < first]:
                problems.append(
                    Problem(
                        spec["file"],
                        int(index) + 2,
                        later,
                        frames[name].at[index, later],
                        f"a date on or after {earlier} ({frames[name].at[index, earlier]})",
                    )
                )
    return problems


def _check_design(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    design = config["design"]
    clusters = frames.get(design["cluster_table"])
    if clusters is None:
        return []
    file = config["tables"][design["cluster_table"]]["file"]
    problems = []
    counts = clusters[design["arm"]].value_counts()
    for arm in arms(config):
        if counts.get(arm, 0) < 2:
            problems.append(
                Problem(
                    file,
                    None,
                    design["arm"],
                    arm,
                    f"at least 2 clusters in every arm; found {counts.get(arm, 0)}",
                )
            )
    participation = frames.get(config.get("participation", {}).get("table"))
    if participation is not None:
        arm_of = clusters.set_index(design["cluster_id"])[design["arm"]]
        file_p = config["tables"][config["participation"]["table"]]["file"]
        for index, cluster in participation[design["cluster_id"]].items():
            if arm_of.get(cluster) not in treatment_arms(config):
                problems.append(
                    Problem(
                        file_p,
                        int(index) + 2,
                        design["cluster_id"],
                        cluster,
                        f"only {' or '.join(map(repr, treatment_arms(config)))} clusters "
                        "in the participation table",
                    )
                )
    individuals = frames.get(design["individual_table"])
    if individuals is not None:
        sizes = individuals[design["cluster_id"]].value_counts()
        empty = sorted(set(clusters[design["cluster_id"]]) - set(sizes.index))
        for cluster in empty:
            problems.append(
                Problem(
                    config["tables"][design["individual_table"]]["file"],
                    None,
                    design["cluster_id"],
                    cluster,
                    "at least one individual in every randomised cluster",
                )
            )
    return problems
