"""Loading and checking a trial configuration.

The JSON Schema in ``schemas/config.schema.yaml`` (package data) checks the shape of the
config; this module adds the checks a schema cannot express (a scale naming a table that
exists, an outcome naming a scale, arms present in the arm column), those of each optional
section among them (staff, participation, sensitivity, estimands, multiplicity), and reports
every problem at once.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from trial.vocabulary import (
    FAMILY_LINKS,
    Config,
    family_hypotheses,
    intercurrent_events,
    outcome_scales,
    treatment_arms,
    treatment_pairs,
)

if TYPE_CHECKING:  # imported on use: only the process that checks a config needs it
    import jsonschema

# Package data, so that an installed copy (not only a checkout) can check a config.
SCHEMA_PATH = resources.files("trial") / "schemas" / "config.schema.yaml"

# Optional sections whose analyses compare one treatment arm with the reference arm.
TWO_ARM_SECTIONS = ("participation", "staff", "sensitivity", "costs", "audit", "simulation")


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
    problems = [_describe_schema_error(e) for e in _schema_validator().iter_errors(config)]
    if problems:
        raise ConfigError(source, sorted(problems))
    problems = _cross_reference_problems(config)
    if problems:
        raise ConfigError(source, problems)


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
    return f"{where}: {error.message}"


def _cross_reference_problems(config: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    tables = config["tables"]
    design = config["design"]

    def need_table(name: str, where: str) -> bool:
        if name not in tables:
            problems.append(f"{where}: table {name!r} is not declared under tables")
            return False
        return True

    def need_column(table: str, column: str, where: str) -> None:
        if table in tables and column not in tables[table]["columns"]:
            problems.append(f"{where}: column {column!r} is not declared in table {table!r}")

    for name, spec in tables.items():
        for column in spec["key"]:
            need_column(name, column, f"tables/{name}/key")
        for pair in spec.get("date_order", []):
            for column in pair:
                need_column(name, column, f"tables/{name}/date_order")
                if spec["columns"].get(column, {}).get("type", "date") != "date":
                    problems.append(f"tables/{name}/date_order: {column!r} is not a date column")
        for column, target in spec.get("references", {}).items():
            need_column(name, column, f"tables/{name}/references")
            if need_table(target, f"tables/{name}/references/{column}"):
                target_key = tables[target]["key"]
                if len(target_key) != 1:
                    problems.append(
                        f"tables/{name}/references/{column}: table {target!r} must have a "
                        f"one-column key to be referenced"
                    )
        for column, col in spec["columns"].items():
            if col["type"] == "category" and "values" not in col:
                problems.append(f"tables/{name}/columns/{column}: a category needs `values`")
            if "min" in col and "max" in col and col["min"] > col["max"]:
                problems.append(f"tables/{name}/columns/{column}: min is greater than max")

    cluster_table = design["cluster_table"]
    individual_table = design["individual_table"]
    if need_table(cluster_table, "design/cluster_table"):
        need_column(cluster_table, design["cluster_id"], "design/cluster_id")
        need_column(cluster_table, design["arm"], "design/arm")
        for stratum in design["strata"]:
            need_column(cluster_table, stratum, "design/strata")
            kind = tables[cluster_table]["columns"].get(stratum, {}).get("type", "category")
            if kind != "category":
                problems.append(
                    f"design/strata: {stratum!r} is declared type {kind}; a randomisation stratum "
                    "must be type category with its codes listed as text (e.g. values: "
                    '["1", "2", "3"]), so that every stratum has its own term in the models'
                )
        arm_spec = tables[cluster_table]["columns"].get(design["arm"], {})
        arm_values = arm_spec.get("values", [])
        named = [("design/reference_arm", design["reference_arm"])]
        named += [(f"design/treatment_arms/{i}", a) for i, a in enumerate(treatment_arms(config))]
        for where, arm in named:
            if arm_spec and arm not in arm_values:
                problems.append(f"{where}: {arm!r} is not one of the arm values {arm_values}")
        for arm in arm_values:
            if arm not in design["arm_labels"]:
                problems.append(f"design/arm_labels: no label for arm {arm!r}")
    if need_table(individual_table, "design/individual_table"):
        need_column(individual_table, design["individual_id"], "design/individual_id")
        need_column(individual_table, design["cluster_id"], "design/cluster_id")
        need_column(individual_table, design["followup_status"], "design/followup_status")
        for column in config["covariates"]:
            need_column(individual_table, column, "covariates")
        for column in config["imputation"].get("auxiliary", []):
            need_column(individual_table, column, "imputation/auxiliary")
    for name, variable in config["imputation"].get("cluster_variables", {}).items():
        where = f"imputation/cluster_variables/{name}"
        if need_table(variable["table"], f"{where}/table"):
            need_column(variable["table"], design["cluster_id"], f"{where}/table")
            need_column(variable["table"], variable["value"], f"{where}/value")
            value_type = tables[variable["table"]]["columns"].get(variable["value"], {}).get("type")
            if value_type not in (None, "number", "integer"):
                problems.append(f"{where}/value: {variable['value']!r} is not a number column")
        taken = set(tables.get(individual_table, {}).get("columns", {})) | {
            design["cluster_id"],
            design["arm"],
            *design["strata"],
        }
        if name in taken:
            problems.append(f"{where}: the name {name!r} is already a column of the analysis table")
    if design["reference_arm"] in treatment_arms(config):
        problems.append("design/treatment_arms: the reference_arm cannot also be a treatment arm")
    if len(set(treatment_arms(config))) != len(treatment_arms(config)):
        problems.append("design/treatment_arms: an arm is listed twice")
    if len(treatment_arms(config)) > 1:
        for section in TWO_ARM_SECTIONS:
            if section in config:
                problems.append(
                    f"{section}: this section supports two-arm trials only (one treatment arm "
                    f"against the reference); design/treatment_arms lists "
                    f"{len(treatment_arms(config))}. Remove the section or analyse one "
                    "treatment arm against the reference at a time"
                )

    # Optional sections name one table and some of its columns.
    section_columns = {
        "staff": ("table", ["id"]),
        "participation": ("table", ["part", "value"]),
        "costs": ("use_table", ["service", "quantity"]),
        "audit": ("table", ["id", "time", "available"]),
    }
    for section, (table_key, column_keys) in section_columns.items():
        if section not in config:
            continue
        spec = config[section]
        if need_table(spec[table_key], f"{section}/{table_key}"):
            for key in column_keys:
                need_column(spec[table_key], spec[key], f"{section}/{key}")
    if "costs" in config and need_table(
        config["costs"]["unit_cost_table"], "costs/unit_cost_table"
    ):
        for key in ("service", "unit_cost", "category"):
            need_column(config["costs"]["unit_cost_table"], config["costs"][key], f"costs/{key}")
    if "audit" in config:
        for item in config["audit"]["items"]:
            need_column(config["audit"]["table"], item, "audit/items")
        for item in config["audit"].get("item_labels", {}):
            if item not in config["audit"]["items"]:
                problems.append(f"audit/item_labels: {item!r} is not one of audit/items")
        composite = config["audit"].get("composite")
        if composite and composite["name"] in tables.get(config["audit"]["table"], {}).get(
            "columns", {}
        ):
            problems.append(
                f"audit/composite/name: {composite['name']!r} is already a column of the audit "
                "table; choose another name"
            )

    item_owner: dict[tuple[str, str], str] = {}
    for name, scale in config["scales"].items():
        where = f"scales/{name}"
        if not need_table(scale["table"], f"{where}/table"):
            continue
        declared = tables[scale["table"]]["columns"]
        lo, hi = scale["item_range"]
        if lo >= hi:
            problems.append(f"{where}/item_range: lowest {lo} must be below highest {hi}")
        for item in [*scale["items"], *scale.get("gate", [])]:
            if item in declared:
                problems.append(
                    f"{where}: item {item!r} is also declared as an ordinary column of "
                    f"{scale['table']!r}; declare items only under scales"
                )
            item_owner.setdefault((scale["table"], item), name)
        for item in scale.get("reverse", []):
            if item not in scale["items"]:
                problems.append(f"{where}/reverse: {item!r} is not one of the scale's items")
        if scale["method"] == "gated_mean":
            if len(scale.get("gate", [])) != len(scale["items"]):
                problems.append(f"{where}/gate: gated_mean needs one gate item per item")
        elif "gate" in scale:
            problems.append(f"{where}/gate: only method gated_mean uses gate items")

    outcomes = config["analysis"]["outcomes"]
    primaries = [o["scale"] for o in outcomes if o["role"] == "primary"]
    if len(primaries) != 1:
        problems.append(
            f"analysis/outcomes: exactly one primary outcome is needed, found {primaries}"
        )
    seen: set[str] = set()
    for i, outcome in enumerate(outcomes):
        scale_name = outcome["scale"]
        if scale_name in seen:
            problems.append(f"analysis/outcomes/{i}: scale {scale_name!r} listed twice")
        seen.add(scale_name)
        published_arm = outcome.get("published", {}).get("arm")
        if published_arm is not None and published_arm not in treatment_arms(config):
            problems.append(
                f"analysis/outcomes/{i}/published/arm: {published_arm!r} is not one of "
                f"design/treatment_arms {treatment_arms(config)}"
            )
        if "published" in outcome and published_arm is None and len(treatment_arms(config)) > 1:
            problems.append(
                f"analysis/outcomes/{i}/published/arm: name the treatment arm that the published "
                "figure compares with the reference arm"
            )
        if scale_name not in config["scales"]:
            problems.append(f"analysis/outcomes/{i}/scale: {scale_name!r} is not a declared scale")
            continue
        table = config["scales"][scale_name]["table"]
        if table in tables:
            columns = tables[table]["columns"]
            for column in (design["individual_id"], design["timepoint"]):
                if column not in columns:
                    problems.append(
                        f"analysis/outcomes/{i}: scale {scale_name!r} lives in table {table!r}, "
                        f"which has no {column!r} column (outcomes are individual-level)"
                    )

    rule = consistency_settings(config)
    for i, name in enumerate(rule["followup_data"]["tables"]):
        where = f"consistency/followup_data/tables/{i}"
        if need_table(name, where):
            for column in (design["individual_id"], design["timepoint"]):
                need_column(name, column, where)
    for column in rule["one_cluster_per"]:
        if not any(column in spec["columns"] for spec in tables.values()):
            problems.append(f"consistency/one_cluster_per: {column!r} is not a column of any table")

    problems += secondary_config_problems(config)
    problems += outcome_family_problems(config)
    problems += estimand_config_problems(config)
    problems += multiplicity_problems(config)

    synthetic = config.get("synthetic")
    if synthetic:
        needs = {
            "staff": ["staff", "staff_id_format", "staff_followup_rate", "staff_covariates"],
            "participation": ["participation"],
            "costs": ["costs"],
            "audit": ["audit"],
        }
        for section, keys in needs.items():
            for key in keys:
                if section in config and key not in synthetic:
                    problems.append(f"synthetic: {key!r} is needed to generate the {section} data")
        arm_values = set(treatment_arms(config))
        for name, instrument in synthetic["instruments"].items():
            effect = instrument["arm_effect"]
            if isinstance(effect, Mapping) and set(effect) != arm_values:
                problems.append(
                    f"synthetic/instruments/{name}/arm_effect: give one effect per treatment arm "
                    f"{sorted(arm_values)}; found {sorted(effect)}"
                )
        for name, instrument in synthetic["instruments"].items():
            for scale_name in instrument["scales"]:
                if scale_name not in config["scales"]:
                    problems.append(
                        f"synthetic/instruments/{name}/scales: {scale_name!r} "
                        "is not a declared scale"
                    )
    return problems


def secondary_config_problems(config: Config) -> list[str]:
    """Cross-reference problems of the participation, staff, sensitivity and icc sections.

    Parameters
    ----------
    config : dict
        A schema-valid trial configuration.

    Returns
    -------
    list of str
        One message per problem (empty when all is well).
    """
    problems: list[str] = []
    scales = config["scales"]
    staff_scales = [o["scale"] for o in config.get("staff", {}).get("outcomes", [])]
    for i, scale in enumerate(staff_scales):
        if scale not in scales:
            problems.append(f"staff/outcomes/{i}/scale: {scale!r} is not a declared scale")
            continue
        table = scales[scale]["table"]
        if config["staff"]["id"] not in config["tables"][table]["columns"]:
            problems.append(
                f"staff/outcomes/{i}: scale {scale!r} lives in table {table!r}, which has no "
                f"staff ID column {config['staff']['id']!r}"
            )
    if (
        "staff" in config
        and config["design"]["cluster_id"]
        not in config["tables"][config["staff"]["table"]]["columns"]
    ):
        problems.append(
            f"staff/table: {config['staff']['table']!r} has no cluster ID column "
            f"{config['design']['cluster_id']!r}"
        )
    for i, pub in enumerate(config.get("participation", {}).get("published", [])):
        if pub["scale"] not in scales:
            problems.append(
                f"participation/published/{i}/scale: {pub['scale']!r} is not a declared scale"
            )
    arms = config["tables"][config["design"]["cluster_table"]]["columns"][config["design"]["arm"]]
    for arm in config.get("sensitivity", {}).get("delta", {}).get("arms", []):
        if arm not in arms.get("values", []):
            problems.append(
                f"sensitivity/delta/arms: {arm!r} is not one of the arm values {arms.get('values')}"
            )
    return problems


#: Sections whose analyses model outcomes with linear mixed models only.
LINEAR_ONLY_SECTIONS = ("sensitivity", "participation", "costs", "simulation")


def outcome_family_problems(config: Config) -> list[str]:
    """Problems of the outcomes' ``family``, ``link`` and ``measures``.

    A binomial outcome must be scored 0/1 (one item whose range is ``[0, 1]``) and a poisson
    outcome a count (one item, a whole-number range from 0 up); the link, when given, must be
    the family's canonical link; ``measures`` belong to binomial outcomes. Sections whose
    analyses fit linear models only cannot take a non-gaussian primary outcome; the sensitivity
    section takes a binomial one, without ``delta``.

    Parameters
    ----------
    config : dict
        A schema-valid trial configuration.

    Returns
    -------
    list of str
        One message per problem (empty when all is well).
    """
    problems: list[str] = []
    for i, outcome in enumerate(config["analysis"]["outcomes"]):
        where = f"analysis/outcomes/{i}"
        family = outcome.get("family", "gaussian")
        link = outcome.get("link", FAMILY_LINKS[family])
        if link != FAMILY_LINKS[family]:
            problems.append(
                f"{where}/link: {link!r} is not fitted for family {family!r}; only its canonical "
                f"link {FAMILY_LINKS[family]!r} is"
            )
        if "measures" in outcome and family != "binomial":
            problems.append(f"{where}/measures: only a binomial outcome has summary measures")
        scale = config["scales"].get(outcome["scale"])
        if family == "gaussian" or scale is None:
            continue
        lo, hi = scale["item_range"]
        if len(scale["items"]) != 1 or "rescale" in scale or scale["method"] == "gated_mean":
            problems.append(
                f"{where}: a {family} outcome is one variable; scale {outcome['scale']!r} must "
                "have one item, method sum or mean and no rescale"
            )
        elif family == "binomial" and (lo, hi) != (0, 1):
            problems.append(
                f"{where}: a binomial outcome is coded 0/1; scale {outcome['scale']!r} has "
                f"item_range [{lo}, {hi}], expected [0, 1]"
            )
        elif family == "poisson" and (lo != 0 or float(hi) != int(hi)):
            problems.append(
                f"{where}: a poisson outcome is a count; scale {outcome['scale']!r} has "
                f"item_range [{lo}, {hi}], expected [0, a whole number]"
            )
    non_gaussian = [
        o["scale"]
        for o in config["analysis"]["outcomes"]
        if o.get("family", "gaussian") != "gaussian"
    ]
    primary = [o["scale"] for o in config["analysis"]["outcomes"] if o["role"] == "primary"]
    # which outcomes each section models linearly: participation every outcome, the others the
    # primary (costs: its effect scale)
    binomial = [
        o["scale"] for o in config["analysis"]["outcomes"] if o.get("family") == "binomial"
    ]
    modelled = {
        # a binomial primary outcome has GLMM/GEE and cluster-level sensitivity analyses
        "sensitivity": [s for s in primary if s not in binomial],
        "simulation": primary,
        "participation": [o["scale"] for o in config["analysis"]["outcomes"]],
        "costs": [config.get("costs", {}).get("effect", *primary[:1])] if primary else [],
    }
    if non_gaussian and config["imputation"].get("engine", "multilevel") == "forest":
        problems.append(
            f"imputation/engine: the forest engine imputes binomial and poisson outcomes "
            f"{non_gaussian} as continuous; use the multilevel engine"
        )
    if "delta" in config.get("sensitivity", {}) and any(s in non_gaussian for s in primary):
        problems.append(
            "sensitivity/delta: delta adjustment shifts imputed values in outcome units, and the "
            f"primary outcome {primary[0]!r} is binomial or poisson (a delta on the log-odds "
            "scale would need an offset in the imputation draw, which is not implemented); "
            "remove sensitivity/delta"
        )
    for section in LINEAR_ONLY_SECTIONS:
        linear = [s for s in modelled[section] if s in non_gaussian]
        if section in config and linear:
            problems.append(
                f"{section}: its analyses fit linear models, and outcome(s) {linear} are "
                "binomial or poisson; remove the section for this trial"
            )
    return problems


def estimand_config_problems(config: Config) -> list[str]:
    """Problems of the ``estimands`` section that the schema cannot see (listed all at once)."""
    if "estimands" not in config:
        return []
    design = config["design"]
    status_spec = (
        config["tables"]
        .get(design["individual_table"], {})
        .get("columns", {})
        .get(design["followup_status"], {})
    )
    codes = status_spec.get("values")
    problems = []
    seen: dict[str, str] = {}
    for i, event in enumerate(intercurrent_events(config)):
        where = f"estimands/intercurrent_events/{i} ({event.name})"
        for code in event.status:
            if code == design["followup_completed"]:
                problems.append(
                    f"{where}/status: {code!r} is the code of a completed follow-up, not an event"
                )
            elif codes is not None and code not in codes:
                problems.append(
                    f"{where}/status: {code!r} is not one of the {design['followup_status']} "
                    f"codes {codes}"
                )
            if code in seen:
                problems.append(f"{where}/status: {code!r} already names event {seen[code]!r}")
            seen[code] = event.name
        for kind, strategy in (("outcomes", event.scores), ("costs", event.costs)):
            if strategy == "treatment_policy" and event.terminal:
                problems.append(
                    f"{where}/{kind}: treatment_policy needs the value to exist after the event; "
                    "after a terminal event choose while_alive, composite or hypothetical"
                )
            if strategy == "while_alive" and not event.terminal:
                problems.append(
                    f"{where}/{kind}: while_alive applies to terminal events (set terminal: true)"
                )
        if "costs" in config and event.costs is None:
            problems.append(f"{where}/costs: the trial has costs; declare their strategy")
        if "costs" not in config and event.costs is not None:
            problems.append(f"{where}/costs: the config has no costs section")
        scales = outcome_scales(config) if config.get("analysis") else []
        if event.scores == "composite":
            missing = [s for s in scales if s not in event.composite_values]
            if missing:
                problems.append(
                    f"{where}/composite_values: give the follow-up score of every outcome "
                    f"scale; missing {missing}"
                )
        extra = [s for s in event.composite_values if s not in scales]
        if extra:
            problems.append(f"{where}/composite_values: {extra} are not outcome scales")
        if event.composite_values and event.scores != "composite":
            problems.append(f"{where}/composite_values: only the composite strategy uses them")
    return problems


def multiplicity_problems(config: Config) -> list[str]:
    """Cross-reference problems of the ``multiplicity`` section (empty when all is well)."""
    spec = config.get("multiplicity")
    if not spec:
        return []
    problems = []
    scales = {o["scale"] for o in config["analysis"]["outcomes"]}
    names = [f["name"] for f in spec["families"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"multiplicity/families: the name {name!r} is used more than once")
    seen: dict[tuple[str, str, str], str] = {}
    for i, family in enumerate(spec["families"]):
        for scale in family["outcomes"]:
            if scale not in scales:
                problems.append(
                    f"multiplicity/families/{i}/outcomes: {scale!r} is not an analysed outcome"
                )
        if family.get("comparisons") == "pairwise" and not treatment_pairs(config):
            problems.append(
                f"multiplicity/families/{i}/comparisons: 'pairwise' needs at least two "
                "treatment arms"
            )
        for hypothesis in family_hypotheses(config, family):
            if hypothesis in seen and hypothesis[0] in scales:
                problems.append(
                    f"multiplicity/families/{i}: {hypothesis[0]!r} {hypothesis[1]} vs "
                    f"{hypothesis[2]} is already in family {seen[hypothesis]!r}"
                )
            seen.setdefault(hypothesis, family["name"])
    return problems


def consistency_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``consistency`` rules checked across tables, with the defaults filled in.

    ``followup_data``: ``tables`` whose rows at the follow-up time point show that follow-up took
    place (default: the table of the primary outcome); ``completed_without_data`` and
    ``lost_with_data``: ``error`` (default) or ``allowed``. ``one_cluster_per``: ID columns whose
    every value must belong to one cluster wherever a table links it to one (default: the
    individual ID, and the staff and audit IDs when those sections are present).
    """
    spec = config.get("consistency", {})
    primary = [o["scale"] for o in config["analysis"]["outcomes"] if o["role"] == "primary"]
    scales = config["scales"]
    tables = [scales[primary[0]]["table"]] if primary and primary[0] in scales else []
    followup = {"tables": tables, "completed_without_data": "error", "lost_with_data": "error"}
    followup.update(spec.get("followup_data", {}))
    ids = [config["design"]["individual_id"]]
    ids += [config[section]["id"] for section in ("staff", "audit") if section in config]
    return {
        "followup_data": followup,
        "one_cluster_per": list(spec.get("one_cluster_per", dict.fromkeys(ids))),
    }


def scale_items(scale: Mapping[str, Any]) -> list[str]:
    """All item columns a scale reads: its items and, for gated scales, its gate items."""
    return [*scale["items"], *scale.get("gate", [])]


def outcome_label(config: Mapping[str, Any], scale_name: str) -> str:
    """The report label of a scale."""
    return str(config["scales"][scale_name]["label"])
