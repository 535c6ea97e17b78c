"""Report section of the economic evaluation and the texts it renders (direction of the cost
difference, disagreeing methods, congeniality of MI then bootstrap, delivery cost)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.analyses.costs.spec import (
    agreement_tolerance,
    bootstrap_spec,
    cost_direction,
    cost_sign,
    headline_method,
)
from trial.config.vocabulary import (
    Config,
    contrast_label,
    effect_scale,
    single_treatment_arm,
    unit_plural,
)
from trial.report.blocks import Section, embed_png
from trial.report.checklist import COST_SECTION_TITLE


def cost_section(config: Config, inputs: Mapping[str, Any]) -> Any:
    """Report section: unit costs, use and cost, adjusted difference, CE, CHEERS checklist."""
    truth = None
    if inputs.get("truth"):
        truth = json.loads(Path(inputs["truth"][0]).read_text(encoding="utf-8"))
    costs = pd.read_csv(inputs["costs"])
    ceac = pd.read_csv(inputs["ceac"])
    step = max(1, (len(ceac) - 1) // 5)
    shown = ceac.iloc[list(range(0, len(ceac), step))]
    use = pd.read_csv(inputs["cost_use"])
    use["unit"] = use["unit"].fillna("")
    spec = config["costs"]
    context = {
        "spec": spec,
        "bootstrap": bootstrap_spec(config),
        "effect_label": config["scales"][effect_scale(config)]["label"],
        "cost_units": pd.read_csv(inputs["cost_units"]).to_dict("records"),
        "use": use.to_dict("records"),
        "costs": costs.to_dict("records"),
        "ce": pd.read_csv(inputs["cost_effectiveness"]).set_index("quantity").to_dict("index"),
        "ceac": shown.to_dict("records"),
        "cheers": pd.read_csv(inputs["cheers"]).to_dict("records"),
        "reproduction": _published_row(config, costs, truth),
        "figures": {
            "plane": embed_png(inputs["ce_plane_figure"]),
            "ceac": embed_png(inputs["ceac_figure"]),
        },
        "direction_text": _direction_text(config, costs),
        "headline": costs[costs["headline"].astype(bool)].iloc[0].to_dict(),
        "headline_reason": spec.get("headline_reason", ""),
        "agreement": agreement_tolerance(config),
        "disagreements": _disagreements(config, costs),
        "congeniality": congeniality_text(config),
        "delivery_cost": delivery_cost_text(config),
    }
    return Section("costs", COST_SECTION_TITLE, "costs.html.j2", context)


def _published_row(
    config: Config, costs: pd.DataFrame, truth: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    spec = config["costs"]
    published = spec.get("published")
    sign = cost_sign(config)
    true_value = None
    if truth is not None and "costs" in truth:
        true_value = sign * float(truth["costs"]["treatment_minus_reference"])
    if not published and true_value is None:
        return None
    row: dict[str, Any] = {"true_value": true_value, "published": None}
    if published:
        flip = 1.0 if published["direction"] == cost_direction(config) else -1.0
        lo, hi = sorted(flip * np.asarray(published["ci"], dtype=float))
        row["published"] = {
            "estimate": flip * published["estimate"],
            "ci_low": lo,
            "ci_high": hi,
            "as_stated": published,
            "stated_contrast": contrast_label(config, published["direction"]),
        }
    shown = ["bootstrap_rubin", "bootstrap_percentile", "mixed_model", "glm_difference"]
    head = headline_method(config)
    row["this_run"] = (
        costs.set_index("method")
        .loc[[head, *(m for m in shown if m != head)]]
        .reset_index()
        .to_dict("records")
    )
    return row


def _direction_text(config: Config, costs: pd.DataFrame) -> str:
    """Plain statement of which arm cost more, from the headline estimate."""
    design = config["design"]
    labels = design["arm_labels"]
    row = costs.set_index("method").loc[headline_method(config)]
    difference = cost_sign(config) * float(row["estimate"])  # treatment minus reference
    currency = config["costs"].get("currency", "")
    word = "lower" if difference < 0 else "higher"
    significant = row["ci_low"] > 0 or row["ci_high"] < 0
    return (
        f"Adjusted mean cost at follow-up was {currency} {abs(difference):,.0f} {word} with "
        f"{labels[single_treatment_arm(config)]} than with {labels[design['reference_arm']]} "
        f"(headline: {row['label']}); the confidence interval "
        f"{'excludes' if significant else 'includes'} no difference."
    )


def _disagreements(config: Config, costs: pd.DataFrame) -> list[str]:
    """Sentences naming each method whose mean difference disagrees with the headline."""
    currency = config["costs"].get("currency", "")
    tolerance = agreement_tolerance(config)
    head = costs[costs["headline"].astype(bool)].iloc[0]
    out = []
    for row in costs[costs["agrees"].astype(str) == "False"].itertuples():
        out.append(
            f"{row.label}: {currency} {row.estimate:,.0f} (SE {row.se:,.0f}) against the "
            f"headline {currency} {head['estimate']:,.0f} (SE {head['se']:,.0f}), a difference "
            f"of {row.difference_in_headline_se:+.2f} headline SEs (tolerance "
            f"{tolerance['estimate_se']:g}) and an SE ratio of {row.se_ratio:.2f} (tolerance "
            f"{tolerance['se_ratio']:g})"
        )
    return out


def congeniality_text(config: Config) -> str:
    """Why the MI-then-bootstrap acceptability curve is (or may not be) valid here."""
    engine = config["imputation"]["engine"]
    design = config["design"]
    text = (
        "The plane and the acceptability curve stack the bootstrap replicates of every completed "
        "data set (MI then bootstrap). Bootstrapping each completed data set treats imputed "
        "values as data, so the stacked replicates carry the imputation uncertainty only "
        "through the spread between imputations; this is valid when the imputation model is "
        "proper and congenial with the cost and effect regressions, i.e. contains them: here it "
        f"imputes follow-up cost and the effect jointly with the arm, the "
        f"{', '.join(design['strata']) or 'strata'}, their baseline values and the "
        f"{design['cluster_label']}. "
    )
    if engine == "forest":
        text += (
            "The imputation engine is a tree ensemble (chained equations with predictive mean "
            "matching), which is not guaranteed to carry the arm effect or the cost-effect "
            "relation into the imputed values: congeniality is not established, and the "
            "imputation checks (arm effect among imputed against observed rows) should be read "
            "before the curve. "
        )
    else:
        text += (
            "The multilevel engine's normal random-intercept models contain the linear "
            "regressions analysed, with predictive mean matching for costs. "
        )
    return text + (
        "Bootstrapping before imputing (a fresh imputation model in every replicate), which "
        "needs no congeniality, was not done: it costs one imputation per replicate."
    )


def delivery_cost_text(config: Config) -> str:
    """The report's statement of the intervention's delivery cost: what was added, declared as
    zero, or that none was declared (so the incremental cost leaves it out)."""
    design = config["design"]
    spec = config["costs"].get("intervention_cost")
    arm = design["arm_labels"][single_treatment_arm(config)]
    if not spec:
        return (
            f"Intervention delivery cost: none was declared in the config, so the incremental "
            f"cost covers service use only and leaves out the cost of delivering {arm}."
        )
    currency = config["costs"].get("currency", "")
    amount = spec.get("per_individual", spec.get("per_cluster"))
    if amount == 0:
        return f"Intervention delivery cost: declared as zero ({spec['basis']})."
    if "per_individual" in spec:
        how = f"per {design['individual_label']} of the {arm} arm, added to each one's"
    else:
        how = (
            f"per {design['cluster_label']} of the {arm} arm, shared equally among its analysed "
            f"{unit_plural(design, 'individual')} and added to their"
        )
    return (
        f"Intervention delivery cost: {currency} {amount:,.0f} {how} follow-up cost "
        f"({spec['basis']})."
    )
