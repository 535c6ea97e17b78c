"""The checks of a config's optional sections and designs: staff, participation and
sensitivity (:func:`secondary_config_problems`), outcome families, estimands, multiplicity, and
stepped-wedge or crossover schedules. Each takes a schema-valid config and returns one message
per problem (empty when all is well), for :func:`trial.config.load.validate_config` to report with
the others.
"""

from __future__ import annotations

from trial.config.schedule import SCHEDULED_TYPES, design_type, schedule_problems
from trial.config.vocabulary import (
    FAMILY_LINKS,
    Config,
    family_hypotheses,
    intercurrent_events,
    outcome_scales,
    treatment_arms,
    treatment_pairs,
)

# ``design`` keys of stepped-wedge and crossover designs only
SCHEDULED_KEYS = ("period", "periods", "schedule", "model", "time_on_treatment")


def secondary_config_problems(config: Config) -> list[str]:
    """Cross-reference problems of the participation, staff, sensitivity and icc sections.
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
    section takes a binomial one (``delta`` then on the log-odds scale).
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
    counts = [s for s in non_gaussian if s not in binomial]
    if "delta" in config.get("sensitivity", {}) and any(s in counts for s in primary):
        problems.append(
            "sensitivity/delta: delta adjustment shifts imputed values in outcome units (gaussian) "
            f"or on the log-odds scale (binomial), and the primary outcome {primary[0]!r} is "
            "poisson; remove sensitivity/delta"
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


def schedule_config_problems(config: Config) -> list[str]:
    """Problems of a stepped-wedge or crossover design's ``design`` keys (empty when all is well).

    A parallel design must not declare periods or a schedule. A scheduled design needs one
    treatment arm, a period column in the individual table whose codes (if a category) are the
    declared periods, and a schedule: a column of the cluster table, or a period for each
    cluster in the config, checked here as the data will be (:func:`trial.config.schedule.
    schedule_problems`). A schedule given as a column is checked against the data when the
    cluster table is read.
    """
    design = config["design"]
    kind = design_type(config)
    keys = [k for k in SCHEDULED_KEYS if k in design]
    if kind not in SCHEDULED_TYPES:
        return [
            f"design/{k}: only a {' or '.join(SCHEDULED_TYPES)} design has {k}; this design is "
            f"{kind}"
            for k in keys
        ]
    problems = []
    if len(treatment_arms(config)) != 1:
        problems.append(
            f"design/treatment_arms: a {kind} design compares one treatment condition with the "
            f"reference; found {treatment_arms(config)}"
        )
    tables = config["tables"]
    periods = list(design["periods"])
    individual = tables.get(design["individual_table"], {}).get("columns", {})
    if design["individual_table"] in tables:
        if design["period"] not in individual:
            problems.append(
                f"design/period: column {design['period']!r} is not declared in table "
                f"{design['individual_table']!r}"
            )
        elif individual[design["period"]]["type"] != "category":
            problems.append(
                f"design/period: {design['period']!r} is declared type "
                f"{individual[design['period']]['type']}; a period must be type category with "
                f"the periods as its values {periods}"
            )
        elif list(individual[design["period"]]["values"]) != periods:
            problems.append(
                f"design/period: the values of {design['period']!r} "
                f"{individual[design['period']]['values']} must be design/periods {periods}, in "
                "the same order"
            )
    schedule = design["schedule"]
    if "column" in schedule:
        column = tables.get(design["cluster_table"], {}).get("columns", {}).get(schedule["column"])
        if design["cluster_table"] in tables and column is None:
            problems.append(
                f"design/schedule/column: column {schedule['column']!r} is not declared in table "
                f"{design['cluster_table']!r}"
            )
        elif column is not None and set(column.get("values", [])) - set(periods):
            problems.append(
                f"design/schedule/column: the values of {schedule['column']!r} "
                f"{column.get('values')} must be among design/periods {periods}"
            )
    elif kind == "stepped_wedge":
        # a crossover schedule also needs each cluster's first condition, from the data
        problems += schedule_problems(kind, periods, schedule["clusters"])
    return problems + _synthetic_schedule_problems(config)


def _synthetic_schedule_problems(config: Config) -> list[str]:
    """The generator of a scheduled design needs a switching period for every cluster."""
    synthetic = config.get("synthetic")
    if not synthetic:
        return []
    periods = list(config["design"]["periods"])
    n_clusters = sum(sum(arms.values()) for arms in synthetic["clusters"].values())
    problems = [
        f"synthetic/{key}: {period!r} is not one of design/periods {periods}"
        for key in ("crossover", "period_effects")
        for period in synthetic.get(key, {})
        if period not in periods
    ]
    if "column" in config["design"]["schedule"]:
        switching = sum(synthetic.get("crossover", {}).values())
        if switching != n_clusters:
            problems.append(
                f"synthetic/crossover: give the number of clusters switching at each period, "
                f"{n_clusters} in all (synthetic/clusters); found {switching}"
            )
    return problems
