"""The checks that span raw tables, which a single-table schema cannot express.

Every referenced ID exists, dates are in order, every arm has at least two clusters, follow-up
status agrees with follow-up data, one cluster per individual, a unit cost for every service
used, audit availability against scored items, an observed follow-up score in every arm, no
undeclared blank in a covariate. The ``consistency`` section of the config tunes them. Each
check takes the tables that passed their own checks and looks only at those it needs.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from trial.config.checks import consistency_settings
from trial.config.schedule import SCHEDULED_TYPES, design_type, read_schedule
from trial.config.vocabulary import Config, all_covariates, arms, covariate_missing, treatment_arms
from trial.data.raw_tables import Problem
from trial.data.scoring import score_scale


def _file(config: Config, table: str) -> str:
    return str(config["tables"][table]["file"])


def check_references(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    problems = []
    for name, spec in config["tables"].items():
        if name not in frames:
            continue
        frame = frames[name]
        for column, target in spec.get("references", {}).items():
            if target not in frames:
                continue
            target_key = config["tables"][target]["key"][0]
            known = set(frames[target][target_key].dropna())
            bad = frame[column].notna() & ~frame[column].isin(known)
            for line in frame.index[bad]:
                problems.append(
                    Problem(
                        spec["file"],
                        int(line),
                        column,
                        frame.at[line, column],
                        f"a {target_key} listed in {_file(config, target)}",
                    )
                )
    return problems


def check_date_order(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    problems = []
    for name, spec in config["tables"].items():
        if name not in frames:
            continue
        frame = frames[name]
        for earlier, later in spec.get("date_order", []):
            # unreadable dates are missing here (reported by the column checks)
            for line in frame.index[frame[later] < frame[earlier]]:
                problems.append(
                    Problem(
                        spec["file"],
                        int(line),
                        later,
                        frame.at[line, later].strftime("%Y-%m-%d"),
                        f"a date on or after {earlier} "
                        f"({frame.at[line, earlier].strftime('%Y-%m-%d')})",
                    )
                )
    return problems


def check_design(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    design = config["design"]
    clusters = frames.get(design["cluster_table"])
    if clusters is None:
        return []
    file = _file(config, design["cluster_table"])
    problems = _schedule_problems(config, clusters)
    counts = clusters[design["arm"]].value_counts()
    # in a scheduled design the arm column holds the first period's condition only
    for arm in arms(config) if not problems and design_type(config) == "parallel" else ():
        if counts.get(arm, 0) < 2:
            problems.append(
                Problem(
                    file,
                    None,
                    design["arm"],
                    arm,
                    f"at least 2 clusters in every arm; found {counts.get(arm, 0)}",
                )
            )
    participation = frames.get(config.get("participation", {}).get("table"))
    if participation is not None:
        arm_of = clusters.set_index(design["cluster_id"])[design["arm"]]
        file_p = _file(config, config["participation"]["table"])
        for line, cluster in participation[design["cluster_id"]].items():
            if arm_of.get(cluster) not in treatment_arms(config):
                problems.append(
                    Problem(
                        file_p,
                        int(line),
                        design["cluster_id"],
                        cluster,
                        f"only {' or '.join(map(repr, treatment_arms(config)))} clusters "
                        "in the participation table",
                    )
                )
    individuals = frames.get(design["individual_table"])
    if individuals is not None:
        sizes = individuals[design["cluster_id"]].value_counts()
        empty = sorted(set(clusters[design["cluster_id"]]) - set(sizes.index))
        for cluster in empty:
            problems.append(
                Problem(
                    _file(config, design["individual_table"]),
                    None,
                    design["cluster_id"],
                    cluster,
                    "at least one individual in every randomised cluster",
                )
            )
    return problems


def _schedule_problems(config: Config, clusters: pd.DataFrame) -> list[Problem]:
    """The problems of a stepped-wedge or crossover schedule (none for a parallel design)."""
    if design_type(config) not in SCHEDULED_TYPES:
        return []
    return [Problem(*p) for p in read_schedule(config, clusters, clusters.index)[1]]


def _arm_of_individuals(
    config: Config, clusters: pd.DataFrame, people: pd.DataFrame
) -> pd.Series | None:
    """Each individual's arm by ID: their cluster's, or in a scheduled design the condition of
    their cluster in the period they were sampled in (None when the schedule has problems)."""
    design = config["design"]
    cid, pid = design["cluster_id"], design["individual_id"]
    if design_type(config) not in SCHEDULED_TYPES:
        return people.set_index(pid)[cid].map(clusters.set_index(cid)[design["arm"]])
    schedule, _ = read_schedule(config, clusters, clusters.index)
    if schedule is None:
        return None
    rows, cols = schedule.cells(people[cid].tolist(), people[design["period"]].tolist())
    known = (rows >= 0) & (cols >= 0)  # other IDs and periods are the reference checks' problems
    treated = schedule.treated[rows[known], cols[known]]
    (treatment,) = treatment_arms(config)
    return pd.Series(
        np.where(treated, treatment, design["reference_arm"]),
        index=people.loc[known, pid].to_numpy(),
    )


def check_consistency(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """Records that contradict each other across tables (rules of the ``consistency`` section)."""
    return [
        *_check_followup_data(config, frames),
        *_check_one_cluster(config, frames),
        *_check_unit_costs(config, frames),
        *_check_audit_records(config, frames),
        *_check_observed_outcomes(config, frames),
        *_check_covariate_blanks(config, frames),
    ]


def _data_columns(config: Config, table: str, frame: pd.DataFrame) -> list[str]:
    """Columns that hold measurements: neither the key nor a link to another table."""
    spec = config["tables"][table]
    return [c for c in frame.columns if c not in {*spec["key"], *spec.get("references", {})}]


def _check_followup_data(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """Follow-up status against follow-up data, both ways (``consistency/followup_data``)."""
    design = config["design"]
    rule = consistency_settings(config)["followup_data"]
    people = frames.get(design["individual_table"])
    if people is None or any(t not in frames for t in rule["tables"]):
        return []
    pid, status, tp = design["individual_id"], design["followup_status"], design["timepoint"]
    found: dict[object, tuple[str, int]] = {}  # individual -> first file and line of their data
    for table in rule["tables"]:
        frame = frames[table]
        rows = frame[frame[tp] == design["followup"]]
        measured = _data_columns(config, table, frame)
        if measured:
            rows = rows[rows[measured].notna().any(axis=1)]
        for line, person in rows[pid].items():
            found.setdefault(person, (_file(config, table), int(line)))
    where = " or ".join(_file(config, t) for t in rule["tables"])
    file = _file(config, design["individual_table"])
    completed = people[status] == design["followup_completed"]
    has_data = people[pid].isin(list(found))
    problems = []

    def add(line: int, expected: str) -> None:
        problems.append(Problem(file, int(line), status, people.at[line, status], expected))

    if rule["completed_without_data"] == "error":
        for line in people.index[completed & ~has_data]:
            add(
                line,
                f"follow-up data for {pid} {people.at[line, pid]!r} at {tp} "
                f"{design['followup']!r} in {where} (none found), or a reason for loss",
            )
    if rule["lost_with_data"] == "error":
        for line in people.index[~completed & has_data]:
            data_file, data_line = found[people.at[line, pid]]
            add(
                line,
                f"{design['followup_completed']!r}, since {data_file}, line {data_line} "
                f"holds follow-up data for {pid} {people.at[line, pid]!r}",
            )
    return problems


def _cluster_columns(config: Config, table: str) -> list[str]:
    """Columns of a table that name a cluster (links to the cluster table)."""
    cluster_table = config["design"]["cluster_table"]
    refs = config["tables"][table].get("references", {})
    return [column for column, target in refs.items() if target == cluster_table]


def _check_one_cluster(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """Every listed ID belongs to one cluster in every table that gives it one."""
    design = config["design"]
    problems = []
    for id_column in consistency_settings(config)["one_cluster_per"]:
        parts = []
        for table, frame in frames.items():
            if id_column not in frame.columns:
                continue
            for column in _cluster_columns(config, table):
                part = frame[[id_column, column]].dropna().set_axis(["id", "cluster"], axis=1)
                parts.append(part.assign(file=_file(config, table), column=column, line=part.index))
        if not parts:
            continue
        pairs = pd.concat(parts, ignore_index=True)
        first = pairs.groupby("id", sort=False).transform("first")
        for i in pairs.index[pairs["cluster"] != first["cluster"]]:
            problems.append(
                Problem(
                    pairs.at[i, "file"],
                    int(pairs.at[i, "line"]),
                    pairs.at[i, "column"],
                    pairs.at[i, "cluster"],
                    f"{first.at[i, 'cluster']!r} as on line {first.at[i, 'line']} of "
                    f"{first.at[i, 'file']} ({id_column} {pairs.at[i, 'id']!r} belongs to one "
                    f"{design['cluster_label']})",
                )
            )
    return problems


def _check_unit_costs(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """A unit cost for every service used, unless ``costs/missing_unit_cost`` is ``zero``."""
    spec = config.get("costs")
    if not spec or spec.get("missing_unit_cost", "error") != "error":
        return []
    use, prices = frames.get(spec["use_table"]), frames.get(spec["unit_cost_table"])
    if use is None or prices is None:
        return []
    used = use[spec["service"]].value_counts()
    problems = []
    for line in prices.index[prices[spec["unit_cost"]].isna()]:
        service = prices.at[line, spec["service"]]
        if used.get(service, 0):
            problems.append(
                Problem(
                    _file(config, spec["unit_cost_table"]),
                    int(line),
                    spec["unit_cost"],
                    "",
                    f"a unit cost for {service!r}, which {used[service]} rows of "
                    f"{_file(config, spec['use_table'])} use (or set "
                    "costs/missing_unit_cost: zero to cost it at 0)",
                )
            )
    return problems


def _check_audit_records(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """An audit record is scored exactly when it is marked available."""
    spec = config.get("audit")
    frame = frames.get(spec["table"]) if spec else None
    if frame is None:
        return []
    file, available, code = _file(config, spec["table"]), spec["available"], spec["available_code"]
    items = list(spec["items"])
    scored = frame[items].notna()
    is_available = frame[available] == code
    problems = []
    for line in frame.index[~is_available & scored.any(axis=1)]:
        item = next(i for i in items if scored.at[line, i])
        value = frame.at[line, available]
        problems.append(
            Problem(
                file,
                int(line),
                available,
                "" if pd.isna(value) else value,
                f"{code!r} when items are scored ({item} = {frame.at[line, item]})",
            )
        )
    for line in frame.index[is_available & ~scored.any(axis=1)]:
        problems.append(
            Problem(
                file,
                int(line),
                available,
                code,
                f"at least one of {items} scored when the "
                "record is available, or the code of a record that could not be audited",
            )
        )
    return problems


def _check_covariate_blanks(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """A blank in a covariate is refused unless the config declares how blanks are handled
    (``analysis.covariate_missing``): the models would otherwise fail long after validation."""
    design = config["design"]
    declared = covariate_missing(config)
    problems = []
    for table in (design["individual_table"], design["cluster_table"]):
        frame = frames.get(table)
        if frame is None:
            continue
        for column in all_covariates(config):
            if column in declared or column not in frame:
                continue
            for line in frame.index[frame[column].isna()]:
                problems.append(
                    Problem(
                        _file(config, table),
                        int(line),
                        column,
                        "",
                        f"a value: {column!r} is a covariate of the outcome models and no "
                        "handling of its blanks is declared (analysis/covariate_missing: mean "
                        "or indicator)",
                    )
                )
    return problems


def _check_observed_outcomes(config: Config, frames: Mapping[str, pd.DataFrame]) -> list[Problem]:
    """Every arm has an observed follow-up score of every outcome (else it would all be imputed)."""
    design = config["design"]
    clusters = frames.get(design["cluster_table"])
    people = frames.get(design["individual_table"])
    if clusters is None or people is None:
        return []
    pid, tp = design["individual_id"], design["timepoint"]
    arm_of = _arm_of_individuals(config, clusters, people)
    if arm_of is None:  # the schedule's own problems are reported by check_design
        return []
    missing: dict[tuple[str, str], list[str]] = {}  # (arm, table) -> outcomes it lacks
    for outcome in config["analysis"]["outcomes"]:
        scale = config["scales"][outcome["scale"]]
        frame = frames.get(scale["table"])
        if frame is None:
            continue
        rows = frame[frame[tp] == design["followup"]]
        observed = rows.loc[score_scale(rows, scale).notna().to_numpy(), pid]
        present = set(arm_of.reindex(observed.to_numpy()).dropna())
        name = repr(outcome["scale"]) + (
            " (the primary outcome)" if outcome["role"] == "primary" else ""
        )
        for arm in (a for a in arms(config) if a not in present):
            missing.setdefault((arm, scale["table"]), []).append(name)
    problems = []
    for (arm, table), names in missing.items():
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        problems.append(
            Problem(
                _file(config, design["cluster_table"]),
                None,
                design["arm"],
                arm,
                f"an observed follow-up score of {listed} for at least one "
                f"{design['individual_label']} of every arm; {_file(config, table)} has none at "
                f"{tp} {design['followup']!r}",
            )
        )
    return problems
