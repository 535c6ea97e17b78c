"""Figure of a simulation study: bias, coverage and power by cell and method."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from trial.report.blocks import DEFAULT_DPI, save_figure


def simulation_plot(
    summary: pd.DataFrame, path: str | Path, alpha: float = 0.05, dpi: int = DEFAULT_DPI
) -> None:
    """Bias (in units of the tolerance), coverage and rejection rate per cell and method,
    with 95% Monte Carlo intervals; one row per cell."""
    cells = list(dict.fromkeys(summary["cell"]))
    methods = list(dict.fromkeys(summary["method"]))
    palette = ["#7f7f7f", "#1f4e79", "#c55a11", "#2ca02c", "#9467bd", "#8c564b"]
    colours = {m: palette[i % len(palette)] for i, m in enumerate(methods)}
    fig = Figure(figsize=(11, 0.28 * len(cells) + 1.6))
    axes = fig.subplots(1, 3, sharey=True)
    panels = (
        ("bias", "bias_mcse", "Bias / outcome SD-scaled effect", 0.0),
        ("coverage", "coverage_mcse", f"{1 - alpha:.0%} CI coverage", 1 - alpha),
        ("rejection", "rejection_mcse", f"Rejection rate at {alpha:g}", alpha),
    )
    offsets = {m: (i - (len(methods) - 1) / 2) * 0.22 for i, m in enumerate(methods)}
    for ax, (value, mcse, title, ref) in zip(axes, panels, strict=True):
        for _, row in summary.iterrows():
            y = cells.index(row["cell"]) + offsets[row["method"]]
            marker = "s" if value == "rejection" and row["rejection_is"] == "power" else "o"
            ax.errorbar(
                row[value],
                y,
                xerr=1.96 * row[mcse],
                fmt=marker,
                ms=3,
                color=colours[row["method"]],
                capsize=2,
                lw=0.8,
            )
        if value != "rejection":
            ax.axvline(ref, color="grey", lw=1, ls="--")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].set_title("Bias (outcome units)", fontsize=9)
    axes[0].set_yticks(range(len(cells)), cells)
    axes[0].invert_yaxis()
    axes[2].set_xlabel("type I error (circles); power (squares)", fontsize=7)
    handles = [Line2D([], [], color=colours[m], marker="o", ls="", label=m) for m in methods]
    fig.legend(handles=handles, loc="lower center", ncol=len(methods), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(fig, path, dpi)
