"""Report section of the audit over time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from trial.analyses.audit.binary import DEFAULT_GEE_COVARIANCE
from trial.analyses.audit.data import audit_measures
from trial.analyses.audit.models import MIXED_DF_METHOD, PANEL_DF_METHOD
from trial.config.vocabulary import Config, contrast_label, single_treatment_arm
from trial.report.blocks import Section, embed_png


def audit_section(config: Config, inputs: Mapping[str, Any]) -> Section:
    """The report section: availability, per-time summaries, trajectories, arm x time models."""
    design = config["design"]
    availability = pd.read_csv(inputs["audit_availability"], dtype={"time": str})
    by_time = pd.read_csv(inputs["audit_by_time"])
    estimates = pd.read_csv(inputs["audit_estimates"])
    tests = pd.read_csv(inputs["audit_tests"])
    arms = [single_treatment_arm(config), design["reference_arm"]]
    avail_rows = []
    for time, part in availability.groupby("time", sort=False):
        by_arm = part.set_index("arm")
        avail_rows.append({"time": time, "arms": [by_arm.loc[a].to_dict() for a in arms]})
    wide = []
    for (measure, _time), part in by_time.groupby(["measure", "time"], sort=False):
        by_arm = part.set_index("arm")
        first = part.iloc[0]
        wide.append(
            {
                "measure": measure,
                "measure_label": first["measure_label"],
                "kind": first["kind"],
                "time_label": first["time_label"],
                "period": first["period"],
                "arms": [by_arm.loc[a].to_dict() for a in arms],
            }
        )
    kinds = {m.name: m.kind for m in audit_measures(config)}
    final, binary = [], []
    for (measure, model), part in estimates.groupby(["measure", "model"], sort=False):
        by_q = part.set_index("quantity")
        test = tests[(tests["measure"] == measure) & (tests["model"] == model)].iloc[0].to_dict()
        if model == "gee":
            binary.append(
                {
                    "measure_label": part["measure_label"].iloc[0],
                    "odds_ratio": by_q.loc["odds_ratio_at_final_time"].to_dict(),
                    "risk_difference": by_q.loc["risk_difference_at_final_time"].to_dict(),
                    "did": by_q.loc["did_final_vs_pre"].to_dict()
                    if "did_final_vs_pre" in by_q.index
                    else None,
                    "test": test,
                }
            )
            continue
        final.append(
            {
                "measure_label": part["measure_label"].iloc[0],
                "kind": kinds[measure],
                "model": model,
                "difference": by_q.loc["difference_at_final_time"].to_dict()
                if "difference_at_final_time" in by_q.index
                else None,
                "did": by_q.loc["did_final_vs_pre"].to_dict()
                if "did_final_vs_pre" in by_q.index
                else None,
                "test": test,
            }
        )
    truth = None
    if inputs.get("truth"):
        truth = json.loads(Path(inputs["truth"][0]).read_text(encoding="utf-8")).get("audit")
    spec = config["audit"]
    times = sorted(by_time["time"].unique())
    pre = [t for t in times if t <= spec["intervention_starts_after"]]
    context = {
        "availability": avail_rows,
        "by_time": wide,
        "final": final,
        "binary": binary,
        "gee_covariance": spec.get("gee_covariance", DEFAULT_GEE_COVARIANCE),
        "truth": truth,
        "n_times": len(times),
        "pre_times": pre,
        "last_time_label": by_time.loc[by_time["time"] == times[-1], "time_label"].iloc[0],
        "contrast": contrast_label(config, "treatment_minus_reference"),
        "composite": spec.get("composite"),
        "time_label": spec.get("time_label", spec["time"]),
        "mixed_df_method": MIXED_DF_METHOD,
        "panel_df_method": PANEL_DF_METHOD,
        "figure": embed_png(inputs["audit_figure"]),
    }
    title = spec.get("title", "Audit over time")
    return Section("audit", title, "audit.html.j2", context)
