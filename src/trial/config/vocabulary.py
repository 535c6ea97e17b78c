"""The trial's vocabulary: what a config declares, and the names the library gives it.

Every analysis speaks of the same things: the arms (treatment arms in config order, then the
reference arm), the outcomes (primary first), the sign and wording of a contrast, the declared
intercurrent events and families of hypotheses, and the names of the analysis table's columns
and of the model's terms (the treatment indicator, each arm's coefficient, a scale's baseline
and follow-up score, the total cost, the coding of strata and covariates). Each is defined here
once. The functions read a schema-valid config mapping and import nothing else of the package,
so that every other module, the config checks included, can use them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

Config = dict[str, Any]

TREATMENT = "treatment"  # 0/1 indicator of the treatment arm in a two-arm trial's analysis table
COST = "cost"  # name under which total cost enters the analysis table

# ---------------------------------------------------------------------------------------------
# Arms, outcomes and contrasts
# ---------------------------------------------------------------------------------------------


def treatment_arms(config: Mapping[str, Any]) -> list[str]:
    """The treatment arms, in config order; each is compared with the reference arm."""
    return list(config["design"]["treatment_arms"])


def arms(config: Mapping[str, Any]) -> list[str]:
    """Every arm in report order: the treatment arms, then the reference arm."""
    return [*treatment_arms(config), config["design"]["reference_arm"]]


def single_treatment_arm(config: Mapping[str, Any]) -> str:
    """The treatment arm of a two-arm trial (the sections in
    :data:`trial.config.checks.TWO_ARM_SECTIONS` need one)."""
    listed = treatment_arms(config)
    if len(listed) != 1:
        raise ValueError(f"a two-arm design is needed; design/treatment_arms lists {listed}")
    return listed[0]


def treatment_pairs(config: Config) -> list[tuple[str, str]]:
    """Every pair of treatment arms as ``(arm, versus)``, the later-listed arm first.

    Empty in a two-arm trial. ``arm`` plays the part of the treatment and ``versus`` that of
    the comparator in a pairwise (active-vs-active) contrast and its direction.
    """
    listed = treatment_arms(config)
    return [(listed[j], listed[i]) for i in range(len(listed)) for j in range(i + 1, len(listed))]


def outcome_scales(config: Config) -> list[str]:
    """The outcome scales, primary first, in config order."""
    outcomes = config["analysis"]["outcomes"]
    return [o["scale"] for o in sorted(outcomes, key=lambda o: o["role"] != "primary")]


#: The link of each outcome family: the canonical one, the only one the models fit.
FAMILY_LINKS = {"gaussian": "identity", "binomial": "logit", "poisson": "log"}
#: Summary measures of a binomial outcome reported when ``measures`` is not given.
BINOMIAL_MEASURES = ("odds_ratio", "risk_difference", "risk_ratio")


def outcome_family(config: Config, scale: str) -> str:
    """The declared ``family`` of an outcome (``gaussian`` unless the outcome says otherwise)."""
    for outcome in config["analysis"]["outcomes"]:
        if outcome["scale"] == scale:
            return str(outcome.get("family", "gaussian"))
    raise KeyError(scale)


def outcome_measures(config: Config, scale: str) -> list[str]:
    """The summary measures reported for a binomial outcome (empty for other families)."""
    if outcome_family(config, scale) != "binomial":
        return []
    for outcome in config["analysis"]["outcomes"]:
        if outcome["scale"] == scale:
            return list(outcome.get("measures", BINOMIAL_MEASURES))
    raise KeyError(scale)


def primary_outcome(config: Config) -> str:
    """The primary outcome's scale."""
    return outcome_scales(config)[0]


def contrast_sign(direction: str) -> float:
    """+1 for a contrast reported as treatment minus reference, -1 for the reverse.

    Model coefficients are treatment minus reference; a result is multiplied by this sign to
    be reported in the declared ``direction``.
    """
    return 1.0 if direction == "treatment_minus_reference" else -1.0


def contrast_label(
    config: Config,
    direction: str,
    arm: str | None = None,
    versus: str | None = None,
    *,
    ratio: bool = False,
) -> str:
    """Human-readable direction of a contrast, e.g. ``Intervention minus Usual care``.

    ``arm`` is the treatment arm compared; it may be left out in a two-arm trial. ``versus`` is
    its comparator (default the reference arm; another treatment arm for an active-vs-active
    contrast, which then takes the reference arm's place in ``direction``). With ``ratio`` the
    contrast is a ratio (``Intervention over Usual care``).
    """
    design = config["design"]
    labels = design["arm_labels"]
    arm = single_treatment_arm(config) if arm is None else arm
    versus = design["reference_arm"] if versus is None else versus
    treatment, reference = labels[arm], labels[versus]
    word = "over" if ratio else "minus"
    if direction == "treatment_minus_reference":
        return f"{treatment} {word} {reference}"
    return f"{reference} {word} {treatment}"


