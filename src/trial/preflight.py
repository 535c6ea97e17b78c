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

from trial.analysis import build_analysis_table
from trial.config import ConfigError, read_config_file, validate_config
from trial.impute.model import ImputationModelError, check_imputation_model
from trial.validation import InputError, validate_inputs

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
    # Checked by the imputation jobs too, but here once, before any job: e.g. imputation.m of 1
    # with values missing, or an analysis term absent from the imputation model.
    try:
        check_imputation_model(config, build_analysis_table(config))
    except ImputationModelError as exc:
        return (
            f"{exc}\nhint: correct the config {config_path} (or the data, where they are wrong) "
            "and rerun"
        )
    return None


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
