"""Figures of the economic evaluation: cost-effectiveness plane and acceptability curve."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse

from trial.analyses.costs.spec import effect_sign
from trial.config.vocabulary import Config, effect_scale
from trial.report.blocks import figure_dpi, save_figure


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
    currency = config["costs"].get("currency", "")
    de = effect_sign(config) * replicates["effect"].to_numpy()
    dc = replicates["cost"].to_numpy()
    point = ce.set_index("quantity")["estimate"]
    level = 1 - config["analysis"]["alpha"]
    fig = Figure(figsize=(6.5, 4.8))
    ax = fig.subplots()
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
    currency = config["costs"].get("currency", "")
    fig = Figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
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
