"""Report section of the estimands: their attributes and the methods paragraphs generated
from the declared intercurrent-event strategies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from trial.analyses.estimands import STRATEGY_LABELS
from trial.config.vocabulary import (
    Config,
    arms,
    enrolment_stage,
    intercurrent_events,
    outcome_family,
    outcome_has_baseline,
    outcome_scales,
    unit_plural,
)
from trial.report.blocks import Section


def estimands_section(config: Config, inputs: Mapping[str, Any]) -> Any:
    """The report section: attributes, strategy paragraphs and the handling counts by arm."""
    handling = pd.read_csv(inputs["intercurrent_events"], keep_default_na=False)
    wide = []
    for _, part in handling.groupby(["event", "label"], sort=False):
        by_arm = part.set_index("arm")["n"]
        first = part.iloc[0].to_dict()
        wide.append({**first, "counts": [int(by_arm.get(a, 0)) for a in arms(config)]})
    context = {
        "attributes": estimand_rows(config),
        "paragraphs": methods_paragraphs(config),
        "handling": wide,
        "has_costs": "costs" in config,
    }
    return Section("estimands", "Estimands", "estimands.html.j2", context)


def estimand_rows(config: Config) -> list[dict[str, str]]:
    """The estimand attributes, one row per attribute (for the report)."""
    spec = config.get("estimands", {})
    design = config["design"]
    labels = design["arm_labels"]
    compared = ", ".join(labels[a] for a in arms(config)[:-1])
    treatments = spec.get(
        "treatment", f"{compared} versus {labels[design['reference_arm']]} (as allocated)"
    )
    variables = "; ".join(config["scales"][s]["label"] for s in outcome_scales(config))
    variable_text = f"Outcome scores at {design['followup']}: {variables}"
    if "costs" in config:
        variable_text += f". Total service cost in the recall period before {design['followup']}"
    events = intercurrent_events(config)
    event_text = (
        "; ".join(
            f"{e.label} ({', '.join(e.status).replace('_', ' ')}): outcomes "
            f"{STRATEGY_LABELS[e.scores]}"
            + (f", costs {STRATEGY_LABELS[e.costs]}" if e.costs else "")
            for e in events
        )
        or "none declared"
    )
    return [
        {
            "attribute": "Population",
            "value": spec.get(
                "population",
                f"{unit_plural(design, 'individual')} of the randomised "
                f"{unit_plural(design, 'cluster')}, {enrolment_stage(config)}",
            ),
        },
        {"attribute": "Treatment conditions", "value": treatments},
        {"attribute": "Variable", "value": variable_text},
        {"attribute": "Intercurrent events and strategies", "value": event_text},
        {
            "attribute": "Population-level summary",
            "value": spec.get("summary", _default_summary(config)),
        },
        {"attribute": "Individual- or cluster-average", "value": _level_text(config)},
    ]


def methods_paragraphs(config: Config) -> list[dict[str, str]]:
    """The estimand paragraphs of the report (``heading``, ``text``), from the declarations."""
    design = config["design"]
    paragraphs = []
    for event in intercurrent_events(config):
        codes = ", ".join(f"'{c.replace('_', ' ')}'" for c in event.status)
        heading = event.label
        text = (
            f"(follow-up status {codes}{', a terminal event' if event.terminal else ''}). "
            f"Outcome scores: {STRATEGY_LABELS[event.scores]} strategy; "
        )
        text += {
            "treatment_policy": "the score is wanted whatever happened, and a missing one is "
            "imputed under missing at random given the imputation model.",
            "hypothetical": "the estimand is the score had the event not occurred; a missing "
            "score is imputed under missing at random, i.e. as if those with the event followed "
            "the imputation model of those without it.",
            "while_alive": "the score does not exist after the event, so it is not imputed: "
            f"these {unit_plural(design, 'individual')} are left out of every outcome analysis and "
            "counted. The comparison is then among those without the event, which "
            "randomisation protects only if the arms do not change who has it (counts by arm "
            "below).",
            "composite": "the event is part of the outcome: the follow-up score is set to "
            + ", ".join(f"{v:g} ({s})" for s, v in event.composite_values.items())
            + " before imputation.",
        }[event.scores]
        if event.costs:
            cost_text = {
                "treatment_policy": "a missing cost is imputed under missing at random.",
                "hypothetical": "the cost had the event not occurred; a missing one is imputed "
                "under missing at random.",
                "while_alive": "the costs incurred before the event, as recorded; they are not "
                "imputed and no cost is imputed after the event.",
            }[event.costs]
            text += f" Costs: {STRATEGY_LABELS[event.costs]} strategy; {cost_text}"
        if event.rationale:
            text += f" Rationale: {event.rationale}"
        paragraphs.append({"heading": heading, "text": text})
    other = (
        f"Other losses to follow-up are missing data: their missing values are imputed under "
        f"missing at random given the imputation model (follow-up status other than "
        f"'{design['followup_completed']}' and the events above)"
    )
    if "delta" in config.get("sensitivity", {}):
        other += (
            "; the delta-adjustment sensitivity analysis shows how far the primary result "
            "depends on that assumption"
        )
    paragraphs.append({"heading": "", "text": other + "."})
    return paragraphs


def _level_text(config: Config) -> str:
    design = config["design"]
    cluster, individual = design["cluster_label"], design["individual_label"]
    clusters = unit_plural(design, "cluster")
    if config.get("estimands", {}).get("level", "individual") == "cluster":
        return (
            f"Cluster-average: every {cluster} counts equally. The mixed models weight "
            f"{clusters} by their precision, between equal and size-proportional weights; they "
            f"estimate the cluster-average effect when the effect does not vary with {cluster} "
            "size (Kahan et al 2023)."
        )
    return (
        f"Individual-average: every {individual} counts equally. The mixed models weight "
        f"{clusters} by their precision, between equal and size-proportional weights; they "
        f"estimate the individual-average effect when the effect does not vary with {cluster} "
        "size (Kahan et al 2023); the cost bootstrap weights every "
        f"{individual} equally."
    )


def _default_summary(config: Config) -> str:
    """The population-level summary of the declared outcome families, when not configured."""
    families = {outcome_family(config, s) for s in outcome_scales(config)}
    any_baseline = any(outcome_has_baseline(config, s) for s in outcome_scales(config))
    adjusted = ("the baseline value and " if any_baseline else "") + "the strata"
    if families == {"gaussian"}:
        return (
            f"difference in means between arms, adjusted for {adjusted} "
            "(for a linear model the same as the marginal difference)"
        )
    level = {"glmm": "cluster-specific", "gee": "population-averaged"}[
        config["analysis"]["non_gaussian"]["method"]
    ]
    parts = ["difference in means between arms for continuous outcomes"] * ("gaussian" in families)
    if "binomial" in families:
        parts.append(
            f"{level} odds ratio for 0/1 outcomes, with the risk difference and risk ratio "
            "standardised over the analysed individuals"
        )
    if "poisson" in families:
        parts.append(f"{level} rate ratio for counts")
    return "; ".join(parts) + f"; each adjusted for {adjusted}"
