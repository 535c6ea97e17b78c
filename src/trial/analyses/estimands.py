"""Estimands: what each analysis estimates, and how intercurrent events are handled.

The config's ``estimands`` section declares the ICH E9(R1) attributes of the trial's effects:
the population, the treatment conditions, the variable (each outcome scale at follow-up, and
the follow-up cost), the population-level summary, whether the effect is an individual-average
or a cluster-average one (Kahan et al 2023, Clin Trials 20:107), and each **intercurrent event**
(an event after randomisation that ends or changes what the follow-up value means, recorded by a
follow-up status code) with the strategy that handles it, separately for the outcome scores and
for costs:

``treatment_policy``
    The value is wanted whatever happened; a missing one is multiply imputed under missing at
    random (MAR) given the imputation model. Not allowed for a terminal event (e.g. death),
    after which the value does not exist.
``hypothetical``
    The value had the event not occurred; a missing one is multiply imputed under MAR, which is
    the assumption that people with the event would have followed the imputation model.
``while_alive``
    Terminal events only. Scores: the follow-up score is not defined after the event, so no
    imputed value is used; in every completed data set the score stays missing and each
    analysis leaves the individual out (and counts them). The comparison is then among those
    without the event, which randomisation protects only if the arms do not change who has it.
    Costs: the costs incurred before the event, which must be recorded; they are never imputed.
``composite``
    Scores only: the event is part of the outcome, the follow-up score is set to the declared
    value for the outcome (e.g. its worst value) before imputation.

Every individual whose follow-up status names an intercurrent event is counted per arm, with
what was done to their values (:func:`handling_table`), and the report's estimand text is
generated from these declarations (:func:`trial.report.sections.estimands.methods_paragraphs`).
Without an ``estimands`` section no intercurrent event is declared and every missing follow-up
value is imputed under MAR.

Data flow: :func:`prepare_for_imputation` (called by
:func:`trial.analyses.outcomes.build_analysis_table`) sets composite values and checks that
while-alive costs are recorded; :func:`undefined_after_events` (the impute rule, after imputing)
clears the imputed scores that a while-alive strategy leaves undefined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trial.config.vocabulary import (
    COST_FOLLOWUP,
    Config,
    IntercurrentEvent,
    arms,
    followup_column,
    intercurrent_events,
    outcome_scales,
)

__all__ = [
    "EstimandDataError",
    "handling_table",
    "prepare_for_imputation",
    "score_defined",
    "undefined_after_events",
]

STRATEGY_LABELS = {
    "treatment_policy": "treatment policy",
    "hypothetical": "hypothetical",
    "while_alive": "while alive",
    "composite": "composite",
}


class EstimandDataError(ValueError):
    """The data do not allow a declared strategy (e.g. a while-alive cost not recorded)."""


def _events_by_row(config: Config, table: pd.DataFrame) -> pd.Series:
    """The intercurrent event (name) of each row, or ``""``.

    A table without the follow-up status column (one made by hand, not by
    :func:`trial.analyses.outcomes.build_analysis_table`) records no event.
    """
    column = config["design"]["followup_status"]
    if column not in table:
        return pd.Series("", index=table.index)
    status = table[column].astype(str)
    names = {code: e.name for e in intercurrent_events(config) for code in e.status}
    return status.map(lambda code: names.get(code, ""))


def prepare_for_imputation(config: Config, table: pd.DataFrame) -> pd.DataFrame:
    """Apply the strategies that act before imputation.

    Composite: the follow-up score of each outcome is set to the declared value. While-alive
    costs: checked to be recorded (never imputed).

    Raises
    ------
    EstimandDataError
        Individuals with an event whose cost strategy is while_alive have no follow-up cost.
    """
    out = table.copy()
    event_of = _events_by_row(config, table)
    design = config["design"]
    for event in intercurrent_events(config):
        rows = (event_of == event.name).to_numpy()
        if event.scores == "composite":
            for scale, value in event.composite_values.items():
                out.loc[rows, followup_column(scale)] = float(value)
        if event.costs == "while_alive" and "costs" in config:
            unrecorded = rows & out[COST_FOLLOWUP].isna().to_numpy()
            if unrecorded.any():
                ids = out.loc[unrecorded, design["individual_id"]].astype(str).tolist()
                raise EstimandDataError(
                    f"estimands: {int(unrecorded.sum())} individuals with "
                    f"{design['followup_status']} in {list(event.status)} have no service use "
                    f"recorded at {design['followup']!r} (first: {ids[:5]}), but the cost "
                    f"strategy for {event.name!r} is while_alive: record the use up to the "
                    "event, or declare another cost strategy"
                )
    return out


def score_defined(config: Config, table: pd.DataFrame) -> np.ndarray:
    """True for rows whose follow-up scores exist under the declared strategies.

    False for individuals with an event whose score strategy is while_alive.
    """
    excluded = {e.name for e in intercurrent_events(config) if e.scores == "while_alive"}
    return ~_events_by_row(config, table).isin(excluded).to_numpy()


def undefined_after_events(
    config: Config, table: pd.DataFrame, completed: pd.DataFrame
) -> pd.DataFrame:
    """A completed data set with the scores a while-alive strategy leaves undefined cleared.

    Follow-up scores that were missing in ``table`` (before imputation) for individuals outside
    :func:`score_defined` are set back to missing, so that no analysis uses an imputed value
    for them (each analysis counts them among its excluded rows).
    """
    out = completed.copy()
    undefined = ~score_defined(config, table)
    for scale in outcome_scales(config):
        column = followup_column(scale)
        clear = undefined & table[column].isna().to_numpy()
        out.loc[clear, column] = np.nan
    return out


def _score_handling(event: IntercurrentEvent) -> str:
    return {
        "treatment_policy": "imputed under MAR",
        "hypothetical": "imputed under MAR (the value had the event not occurred)",
        "while_alive": "not defined: left out of the outcome analyses",
        "composite": "set to the declared composite value",
    }[event.scores]


def _cost_handling(event: IntercurrentEvent) -> str:
    return {
        "treatment_policy": "imputed under MAR",
        "hypothetical": "imputed under MAR (the cost had the event not occurred)",
        "while_alive": "recorded costs up to the event, not imputed",
    }[str(event.costs)]


def handling_table(config: Config, table: pd.DataFrame) -> pd.DataFrame:
    """Per intercurrent event and arm: how many individuals, and what was done with them.

    Columns: ``event, label, status, arm, n, outcomes_strategy, outcomes_handling,
    costs_strategy, costs_handling``; one row per event and arm (zero counts included), then a
    row per arm for follow-up losses that are not intercurrent events (missing data, imputed
    under MAR).
    """
    design = config["design"]
    event_of = _events_by_row(config, table)
    completed = table[design["followup_status"]].astype(str) == design["followup_completed"]
    rows = []
    for event in intercurrent_events(config):
        for arm in arms(config):
            in_arm = table[design["arm"]] == arm
            rows.append(
                {
                    "event": event.name,
                    "label": event.label,
                    "status": ", ".join(event.status),
                    "arm": arm,
                    "n": int(((event_of == event.name) & in_arm).sum()),
                    "outcomes_strategy": event.scores,
                    "outcomes_handling": _score_handling(event),
                    "costs_strategy": event.costs or "",
                    "costs_handling": _cost_handling(event) if event.costs else "",
                }
            )
    costed = "costs" in config
    other = ~completed & (event_of == "")
    other_codes = ", ".join(sorted(set(table.loc[other, design["followup_status"]].astype(str))))
    for arm in arms(config):
        in_arm = table[design["arm"]] == arm
        rows.append(
            {
                "event": "",
                "label": "lost to follow-up for other reasons (missing data)",
                "status": other_codes,
                "arm": arm,
                "n": int((other & in_arm).sum()),
                "outcomes_strategy": "",
                "outcomes_handling": "imputed under MAR",
                "costs_strategy": "",
                "costs_handling": "imputed under MAR if not recorded" if costed else "",
            }
        )
    return pd.DataFrame(rows)


def flow_rows(config: Config, table: pd.DataFrame) -> list[tuple[str, str, str, int]]:
    """Flow-table rows ``(level, stage, arm, n)`` of individuals left out of the outcome
    analyses by a while-alive strategy, one per such event and arm."""
    event_of = _events_by_row(config, table)
    design = config["design"]
    rows = []
    for event in intercurrent_events(config):
        if event.scores != "while_alive":
            continue
        for arm in arms(config):
            n = int(((event_of == event.name) & (table[design["arm"]] == arm)).sum())
            rows.append(("individual", f"excluded from outcome analyses: {event.label}", arm, n))
    return rows


