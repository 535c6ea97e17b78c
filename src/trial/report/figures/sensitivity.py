"""Figures of the sensitivity analyses: tipping-point plot of the delta adjustment and the
forest plot of every estimate in standardised units."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from trial.analyses.sensitivity import tipping_points
from trial.config.vocabulary import Config
from trial.report.blocks import DEFAULT_DPI, figure_dpi, save_figure, standardised_by


def tipping_point_plot(config: Config, delta: pd.DataFrame, path: str | Path) -> None:
    """Pooled primary estimate and CI against delta, one panel per shifted arm."""
    arms = list(dict.fromkeys(delta["arm_shifted"]))
    fig = Figure(figsize=(4.2 * len(arms), 3.4))
    axes = fig.subplots(1, len(arms), sharey=True, squeeze=False)
    scale = delta["outcome"].iloc[0]
    for ax, arm in zip(axes[0], arms, strict=True):
        part = delta[delta["arm_shifted"] == arm].sort_values("delta")
        ax.fill_between(
            part["delta"],
            part["ci_low"],
            part["ci_high"],
            color="#9dc3e6",
            alpha=0.6,
            label="95% CI",
        )
        ax.plot(part["delta"], part["estimate"], "o-", color="#1f4e79", label="estimate")
        ax.axhline(0, color="grey", lw=1, ls="--")
        for _, tp in tipping_points(part).iterrows():
            if tp["limit"]:
                ax.axvline(tp["tipping_delta"], color="#c55a11", lw=1, ls=":")
        ax.set_title(f"imputed values shifted: {config['design']['arm_labels'][arm]}", fontsize=9)
        units = part["delta_scale"].iloc[0] if "delta_scale" in part else "outcome units"
        ax.set_xlabel(
            "delta (log odds of an imputed 1)"
            if units == "log odds"
            else f"delta ({config['scales'][scale]['label']} units)",
            fontsize=8,
        )
    log_odds = "delta_scale" in delta and delta["delta_scale"].iloc[0] == "log odds"
    prefix = "log odds ratio, " if log_odds else ""
    axes[0][0].set_ylabel(f"{prefix}{delta['contrast'].iloc[0]}", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, figure_dpi(config))


def forest_rows(
    config: Config,
    outcomes: pd.DataFrame,
    participation: pd.DataFrame | None,
    staff: pd.DataFrame | None,
    sensitivity: pd.DataFrame | None,
) -> pd.DataFrame:
    """The rows of the summary forest plot, each with its group and standardising SD (the
    outcome's ``sd_standardise``, :func:`trial.analyses.outcomes.standardising_sd`; the baseline SD
    for staff outcomes)."""
    by_outcome = outcomes.set_index("outcome")
    sd = by_outcome["sd_standardise"].to_dict()
    kind = by_outcome["standardised_by"].to_dict()

    def row(group: str, label: str, r: pd.Series, scale_sd: float) -> dict[str, object]:
        return {
            "group": group,
            "label": label,
            "contrast": r["contrast"],
            "estimate": r["estimate"],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
            "sd": scale_sd,
            "standardised_by": kind.get(r.get("outcome"), "baseline SD"),
        }

    rows = [
        row(f"Arm effect: {r['role']}", r["label"], r, r["sd_standardise"])
        for _, r in outcomes.iterrows()
    ]
    for _, r in (staff if staff is not None else pd.DataFrame()).iterrows():
        group = (
            "Arm effect: staff"
            if r["analysis"] == "arm"
            else ("Participation, NOT randomised: staff")
        )
        rows.append(row(group, r["label"], r, r["sd_baseline"]))
    groups = {
        "high_vs_low": "Participation, NOT randomised",
        "complier_average": "Complier-average effect, instrumental variable (NOT randomised)",
        "dose_response": "Dose per unit of participation, instrumental variable (NOT randomised)",
    }
    for _, r in (participation if participation is not None else pd.DataFrame()).iterrows():
        if r["method"] in ("mixed_model", "2sls"):  # the cluster-level IV rows are in Table P4
            rows.append(row(groups[r["analysis"]], r["label"], r, sd.get(r["outcome"], math.nan)))
    measure_of = outcomes.set_index("outcome")["measure"] if "measure" in outcomes else None
    for _, r in (sensitivity if sensitivity is not None else pd.DataFrame()).iterrows():
        # a binary outcome is drawn on its model's scale (log odds ratio); its cluster-level
        # risk difference and log risk ratio are in the sensitivity table only
        if "measure" in r and measure_of is not None and r["measure"] != measure_of[r["outcome"]]:
            continue
        rows.append(
            row(
                "Sensitivity: primary outcome",
                r["analysis"].replace("_", " "),
                r,
                sd.get(r["outcome"], math.nan),
            )
        )
    return pd.DataFrame(rows)


def forest_plot_all(rows: pd.DataFrame, path: str | Path, dpi: int = DEFAULT_DPI) -> None:
    """Grouped forest plot in standardised units (:func:`forest_rows`), natural-unit estimates
    printed on the right."""
    frame = rows.reset_index(drop=True)
    ypos, labels, y = [], [], 0.0
    group_y = []
    for group, part in frame.groupby("group", sort=False):
        group_y.append((y, group))
        y += 1
        for idx in part.index:
            ypos.append((idx, y))
            y += 1
        y += 0.4
    height = 0.28 * y + 1.0
    fig = Figure(figsize=(9.5, height))
    ax = fig.subplots()
    for idx, yy in ypos:
        r = frame.loc[idx]
        s = r["sd"] if r["sd"] and not math.isnan(r["sd"]) else 1.0
        colour = "#c55a11" if "NOT randomised" in r["group"] else "#1f4e79"
        ax.errorbar(
            r["estimate"] / s,
            yy,
            xerr=[[(r["estimate"] - r["ci_low"]) / s], [(r["ci_high"] - r["estimate"]) / s]],
            fmt="o",
            color=colour,
            ecolor=colour,
            capsize=2,
            ms=4,
        )
        labels.append((yy, f"{r['label']} ({r['contrast']})"))
        ax.annotate(
            f"{r['estimate']:.2f} ({r['ci_low']:.2f} to {r['ci_high']:.2f})",
            xy=(1.01, yy),
            xycoords=("axes fraction", "data"),
            fontsize=6.5,
            va="center",
        )
    for yy, group in group_y:
        labels.append((yy, f"— {group} —"))
    ax.set_yticks([p for p, _ in labels], [t for _, t in labels], fontsize=6.5)
    for tick, (_, text) in zip(ax.get_yticklabels(), labels, strict=True):
        if text.startswith("—"):
            tick.set_fontweight("bold")
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_xlabel(
        f"Difference / {standardised_by(frame)} (95% CI); natural units on the right", fontsize=8
    )
    fig.tight_layout()
    save_figure(fig, path, dpi)
