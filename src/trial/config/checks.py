"""The checks of a trial configuration that a JSON Schema cannot express.

A scale naming a table that exists, an outcome naming a scale, arms present in the arm column,
covariates at the level they are declared; the checks of each optional section are in
:mod:`trial.config.sections`. Problems are returned as a list, so that
:func:`trial.config.load.validate_config` reports them all at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trial.config.sections import (
    estimand_config_problems,
    multiplicity_problems,
    outcome_family_problems,
    schedule_config_problems,
    secondary_config_problems,
)
from trial.config.vocabulary import all_covariates, has_baseline_wave, treatment_arms

# Optional sections whose analyses compare one treatment arm with the reference arm.
TWO_ARM_SECTIONS = ("participation", "staff", "sensitivity", "costs", "audit", "simulation")
# Optional sections whose analyses adjust for baseline values (a design without a baseline wave
# cannot have them).
BASELINE_SECTIONS = ("participation", "staff", "costs", "simulation")


def cross_reference_problems(config: Mapping[str, Any]) -> list[str]:
    """Every problem of a schema-valid config that the schema cannot see, one message each."""
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
        problems += _covariate_problems(config)
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

    k, m = len(treatment_arms(config)), config["imputation"]["m"]
    if k > 1 and m > 1 and k * (m - 1) <= 4:
        # the joint test of the arms is pooled by D1, whose Reiter df needs k (m - 1) > 4
        problems.append(
            f"imputation/m: with {k} treatment arms the joint test that every arm equals the "
            f"reference (D1 pooling, Reiter's df) needs {k} (m - 1) > 4, i.e. m of at least "
            f"{4 // k + 2}; found {m}"
        )
    if not has_baseline_wave(config):
        for section in BASELINE_SECTIONS:
            if section in config:
                problems.append(
                    f"{section}: this section's analyses adjust for baseline values, but the "
                    "design has no baseline wave (design/baseline); remove the section or "
                    "declare the baseline wave"
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
        if "column" in scale:  # a single-variable outcome
            kind = declared.get(scale["column"], {}).get("type")
            if kind is None:
                problems.append(
                    f"{where}/column: {scale['column']!r} is not declared in table "
                    f"{scale['table']!r}"
                )
            elif kind not in ("number", "integer"):
                problems.append(
                    f"{where}/column: {scale['column']!r} is declared type {kind}; an outcome "
                    "column must be type number (or integer)"
                )
            continue
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
        if outcome.get("baseline") and not has_baseline_wave(config):
            problems.append(
                f"analysis/outcomes/{i}/baseline: outcome {scale_name!r} asks for its baseline "
                "value, but the design has no baseline wave; set design/baseline to the "
                "timepoint code of the baseline assessment, or remove the key (post-only)"
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
    problems += schedule_config_problems(config)

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


def _covariate_problems(config: Mapping[str, Any]) -> list[str]:
    """Each covariate is a column of the individual or the cluster table; a declared handling
    of blanks names a covariate, and ``mean`` a numeric one."""
    problems = []
    design, tables = config["design"], config["tables"]
    levels = {
        table: tables[table]["columns"]
        for table in (design["individual_table"], design["cluster_table"])
        if table in tables
    }
    lists = [("covariates", config["covariates"])] + [
        (f"analysis/outcomes/{i}/covariates", o["covariates"])
        for i, o in enumerate(config["analysis"]["outcomes"])
        if "covariates" in o
    ]
    for where, names in lists:
        for name in names:
            if not any(name in columns for columns in levels.values()):
                problems.append(
                    f"{where}: {name!r} is not a column of the individual table "
                    f"{design['individual_table']!r} or the cluster table "
                    f"{design['cluster_table']!r}"
                )
            elif name in design["strata"]:
                problems.append(f"{where}: {name!r} is a stratum, already in every model")
    covariates = set(all_covariates(config))
    for name, handling in config["analysis"].get("covariate_missing", {}).items():
        where = f"analysis/covariate_missing/{name}"
        if name not in covariates:
            problems.append(f"{where}: {name!r} is not a covariate of any outcome's model")
            continue
        kind = next((c[name]["type"] for c in levels.values() if name in c), None)
        if handling == "mean" and kind not in ("number", "integer"):
            problems.append(
                f"{where}: mean imputation needs a numeric covariate; {name!r} is type {kind} "
                "(use indicator, which adds a missing category)"
            )
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
