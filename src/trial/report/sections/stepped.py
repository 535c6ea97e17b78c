"""Report section of a stepped-wedge or cluster-crossover trial.

Reads the result files of rule ``analyse_stepped_wedge`` (:mod:`trial.analyses.stepped_wedge`): the
design's effects table, its sensitivity analyses, the flow per period and condition, and the
schedule figure. It computes no statistics; the methods text states the model that was fitted,
its random effects and its df, from the config and the tables.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from trial.analyses.stepped_wedge import BASELINE_TERM
from trial.config.schedule import design_type
from trial.config.vocabulary import Config, cluster_covariates, contrast_sign, unit_plural
from trial.report.blocks import DF_METHOD_NAMES, Section, embed_png, p_text
from trial.report.checklist import ChecklistItem

DESIGN_NAMES = {"stepped_wedge": "stepped-wedge", "crossover": "cluster-crossover"}

# what each model's random effects are, in the methods text
MODEL_WORDS = {
    "hussey_hughes": "a random intercept per {cluster} (Hussey & Hughes 2007)",
    "nested_exchangeable": "random intercepts per {cluster} and per {cluster}-period "
    "(nested exchangeable; Hooper et al 2016, Girling & Hemming 2016)",
}


# the report sections of a parallel trial that the one section of a scheduled design stands in
# for (methods, flow, effects, correlations, sensitivity analyses)
STANDS_IN_FOR = ("design", "flow", "outcomes", "clustering", "sensitivity")
SECTION_ID = "stepped_wedge"
# what the section leaves out of a checklist item it otherwise answers
CHECKLIST_GAPS = {
    "13b": "the reasons individuals have no outcome (the flow table counts them per period and "
    "condition)",
}


def scheduled_checklist(items: Sequence[ChecklistItem]) -> tuple[ChecklistItem, ...]:
    """The checklist's items pointed at the section of a scheduled design where a parallel
    trial's report answers them in several sections (:data:`STANDS_IN_FOR`), with what that
    section leaves out (:data:`CHECKLIST_GAPS`)."""

    def point(ids: Sequence[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(SECTION_ID if s in STANDS_IN_FOR else s for s in ids))

    return tuple(
        replace(
            item,
            sections=point(item.sections),
            required=point(item.required),
            gap=CHECKLIST_GAPS.get(item.item, item.gap),
        )
        for item in items
    )


def analysis_name(config: Config, row: Mapping[str, Any]) -> str:
    """How an effects-table row's analysis is named: its random effects and treatment effect."""
    cluster = config["design"]["cluster_label"]
    model = {
        "hussey_hughes": f"{cluster} random intercept (Hussey & Hughes)",
        "nested_exchangeable": f"{cluster} and {cluster}-period random intercepts "
        "(nested exchangeable)",
    }[row["model"]]
    effect = row["effect"]
    if effect == "treatment":
        return f"{model}, one treatment effect"
    if effect == "exposure mean":
        return f"{model}, exposure time: mean of the exposure-time effects"
    return f"{model}, exposure time: effect in period {effect.split()[-1]} of exposure"


def adjusted_names(adjusted_for: Any) -> list[str]:
    """The terms of an effects-table row's ``adjusted_for`` (``baseline`` and covariate names
    joined by "; "; blank, read as NaN, for none)."""
    return adjusted_for.split("; ") if isinstance(adjusted_for, str) and adjusted_for else []


def adjustment_words(config: Config, adjusted_for: Any) -> str:
    """What a model adjusts for besides period, in words (:func:`adjusted_names`)."""
    names = adjusted_names(adjusted_for)
    cluster = set(cluster_covariates(config))
    words = [
        "the outcome's baseline score"
        if name == BASELINE_TERM
        else f"{name} ({config['design']['cluster_label']} level)"
        if name in cluster
        else name
        for name in names
    ]
    if len(words) > 1:
        return ", ".join(words[:-1]) + " and " + words[-1]
    return "".join(words)


def _effect_rows(config: Config, table: pd.DataFrame) -> list[dict[str, Any]]:
    labels = {scale: spec["label"] for scale, spec in config["scales"].items()}
    return [
        {
            **r,
            "label": labels[r["outcome"]],
            "analysis": analysis_name(config, r),
            "p_display": p_text(r["p"]),
        }
        for r in table.to_dict("records")
    ]


def flow_rows(config: Config, flow: pd.DataFrame) -> list[dict[str, Any]]:
    """The flow table of a scheduled design, one row per period: for each condition its
    clusters, individuals sampled, analysed and excluded (the result file's counts)."""
    arms = [config["design"]["reference_arm"], *config["design"]["treatment_arms"]]
    rows = []
    for period, part in flow.groupby("period", sort=False):
        by_arm = part.set_index("arm")
        rows.append(
            {
                "period": period,
                "arms": [by_arm.loc[a].to_dict() if a in by_arm.index else {} for a in arms],
            }
        )
    return rows