def plural(word: str) -> str:
    """The regular English plural of ``word``: ``-es`` after s, x, z, ch and sh, ``-ies`` for a
    consonant and y, ``-s`` otherwise (``class`` -> ``classes``, ``school`` -> ``schools``).
    Irregular plurals are declared in config (``design.cluster_label_plural``,
    ``design.individual_label_plural``)."""
    if re.search(r"(s|x|z|ch|sh)$", word, flags=re.IGNORECASE):
        return f"{word}es"
    if re.search(r"[^aeiou]y$", word, flags=re.IGNORECASE):
        return f"{word[:-1]}ies"
    return f"{word}s"


def unit_plural(design: Mapping[str, Any], unit: str) -> str:
    """The word for several clusters (``unit="cluster"``) or individuals (``"individual"``):
    ``design.<unit>_label_plural`` when declared, else :func:`plural` of ``<unit>_label``."""
    return design.get(f"{unit}_label_plural") or plural(design[f"{unit}_label"])


def with_plural_labels(design: Mapping[str, Any]) -> dict[str, Any]:
    """``design`` with ``cluster_label_plural`` and ``individual_label_plural`` filled in, for
    the report's templates."""
    return {
        **design,
        **{f"{u}_label_plural": unit_plural(design, u) for u in ("cluster", "individual")},
    }


