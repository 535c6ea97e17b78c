"""Reading and validating the raw input tables before any analysis.

Reading is strict. Python's ``csv`` module first splits each file into records and counts their
fields, so that a short row (a truncated line, a missing field) or a long one (a stray comma, an
unquoted number written ``1,062``) stops with its line before pandas could pad it with blanks or
shift it into an index; only a file whose every row matches its header is handed to pandas, as
text. Each cell is then converted to its declared type here, not by pandas or pandera: a number
may carry spaces around it and a whole number may be written ``3.0``, but a thousands separator,
a decimal comma, a word for missing (``NA``, ``NaN``) or a spreadsheet error value is refused with
a message saying what to write instead. The typed table has one row per record and the record's
line in the file as its index.

Column checks (allowed codes, range, missingness, unique keys) are pandera schemas built from the
config. Checks that span tables (every referenced ID exists, every arm has at least two clusters,
follow-up status against follow-up data, one cluster per individual, a unit cost for every
service used, audit availability against scored items, an observed follow-up score in every arm)
are written here because a single-table schema cannot express them; the ``consistency`` section
of the config tunes them. Every problem is collected and reported together, each naming the file,
line, column, value and what was expected.

Kept as one module for now, over the 600-line guide: its three sections (reading a file into
typed cells, the checks of one table, the checks across tables) are the seams to split along.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # imported on use: only the jobs that check raw tables need it
    import pandera.pandas as pa

from trial.config_checks import consistency_settings
from trial.schedule import SCHEDULED_TYPES, design_type, read_schedule
from trial.scoring import score_scale
from trial.vocabulary import Config, all_covariates, arms, covariate_missing, treatment_arms

_LISTED_PER_FILE = 25  # problems printed per file before the rest are counted
_EXCERPT = 60  # characters of a bad row quoted in a message


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
        lines = []
        for file in dict.fromkeys(p.file for p in problems):
            mine = [p for p in problems if p.file == file]
            lines += [f"  - {p}" for p in mine[:_LISTED_PER_FILE]]
            if len(mine) > _LISTED_PER_FILE:
                lines.append(f"  ... and {len(mine) - _LISTED_PER_FILE} more in {file}")
        super().__init__(
            f"input validation failed with {len(problems)} problem(s); no analysis was run\n"
            + "\n".join(lines)
        )


def table_columns(config: Config, name: str) -> dict[str, dict[str, Any]]:
    """Every column of a table: its declared columns, then the scale items stored in it."""
    columns = {k: dict(v) for k, v in config["tables"][name]["columns"].items()}
    for scale_name, scale in config["scales"].items():
        if scale["table"] != name:
            continue
        if "column" in scale:  # a single-variable outcome: an ordinary declared column
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
    """Read one raw table with the types its config declares.

    The file is read as strictly as :func:`validate_inputs` reads it (the same records, the
    same conversions), so the analysis sees exactly the values that were validated.

    Raises
    ------
    InputError
        The file cannot be read, a row has the wrong number of fields, or a cell is not of its
        column's declared type.
    """
    spec = config["tables"][name]
    path = Path(raw_dir or config["paths"]["raw"]) / spec["file"]
    frame, problems = _read_typed(config, name, path)
    if problems or frame is None:
        raise InputError(problems)
    return frame.reset_index(drop=True)


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
    problems += _check_consistency(config, frames)
    if problems:
        raise InputError(problems)
    return {name: len(frame) for name, frame in frames.items()}


# ---------------------------------------------------------------------------------------------
# Reading: bytes -> text -> records of the right width -> typed cells
# ---------------------------------------------------------------------------------------------


def _unreadable(
    file: str, expected: str, line: int | None = None, value: object = None
) -> tuple[None, list[Problem]]:
    """No table, and the one problem that stopped it being read."""
    return None, [Problem(file, line, None, value, expected)]


def _read_text(path: Path, name: str) -> tuple[str | None, list[Problem]]:
    """The text of table ``name``'s file, or the problem that stops it being read."""
    file = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _unreadable(file, f"the file {path} to exist (table {name!r})")
    except IsADirectoryError:
        return _unreadable(file, f"a file; {path} is a folder")
    except PermissionError:
        return _unreadable(
            file, f"a file this account may read; reading {path} was refused (permission denied)"
        )
    except OSError as exc:
        return _unreadable(file, f"a readable file ({exc.strerror})")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _unreadable(file, "UTF-8 text; the file is UTF-16 (save it as CSV UTF-8)", 1)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        start = max(raw.rfind(b"\n", 0, exc.start) + 1, exc.start - _EXCERPT // 2)
        end = raw.find(b"\n", exc.start)
        end = min(end if end >= 0 else len(raw), exc.end + _EXCERPT // 4)
        shown = raw[start:end].decode("utf-8", "backslashreplace")
        return _unreadable(file, "UTF-8 text (save the file as UTF-8 CSV)", line, shown)
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return _unreadable(
            file,
            "text without NUL bytes (a damaged transfer, or a file saved as UTF-16: save it as "
            "CSV UTF-8)",
            line,
        )
    if not text.strip():
        return _unreadable(file, "a header line and data rows; the file is empty")
    return text, []


def _excerpt(fields: list[str]) -> str:
    text = ",".join(fields)
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def _split_records(
    text: str, file: str, columns: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], list[int], list[Problem]]:
    """Header, the first line of every data record, and every problem of width or quoting.

    Blank lines are skipped (and not counted as records); every other record must have as many
    fields as the header.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    header_line = 1
    lines: list[int] = []
    problems: list[Problem] = []
    previous = 0
    try:
        for fields in reader:
            start, previous = previous + 1, reader.line_num
            if not fields:
                continue
            if header is None:
                header, header_line = fields, start
                continue
            if len(fields) != len(header):
                problems += _width_problems(file, start, fields, header, columns)
            elif not "".join(fields).strip():
                problems.append(
                    Problem(
                        file,
                        start,
                        None,
                        _excerpt(fields),
                        "a data row; this row is empty (delete it)",
                    )
                )
            lines.append(start)
    except csv.Error as exc:
        expected = (
            "a closing quote: the file ends inside a quoted field (a truncated file, or a "
            "stray quote)"
            if "unexpected end of data" in str(exc)
            else f"well-formed quotes ({exc}): text after a closing quote, or a stray quote"
        )
        problems.append(Problem(file, previous + 1, None, None, expected))
    if header is None:  # only blank lines
        return [], [], [Problem(file, None, None, None, "a header line and data rows")]
    if lines and not text.endswith(("\n", "\r")):  # the last record may be a cut-off transfer
        problems = [
            replace(
                p,
                expected=f"{p.expected}; the file ends without a line break, so its last "
                "line may be cut short",
            )
            if p.line == lines[-1] and p.expected.endswith(_SHORT_ROW)
            else p
            for p in problems
        ]
    header_problems = _header_problems(file, header_line, header, columns)
    if header_problems:  # rows are then read against a wrong header: their problems are noise
        return header, lines, header_problems
    return header, lines, problems


def _header_problems(
    file: str, line: int, header: list[str], columns: Mapping[str, Mapping[str, Any]]
) -> list[Problem]:
    problems: list[Problem] = []

    def add(column: str | None, value: object, expected: str) -> None:
        problems.append(Problem(file, line, column, value, expected))

    if len(header) == 1 and len(columns) > 1 and any(sep in header[0] for sep in ";\t|"):
        add(None, header[0], "comma-separated columns; the file seems to use another delimiter")
        return problems
    for position, name in enumerate(header, start=1):
        if not name.strip():
            add(
                None,
                name,
                f"a name for every column; field {position} of the header is empty "
                "(a spreadsheet exports columns that once held formatting: delete it)",
            )
        elif name != name.strip():
            add(name, None, f"the column name {name.strip()!r} without spaces around it")
    for name, count in pd.Series(header).value_counts().items():
        if count > 1 and str(name).strip():
            add(str(name), None, f"each column once in the header; it appears {count} times")
    stripped = {h.strip() for h in header}
    missing = [c for c in columns if c not in header and c not in stripped]
    for column in missing:
        add(column, None, "this column in the header")
    for name in header:
        if name in columns or name.strip() in columns or not name.strip():
            continue
        similar = [c for c in missing if c.lower() == name.strip().lower()]
        hint = f" (did you mean {similar[0]!r}? names are case-sensitive)" if similar else ""
        add(name, None, f"only declared columns; this one is not in the config{hint}")
    return problems


def _width_problems(
    file: str,
    line: int,
    fields: list[str],
    header: list[str],
    columns: Mapping[str, Mapping[str, Any]],
) -> list[Problem]:
    n, width = len(fields), len(header)
    if n > width:
        specs = [columns.get(h, {"type": "string"}) for h in header]
        rejoined = _rejoin_comma_numbers(fields, specs)
        if rejoined:
            return [
                Problem(
                    file,
                    line,
                    header[position],
                    value,
                    f"{_number_expected(value, specs[position]['type'])}; unquoted, its comma "
                    f"splits the row into {n} fields where the header has {width}",
                )
                for position, value in rejoined
            ]
        cause = "a stray comma, or text with a comma that is not in quotes"
    else:
        cause = _SHORT_ROW
    found = f"{width} fields as in the header, found {n}: {cause}"
    return [Problem(file, line, None, _excerpt(fields), found)]


_SHORT_ROW = "a truncated line, or a missing field"
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?")  # 1,062 or 1,062,000.5
_DECIMAL_COMMA = re.compile(r"[+-]?(0|[1-9]\d*),\d+")  # 2,5 or 0,946
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MISSING_WORDS = {"na", "n/a", "nan", "null", "none", "missing", ".", "-", "?", "nr", "n.a."}
_NOT_FINITE = {"inf", "-inf", "+inf", "infinity", "-infinity"}


def _comma_number(value: str, kind: str) -> bool:
    """Whether ``value`` reads as a number of ``kind`` written with a comma."""
    if kind == "integer":
        return bool(_GROUPED.fullmatch(value))
    return bool(_GROUPED.fullmatch(value) or _DECIMAL_COMMA.fullmatch(value))


def _rejoin_comma_numbers(
    fields: list[str], specs: list[Mapping[str, Any]]
) -> list[tuple[int, str]] | None:
    """Where unquoted commas inside numbers split a row, if only one reading fits the types.

    Adjacent fields may be joined back with their comma only in a numeric column and only when
    the joined text reads as a number written with a comma (``1,062``, ``2,5``); every other
    field must fit its column's type. ``ways[c][i]`` counts (up to 2) the readings of columns
    ``c..`` from fields ``i..``; exactly one reading names the split cells, otherwise None.
    """
    n_cols, n_fields = len(specs), len(fields)
    ways = np.zeros((n_cols + 2, n_fields + 2), dtype=int)
    ways[n_cols, n_fields] = 1
    for c in range(n_cols - 1, -1, -1):
        kind = specs[c]["type"]
        numeric = kind in ("integer", "number")
        for i in range(n_fields - 1, -1, -1):
            total = ways[c + 1, i + 1] if _fits(fields[i], specs[c]) else 0
            joined = f"{fields[i]},{fields[i + 1]}" if i + 1 < n_fields else ""
            if numeric and joined and _comma_number(joined, kind):
                total += ways[c + 1, i + 2]
            ways[c, i] = min(total, 2)
    if ways[0, 0] != 1:
        return None
    joined, i = [], 0
    for c in range(n_cols):
        if _fits(fields[i], specs[c]) and ways[c + 1, i + 1]:
            i += 1
        else:
            joined.append((c, f"{fields[i]},{fields[i + 1]}"))
            i += 2
    return joined


def _fits(value: str, spec: Mapping[str, Any]) -> bool:
    """Whether a cell reads as a value of its column's type (blank always does)."""
    text = value.strip()
    if not text:
        return True
    kind = spec["type"]
    if kind in ("integer", "number"):
        if not _NUMBER.fullmatch(text) or not math.isfinite(float(text)):
            return False
        return kind == "number" or float(text) == round(float(text))
    if kind == "category":
        return text in spec.get("values", [])
    if kind == "date":
        return bool(_ISO_DATE.fullmatch(text))
    return True


def _number_expected(value: str, kind: str) -> str:
    """What a cell that is not a number of its kind should be, with a hint at the likely cause."""
    base = "a whole number" if kind == "integer" else "a number"
    text = value.strip()
    if _GROUPED.fullmatch(text) and text.count(",") == 1 and "." not in text:
        plain, point = text.replace(",", ""), text.replace(",", ".")
        return (
            f"{base} without a comma: {plain} if the comma separates thousands, {point} if it "
            "is a decimal comma"
        )
    if _GROUPED.fullmatch(text):
        return f"{base} without thousands separators ({text.replace(',', '')})"
    if _DECIMAL_COMMA.fullmatch(text):
        return f"{base} with a decimal point, not a decimal comma ({text.replace(',', '.')})"
    if text.lower() in _MISSING_WORDS:
        return f"{base}, or an empty cell for a missing value ({text!r} is not read as missing)"
    if text.lower() in _NOT_FINITE or (_NUMBER.fullmatch(text) and math.isinf(float(text))):
        return f"{base} (a finite one)"
    if text.startswith("#"):
        return f"{base} ({text} is a spreadsheet error value)"
    if text.endswith("%") and _NUMBER.fullmatch(text[:-1].strip()):
        return f"{base} without a % sign"
    return base


def _read_typed(config: Config, name: str, path: Path) -> tuple[pd.DataFrame | None, list[Problem]]:
    """The table with its declared types, index = line of each record; or why it cannot be."""
    file = path.name
    text, problems = _read_text(path, name)
    if text is None:
        return None, problems
    columns = table_columns(config, name)
    header, lines, problems = _split_records(text, file, columns)
    if problems:
        return None, problems
    if not lines:
        return _unreadable(file, "at least one data row")
    cells = pd.read_csv(
        io.StringIO(text, newline=""),
        dtype=str,
        keep_default_na=False,
        na_values=[],
        skip_blank_lines=True,
    )
    if len(cells) != len(lines):  # the two readers disagree: never guess which is right
        return _unreadable(
            file,
            f"a plainly formatted CSV file ({len(lines)} records by one reader, {len(cells)} by "
            "another)",
        )
    cells.index = pd.Index(lines, name="line")
    numeric = [c for c, spec in columns.items() if spec["type"] in ("integer", "number")]
    typed, bad = _convert_numbers(cells[numeric], [columns[c]["type"] for c in numeric])
    identifiers = _identifier_columns(config, name)
    for column, spec in columns.items():
        if column not in typed:
            typed[column], found = _convert(cells[column], spec, column in identifiers)
            bad += [(line, column, value, why) for line, value, why in found]
    problems += [Problem(file, line, column, value, why) for line, column, value, why in bad]
    return pd.DataFrame(typed, index=cells.index)[header], problems  # the file's column order


def _identifier_columns(config: Config, name: str) -> set[str]:
    """Columns holding IDs: the key, the links to other tables and the design's ID columns."""
    spec = config["tables"][name]
    design = config["design"]
    return {
        *spec["key"],
        *spec.get("references", {}),
        design["cluster_id"],
        design["individual_id"],
    }


def _convert_numbers(
    cells: pd.DataFrame, kinds: list[str]
) -> tuple[dict[str, pd.Series], list[tuple[int, str, str, str]]]:
    """Numeric columns as numbers, all at once, and every cell that is not a number of its kind.

    Spaces around a number are accepted, and so is a whole number written with decimals
    (``3.0``) in an integer column; an empty cell is missing.
    """
    text = cells.to_numpy(dtype=object)
    flat = pd.Series(text.ravel(), dtype=str).str.strip()
    blank = (flat == "").to_numpy().reshape(text.shape)
    numbers = pd.to_numeric(flat, errors="coerce").to_numpy(dtype=float).reshape(text.shape)
    whole = np.array([kind == "integer" for kind in kinds], dtype=bool)
    with np.errstate(invalid="ignore"):  # whole numbers: exact in a float, so below 2**53
        fine = np.isfinite(numbers) & (
            ~whole | ((numbers == np.round(numbers)) & (abs(numbers) < 2**53))
        )
    numbers = np.where(fine, numbers, np.nan)
    typed = {}
    for j, column in enumerate(cells.columns):
        values = pd.Series(numbers[:, j], index=cells.index)
        typed[column] = values.round().astype("Int64") if whole[j] else values
    bad = [
        (cells.index[i], cells.columns[j], text[i, j], _number_expected(text[i, j], kinds[j]))
        for i, j in zip(*np.nonzero(~blank & ~fine), strict=True)
    ]
    return typed, bad


def _convert(
    text: pd.Series, spec: Mapping[str, Any], identifier: bool
) -> tuple[pd.Series, list[tuple[int, str, str]]]:
    """A text or date column's cells as their declared type, and every cell that is not."""
    stripped = text.str.strip()
    blank = stripped == ""
    kind = spec["type"]
    if kind == "date":
        fine = stripped.str.fullmatch(_ISO_DATE.pattern)
        dates = pd.to_datetime(stripped.where(fine), format="%Y-%m-%d", errors="coerce")
        bad = ~blank & dates.isna()
        return dates, [(line, text[line], "a date YYYY-MM-DD") for line in text.index[bad]]
    values = text.astype(object).where(~blank, np.nan)
    padded = ~blank & (text != stripped)
    problems = []
    if kind == "category":
        codes = spec.get("values", [])
        for line in text.index[padded & stripped.isin(codes)]:
            problems.append((line, text[line], f"{stripped[line]!r} without the spaces around it"))
    elif identifier:
        for line in text.index[padded]:
            problems.append((line, text[line], "an ID without spaces at either end"))
    return values, problems


# ---------------------------------------------------------------------------------------------
# One table: its columns' codes, ranges, missingness and key
# ---------------------------------------------------------------------------------------------


def _check_table(
    config: Config, name: str, path: Path
) -> tuple[pd.DataFrame | None, list[Problem]]:
    frame, problems = _read_typed(config, name, path)
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


# ---------------------------------------------------------------------------------------------
# Across tables
# ---------------------------------------------------------------------------------------------


def _file(config: Config, table: str) -> str:
    return str(config["tables"][table]["file"])


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
            for line in frame.index[bad]:
                problems.append(
                    Problem(
                        spec["file"],
                        int(line),
                        column,
                        frame.at[line, column],
                        f"a {target_key} listed in {_file(config, target)}",
                    )
                )
    return problems


def _check_date_order(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    problems = []
    for name, spec in config["tables"].items():
        if name not in frames:
            continue
        frame = frames[name]
        for earlier, later in spec.get("date_order", []):
            # unreadable dates are missing here (reported by the column checks)
            for line in frame.index[frame[later] < frame[earlier]]:
                problems.append(
                    Problem(
                        spec["file"],
                        int(line),
                        later,
                        frame.at[line, later].strftime("%Y-%m-%d"),
                        f"a date on or after {earlier} "
                        f"({frame.at[line, earlier].strftime('%Y-%m-%d')})",
                    )
                )
    return problems


def _check_design(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    design = config["design"]
    clusters = frames.get(design["cluster_table"])
    if clusters is None:
        return []
    file = _file(config, design["cluster_table"])
    problems = _schedule_problems(config, clusters)
    counts = clusters[design["arm"]].value_counts()
    # in a scheduled design the arm column holds the first period's condition only
    for arm in arms(config) if not problems and design_type(config) == "parallel" else ():
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
        file_p = _file(config, config["participation"]["table"])
        for line, cluster in participation[design["cluster_id"]].items():
            if arm_of.get(cluster) not in treatment_arms(config):
                problems.append(
                    Problem(
                        file_p,
                        int(line),
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
                    _file(config, design["individual_table"]),
                    None,
                    design["cluster_id"],
                    cluster,
                    "at least one individual in every randomised cluster",
                )
            )
    return problems


def _schedule_problems(config: Config, clusters: pd.DataFrame) -> list[Problem]:
    """The problems of a stepped-wedge or crossover schedule (none for a parallel design)."""
    if design_type(config) not in SCHEDULED_TYPES:
        return []
    return [Problem(*p) for p in read_schedule(config, clusters, clusters.index)[1]]


def _arm_of_individuals(
    config: Config, clusters: pd.DataFrame, people: pd.DataFrame
) -> pd.Series | None:
    """Each individual's arm by ID: their cluster's, or in a scheduled design the condition of
    their cluster in the period they were sampled in (None when the schedule has problems)."""
    design = config["design"]
    cid, pid = design["cluster_id"], design["individual_id"]
    if design_type(config) not in SCHEDULED_TYPES:
        return people.set_index(pid)[cid].map(clusters.set_index(cid)[design["arm"]])
    schedule, _ = read_schedule(config, clusters, clusters.index)
    if schedule is None:
        return None
    rows, cols = schedule.cells(people[cid].tolist(), people[design["period"]].tolist())
    known = (rows >= 0) & (cols >= 0)  # other IDs and periods are the reference checks' problems
    treated = schedule.treated[rows[known], cols[known]]
    (treatment,) = treatment_arms(config)
    return pd.Series(
        np.where(treated, treatment, design["reference_arm"]),
        index=people.loc[known, pid].to_numpy(),
    )


def _check_consistency(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """Records that contradict each other across tables (rules of the ``consistency`` section)."""
    return [
        *_check_followup_data(config, frames),
        *_check_one_cluster(config, frames),
        *_check_unit_costs(config, frames),
        *_check_audit_records(config, frames),
        *_check_observed_outcomes(config, frames),
        *_check_covariate_blanks(config, frames),
    ]


def _data_columns(config: Config, table: str, frame: pd.DataFrame) -> list[str]:
    """Columns that hold measurements: neither the key nor a link to another table."""
    spec = config["tables"][table]
    return [c for c in frame.columns if c not in {*spec["key"], *spec.get("references", {})}]


def _check_followup_data(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """Follow-up status against follow-up data, both ways (``consistency/followup_data``)."""
    design = config["design"]
    rule = consistency_settings(config)["followup_data"]
    people = frames.get(design["individual_table"])
    if people is None or any(t not in frames for t in rule["tables"]):
        return []
    pid, status, tp = design["individual_id"], design["followup_status"], design["timepoint"]
    found: dict[object, tuple[str, int]] = {}  # individual -> first file and line of their data
    for table in rule["tables"]:
        frame = frames[table]
        rows = frame[frame[tp] == design["followup"]]
        measured = _data_columns(config, table, frame)
        if measured:
            rows = rows[rows[measured].notna().any(axis=1)]
        for line, person in rows[pid].items():
            found.setdefault(person, (_file(config, table), int(line)))
    where = " or ".join(_file(config, t) for t in rule["tables"])
    file = _file(config, design["individual_table"])
    completed = people[status] == design["followup_completed"]
    has_data = people[pid].isin(list(found))
    problems = []

    def add(line: int, expected: str) -> None:
        problems.append(Problem(file, int(line), status, people.at[line, status], expected))

    if rule["completed_without_data"] == "error":
        for line in people.index[completed & ~has_data]:
            add(
                line,
                f"follow-up data for {pid} {people.at[line, pid]!r} at {tp} "
                f"{design['followup']!r} in {where} (none found), or a reason for loss",
            )
    if rule["lost_with_data"] == "error":
        for line in people.index[~completed & has_data]:
            data_file, data_line = found[people.at[line, pid]]
            add(
                line,
                f"{design['followup_completed']!r}, since {data_file}, line {data_line} "
                f"holds follow-up data for {pid} {people.at[line, pid]!r}",
            )
    return problems


def _cluster_columns(config: Config, table: str) -> list[str]:
    """Columns of a table that name a cluster (links to the cluster table)."""
    cluster_table = config["design"]["cluster_table"]
    refs = config["tables"][table].get("references", {})
    return [column for column, target in refs.items() if target == cluster_table]


def _check_one_cluster(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """Every listed ID belongs to one cluster in every table that gives it one."""
    design = config["design"]
    problems = []
    for id_column in consistency_settings(config)["one_cluster_per"]:
        parts = []
        for table, frame in frames.items():
            if id_column not in frame.columns:
                continue
            for column in _cluster_columns(config, table):
                part = frame[[id_column, column]].dropna().set_axis(["id", "cluster"], axis=1)
                parts.append(part.assign(file=_file(config, table), column=column, line=part.index))
        if not parts:
            continue
        pairs = pd.concat(parts, ignore_index=True)
        first = pairs.groupby("id", sort=False).transform("first")
        for i in pairs.index[pairs["cluster"] != first["cluster"]]:
            problems.append(
                Problem(
                    pairs.at[i, "file"],
                    int(pairs.at[i, "line"]),
                    pairs.at[i, "column"],
                    pairs.at[i, "cluster"],
                    f"{first.at[i, 'cluster']!r} as on line {first.at[i, 'line']} of "
                    f"{first.at[i, 'file']} ({id_column} {pairs.at[i, 'id']!r} belongs to one "
                    f"{design['cluster_label']})",
                )
            )
    return problems


def _check_unit_costs(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """A unit cost for every service used, unless ``costs/missing_unit_cost`` is ``zero``."""
    spec = config.get("costs")
    if not spec or spec.get("missing_unit_cost", "error") != "error":
        return []
    use, prices = frames.get(spec["use_table"]), frames.get(spec["unit_cost_table"])
    if use is None or prices is None:
        return []
    used = use[spec["service"]].value_counts()
    problems = []
    for line in prices.index[prices[spec["unit_cost"]].isna()]:
        service = prices.at[line, spec["service"]]
        if used.get(service, 0):
            problems.append(
                Problem(
                    _file(config, spec["unit_cost_table"]),
                    int(line),
                    spec["unit_cost"],
                    "",
                    f"a unit cost for {service!r}, which {used[service]} rows of "
                    f"{_file(config, spec['use_table'])} use (or set "
                    "costs/missing_unit_cost: zero to cost it at 0)",
                )
            )
    return problems


def _check_audit_records(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """An audit record is scored exactly when it is marked available."""
    spec = config.get("audit")
    frame = frames.get(spec["table"]) if spec else None
    if frame is None:
        return []
    file, available, code = _file(config, spec["table"]), spec["available"], spec["available_code"]
    items = list(spec["items"])
    scored = frame[items].notna()
    is_available = frame[available] == code
    problems = []
    for line in frame.index[~is_available & scored.any(axis=1)]:
        item = next(i for i in items if scored.at[line, i])
        value = frame.at[line, available]
        problems.append(
            Problem(
                file,
                int(line),
                available,
                "" if pd.isna(value) else value,
                f"{code!r} when items are scored ({item} = {frame.at[line, item]})",
            )
        )
    for line in frame.index[is_available & ~scored.any(axis=1)]:
        problems.append(
            Problem(
                file,
                int(line),
                available,
                code,
                f"at least one of {items} scored when the "
                "record is available, or the code of a record that could not be audited",
            )
        )
    return problems


def _check_covariate_blanks(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """A blank in a covariate is refused unless the config declares how blanks are handled
    (``analysis.covariate_missing``): the models would otherwise fail long after validation."""
    design = config["design"]
    declared = covariate_missing(config)
    problems = []
    for table in (design["individual_table"], design["cluster_table"]):
        frame = frames.get(table)
        if frame is None:
            continue
        for column in all_covariates(config):
            if column in declared or column not in frame:
                continue
            for line in frame.index[frame[column].isna()]:
                problems.append(
                    Problem(
                        _file(config, table),
                        int(line),
                        column,
                        "",
                        f"a value: {column!r} is a covariate of the outcome models and no "
                        "handling of its blanks is declared (analysis/covariate_missing: mean "
                        "or indicator)",
                    )
                )
    return problems


def _check_observed_outcomes(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """Every arm has an observed follow-up score of every outcome (else it would all be imputed)."""
    design = config["design"]
    clusters = frames.get(design["cluster_table"])
    people = frames.get(design["individual_table"])
    if clusters is None or people is None:
        return []
    pid, tp = design["individual_id"], design["timepoint"]
    arm_of = _arm_of_individuals(config, clusters, people)
    if arm_of is None:  # the schedule's own problems are reported by _check_design
        return []
    missing: dict[tuple[str, str], list[str]] = {}  # (arm, table) -> outcomes it lacks
    for outcome in config["analysis"]["outcomes"]:
        scale = config["scales"][outcome["scale"]]
        frame = frames.get(scale["table"])
        if frame is None:
            continue
        rows = frame[frame[tp] == design["followup"]]
        observed = rows.loc[score_scale(rows, scale).notna().to_numpy(), pid]
        present = set(arm_of.reindex(observed.to_numpy()).dropna())
        name = repr(outcome["scale"]) + (
            " (the primary outcome)" if outcome["role"] == "primary" else ""
        )
        for arm in (a for a in arms(config) if a not in present):
            missing.setdefault((arm, scale["table"]), []).append(name)
    problems = []
    for (arm, table), names in missing.items():
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        problems.append(
            Problem(
                _file(config, design["cluster_table"]),
                None,
                design["arm"],
                arm,
                f"an observed follow-up score of {listed} for at least one "
                f"{design['individual_label']} of every arm; {_file(config, table)} has none at "
                f"{tp} {design['followup']!r}",
            )
        )
    return problems