def methods_text(config: Config, primary: pd.DataFrame) -> str:
    """The primary model in words: data, fixed and random effects, estimation, df, exclusions."""
    design = config["design"]
    cluster = design["cluster_label"]
    individuals = unit_plural(design, "individual")
    kind = DESIGN_NAMES[design_type(config)]
    first = primary.iloc[0]
    df_name = DF_METHOD_NAMES[first["df_method"]]
    exposure = bool(first["time_on_treatment"])
    words = adjustment_words(config, first.get("adjusted_for"))
    adjusted = f", adjusted for {words}" if words else ", with no other covariate"
    has_baseline = BASELINE_TERM in adjusted_names(first.get("adjusted_for"))
    missing_baseline = " (or baseline score)" if has_baseline else ""
    treatment = (
        f"one indicator per period of exposure (1 in a {cluster}'s first treated period, 2 in "
        "the next, ...; Kenny et al 2022), the reported effect being their mean, which weights "
        "every exposure time equally"
        if exposure
        else f"the indicator of the {cluster}-period's condition (one treatment effect, "
        "assumed the same in every treated period)"
    )
    return (
        f"A cross-sectional {kind} design: each {cluster} contributes different {individuals} in "
        f"each of {int(first['n_periods'])} periods, and the schedule sets its condition in each "
        f"period. Each outcome at follow-up is analysed by a linear mixed model fitted by REML "
        f"with categorical period effects (secular trend), {treatment}, and "
        f"{MODEL_WORDS[first['model']].format(cluster=cluster)}{adjusted}. Intervals and "
        f"p-values use t statistics on {df_name} degrees of freedom (shown per row). "
        f"{individuals.capitalize()} without an observed outcome{missing_baseline} are excluded "
        f"from the model and counted per period below; no value is imputed (a complete-case "
        f"analysis, unbiased when whether the outcome is missing depends only on terms in the "
        f"model). The within-period ICC is the correlation of two {individuals} of "
        f"one {cluster} in the same period, the between-period ICC in different periods, and the "
        f"cluster autocorrelation (CAC) their ratio; with a random intercept per {cluster} only "
        f"(Hussey & Hughes) the CAC is 1 by construction."
    )


def truth_rows(
    config: Config, effects: list[dict[str, Any]], truth: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Each effect of the design's model beside the generating value of a synthetic example
    (``truth.json``: ``outcomes.<scale>.arm_minus_reference.<arm>``), in the effect's direction,
    with the difference in standard errors. Effects without a true value are left out."""
    arm = config["design"]["treatment_arms"][0]
    directions = {o["scale"]: o["direction"] for o in config["analysis"]["outcomes"]}
    rows = []
    for r in effects:
        true = truth.get("outcomes", {}).get(r["outcome"], {}).get("arm_minus_reference", {})
        if arm not in true or r["effect"] not in ("treatment", "exposure mean"):
            continue
        value = contrast_sign(directions[r["outcome"]]) * float(true[arm])
        rows.append({**r, "truth": value, "z": (r["estimate"] - value) / r["se"]})
    return rows


def stepped_wedge_section(config: Config, inputs: Mapping[str, Any]) -> Section:
    """Report section: schedule, per-period flow, the effects of the design's model and its
    sensitivity analyses, methods text and the correlation structure; for a synthetic example
    the effects beside their generating values."""
    primary = pd.read_csv(inputs["stepped_wedge"])
    sensitivity = pd.read_csv(inputs["stepped_wedge_sensitivity"])
    flow = pd.read_csv(inputs["stepped_wedge_flow"], dtype={"period": str})
    headline = primary[primary["effect"].isin(["treatment", "exposure mean"])]
    kind = DESIGN_NAMES[design_type(config)]
    truth = {}
    if inputs.get("truth"):
        truth = json.loads(Path(inputs["truth"][0]).read_text(encoding="utf-8"))
    effects = _effect_rows(config, primary)
    context = {
        "kind": kind,
        "methods": methods_text(config, primary),
        "effects": effects,
        "truth": truth_rows(config, effects, truth),
        "sensitivity": _effect_rows(config, sensitivity),
        "correlation": _effect_rows(config, headline),
        "flow": flow_rows(config, flow),
        "flow_arms": [config["design"]["reference_arm"], *config["design"]["treatment_arms"]],
        "n_sampled": int(flow["n_sampled"].sum()),
        "n_excluded": int(flow["n_excluded"].sum()),
        "has_baseline": BASELINE_TERM in adjusted_names(primary["adjusted_for"].iloc[0]),
        "figures": {"schedule": embed_png(inputs["schedule_figure"])},
    }
    title = f"{kind[0].upper()}{kind[1:]} design: schedule, flow and effects"
    return Section(SECTION_ID, title, "stepped_wedge.html.j2", context)


def stepped_summary(config: Config, inputs: Mapping[str, Any]) -> list[str]:
    """The report's opening sentence for each primary outcome of a scheduled design."""
    design = config["design"]
    level = round((1 - config["analysis"]["alpha"]) * 100)
    primary = pd.read_csv(inputs["stepped_wedge"])
    roles = {o["scale"]: o["role"] for o in config["analysis"]["outcomes"]}
    sentences = []
    for r in primary[primary["effect"].isin(["treatment", "exposure mean"])].to_dict("records"):
        if roles[r["outcome"]] != "primary":
            continue
        p = p_text(r["p"])
        p = f"p < {p[1:]}" if p.startswith("<") else f"p = {p}"
        sentences.append(
            f"Primary outcome, {config['scales'][r['outcome']]['label']} ({r['contrast']}): "
            f"{r['estimate']:.2f} ({level}% CI {r['ci_low']:.2f} to {r['ci_high']:.2f}; {p}; "
            f"{DF_METHOD_NAMES[r['df_method']]} df {r['df']:.1f}), from "
            f"{analysis_name(config, r)}, adjusted for period"
            + (f", {words}" if (words := adjustment_words(config, r.get("adjusted_for"))) else "")
            + f". Analysed: {int(r['n_obs'])} "
            f"{unit_plural(design, 'individual')} in {int(r['n_clusters'])} "
            f"{unit_plural(design, 'cluster')} over {int(r['n_periods'])} periods; "
            f"{int(r['n_excluded'])} without an observed outcome"
            + (" or baseline score" if BASELINE_TERM in adjusted_names(r["adjusted_for"]) else "")
            + " were excluded (nothing imputed)."
        )
    return sentences
