"""Figures of the outcome analyses: forest plot of the pooled effects and the primary
outcome's distribution by arm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from trial.config.vocabulary import (
    Config,
    baseline_column,
    followup_column,
    outcome_has_baseline,
    primary_outcome,
    treatment_arms,
)
from trial.report.blocks import arm_colours, figure_dpi, save_figure, standardised_by
from trial.report.sections.outcomes import RATIO_NAMES, is_ratio


def forest_plot(config: Config, outcomes: pd.DataFrame, path: str | Path) -> None:
    """Pooled effects with CIs: differences divided by each outcome's standardising SD so scales
    compare (``sd_standardise``: the baseline SD, or for a post-only outcome the reference arm's
    follow-up SD, :func:`trial.analyses.outcomes.standardising_sd`); odds and rate ratios (binomial
    and poisson outcomes) in a panel of their own on a log axis.

    Each treatment arm's contrasts have that arm's colour.
    """
    frame = outcomes.iloc[::-1].reset_index(drop=True)
    ratio = np.array([is_ratio(r) for r in frame.to_dict("records")], dtype=bool)
    panels = [
        (rows, kind) for rows, kind in ((~ratio, "difference"), (ratio, "ratio")) if rows.any()
    ]
    heights = [int(rows.sum()) for rows, _ in panels]
    fig = Figure(figsize=(7.5, 0.45 * len(frame) + 1.2 * len(panels)))
    axes = fig.subplots(len(panels), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)
    colours = arm_colours(treatment_arms(config), config["design"]["reference_arm"])
    for ax, (rows, kind) in zip(axes[:, 0], panels, strict=True):
        part = frame[rows].reset_index(drop=True)
        if kind == "ratio":
            centre, low, high = part["ratio"], part["ratio_ci_low"], part["ratio_ci_high"]
        else:
            sd = part["sd_standardise"]
            centre, low, high = part["estimate"] / sd, part["ci_low"] / sd, part["ci_high"] / sd
        y = np.arange(len(part))
        for arm in treatment_arms(config):
            chosen = (part["arm"] == arm).to_numpy()
            ax.errorbar(
                centre[chosen],
                y[chosen],
                xerr=[(centre - low)[chosen], (high - centre)[chosen]],
                fmt="o",
                color=colours[arm],
                ecolor=colours[arm],
                capsize=3,
            )
        ax.set_yticks(
            y,
            [f"{lab}\n({c})" for lab, c in zip(part["label"], part["contrast"], strict=True)],
            fontsize=7,
        )
        if kind == "ratio":
            ax.set_xscale("log")
            plain = FuncFormatter(lambda value, _: f"{value:g}")
            ax.xaxis.set_major_formatter(plain)
            ax.xaxis.set_minor_formatter(plain)
            ax.tick_params(axis="x", which="minor", labelsize=7)
            ax.axvline(1, color="grey", lw=1, ls="--")
            names = sorted({RATIO_NAMES[m] for m in part["measure"]})
            ax.set_xlabel(f"Pooled {' or '.join(names)} (95% CI, log scale)")
        else:
            ax.axvline(0, color="grey", lw=1, ls="--")
            ax.set_xlabel(f"Pooled adjusted difference / {standardised_by(part)} (95% CI)")
    fig.tight_layout()
    save_figure(fig, path, figure_dpi(config))


def primary_distribution_plot(
    config: Config, analysis_table: pd.DataFrame, path: str | Path
) -> None:
    """Observed primary-outcome scores at baseline and follow-up, by arm (histograms)."""
    design = config["design"]
    scale = primary_outcome(config)
    panels = [(followup_column(scale), "Follow-up (observed)")]
    if outcome_has_baseline(config, scale):
        panels.insert(0, (baseline_column(scale), "Baseline"))
    fig = Figure(figsize=(4 * len(panels), 3))
    axes = fig.subplots(1, len(panels), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (column, title) in zip(axes, panels, strict=True):
        values = analysis_table[column].dropna()
        bins = np.linspace(values.min(), values.max(), 16)
        for arm, colour in arm_colours(treatment_arms(config), design["reference_arm"]).items():
            data = analysis_table.loc[analysis_table[design["arm"]] == arm, column].dropna()
            ax.hist(
                data,
                bins=bins,
                alpha=0.55,
                color=colour,
                density=True,
                label=f"{design['arm_labels'][arm]} (n={len(data)})",
            )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(config["scales"][scale]["label"], fontsize=8)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("density")
    fig.tight_layout()
    save_figure(fig, path, figure_dpi(config))