def family_hypotheses(config: Config, family: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The hypotheses of one family as ``(outcome, arm, versus)``, in config order."""
    reference = config["design"]["reference_arm"]
    kind = family.get("comparisons", "reference")
    pairs: list[tuple[str, str]] = []
    if kind in ("reference", "all"):
        pairs += [(arm, reference) for arm in treatment_arms(config)]
    if kind in ("pairwise", "all"):
        pairs += treatment_pairs(config)
    return [(scale, arm, versus) for scale in family["outcomes"] for arm, versus in pairs]


# ---------------------------------------------------------------------------------------------
# Intercurrent events
# ---------------------------------------------------------------------------------------------

SCORE_STRATEGIES = ("treatment_policy", "hypothetical", "while_alive", "composite")
COST_STRATEGIES = ("treatment_policy", "hypothetical", "while_alive")


@dataclass(frozen=True)
class IntercurrentEvent:
    """One declared intercurrent event and its strategies.

    Attributes
    ----------
    name, label : str
        Key and report wording.
    status : tuple of str
        Follow-up status codes that record the event.
    terminal : bool
        No outcome exists after the event (death).
    scores : str
        Strategy for the outcome scores (one of :data:`SCORE_STRATEGIES`).
    costs : str or None
        Strategy for costs (one of :data:`COST_STRATEGIES`); None without a costs section.
    composite_values : mapping of str to float
        For ``composite``: the follow-up score given to each outcome scale.
    rationale : str
        Why this strategy (printed in the report).
    """

    name: str
    label: str
    status: tuple[str, ...]
    terminal: bool
    scores: str
    costs: str | None
    composite_values: Mapping[str, float] = field(default_factory=dict)
    rationale: str = ""


def intercurrent_events(config: Config) -> list[IntercurrentEvent]:
    """The declared intercurrent events, in config order (none without ``estimands``)."""
    events = []
    for spec in config.get("estimands", {}).get("intercurrent_events", []):
        events.append(
            IntercurrentEvent(
                name=spec["name"],
                label=spec.get("label", spec["name"]),
                status=tuple(spec["status"]),
                terminal=bool(spec.get("terminal", False)),
                scores=spec["outcomes"],
                costs=spec.get("costs"),
                composite_values=dict(spec.get("composite_values", {})),
                rationale=spec.get("rationale", ""),
            )
        )
    return events


# ---------------------------------------------------------------------------------------------
# Columns of the analysis table and terms of the model
# ---------------------------------------------------------------------------------------------


def treatment_indicators(config: Config) -> dict[str, str]:
    """The analysis table's 0/1 indicator column of each treatment arm (vs the reference).

    A two-arm trial has one, ``treatment``; a trial with several treatment arms has
    ``treatment[<arm>]`` for each.
    """
    listed = treatment_arms(config)
    if len(listed) == 1:
        return {listed[0]: TREATMENT}
    return {arm: f"{TREATMENT}[{arm}]" for arm in listed}


def arm_terms(config: Config) -> dict[str, str]:
    """Name of each treatment arm's effect coefficient in model tables, e.g. ``arm[b]``."""
    return {arm: f"{config['design']['arm']}[{arm}]" for arm in treatment_arms(config)}


def arm_term(config: Config) -> str:
    """The arm-effect coefficient of a two-arm trial (see :func:`arm_terms` for several)."""
    return arm_terms(config)[single_treatment_arm(config)]


def has_baseline_wave(config: Config) -> bool:
    """Whether the design has a baseline wave (``design.baseline``); a post-only trial has none."""
    return bool(config["design"].get("baseline"))


def enrolment_stage(config: Config) -> str:
    """The trial flow's word for the individuals enrolled: ``assessed at baseline`` when the
    design has a baseline wave, else ``recruited``."""
    return "assessed at baseline" if has_baseline_wave(config) else "recruited"


def outcome_has_baseline(config: Config, scale: str) -> bool:
    """Whether ``scale``'s analysis model holds its baseline value (ANCOVA) or not (post-only).

    The one place that decides it: an outcome's ``baseline`` key under ``analysis.outcomes``,
    by default whether the design has a baseline wave. Scales that are not outcomes of the
    main analysis (total cost, staff outcomes) have a baseline exactly when the design does.
    """
    for outcome in config["analysis"]["outcomes"]:
        if outcome["scale"] == scale:
            return bool(outcome.get("baseline", has_baseline_wave(config)))
    return has_baseline_wave(config)


def score_columns(config: Config, scale: str) -> list[str]:
    """Analysis-table columns of an outcome's scores: its baseline score when its model holds
    one (:func:`outcome_has_baseline`), then its follow-up score."""
    baseline = [baseline_column(scale)] if outcome_has_baseline(config, scale) else []
    return [*baseline, followup_column(scale)]


def outcome_score_columns(config: Config) -> list[str]:
    """The score columns of every outcome (:func:`score_columns`), primary outcome first."""
    return [c for scale in outcome_scales(config) for c in score_columns(config, scale)]


def baseline_column(scale: str) -> str:
    """Analysis-table column holding a scale's baseline score."""
    return f"{scale}__baseline"


def followup_column(scale: str) -> str:
    """Analysis-table column holding a scale's follow-up score."""
    return f"{scale}__followup"


COST_BASELINE = baseline_column(COST)
COST_FOLLOWUP = followup_column(COST)


def cost_columns(config: Config) -> list[str]:
    """Analysis-table columns holding total cost (empty when the config has no costs section)."""
    return [COST_BASELINE, COST_FOLLOWUP] if "costs" in config else []


def effect_scale(config: Config) -> str:
    """The scale used as effect: ``costs.effect`` or else the primary outcome."""
    return str(config["costs"].get("effect", primary_outcome(config)))


def imputed_extra_columns(config: Config) -> list[str]:
    """Analysis-table columns imputed besides the outcome scores (total costs, when configured)."""
    return cost_columns(config)


def cluster_variable_names(config: Config) -> list[str]:
    """Names of the configured cluster variables (``imputation.cluster_variables``)."""
    return list(config["imputation"].get("cluster_variables", {}))


def allocation_strata(config: Config, table: pd.DataFrame) -> pd.Series:
    """Each row's arm and randomisation strata joined by ``/``: the groups within which a
    cluster bootstrap resamples clusters, so that every replicate keeps the design's numbers
    of clusters per arm and stratum."""
    design = config["design"]
    return _joined(table[[design["arm"], *design["strata"]]])


def stratum_labels(config: Config, table: pd.DataFrame) -> pd.Series:
    """Each row's randomisation stratum: its strata values joined by ``/`` (``all`` without
    strata)."""
    strata = config["design"]["strata"]
    if not strata:
        return pd.Series("all", index=table.index)
    return _joined(table[strata])


def _joined(keys: pd.DataFrame) -> pd.Series:
    keys = keys.astype(str)
    joined = keys.iloc[:, 0]
    for j in range(1, keys.shape[1]):  # column-wise: a row-wise join is slow on large n
        joined = joined + "/" + keys.iloc[:, j]
    return joined


def strata_columns(config: Config, table: pd.DataFrame) -> pd.DataFrame:
    """The randomisation strata as model columns, each dummy-coded from its declared codes
    (the first code is the reference); no columns without strata."""
    parts = [_code_column(config, column, table[column]) for column in config["design"]["strata"]]
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=table.index)


COVARIATE_MISSING = ("mean", "indicator")  # declared handling of blanks in a covariate


def outcome_covariates(config: Config, scale: str) -> list[str]:
    """The covariates of ``scale``'s analysis model: the outcome's own ``covariates`` under
    ``analysis.outcomes`` when given, else the trial-wide ``covariates`` (also for scales that
    are not outcomes of the main analysis, such as total cost)."""
    for outcome in config["analysis"]["outcomes"]:
        if outcome["scale"] == scale:
            return list(outcome.get("covariates", config["covariates"]))
    return list(config["covariates"])


def all_covariates(config: Config) -> list[str]:
    """Every covariate of any outcome's model: the trial-wide ones, then each outcome's own."""
    names = list(config["covariates"])
    for outcome in config["analysis"]["outcomes"]:
        names += outcome.get("covariates", [])
    return list(dict.fromkeys(names))


