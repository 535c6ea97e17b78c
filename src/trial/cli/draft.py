"""Drafting a new trial's config from its data files.

``trial draft-config DATA_DIR`` reads every CSV file's header and values and writes the
``tables`` section (types, allowed codes, ranges, keys, links between tables) with the design,
scales and outcomes left as marked placeholders for the methodologist to fill in. Inference is a
starting point: every guessed key carries a comment saying it was guessed.
"""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

import pandas as pd

_MAX_CODES = 12  # a text column with at most this many distinct values is drafted as a category


def draft_config(data_dir: str | Path) -> str:
    """A commented YAML draft of a config for the CSV files in ``data_dir``."""
    folder = Path(data_dir)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no .csv files in {folder}")
    frames = {
        _table_name(p): pd.read_csv(
            p, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
        )
        for p in files
    }
    keys = {name: _guess_key(frame) for name, frame in frames.items()}
    lines = [
        "# Draft config written by `trial draft-config` from the headers and values of the data.",
        "# Every guessed entry is marked GUESSED: check it. Sections marked TODO must be written.",
        "# The meaning of every key is in docs/configuring-a-trial.md.",
        "trial:",
        "  name: TODO                         # short name shown in titles",
        "  title: TODO                        # full title",
        "  synthetic: false                   # true only for generated example data",
        "seed: 1                              # the single seed of every random draw",
        "paths:",
        f"  raw: {folder.as_posix()}",
        f"  derived: data/derived/{folder.name}",
        f"  reports: reports/{folder.name}",
        "design:                              # TODO: name the cluster and individual tables",
        "  cluster_table: TODO",
        "  cluster_id: TODO",
        "  cluster_label: cluster",
        "  arm: TODO",
        "  reference_arm: TODO",
        "  treatment_arms: [TODO]",
        "  arm_labels: {}",
        "  strata: []",
        "  individual_table: TODO",
        "  individual_id: TODO",
        "  individual_label: participant",
        "  timepoint: TODO",
        "  baseline: TODO                     # leave out if there is no baseline wave (post-only)",
        "  followup: TODO",
        "  followup_status: TODO",
        "  followup_completed: TODO",
        "estimands:                           # TODO: what the effects are about (see docs)",
        "  population: TODO",
        "  level: individual                  # individual- or cluster-average effect",
        "  intercurrent_events: []            # TODO: e.g. death, with a strategy for outcomes",
        "tables:",
    ]
    for name, frame in frames.items():
        lines += [
            f"  {name}:",
            f"    file: {name}.csv",
            "    description: TODO",
            f"    key: [{', '.join(keys[name])}]        # GUESSED: first column(s) unique together",
        ]
        references = _guess_references(name, frame, frames, keys)
        if references:
            joined = ", ".join(f"{c}: {t}" for c, t in references.items())
            lines.append(f"    references: {{{joined}}}   # GUESSED: every value found there")
        lines.append("    columns:")
        referenced = any(
            name in _guess_references(o, frames[o], frames, keys).values() for o in frames
        )
        top_level = referenced and not references  # e.g. the table of clusters
        for column in frame.columns:
            identifier = column == keys[name][0] or column in references or _looks_like_id(column)
            spec, why = _column_spec(
                frame[column], identifier=identifier, unit=referenced, top=top_level
            )
            lines.append(f"      {column}: {spec}   # GUESSED{why}")
    lines += [
        "scales: {}                           # TODO: item columns move here, with scoring rules",
        "covariates: []",
        "imputation:",
        "  engine: multilevel",
        "  m: 20",
        "  iterations: 20",
        "analysis:",
        "  df_method: kenward-roger",
        "  alpha: 0.05",
        "  outcomes: []                       # TODO: at least one primary outcome scale",
        "",
    ]
    return "\n".join(lines)


def _table_name(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)
    return name if re.match(r"[A-Za-z_]", name) else f"t_{name}"


def _guess_key(frame: pd.DataFrame) -> list[str]:
    """The smallest set of leading columns (up to three of the first four) unique together."""
    leading = list(frame.columns[:4])
    for width in (1, 2, 3):
        for columns in combinations(leading, width):
            chosen = list(columns)
            if frame[chosen].notna().all().all() and not frame.duplicated(chosen).any():
                return chosen
    return leading[:1]


def _guess_references(
    name: str, frame: pd.DataFrame, frames: dict[str, pd.DataFrame], keys: dict[str, list[str]]
) -> dict[str, str]:
    references = {}
    for other, other_frame in frames.items():
        key = keys[other]
        if other == name or len(key) != 1 or key[0] not in frame.columns:
            continue
        if keys[name] == key:
            continue
        values = set(frame[key[0]].dropna())
        if values and values <= set(other_frame[key[0]].dropna()):
            references[key[0]] = other
    return references


def _looks_like_id(column: str) -> bool:
    """Whether a column's name says it holds identifiers (``id``, ``*_id``, ``*_no``...)."""
    return bool(re.search(r"(^|_)(id|no|number)$", column, flags=re.IGNORECASE))


def _column_spec(values: pd.Series, *, identifier: bool, unit: bool, top: bool) -> tuple[str, str]:
    """The drafted spec of one column, and why it was drafted so when that is not obvious.

    ``identifier``: the column is the table's key or a link to another table, or is named like
    one; ``unit``: other tables refer to its table (a table of clusters or individuals);
    ``top``: besides, it refers to no other table (a table of clusters).
    """
    present = values.dropna()
    missing = ", missing: allowed" if values.isna().any() else ""
    numbers = pd.to_numeric(present, errors="coerce")
    codes = sorted(present.unique())
    numeric = bool(len(present)) and bool(numbers.notna().all())
    if identifier:
        why = ""
        if numeric:
            why = ": text, not a number: it identifies rows (so that codes like 007 keep zeros)"
        return f"{{type: string{missing}, description: TODO}}", why
    whole = numeric and (numbers == numbers.round()).all() and not present.str.contains(r"\.").any()
    few = 2 <= len(codes) <= _MAX_CODES and len(codes) < len(present)
    shared = 2 <= len(codes) <= len(present) / 2  # each code on two rows or more, on average
    if whole and unit and (few or (top and shared)):
        # A number code of a stratum, arm or group (1..80 for 80 schools) entered as an integer
        # would be one linear term in the code; as a category each code has its own term.
        listed = ", ".join(f'"{c}"' for c in sorted(codes, key=float))
        why = (
            f": category, not integer: {len(codes)} whole-number codes shared by rows of a table "
            "that other tables refer to (a stratum, arm or group?), so that each code gets its "
            "own term in a model; make it integer only for a count or a measurement"
        )
        return f"{{type: category, values: [{listed}]{missing}, description: TODO}}", why
    if numeric:
        kind = "integer" if whole else "number"
        return (
            f"{{type: {kind}, min: {numbers.min():g}, max: {numbers.max():g}{missing}, "
            "description: TODO}",
            "",
        )
    if 0 < len(codes) <= _MAX_CODES:
        listed = ", ".join(f'"{c}"' for c in codes)
        why = (
            f": category: {len(codes)} text code(s), at most {_MAX_CODES}; every value is checked "
            "against the list, and each code gets its own term in a model"
        )
        return f"{{type: category, values: [{listed}]{missing}, description: TODO}}", why
    return f"{{type: string{missing}, description: TODO}}", ""
