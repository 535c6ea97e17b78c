"""Figure of the audit over time: per-time estimates by arm."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from trial.config.vocabulary import Config, single_treatment_arm
from trial.report.blocks import figure_dpi, save_figure


def trajectory_plot(config: Config, by_time: pd.DataFrame, path: str | Path) -> None:
    """Per-time estimates with CIs by arm, one panel per measure, intervention period shaded."""
    design = config["design"]
    spec = config["audit"]
    measures = list(dict.fromkeys(by_time["measure"]))
    ncol = min(3, len(measures))
    nrow = math.ceil(len(measures) / ncol)
    fig = Figure(figsize=(3.6 * ncol, 2.8 * nrow))
    axes = fig.subplots(nrow, ncol, squeeze=False)
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
    handles.append(Rectangle((0, 0), 1, 1, color="#e8e8e8"))
    labels.append("intervention period")
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    save_figure(fig, path, figure_dpi(config))
