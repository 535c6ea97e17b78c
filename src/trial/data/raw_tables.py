"""Reading a raw table: bytes -> text -> records of the right width -> typed cells.

Reading is strict. Python's ``csv`` module first splits each file into records and counts their
fields, so that a short row (a truncated line, a missing field) or a long one (a stray comma, an
unquoted number written ``1,062``) stops with its line before pandas could pad it with blanks or
shift it into an index; only a file whose every row matches its header is handed to pandas, as
text. Each cell is then converted to its declared type here, not by pandas or pandera: a number
may carry spaces around it and a whole number may be written ``3.0``, but a thousands separator,
a decimal comma, a word for missing (``NA``, ``NaN``) or a spreadsheet error value is refused with
a message saying what to write instead. The typed table has one row per record and the record's
line in the file as its index.

A problem is a :class:`Problem` (file, line, column, value, what was expected); every check of
the raw data returns them, and :class:`InputError` lists them by file.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.config.vocabulary import Config

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

    The file is read as strictly as :func:`trial.data.validation.validate_inputs` reads it (the same
    records, the same conversions), so the analysis sees exactly the values that were validated.

    Raises
    ------
    InputError
        The file cannot be read, a row has the wrong number of fields, or a cell is not of its
        column's declared type.
    """
    spec = config["tables"][name]
    path = Path(raw_dir or config["paths"]["raw"]) / spec["file"]
    frame, problems = read_typed(config, name, path)
    if problems or frame is None:
        raise InputError(problems)
    return frame.reset_index(drop=True)


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


def read_typed(config: Config, name: str, path: Path) -> tuple[pd.DataFrame | None, list[Problem]]:
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
