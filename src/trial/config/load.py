"""Loading and checking a trial configuration.

The config file is read strictly (a key given twice, a tab or a YAML error is named by line and
column), checked against the JSON Schema in ``schemas/config.schema.yaml`` (package data, its
defaults filled in), then against the cross-checks a schema cannot express
(:mod:`trial.config.checks`); every problem is reported at once.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from trial.config.checks import cross_reference_problems
from trial.config.vocabulary import Config

if TYPE_CHECKING:  # imported on use: only the process that checks a config needs it
    import jsonschema

# Package data, so that an installed copy (not only a checkout) can check a config.
SCHEMA_PATH = resources.files("trial.config") / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration {source}: {len(problems)} problem(s)\n{lines}")


def load_config(path: str | Path) -> Config:
    """Read a YAML config file and validate it; raise :class:`ConfigError` if invalid."""
    config = read_config_file(path)
    validate_config(config, source=str(path))
    return config


def read_config_file(path: str | Path) -> Config:
    """The mapping a YAML config file holds, read strictly (no validation of its keys).

    Unlike a plain YAML load, a key given twice in one mapping is an error (YAML would keep the
    last one silently), and every error names the file, line and column.

    Raises
    ------
    ConfigError
        The file does not exist or cannot be read, is not UTF-8, is not valid YAML, gives a key
        twice, is empty, or does not hold a mapping at its top level.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(str(path), ["the config file does not exist"]) from None
    except IsADirectoryError:
        raise ConfigError(str(path), ["this is a folder, not a config file"]) from None
    except PermissionError:
        raise ConfigError(str(path), ["the file cannot be read (permission denied)"]) from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(str(path), [f"line {line}: not UTF-8 text ({exc.reason})"]) from None
    loader = _StrictLoader(text)
    try:
        config = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(str(path), [_describe_yaml_error(text, exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError(str(path), [message for _, message in sorted(loader.duplicates)])
    if config is None:
        raise ConfigError(
            str(path),
            ["the file is empty; a config is a mapping of keys (trial, seed, paths, ...)"],
        )
    if not isinstance(config, dict):
        raise ConfigError(
            str(path),
            [f"the top level must be a mapping of keys to values, not a {type(config).__name__}"],
        )
    return config


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that records every key given twice in the same mapping."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            mark = key_node.start_mark
            if key in seen:
                self.duplicates.append(
                    (
                        mark.line,
                        f"line {mark.line + 1}, column {mark.column + 1}: key {key!r} is given a "
                        f"second time (first on line {seen[key]}); YAML would silently keep only "
                        "the last value",
                    )
                )
            else:
                seen[key] = mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _describe_yaml_error(text: str, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return f"not valid YAML: {exc}"
    problem = " ".join(str(part) for part in (exc.context, exc.problem) if part)
    lines = text.splitlines()
    at = lines[mark.line][mark.column : mark.column + 1] if mark.line < len(lines) else ""
    hint = " (indent with spaces; YAML does not allow tabs)" if at == "\t" else ""
    return f"line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {problem}{hint}"


def validate_config(config: Mapping[str, Any], *, source: str = "config") -> None:
    """Check ``config`` against the schema and its cross-references; list all problems.

    Keys the schema gives a ``default`` and the config leaves out are filled in, in place (as
    ``snakemake.utils.validate`` does with ``set_default=True``), so that the workflow, the
    scripts and the report all see the value that was used.
    """
    problems = schema_problems(config)
    if problems:
        raise ConfigError(source, problems)
    problems = cross_reference_problems(config)
    if problems:
        raise ConfigError(source, problems)


def schema_problems(config: Mapping[str, Any]) -> list[str]:
    """Every way ``config`` departs from the schema, sorted, each starting with its key path
    (``(top level)`` for the top level); the schema's defaults are filled in, in place."""
    return sorted(_describe_schema_error(e) for e in _schema_validator().iter_errors(config))


def _fill_defaults(validator, properties, instance, schema):  # type: ignore[no-untyped-def]
    """The ``properties`` keyword, filling absent keys that have a ``default`` first."""
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if isinstance(subschema, dict) and "default" in subschema:
                instance.setdefault(name, copy.deepcopy(subschema["default"]))
    import jsonschema

    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](
        validator, properties, instance, schema
    )


@functools.cache
def _schema_validator() -> jsonschema.protocols.Validator:
    import jsonschema

    filling = jsonschema.validators.extend(
        jsonschema.Draft202012Validator, {"properties": _fill_defaults}
    )
    with SCHEMA_PATH.open(encoding="utf-8") as handle:
        return filling(yaml.safe_load(handle))


def _describe_schema_error(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message} (check the spelling against the documented keys)"
    if error.validator == "oneOf" and error.absolute_path and error.absolute_path[0] == "scales":
        return (
            f"{where}: declare either items, item_range, method and min_fraction (a scale scored "
            "from items) or column (a single-variable outcome read from one numeric column), "
            "not both"
        )
    return f"{where}: {error.message}"
