"""Reading the tables that workflow rules pass to each other, with the types the config declares.

A table written by one rule (the analysis table, each completed data set, the staff and audit
tables) is read back by the next. A CSV reader left to guess would read category codes such as
"1".."80" or "007" as integers, and every comparison with the declared codes would then be false
(every stratum dummy 0). Here every column that the config declares as text (``string`` or
``category``) is read as text, exactly as written, and no code (``NA``, ``None``) is taken for a
missing value; only an empty cell is missing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trial.vocabulary import Config


def text_columns(config: Config) -> set[str]:
    """Every column name that some table of the config declares as text (string or category)."""
    return {
        column
        for spec in config["tables"].values()
        for column, col in spec["columns"].items()
        if col["type"] in ("string", "category")
    }


def read_intermediate(config: Config, path: str | Path) -> pd.DataFrame:
    """Read a table written by a workflow rule, declared text columns as text.

    Parameters
    ----------
    config : dict
        The trial config, whose ``tables`` declare the column types.
    path : str or Path
        A CSV file written by a rule with ``DataFrame.to_csv(index=False)``.

    Returns
    -------
    pandas.DataFrame
        Declared text columns hold Python strings (missing values NaN); other columns are
        numbers or booleans as written.
    """
    header = pd.read_csv(path, nrows=0).columns
    text = [c for c in header if c in text_columns(config)]
    frame = pd.read_csv(path, dtype=dict.fromkeys(text, str), keep_default_na=False, na_values=[""])
    for column in text:  # the same object columns as trial.validation.read_table gives
        frame[column] = frame[column].astype(object)
    return frame
