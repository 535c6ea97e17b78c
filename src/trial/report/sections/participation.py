"""Report section of the participation analyses (not randomised) and the table of published
participation figures beside this run's."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.analyses.participation import (
    IV_ANALYSES,
    IV_METHODS,
    SCORE,
    TOOK_PART,
    high_vs_low_possible,
    participation_direction_label,
)
from trial.config.vocabulary import Config, outcome_scales
from trial.data.intermediate import read_intermediate
from trial.report.blocks import Section, fmt, p_text


def participation_section(config: Config, inputs: Mapping[str, Any]) -> Section:
    """Report section: participation scores, high vs low, instrumental-variable estimates,
    staff outcomes."""
    design = config["design"]
    scores = read_intermediate(config, inputs["participation_scores"])
    pooled = pd.read_csv(inputs["participation"])
    staff = pd.read_csv(inputs["staff_outcomes"]) if inputs.get("staff_outcomes") else None
    truth = None
    if inputs.get("truth"):
        truth = json.loads(Path(inputs["truth"][0]).read_text(encoding="utf-8"))
    parts = [
        c
        for c in scores.columns
        if c not in {design["cluster_id"], *design["strata"], SCORE, TOOK_PART, "high", "level"}
    ]
    levels = []
    for level in ("high", "low"):
        sub = scores[scores["level"] == level]
        levels.append(
            {
                "level": level,
                "n": len(sub),
                "score_mean": float(sub[SCORE].mean()),
                "score_min": float(sub[SCORE].min()),
                "score_max": float(sub[SCORE].max()),
                "parts": {p: float(sub[p].mean()) for p in parts},
            }
        )
    true_values = (truth or {}).get("outcomes", {})
    truth_key = {"complier_average": "complier_average_effect", "dose_response": "dose_effect"}
    iv_rows = []
    for r in pooled[pooled["basis"] == "instrumental variable"].to_dict("records"):
        t = true_values.get(r["outcome"], {}).get(truth_key[r["analysis"]])
        if t is not None and r["direction"] != "treatment_minus_reference":
            t = -t
        iv_rows.append({**r, "true_value": t})
    rank = {
        **{name: i for i, name in enumerate(IV_ANALYSES)},
        **{name: i for i, name in enumerate(IV_METHODS)},
        **{name: i for i, name in enumerate(outcome_scales(config))},
    }
    iv_rows.sort(key=lambda r: (rank[r["analysis"]], rank[r["outcome"]], rank[r["method"]]))
    context = {
        "parts": parts,
        "levels": levels,
        "threshold": float(scores[SCORE].median()),
        "rule": config["participation"]["high_rule"].replace("_", " "),
        "n_treated": len(scores),
        "high_vs_low_possible": high_vs_low_possible(scores),
        "n_took_part": int(scores[TOOK_PART].sum()),
        "high_vs_low": pooled[pooled["analysis"] == "high_vs_low"].to_dict("records"),
        "iv": iv_rows,
        "iv_analyses": {k: v[1] for k, v in IV_ANALYSES.items()},
        "iv_methods": IV_METHODS,
        "staff": [] if staff is None else staff.to_dict("records"),
        "published": [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in published_participation_table(config, pooled, staff, truth).to_dict("records")
        ],
        "has_truth": truth is not None,
        "n_boot_per_imputation": int(config["participation"].get("bootstrap", 0)),
    }
    return Section(
        "participation",
        "Participation: non-randomised comparison, instrumental-variable estimates, staff outcomes",
        "participation.html.j2",
        context,
    )


def published_participation_table(
    config: Config,
    participation: pd.DataFrame,
    staff: pd.DataFrame | None,
    truth: Mapping[str, Any] | None,
) -> pd.DataFrame:
    """Published participation figures beside this run's, in this run's direction.

    The true value is ``high_minus_low_participation`` from the synthetic example's truth file
    (turned to the configured direction) where the truth file has the outcome.
    """
    own = config["participation"].get("direction", "high_minus_low")
    frames = [participation[participation["analysis"] == "high_vs_low"]]
    if staff is not None and len(staff):
        frames.append(staff[staff["analysis"] == "high_vs_low"])
    ours = pd.concat(frames, ignore_index=True).set_index("outcome")
    rows = []
    for pub in config["participation"].get("published", []):
        scale = pub["scale"]
        sign = 1.0 if pub["direction"] == own else -1.0
        lo, hi = sorted(sign * np.asarray(pub["ci"], dtype=float))
        row = {
            "outcome": config["scales"][scale]["label"],
            "contrast": participation_direction_label(config),
            "published": f"{sign * pub['estimate']:.2f} ({lo:.1f} to {hi:.1f})",
            "published_direction": pub["direction"].replace("_", " "),
            "published_stated": f"{pub['estimate']:g} ({pub['ci'][0]:g} to {pub['ci'][1]:g})",
            "published_p": p_text(pub.get("p"), pub.get("p_bound", "=")),
            "this_run": "not analysed",
            "this_run_p": "",
            "true_value": None,
        }
        if scale in ours.index:
            r = ours.loc[scale]
            row["this_run"] = f"{fmt(r['estimate'])} ({fmt(r['ci_low'])} to {fmt(r['ci_high'])})"
            row["this_run_p"] = p_text(float(r["p"]))
        outcome_truth = (truth or {}).get("outcomes", {}).get(scale, {})
        if "high_minus_low_participation" in outcome_truth:
            t = outcome_truth["high_minus_low_participation"]
            row["true_value"] = round(t if own == "high_minus_low" else -t, 2)
        rows.append(row)
    return pd.DataFrame(rows)
