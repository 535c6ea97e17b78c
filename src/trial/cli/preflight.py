"""The checks run before any job: the config file, the config, every raw table, then the
analysis table against the imputation and analysis models.

``trial validate CONFIG`` and the workflow (the Snakefile, before any rule runs) call these, so
that a broken config or broken data gives one screen: every problem of every stage that could be
checked (the config's, each raw table's grouped by file, the models'), the checks that could
not run because an earlier one failed and why, a one-line hint, exit code 2 and no traceback.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from trial.analyses.imputation import ImputationModelError, check_imputation_model
from trial.analyses.outcomes import build_analysis_table
from trial.config.checks import cross_reference_problems
from trial.config.load import ConfigError, read_config_file, schema_problems
from trial.config.schedule import design_type
from trial.config.vocabulary import Config, allocation_strata, unit_plural
from trial.data.validation import InputCheck, InputError, check_inputs

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


# The config sections that reading and checking a raw table needs to match the schema.
DATA_SECTIONS = ("paths", "tables", "design", "scales")


@dataclass(frozen=True)
class Findings:
    """Every problem the checks before any job found, by stage, and the checks that could not run.

    Attributes
    ----------
    blocks
        One message per stage with problems (the config, the raw tables, the models), each
        listing its problems (grouped by file for the raw tables).
    skipped
        Each check that could not run because an earlier one failed, with why.
    hints
        What to correct, one per stage with problems.
    """

    blocks: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()

    def screen(self, config_path: str | Path) -> str | None:
        """The error screen: every block, the checks not run, one hint line; None if valid."""
        if not self.blocks:
            return None
        lines = list(self.blocks)
        if self.skipped:
            lines.append(
                f"not checked ({len(self.skipped)}), until the problems above are corrected:"
            )
            lines += [f"  - {s}" for s in self.skipped]
        hint = "; ".join(self.hints) + " and rerun"
        if any(h.startswith("correct the files") for h in self.hints):
            hint += f"; `trial validate {config_path}` checks them without running anything"
        lines.append(f"hint: {hint}")
        return "\n".join(lines)


def problems_screen(config_path: str | Path, config: Mapping[str, Any] | None = None) -> str | None:
    """The error screen for a config and its raw data, or None when both are valid.

    ``config`` is the configuration to check (e.g. the file merged with command-line values);
    by default, the file's own.
    """
    screen = config_file_screen(config_path)
    if screen:
        return screen
    config = read_config_file(config_path) if config is None else config
    return collect_problems(config_path, config).screen(config_path)


def collect_problems(config_path: str | Path, config: Mapping[str, Any]) -> Findings:
    """Run every check that can run before any job and collect what each finds.

    A check runs whenever what it reads is valid, so that independent problems are reported
    together: the config against the schema, then its cross-checks; each raw table whose part of
    the config is valid; the checks across tables and of the models once the config is valid,
    over the tables without problems of their own. Every check that cannot run says why.
    """
    blocks: list[str] = []
    skipped: list[str] = []
    hints: list[str] = []
    schema = schema_problems(config)
    cross = [] if schema else cross_reference_problems(config)
    if schema:
        skipped.append(
            "the config's cross-checks (tables, scales, outcomes, covariates, sections): they "
            "need a config that matches the schema"
        )
    if schema or cross:
        blocks.append(str(ConfigError(str(config_path), schema or cross)))
        hints.append(
            f"correct these keys in {config_path} (docs/configuring-a-trial.md explains every key)"
        )
    blocked = sorted({s for p in schema for s in _sections(p)} & set(DATA_SECTIONS))
    if blocked:
        skipped.append(
            f"every raw table: reading one needs the config's {', '.join(DATA_SECTIONS)} to "
            f"match the schema; {' and '.join(blocked)} {'does' if len(blocked) == 1 else 'do'} "
            "not"
        )
        return Findings(tuple(blocks), tuple(skipped), tuple(hints))
    config = dict(config)
    tables, unread = _tables_to_check(config, cross)
    skipped += unread
    valid_config = not (schema or cross)
    found = check_inputs(config, tables=tables, across=valid_config)
    if not valid_config:
        skipped.append("checks across tables: they need a config without problems")
    skipped += found.skipped
    if found.problems:
        blocks.append(str(InputError(found.problems)))
        hints.append(
            f"correct the files in {config['paths']['raw']} (or the config, where it is wrong)"
        )
    imputed = design_type(config) == "parallel"  # a scheduled design is analysed without it
    if imputed and not valid_config:
        skipped.append(
            "the imputation model against the analysis models, and the cluster bootstraps' "
            "clusters per arm and stratum: they need a config without problems"
        )
    elif imputed:
        model_blocks, model_skipped = _model_problems(config, found)
        blocks += model_blocks
        skipped += model_skipped
        if model_blocks:
            hints.append(f"correct the config {config_path} (or the data, where they are wrong)")
    return Findings(tuple(blocks), tuple(skipped), tuple(hints))


def _sections(problem: str) -> list[str]:
    """The top-level config sections a schema problem concerns."""
    where, _, message = problem.partition(": ")
    if where == "(top level)":  # a required or unexpected key, named in quotes
        return re.findall(r"'([^']+)'", message)
    return [where.split("/")[0]]


def _tables_to_check(config: Config, cross: list[str]) -> tuple[list[str], list[str]]:
    """The tables whose part of the config has no problem, and why each other one is not read."""
    design = config["design"]
    tables, skipped = [], []
    for name, spec in config["tables"].items():
        if any(p.startswith(f"tables/{name}/") for p in cross):
            skipped.append(f"{spec['file']}: its declaration (tables/{name}) has problems")
        elif name in (design["cluster_table"], design["individual_table"]) and any(
            p.startswith("design/") for p in cross
        ):
            skipped.append(
                f"{spec['file']}: the design's keys, which name its columns, have problems"
            )
        else:
            tables.append(name)
    return tables, skipped


def _model_problems(config: Config, found: InputCheck) -> tuple[list[str], list[str]]:
    """The checks of the imputation and bootstrap models that the data allow, and those skipped."""
    blocks, skipped = [], []
    design = config["design"]
    clusters = found.frames.get(design["cluster_table"])
    if clusters is None and configured_bootstraps(config):
        skipped.append(
            "the cluster bootstraps' clusters per arm and stratum: they need a valid "
            f"{config['tables'][design['cluster_table']]['file']}"
        )
    elif clusters is not None:
        problems = bootstrap_problems(config, clusters)
        if problems:
            lines = "\n".join(f"  - {p}" for p in problems)
            blocks.append(
                f"the cluster bootstraps cannot resample this design ({len(problems)} "
                f"problem(s)):\n{lines}"
            )
    if found.problems:
        skipped.append(
            "the imputation model against the analysis models: it needs the analysis table, "
            "built only from valid data"
        )
        return blocks, skipped
    # Checked by the imputation jobs too, but here once, before any job: e.g. imputation.m of 1
    # with values missing, or an analysis term absent from the imputation model.
    try:
        check_imputation_model(config, build_analysis_table(config))
    except ImputationModelError as exc:
        blocks.insert(0, str(exc))
    return blocks, skipped


# Sections whose cluster bootstrap resamples clusters within each arm and stratum, with the key
# that sets its number of replicates and how the schema lets it be switched off.
BOOTSTRAP_SECTIONS = {
    "icc": ("bootstrap", "set icc/bootstrap to 0"),
    "costs": ("bootstrap", "leave costs/bootstrap out"),
    "participation": ("bootstrap", "set participation/bootstrap to 0 or leave it out"),
}


def configured_bootstraps(config: Mapping[str, Any]) -> list[str]:
    """The sections of :data:`BOOTSTRAP_SECTIONS` whose cluster bootstrap the config asks for."""
    sections = []
    for section, (key, _) in BOOTSTRAP_SECTIONS.items():
        replicates = config.get(section, {}).get(key)
        if isinstance(replicates, Mapping):  # costs: {replicates: ..., chunks: ...}
            replicates = replicates.get("replicates")
        if replicates:
            sections.append(section)
    return sections


def bootstrap_problems(config: Mapping[str, Any], table: pd.DataFrame) -> list[str]:
    """Each configured cluster bootstrap that some arm and stratum, holding a single cluster,
    would make fail after the analyses (it resamples within each, and needs two clusters).

    ``table`` holds a row per cluster (the cluster table) or per individual (the analysis
    table), with the cluster, arm and strata columns."""
    design = config["design"]
    clusters = table.groupby(allocation_strata(config, table))[design["cluster_id"]].nunique()
    single = sorted(clusters.index[clusters < 2])
    problems = []
    for section in configured_bootstraps(config) if single else ():
        key, remedy = BOOTSTRAP_SECTIONS[section]
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
