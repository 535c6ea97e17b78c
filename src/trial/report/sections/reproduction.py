"""Report section comparing this run with the published figures and the generating truth."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.config.vocabulary import Config, contrast_sign, single_treatment_arm, treatment_arms
from trial.report.blocks import Section, p_text
from trial.report.sections import Inputs
from trial.report.sections.outcomes import is_ratio


def reproduction_table(
    config: Config,
    outcomes: pd.DataFrame,
    truth: Mapping[str, Any] | None,
    marginal: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Published figure vs this run's estimate vs the true generating value, same direction.

    One row per outcome and treatment arm that has a published figure or a true value. The
    true values are differences in population means: a binomial outcome is compared through
    its standardised risk difference (``marginal``,
    :func:`trial.analyses.pooled_outcomes.pool_marginal`); a poisson outcome, whose rate ratio has
    no such true value, is left out.
    """
    rows = []
    if marginal is not None and not marginal.empty:
        differences = marginal[marginal["measure"] == "risk difference"]
        differences = differences.assign(measure=np.nan, standardised=True)
        outcomes = pd.concat(
            [outcomes[~outcomes["outcome"].isin(differences["outcome"])], differences]
        )
    outcomes = outcomes[[not is_ratio(r) for r in outcomes.to_dict("records")]]
    by_contrast = outcomes.set_index(["outcome", "arm"])
    true_effects = (truth or {}).get("outcomes", {})
    for outcome in config["analysis"]["outcomes"]:
        scale = outcome["scale"]
        published = outcome.get("published")
        published_arm = None
        if published:
            published_arm = published.get("arm") or single_treatment_arm(config)
        for arm in treatment_arms(config):
            t = true_effects.get(scale, {}).get("arm_minus_reference", {}).get(arm)
            quoted = published if arm == published_arm else None
            if (quoted is None and t is None) or (scale, arm) not in by_contrast.index:
                continue
            row = by_contrast.loc[(scale, arm)]
            reported = {"published": "not published", "published_p": ""}
            if quoted is not None:
                sign = 1.0 if quoted["direction"] == outcome["direction"] else -1.0
                lo, hi = sorted(sign * np.asarray(quoted["ci"], dtype=float))
                reported = {
                    "published": f"{sign * quoted['estimate']:.2f} ({lo:.1f} to {hi:.1f})",
                    "published_p": p_text(quoted.get("p"), quoted.get("p_bound", "=")),
                }
            true_value = None
            if t is not None:
                true_value = contrast_sign(outcome["direction"]) * t
            rows.append(
                {
                    "outcome": config["scales"][scale]["label"]
                    + (
                        " (standardised risk difference)" if row.get("standardised") is True else ""
                    ),
                    "contrast": row["contrast"],
                    **reported,
                    "this_run": f"{row['estimate']:.2f} "
                    f"({row['ci_low']:.2f} to {row['ci_high']:.2f})",
                    "this_run_p": p_text(row["p"]),
                    "true_value": "" if true_value is None else f"{true_value:.2f}",
                }
            )
    return pd.DataFrame(rows)


def reproduction_section(config: Config, inputs: Inputs) -> Section | None:
    truth = None
    if inputs.get("truth"):
        truth = json.loads(Path(inputs["truth"][0]).read_text(encoding="utf-8"))
    marginal = pd.read_csv(inputs["marginal_effects"]) if inputs.get("marginal_effects") else None
    table = reproduction_table(config, pd.read_csv(inputs["outcomes"]), truth, marginal)
    if table.empty:
        return None
    has_published = any("published" in o for o in config["analysis"]["outcomes"])
    compared = ["Published figures"] if has_published else []
    compared += ["this run"] + (["truth"] if truth else [])
    title = " vs ".join(compared)
    return Section(
        "reproduction",
        title[0].upper() + title[1:],
        "reproduction.html.j2",
        {
            "reproduction": table.to_dict("records"),
            "has_truth": truth is not None,
            "has_published": has_published,
        },
    )