def cluster_covariates(config: Config) -> list[str]:
    """The covariates that are columns of the cluster table (cluster-level covariates)."""
    design = config["design"]
    individual = config["tables"][design["individual_table"]]["columns"]
    cluster = config["tables"][design["cluster_table"]]["columns"]
    return [c for c in all_covariates(config) if c in cluster and c not in individual]


def covariate_missing(config: Config) -> dict[str, str]:
    """The declared handling of blanks per covariate (``analysis.covariate_missing``), each one
    of :data:`COVARIATE_MISSING`; a covariate not named has no blanks (validation checks)."""
    return dict(config["analysis"].get("covariate_missing", {}))


def covariate_columns(config: Config, column: str, values: pd.Series) -> pd.DataFrame:
    """A covariate's model columns: coded like every column (categories dummy-coded), with its
    blanks handled as declared (:func:`covariate_missing`).

    ``mean``: a blank takes the mean of the observed values (of each dummy, for a category);
    ``indicator``: the same, plus a column ``<covariate>[missing]`` that is 1 on blank rows (a
    category's dummies are 0 there). Both are valid for a covariate measured before
    randomisation, whose blanks are independent of the arm (White and Thompson 2005,
    Statistics in Medicine 24:993-1007); without blanks the columns are the coded ones alone.
    """
    coded = _code_column(config, column, values)
    handling = covariate_missing(config).get(column)
    blank = values.isna()
    if handling is None or not blank.any():
        return coded
    filled = coded.fillna(coded.mean())
    if handling == "indicator":
        filled[f"{column}[missing]"] = blank.astype(float)
    return filled


def numeric_predictors(config: Config, table: pd.DataFrame) -> pd.DataFrame:
    """Treatment arm(s), strata, covariates (blanks handled as declared,
    :func:`covariate_columns`) and auxiliary variables as numbers (categories dummy-coded)."""
    design = config["design"]
    covariates = all_covariates(config)
    auxiliary = [c for c in config["imputation"].get("auxiliary", []) if c not in covariates]
    parts = [table[list(treatment_indicators(config).values())].astype(float)]
    parts += [_code_column(config, column, table[column]) for column in design["strata"]]
    parts += [covariate_columns(config, column, table[column]) for column in covariates]
    parts += [_code_column(config, column, table[column]) for column in auxiliary]
    return pd.concat(parts, axis=1)


def _code_column(config: Config, column: str, values: pd.Series) -> pd.DataFrame:
    spec = _column_spec(config, column)
    if spec["type"] != "category":
        return values.astype(float).to_frame(column)
    # Coded from the declared codes, compared as text: a code never matches by a reader's guess
    # of its type, and a value that is not a declared code stops here instead of coding as 0.
    levels = [str(level) for level in spec["values"]]
    # each distinct value is turned to text once (not each row: tables have many rows)
    codes, distinct = pd.factorize(values)  # code -1: missing
    text = [str(value) for value in distinct]
    unknown = sorted(set(text) - set(levels))
    if unknown:
        raise ValueError(
            f"column {column!r} holds {unknown[:5]}, which are not among its declared codes "
            f"{levels}: was a table read without the config's types (see "
            "trial.data.intermediate.read_intermediate)?"
        )
    # a row per distinct value, and a last row (NaN) that code -1 picks
    lookup = np.full((len(text) + 1, len(levels) - 1), np.nan)
    for k, level in enumerate(levels[1:]):
        lookup[:-1, k] = [t == level for t in text]
    return pd.DataFrame(
        {f"{column}[{level}]": lookup[codes, k] for k, level in enumerate(levels[1:])},
        index=values.index,
    )


def _column_spec(config: Config, column: str) -> Mapping[str, Any]:
    design = config["design"]
    for table in (design["individual_table"], design["cluster_table"]):
        columns = config["tables"][table]["columns"]
        if column in columns:
            return columns[column]
    raise KeyError(column)


def design_matrix(config: Config, table: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Fixed effects of the model: intercept, arm(s), baseline score (when the outcome's model
    holds one, :func:`outcome_has_baseline`), strata, the outcome's covariates
    (:func:`outcome_covariates`, blanks handled as declared)."""
    design = config["design"]
    indicators = treatment_indicators(config)
    arms = {term: table[indicators[arm]].astype(float) for arm, term in arm_terms(config).items()}
    parts = [pd.DataFrame({"(Intercept)": 1.0, **arms}, index=table.index)]
    if outcome_has_baseline(config, scale):
        parts.append(table[[baseline_column(scale)]].astype(float))
    parts += [_code_column(config, column, table[column]) for column in design["strata"]]
    parts += [
        covariate_columns(config, column, table[column])
        for column in outcome_covariates(config, scale)
    ]
    return pd.concat(parts, axis=1)
