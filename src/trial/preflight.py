"""The checks run before any job: the config file, the config, every raw table, then the
analysis table against the imputation and analysis models.

``trial validate CONFIG`` and the workflow (the Snakefile, before any rule runs) call these, so
that a broken config or broken data gives one screen: every problem listed, a one-line hint,
exit code 2 and no traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from trial.analysis import build_analysis_table
from trial.config import ConfigError, read_config_file, validate_config
from trial.impute.model import ImputationModelError, check_imputation_model
from trial.schedule import design_type
from trial.validation import InputError, validate_inputs
from trial.vocabulary import allocation_strata, unit_plural

EXIT_INVALID = 2  # exit code of a run stopped by invalid config or data


def config_file_screen(config_path: str | Path) -> str | None:
    """The error screen for a config file that cannot be read as YAML, or None if it can."""
    try:
        read_config_file(config_path)
    except ConfigError as exc:
        return (
            f"{exc}\nhint: the config must be a readable YAML file holding one mapping of keys; "
            "correct it and rerun"
        )
    return None


def problems_screen(config_path: str | Path, config: Mapping[str, Any] | None = None) -> str | None:
    """The error screen for a config and its raw data, or None when both are valid.

    ``config`` is the configuration to check (e.g. the file merged with command-line values);
    by default, the file's own.
    """
    screen = config_file_screen(config_path)
    if screen:
        return screen
    config = read_config_file(config_path) if config is None else config
    try:
        validate_config(config, source=str(config_path))
    except ConfigError as exc:
        return (
            f"{exc}\nhint: correct these keys in {config_path} (docs/configuring-a-trial.md "
            "explains every key) and rerun"
        )
    try:
        validate_inputs(dict(config))
    except InputError as exc:
        return (
            f"{exc}\nhint: correct the files in {config['paths']['raw']} (or the config, where it "
            f"is wrong) and rerun; `trial validate {config_path}` checks them without running "
            "anything"
        )
    if design_type(config) != "parallel":  # a scheduled design is analysed without imputation
        return None
    # Checked by the imputation jobs too, but here once, before any job: e.g. imputation.m of 1
    # with values missing, or an analysis term absent from the imputation model.
    table = build_analysis_table(config)
    try:
        check_imputation_model(config, table)
    except ImputationModelError as exc:
        return (
            f"{exc}\nhint: correct the config {config_path} (or the data, where they are wrong) "
            "and rerun"
        )
    problems = bootstrap_problems(config, table)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        return (
            f"the cluster bootstraps cannot resample this design ({len(problems)} problem(s)):"
            f"\n{lines}\nhint: correct the config {config_path} and rerun"
        )
    return None


# Sections whose cluster bootstrap resamples clusters within each arm and stratum, with the key
# that sets its number of replicates and how the schema lets it be switched off.
BOOTSTRAP_SECTIONS = {
    "icc": ("bootstrap", "set icc/bootstrap to 0"),
    "costs": ("bootstrap", "leave costs/bootstrap out"),
    "participation": ("bootstrap", "set participation/bootstrap to 0 or leave it out"),
}


def bootstrap_problems(config: Mapping[str, Any], table: pd.DataFrame) -> list[str]:
    """Each configured cluster bootstrap that some arm and stratum, holding a single cluster,
    would make fail after the analyses (it resamples within each, and needs two clusters)."""
    design = config["design"]
    clusters = table.groupby(allocation_strata(config, table))[design["cluster_id"]].nunique()
    single = sorted(clusters.index[clusters < 2])
    problems = []
    for section, (key, remedy) in BOOTSTRAP_SECTIONS.items():
        replicates = config.get(section, {}).get(key)
        if isinstance(replicates, Mapping):  # costs: {replicates: ..., chunks: ...}
            replicates = replicates.get("replicates")
        if not replicates or not single:
            continue
        shown = ", ".join(single[:5]) + (f" and {len(single) - 5} more" if len(single) > 5 else "")
        problems.append(
            f"{section}/{key}: the cluster bootstrap resamples {unit_plural(design, 'cluster')} "
            f"within each arm and stratum and needs at least two in each; "
            f"{len(single)} arm/stratum group(s) have one ({shown}); {remedy}"
        )
    return problems


def stop_if_unreadable(config_path: str | Path) -> None:
    """Exit with the error screen if the config file cannot be read as YAML."""
    _stop(config_file_screen(config_path))


def stop_if_invalid(config_path: str | Path, config: Mapping[str, Any] | None = None) -> None:
    """Exit with the error screen if the config or its raw data are invalid."""
    _stop(problems_screen(config_path, config))


def _stop(screen: str | None) -> None:
    if screen:
        print(screen, file=sys.stderr)
        raise SystemExit(EXIT_INVALID)
