"""Figures of the imputation diagnostics: arm effect among imputed against observed rows,
chained-equation traces and imputed against observed distributions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from trial.config.vocabulary import (
    Config,
    followup_column,
    primary_outcome,
    score_columns,
    treatment_arms,
)
from trial.report.blocks import DEFAULT_DPI, arm_colours, display_name, figure_dpi, save_figure

_OBSERVED, _IMPUTED = "#1f4e79", "#c00000"


def arm_difference_plot(
    check: pd.DataFrame, path: str | Path, level: float = 0.05, dpi: int = DEFAULT_DPI
) -> None:
    """The arm-difference check as a figure: per outcome (and arm), the adjusted arm difference
    among observed rows and among imputed rows with their ``1 - level`` intervals (left,
    scaled by the observed-row SE so that outcomes share an axis), and the residual SD ratio of
    imputed to observed rows with its interval (right); flagged rows in red."""
    labels = [
        f"{r.label}" + (f" ({r.arm})" if check["arm"].nunique() > 1 else "")
        for r in check.itertuples()
    ]
    y = np.arange(len(check))
    fig = Figure(figsize=(9, 0.32 * len(check) + 1.4))
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=[1.4, 1])
    z = stats.norm.ppf(1 - level / 2)
    scale = check["observed_se"].to_numpy()
    for offset, (value, se, colour, name) in enumerate(
        (
            ("observed_difference", "observed_se", _OBSERVED, "observed rows"),
            ("imputed_difference", "imputed_se", _IMPUTED, "imputed rows"),
        )
    ):
        left.errorbar(
            check[value] / scale,
            y + (offset - 0.5) * 0.3,
            xerr=z * check[se] / scale,
            fmt="o",
            ms=3,
            color=colour,
            capsize=2,
            lw=0.8,
            label=name,
        )
    left.axvline(0, color="grey", lw=0.8, ls="--")
    left.set_xlabel("adjusted arm difference / its observed-row SE", fontsize=8)
    left.legend(fontsize=7, loc="lower right")
    flagged = (check["flag_difference"] | check["flag_sd"]).to_numpy()
    right.errorbar(
        check["sd_ratio"],
        y,
        xerr=[
            check["sd_ratio"] - check["sd_ratio_low"],
            check["sd_ratio_high"] - check["sd_ratio"],
        ],
        fmt="none",
        ecolor="grey",
        capsize=2,
        lw=0.8,
    )
    right.scatter(check["sd_ratio"], y, s=12, c=np.where(flagged, "#c00000", "#1f4e79"), zorder=3)
    right.axvline(1, color="grey", lw=0.8, ls="--")
    right.set_xlabel("residual SD, imputed / observed rows", fontsize=8)
    left.set_yticks(y, labels)
    left.invert_yaxis()
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi)


def trace_plot(config: Config, traces: pd.DataFrame, path: str | Path) -> list[str]:
    """Chain traces of the primary outcome's imputed variables; returns the variables shown.

    ``traces`` stacks the trace files of all imputations (columns imputation, iteration,
    variable, mean, sd). One line per imputation; chains that mix well overlap without trend.
    """
    scale = primary_outcome(config)
    variables = [c for c in score_columns(config, scale) if c in set(traces["variable"])]
    if not variables:  # nothing of the primary outcome was imputed
        variables = list(dict.fromkeys(traces["variable"]))[:1]
    fig = Figure(figsize=(8, 2.3 * len(variables) + 0.4))
    axes = fig.subplots(len(variables), 2, squeeze=False)
    for row, variable in enumerate(variables):
        part = traces[traces["variable"] == variable]
        for col, statistic in enumerate(("mean", "sd")):
            ax = axes[row, col]
            for _, chain in part.groupby("imputation"):
                ax.plot(chain["iteration"], chain[statistic], lw=0.8, alpha=0.6)
            ax.set_title(
                f"{display_name(config, variable)}: {statistic.upper()} of imputed values",
                fontsize=8,
            )
            ax.set_xlabel("iteration", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    save_figure(fig, path, figure_dpi(config))
    return variables


def imputed_vs_observed_plot(
    config: Config,
    table: pd.DataFrame,
    completed: Sequence[pd.DataFrame],
    path: str | Path,
    max_strips: int = 20,
) -> None:
    """Observed and imputed follow-up scores of the primary outcome.

    Left: strip plot, observed values at 0 and each imputation's imputed values at its number
    (the first ``max_strips`` imputations). Right: kernel densities of observed (solid) and
    imputed (dashed, all imputations) values by arm.
    """
    design = config["design"]
    scale = primary_outcome(config)
    column = followup_column(scale)
    missing = (table[column].isna() & completed[0][column].notna()).to_numpy()
    rng = np.random.default_rng(0)  # jitter only
    fig = Figure(figsize=(9, 3.4))
    left, right = fig.subplots(1, 2, width_ratios=[1.4, 1])
    observed = table[column].dropna().to_numpy(dtype=float)
    left.scatter(rng.uniform(-0.25, 0.25, observed.size), observed, s=4, color=_OBSERVED, alpha=0.5)
    shown = completed[:max_strips]
    for i, frame in enumerate(shown, start=1):
        values = frame[column].to_numpy(dtype=float)[missing]
        left.scatter(
            i + rng.uniform(-0.25, 0.25, values.size), values, s=4, color=_IMPUTED, alpha=0.5
        )
    left.set_xticks([0, *range(1, len(shown) + 1)], ["obs", *map(str, range(1, len(shown) + 1))])
    left.tick_params(labelsize=6)
    left.set_xlabel("imputation", fontsize=8)
    left.set_ylabel(config["scales"][scale]["label"], fontsize=8)
    grid_values = np.concatenate(
        [observed, *[f[column].to_numpy(dtype=float)[missing] for f in completed]]
    )
    grid = np.linspace(grid_values.min(), grid_values.max(), 200)
    colours = arm_colours(treatment_arms(config), config["design"]["reference_arm"])
    for arm, colour in colours.items():
        in_arm = (table[design["arm"]] == arm).to_numpy()
        label = design["arm_labels"][arm]
        obs = table.loc[in_arm & table[column].notna().to_numpy(), column].to_numpy(dtype=float)
        imp = np.concatenate([f[column].to_numpy(dtype=float)[in_arm & missing] for f in completed])
        if obs.size > 1 and np.ptp(obs) > 0:
            right.plot(grid, stats.gaussian_kde(obs)(grid), color=colour, label=f"{label} observed")
        if imp.size > 1 and np.ptp(imp) > 0:
            right.plot(
                grid,
                stats.gaussian_kde(imp)(grid),
                color=colour,
                ls="--",
                label=f"{label} imputed",
            )
    right.set_xlabel(config["scales"][scale]["label"], fontsize=8)
    right.set_ylabel("density", fontsize=8)
    right.tick_params(labelsize=7)
    right.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, figure_dpi(config))


def nothing_imputed_figure(path: str | Path, dpi: int) -> None:
    """The figure written in place of a diagnostic plot when no analysed value was missing
    (``imputation.m: 1``): a panel saying so, which the report does not show."""
    fig = Figure(figsize=(5, 1.2))
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, "No analysed value was missing: nothing was imputed.", ha="center")
    save_figure(fig, path, dpi)
