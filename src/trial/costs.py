"""Service costs and cost-effectiveness: the report's figures, CHEERS checklist and section.

The analysis lives in the modules of its steps (each one workflow rule):

* :mod:`trial.cost_use`: each individual's total cost from service use and unit costs (called by
  :func:`trial.analysis.build_analysis_table`), the observed use and cost by arm, the unit costs.
* :mod:`trial.cost_fits`: the cost and effect regressions of one completed data set.
* :mod:`trial.cost_bootstrap`: the joint cluster bootstrap of incremental cost and effect.
* :mod:`trial.cost_pooling`: Rubin's rules over imputations (MI then bootstrap), the comparison
  of every mean difference with the headline, the cost-effectiveness summary and the
  acceptability curve.
* :mod:`trial.cost_spec`: what the config's ``costs`` section asks, with its defaults.

:func:`congeniality_text` states in the report what the configured imputation engine does and
does not guarantee for the MI-then-bootstrap acceptability curve.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.cost_spec import agreement_tolerance as _agreement
from trial.cost_spec import bootstrap_spec as _bootstrap_spec
from trial.cost_spec import cost_direction as _direction
from trial.cost_spec import cost_sign as _cost_sign
from trial.cost_spec import effect_sign as _effect_sign
from trial.cost_spec import headline_method
from trial.reporting import Section, embed_png, figure_dpi, pyplot, save_figure
from trial.vocabulary import (
    Config,
    contrast_label,
    effect_scale,
    single_treatment_arm,
    unit_plural,
)

__all__ = [
    "ce_plane_plot",
    "ceac_plot",
    "cheers_checklist",
    "congeniality_text",
    "cost_section",
    "delivery_cost_text",
]


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


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def confidence_ellipse(x: np.ndarray, y: np.ndarray, level: float) -> tuple[float, float, float]:
    """Axes and orientation of the ellipse holding ``level`` of a bivariate normal with the
    covariance of ``(x, y)``.

    Returns the full width and height (along the covariance's major and minor eigenvectors) and
    the major axis's angle to the x axis in degrees: each half-axis is
    ``sqrt(chi2_2(level) * eigenvalue)``.
    """
    from scipy.stats import chi2

    covariance = np.cov(np.vstack([x, y]), ddof=1)
    values, vectors = np.linalg.eigh(covariance)  # ascending
    radius = chi2.ppf(level, 2)
    width, height = 2 * np.sqrt(radius * values[::-1].clip(min=0))
    angle = math.degrees(math.atan2(vectors[1, 1], vectors[0, 1]))
    return float(width), float(height), angle


def ce_plane_plot(
    config: Config, replicates: pd.DataFrame, ce: pd.DataFrame, path: str | Path
) -> None:
    """Cost-effectiveness plane: the density of the stacked bootstrap replicates of incremental
    effect and cost (hexagonal bins), the pooled estimate and, around it, the ellipse holding
    the confidence level of a bivariate normal with the replicates' covariance."""
    from matplotlib.patches import Ellipse

    plt = pyplot()
    currency = config["costs"].get("currency", "")
    de = _effect_sign(config) * replicates["effect"].to_numpy()
    dc = replicates["cost"].to_numpy()
    point = ce.set_index("quantity")["estimate"]
    level = 1 - config["analysis"]["alpha"]
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    bins = ax.hexbin(de, dc, gridsize=35, cmap="Blues", mincnt=1, linewidths=0.2)
    fig.colorbar(bins, ax=ax, label="bootstrap replicates per bin")
    centre = (point["incremental_effect"], point["incremental_cost"])
    width, height, angle = confidence_ellipse(de, dc, level)
    ax.add_patch(
        Ellipse(
            centre,
            width,
            height,
            angle=angle,
            fill=False,
            color="#c55a11",
            lw=1.5,
            label=f"{round(level * 100)}% ellipse (normal approximation)",
        )
    )
    ax.scatter(*centre, color="#c55a11", s=40, zorder=3, label="pooled estimate")
    ax.axhline(0, color="grey", lw=1)
    ax.axvline(0, color="grey", lw=1)
    ax.set_xlabel(f"Incremental effect: {config['scales'][effect_scale(config)]['label']}")
    ax.set_ylabel(f"Incremental cost ({currency})")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    save_figure(fig, path, figure_dpi(config))


def ceac_plot(config: Config, ceac: pd.DataFrame, path: str | Path) -> None:
    """Cost-effectiveness acceptability curve."""
    plt = pyplot()
    currency = config["costs"].get("currency", "")
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot(ceac["wtp"], ceac["prob_cost_effective"], color="#1f4e79")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(
        f"Willingness to pay per point of "
        f"{config['scales'][effect_scale(config)]['label']} ({currency})"
    )
    ax.set_ylabel("Probability cost-effective")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, figure_dpi(config))


# ---------------------------------------------------------------------------------------------
# CHEERS 2022 and the report section
# ---------------------------------------------------------------------------------------------

