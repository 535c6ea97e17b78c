"""Figures and the self-contained HTML report.

The report reads result tables and figures made by earlier steps; it computes no statistics.
Figures are embedded as base64 PNG so the HTML file stands alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402

from trial import __version__  # noqa: E402
from trial.analysis import baseline_column, followup_column, outcome_scales  # noqa: E402
from trial.config import Config  # noqa: E402

# Fixed metadata so that the same inputs give byte-identical PNG files.
_PNG_METADATA = {"Software": None}


def forest_plot(outcomes: pd.DataFrame, path: str | Path) -> None:
    """Pooled effects with CIs, standardised by each outcome's baseline SD so scales compare."""
    frame = outcomes.iloc[::-1].reset_index(drop=True)
    scale = frame["sd_baseline"].to_numpy()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(frame) + 1.2))
    y = np.arange(len(frame))
    ax.errorbar(
        frame["estimate"] / scale,
        y,
        xerr=[
            (frame["estimate"] - frame["ci_low"]) / scale,
            (frame["ci_high"] - frame["estimate"]) / scale,
        ],
        fmt="o",
        color="#1f4e79",
        ecolor="#1f4e79",
        capsize=3,
    )
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set_yticks(
        y,
        [f"{lab}\n({c})" for lab, c in zip(frame["label"], frame["contrast"], strict=True)],
        fontsize=7,
    )
    ax.set_xlabel("Pooled adjusted difference / baseline SD (95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=_PNG_METADATA)
    plt.close(fig)


def primary_distribution_plot(
    config: Config, analysis_table: pd.DataFrame, path: str | Path
) -> None:
    """Observed primary-outcome scores at baseline and follow-up, by arm (histograms)."""
    design = config["design"]
    scale = outcome_scales(config)[0]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
    for ax, (column, title) in zip(
        axes,
        ((baseline_column(scale), "Baseline"), (followup_column(scale), "Follow-up (observed)")),
        strict=True,
    ):
        values = analysis_table[column].dropna()
        bins = np.linspace(values.min(), values.max(), 16)
        for arm, colour in (
            (design["treatment_arm"], "#1f4e79"),
            (design["reference_arm"], "#c55a11"),
        ):
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
    fig.savefig(path, dpi=110, metadata=_PNG_METADATA)
    plt.close(fig)


def reproduction_table(
    config: Config, outcomes: pd.DataFrame, truth: Mapping[str, Any] | None
) -> pd.DataFrame:
    """Published figure vs this run's estimate vs the true generating value, same direction."""
    rows = []
    by_scale = outcomes.set_index("outcome")
    for outcome in config["analysis"]["outcomes"]:
        published = outcome.get("published")
        if not published:
            continue
        scale = outcome["scale"]
        sign = 1.0 if published["direction"] == outcome["direction"] else -1.0
        row = by_scale.loc[scale]
        true_value = None
        if truth is not None and scale in truth.get("outcomes", {}):
            t = truth["outcomes"][scale]["treatment_minus_reference"]
            true_value = t if outcome["direction"] == "treatment_minus_reference" else -t
        lo, hi = sorted(sign * np.asarray(published["ci"], dtype=float))
        rows.append(
            {
                "outcome": config["scales"][scale]["label"],
                "contrast": row["contrast"],
                "published": f"{sign * published['estimate']:.2f} ({lo:.1f} to {hi:.1f})",
                "published_p": _p_text(published.get("p"), published.get("p_bound", "=")),
                "this_run": f"{row['estimate']:.2f} ({row['ci_low']:.2f} to {row['ci_high']:.2f})",
                "this_run_p": _p_text(row["p"]),
                "true_value": None if true_value is None else round(true_value, 2),
            }
        )
    return pd.DataFrame(rows)


def _p_text(p: float | None, bound: str = "=") -> str:
    if p is None or (isinstance(p, float) and np.isnan(p)):
        return ""
    if bound == "<":
        return f"<{p:g}"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _embed(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def provenance(config: Config, config_path: str | Path, inputs: list[str | Path]) -> dict[str, Any]:
    """What produced the results: input hashes, config hash, seed, versions.

    The run date is deliberately absent so that reruns give byte-identical reports; the file
    modification time records when it was made.
    """
    packages = [
        "numpy",
        "scipy",
        "pandas",
        "statsmodels",
        "miceforest",
        "lightgbm",
        "linearmodels",
        "snakemake",
        "matplotlib",
        "jinja2",
        "pandera",
    ]
    return {
        "trial_version": __version__,
        "config": str(config_path),
        "config_sha256": _sha256(config_path),
        "seed": config["seed"],
        "inputs": {str(Path(p).name): _sha256(p) for p in sorted(inputs, key=str)},
        "packages": {name: _version(name) for name in packages},
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def render_report(
    config: Config,
    *,
    outcomes: pd.DataFrame,
    flow: pd.DataFrame,
    baseline: pd.DataFrame,
    figures: Mapping[str, str | Path],
    truth: Mapping[str, Any] | None,
    provenance_info: Mapping[str, Any],
    imputation_engine: str,
) -> str:
    """Render the HTML report from result tables and figure files."""
    env = Environment(
        loader=PackageLoader("trial", "templates"),
        autoescape=select_autoescape(),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    design = config["design"]
    arms = [design["treatment_arm"], design["reference_arm"]]
    flow_wide = {
        level: flow[flow["level"] == level]
        .pivot_table(index="stage", columns="arm", values="n", sort=False)
        .reindex(columns=arms)
        .fillna(0)
        .astype(int)
        for level in ("cluster", "individual")
    }
    template = env.get_template("report.html.j2")
    return template.render(
        config=config,
        design=design,
        arms=arms,
        arm_labels=design["arm_labels"],
        outcomes=outcomes.to_dict("records"),
        flow=flow_wide,
        baseline=baseline,
        arm_columns=[design["arm_labels"][a] for a in arms],
        reproduction=reproduction_table(config, outcomes, truth).to_dict("records"),
        figures={k: _embed(v) for k, v in figures.items()},
        provenance=provenance_info,
        provenance_json=json.dumps(provenance_info, indent=2, sort_keys=True),
        engine=imputation_engine,
        m=config["imputation"]["m"],
        fmt=_fmt,
        p_text=_p_text,
    )


def _fmt(value: float, digits: int = 2) -> str:
    return (
        ""
        if value is None or (isinstance(value, float) and np.isnan(value))
        else f"{value:.{digits}f}"
    )
