"""The audit's figure and report section.

The audit's analysis lives in the modules of its steps (each one workflow rule):
:mod:`trial.audit_data` (:func:`~trial.audit_data.prepare_audit`: the long table and the
availability counts; :func:`~trial.audit_data.summarise_by_time`: per time point and arm,
proportion or mean with a cluster-robust CI) and :mod:`trial.audit_fits`
(:func:`~trial.audit_fits.fit_audit_models`: the arm x time models of every measure, linear in
:mod:`trial.audit_models`, binary in :mod:`trial.audit_binary`). :func:`trajectory_plot` and
:func:`audit_section` draw and report them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from trial.audit_binary import DEFAULT_GEE_COVARIANCE
from trial.audit_data import audit_measures
from trial.audit_models import MIXED_DF_METHOD, PANEL_DF_METHOD
from trial.reporting import Section, embed_png, figure_dpi, pyplot, save_figure
from trial.vocabulary import Config, contrast_label, single_treatment_arm

__all__ = ["audit_section", "trajectory_plot"]


def trajectory_plot(config: Config, by_time: pd.DataFrame, path: str | Path) -> None:
    """Per-time estimates with CIs by arm, one panel per measure, intervention period shaded."""
    plt = pyplot()
    design = config["design"]
    spec = config["audit"]
    measures = list(dict.fromkeys(by_time["measure"]))
    ncol = min(3, len(measures))
    nrow = math.ceil(len(measures) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.8 * nrow), squeeze=False)
    start = spec["intervention_starts_after"]
    colours = {single_treatment_arm(config): "#1f4e79", design["reference_arm"]: "#c55a11"}
    offsets = {single_treatment_arm(config): -0.06, design["reference_arm"]: 0.06}
    for ax, measure in zip(axes.flat, measures, strict=False):
        part = by_time[by_time["measure"] == measure]
        times = sorted(part["time"].unique())
        ax.axvspan(start + 0.5, max(times) + 0.5, color="#e8e8e8", zorder=0)
        for arm, colour in colours.items():
            a = part[part["arm"] == arm].sort_values("time")
            ax.errorbar(
                a["time"] + offsets[arm],
                a["estimate"],
                yerr=[a["estimate"] - a["ci_low"], a["ci_high"] - a["estimate"]],
                fmt="o-",
                ms=3.5,
                lw=1.2,
                capsize=2,
                color=colour,
                label=design["arm_labels"][arm],
            )
        ax.set_title(part["measure_label"].iloc[0], fontsize=8.5)
        ax.set_xticks(
            times, list(part.drop_duplicates("time").sort_values("time")["time_label"]), fontsize=7
        )
        ax.set_xlim(min(times) - 0.5, max(times) + 0.5)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel("proportion" if part["kind"].iloc[0] == "proportion" else "mean", fontsize=7)
        ax.set_xlabel(spec.get("time_label", spec["time"]), fontsize=7)
    for ax in list(axes.flat)[len(measures) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    handles.append(plt.Rectangle((0, 0), 1, 1, color="#e8e8e8"))
    labels.append("intervention period")
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    save_figure(fig, path, figure_dpi(config))


def audit_section(config: Config, inputs: Mapping[str, Any]) -> Section:
    """The report section: availability, per-time summaries, trajectories, arm x time models."""
    import json

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