# (item, section, topic, where it is reported in this report or why it is not applicable);
# "{costs}" is the cost section's title.
_CHEERS_2022 = [
    (1, "Title", "Title", "outside the pipeline: title of the trial's economic publication"),
    (2, "Abstract", "Abstract", "outside the pipeline: the economic publication's abstract"),
    (
        3,
        "Introduction",
        "Background and objectives",
        "report header (trial title and reference); {costs}: aim stated in the opening paragraph",
    ),
    (
        4,
        "Methods",
        "Health economic analysis plan",
        "outside the pipeline: the trial protocol "
        "and analysis plan; this config records every analysis choice",
    ),
    (5, "Methods", "Study population", "Baseline characteristics section; Flow section"),
    (6, "Methods", "Setting and location", "report header and Design and methods section"),
    (7, "Methods", "Comparators", "{costs}: every estimate names its contrast (arms)"),
    (8, "Methods", "Perspective", "{costs}: methods paragraph (perspective)"),
    (9, "Methods", "Time horizon", "{costs}: methods paragraph (time horizon)"),
    (10, "Methods", "Discount rate", "{costs}: methods paragraph (discounting)"),
    (11, "Methods", "Selection of outcomes", "{costs}: methods paragraph (effect measure)"),
    (
        12,
        "Methods",
        "Measurement of outcomes",
        "Primary and secondary outcomes section; effect scale scoring in the config",
    ),
    (
        13,
        "Methods",
        "Valuation of outcomes",
        "not applicable: the effect is a clinical score, not a preference-based utility",
    ),
    (
        14,
        "Methods",
        "Measurement and valuation of resources and costs",
        "{costs}: unit cost table (source) and use and cost table",
    ),
    (
        15,
        "Methods",
        "Currency, price date, and conversion",
        "{costs}: unit cost table (currency, price year); no conversion",
    ),
    (
        16,
        "Methods",
        "Rationale and description of model",
        "not applicable: within-trial analysis, no decision model",
    ),
    (
        17,
        "Methods",
        "Analytics and assumptions",
        "{costs}: headline and methods paragraphs (two-stage bootstrap with shrinkage, mixed "
        "model, multiple imputation, GLM sensitivity, agreement between methods)",
    ),
    (18, "Methods", "Characterising heterogeneity", "not reported: no subgroup analysis"),
    (19, "Methods", "Characterising distributional effects", "not reported: not assessed"),
    (
        20,
        "Methods",
        "Characterising uncertainty",
        "{costs}: bootstrap CIs, CE plane, acceptability curve, net benefit CIs, GLM sensitivity",
    ),
    (
        21,
        "Methods",
        "Approach to engagement with patients and others affected by the study",
        "outside the pipeline: the trial's publications",
    ),
    (22, "Results", "Study parameters", "{costs}: unit cost table; config file in Provenance"),
    (
        23,
        "Results",
        "Summary of main results",
        "{costs}: adjusted cost difference table and cost-effectiveness table",
    ),
    (
        24,
        "Results",
        "Effect of uncertainty",
        "{costs}: CE plane, acceptability curve, net benefit table, sensitivity (GLM) rows",
    ),
    (
        25,
        "Results",
        "Effect of engagement with patients and others affected by the study",
        "outside the pipeline: the trial's publications",
    ),
    (
        26,
        "Discussion",
        "Study findings, limitations, generalisability, and current knowledge",
        "outside the pipeline: the economic publication; {costs} states the direction and the "
        "published figure",
    ),
    (
        27,
        "Other relevant information",
        "Source of funding",
        "outside the pipeline: the trial's publications",
    ),
    (
        28,
        "Other relevant information",
        "Conflicts of interest",
        "outside the pipeline: the trial's publications",
    ),
]

SECTION_TITLE = "Service costs and cost-effectiveness"


def cheers_checklist(config: Config) -> pd.DataFrame:
    """The CHEERS 2022 checklist (Husereau et al 2022): where each item is reported.

    Returns
    -------
    pandas.DataFrame
        ``item, section, topic, applicable (yes | no | outside pipeline), where``.
    """
    rows = []
    for item, section, topic, where in _CHEERS_2022:
        applicable = (
            "no"
            if where.startswith("not applicable")
            else "outside pipeline"
            if where.startswith("outside")
            else "yes, not reported"
            if where.startswith("not reported")
            else "yes"
        )
        rows.append(
            {
                "item": item,
                "section": section,
                "topic": topic,
                "applicable": applicable,
                "where": where.format(costs=SECTION_TITLE),
            }
        )
    return pd.DataFrame(rows)


def _published_row(
    config: Config, costs: pd.DataFrame, truth: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    spec = config["costs"]
    published = spec.get("published")
    sign = _cost_sign(config)
    true_value = None
    if truth is not None and "costs" in truth:
        true_value = sign * float(truth["costs"]["treatment_minus_reference"])
    if not published and true_value is None:
        return None
    row: dict[str, Any] = {"true_value": true_value, "published": None}
    if published:
        flip = 1.0 if published["direction"] == _direction(config) else -1.0
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


def cost_section(config: Config, inputs: Mapping[str, Any]) -> Any:
    """Report section: unit costs, use and cost, adjusted difference, CE, CHEERS checklist."""
    import json

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
        "bootstrap": _bootstrap_spec(config),
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
        "agreement": _agreement(config),
        "disagreements": _disagreements(config, costs),
        "congeniality": congeniality_text(config),
        "delivery_cost": delivery_cost_text(config),
    }
    return Section("costs", SECTION_TITLE, "costs.html.j2", context)


def _direction_text(config: Config, costs: pd.DataFrame) -> str:
    """Plain statement of which arm cost more, from the headline estimate."""
    design = config["design"]
    labels = design["arm_labels"]
    row = costs.set_index("method").loc[headline_method(config)]
    difference = _cost_sign(config) * float(row["estimate"])  # treatment minus reference
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
    tolerance = _agreement(config)
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
