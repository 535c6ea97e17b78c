"""The one reader and writer of the tables that workflow rules pass to each other.

A table written by one rule (the analysis table, each completed data set and its trace, the fits
of each imputation, bootstrap chunks, the staff, audit and participation tables, simulation
chunks) is read back by the next. These tables are Parquet files, so that every column keeps its
type between rules: numbers stay numbers at full precision, booleans stay booleans, and every
column that the config declares as text (``string`` or ``category``) is stored as text, exactly
as written. A CSV reader left to guess would read category codes such as "1".."80" or "007" as
integers, and every comparison with the declared codes would then be false (every stratum dummy
0); no such guess is made here, and a code such as ``NA`` stays a code (only a missing value is
missing). Tables for people (``reports/``, what ``trial verify`` compares) stay CSV and are not
written here.

Two runs on the same inputs write byte-identical files: the Parquet metadata hold the library
versions and the column types, no time or path.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trial.config.vocabulary import Config

SUFFIX = ".parquet"  # of every file written here


def text_columns(config: Config) -> set[str]:
    """Every column name that some table of the config declares as text (string or category)."""
    return {
        column
        for spec in config["tables"].values()
        for column, col in spec["columns"].items()
        if col["type"] in ("string", "category")
    }


def write_intermediate(config: Config, frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table for a later rule, declared text columns as text.

    Parameters
    ----------
    config : dict
        The trial config, whose ``tables`` declare the column types.
    frame : pandas.DataFrame
        The table; its index is not written (a later rule reads a fresh ``RangeIndex``).
    path : str or Path
        The ``.parquet`` file to write.

    Raises
    ------
    TypeError
        A column the config declares as text holds something other than text or a missing
        value (a code turned into a number on the way would otherwise be written as a number).
    """
    path = Path(path)
    if path.suffix != SUFFIX:
        raise ValueError(f"{path}: a table passed between rules is a {SUFFIX} file")
    declared = [column for column in frame.columns if column in text_columns(config)]
    for column in declared:
        values = frame[column]
        if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
            continue
        wrong = values[values.notna() & ~values.map(lambda v: isinstance(v, str))]
        if len(wrong):
            raise TypeError(
                f"{path.name}: column {column!r} is declared as text in the config but holds "
                f"{wrong.iloc[0]!r} ({type(wrong.iloc[0]).__name__}) on row {wrong.index[0]}"
            )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for column in declared:  # a column with no value at all is still text
        i = table.schema.get_field_index(column)
        table = table.set_column(i, pa.field(column, pa.string()), table[i].cast(pa.string()))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def read_intermediate(config: Config, path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_intermediate`, declared text columns as text.

    Parameters
    ----------
    config : dict
        The trial config, whose ``tables`` declare the column types.
    path : str or Path
        A ``.parquet`` file written by a rule.

    Returns
    -------
    pandas.DataFrame
        Every column with the type it was written with; declared text columns hold Python
        strings (missing values NaN), as ``trial.data.validation.read_table`` gives them.
    """
    frame = pq.read_table(path).to_pandas()
    for column in text_columns(config) & set(frame.columns):
        values = frame[column].astype(object)
        frame[column] = values.where(values.notna(), float("nan"))
    return frame


def read_intermediates(config: Config, paths: Iterable[str | Path]) -> list[pd.DataFrame]:
    """Read several tables written by :func:`write_intermediate` (one per imputation or chunk)."""
    return [read_intermediate(config, path) for path in paths]
