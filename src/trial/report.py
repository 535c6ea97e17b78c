"""Figures and the self-contained HTML report.

The report reads result tables and figures made by earlier steps; it computes no statistics.
It is a list of sections (:class:`trial.reporting.Section`), each built from the result files of
one stage by a builder in :data:`SECTION_BUILDERS`; a builder whose inputs are absent (a stage
the config leaves out) contributes nothing. Figures are embedded so the HTML file stands alone.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from jinja2 import Environment, PackageLoader, select_autoescape  # noqa: E402

from trial import __version__  # noqa: E402
from trial.analysis import baseline_column, followup_column, outcome_scales  # noqa: E402
from trial.audit import audit_section  # noqa: E402
from trial.checklist import CONSORT_CLUSTER, checklist_rows  # noqa: E402
from trial.config import Config, arms, single_treatment_arm, treatment_arms  # noqa: E402
from trial.costs import cost_section  # noqa: E402
from trial.estimands import estimands_section  # noqa: E402
from trial.icc import icc_section  # noqa: E402
from trial.impute.diagnostics import diagnostics_section  # noqa: E402
from trial.participation import participation_section  # noqa: E402
from trial.reporting import (  # noqa: E402
    PNG_METADATA,
    Section,
    arm_colours,
    embed_png,
    fmt,
    p_text,
    pyplot,
)
from trial.sensitivity import sensitivity_section  # noqa: E402

Inputs = Mapping[str, Any]  # input name -> path or list of paths, as the render rule names them


def forest_plot(config: Config, outcomes: pd.DataFrame, path: str | Path) -> None:
    """Pooled effects with CIs, standardised by each outcome's baseline SD so scales compare.

    Each treatment arm's contrasts have that arm's colour.
    """
    plt = pyplot()
    frame = outcomes.iloc[::-1].reset_index(drop=True)
    scale = frame["sd_baseline"].to_numpy()
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(frame) + 1.2))
    y = np.arange(len(frame))
    colours = arm_colours(treatment_arms(config), config["design"]["reference_arm"])
    for arm in treatment_arms(config):
        rows = (frame["arm"] == arm).to_numpy()
        part = frame[rows]
        ax.errorbar(
            part["estimate"] / scale[rows],
            y[rows],
            xerr=[
                (part["estimate"] - part["ci_low"]) / scale[rows],
                (part["ci_high"] - part["estimate"]) / scale[rows],
            ],
            fmt="o",
            color=colours[arm],
            ecolor=colours[arm],
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
    fig.savefig(path, dpi=110, metadata=PNG_METADATA)
    plt.close(fig)


def primary_distribution_plot(
    config: Config, analysis_table: pd.DataFrame, path: str | Path
) -> None:
    """Observed primary-outcome scores at baseline and follow-up, by arm (histograms)."""
    plt = pyplot()
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
    fig.savefig(path, dpi=110, metadata=PNG_METADATA)
    plt.close(fig)


def reproduction_table(
    config: Config, outcomes: pd.DataFrame, truth: Mapping[str, Any] | None
) -> pd.DataFrame:
    """Published figure vs this run's estimate vs the true generating value, same direction.

    One row per outcome and treatment arm that has a published figure or a true value.
    """
    rows = []
    by_contrast = outcomes.set_index(["outcome", "arm"])
    true_effects = (truth or {}).get("outcomes", {})
    for outcome in config["analysis"]["outcomes"]:
        scale = outcome["scale"]
        published = outcome.get("published")
        published_arm = None
        if published:
            published_arm = published.get("arm") or single_treatment_arm(config)
        for arm in treatment_arms(config):
            t = true_effects.get(scale, {}).get("arm_minus_reference", {}).get(arm)
            quoted = published if arm == published_arm else None
            if quoted is None and t is None:
                continue
            row = by_contrast.loc[(scale, arm)]
            reported = {"published": "not published", "published_p": ""}
            if quoted is not None:
                sign = 1.0 if quoted["direction"] == outcome["direction"] else -1.0
                lo, hi = sorted(sign * np.asarray(quoted["ci"], dtype=float))
                reported = {
                    "published": f"{sign * quoted['estimate']:.2f} ({lo:.1f} to {hi:.1f})",
                    "published_p": p_text(quoted.get("p"), quoted.get("p_bound", "=")),
                }
            true_value = None
            if t is not None:
                true_value = t if outcome["direction"] == "treatment_minus_reference" else -t
            rows.append(
                {
                    "outcome": config["scales"][scale]["label"],
                    "contrast": row["contrast"],
                    **reported,
                    "this_run": f"{row['estimate']:.2f} "
                    f"({row['ci_low']:.2f} to {row['ci_high']:.2f})",
                    "this_run_p": p_text(row["p"]),
                    "true_value": "" if true_value is None else f"{true_value:.2f}",
                }
            )
    return pd.DataFrame(rows)


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def provenance(config: Config, config_path: str | Path, inputs: list[str | Path]) -> dict[str, Any]:
    """What produced the results: input and config hashes, seed, code and package versions,
    the platform and the run time (UTC). Only the report and this record carry the run time;
    result tables stay byte-identical across reruns."""
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
        "code_version": _code_version(),
        "run_at_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "config": str(config_path),
        "config_sha256": _sha256(config_path),
        "seed": config["seed"],
        "inputs": {str(Path(p).name): _sha256(p) for p in sorted(inputs, key=str)},
        "packages": {name: _version(name) for name in packages},
    }


def _code_version() -> str:
    """The git commit of the code (with ``+modified`` for uncommitted changes), if in a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src", "workflow", "Snakefile"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"trial {__version__} (not a git checkout)"
    return commit + ("+modified" if dirty else "")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _design_section(config: Config, inputs: Inputs) -> Section:
    engine = pd.read_csv(inputs["traces"][0])["engine"].iloc[0]
    return Section("design", "Design and methods", "design.html.j2", {"engine": engine})


def _flow_section(config: Config, inputs: Inputs) -> Section:
    arm_codes = arms(config)
    flow = pd.read_csv(inputs["flow"])
    wide = {
        level: flow[flow["level"] == level]
        .pivot_table(index="stage", columns="arm", values="n", sort=False)
        .reindex(columns=arm_codes)
        .fillna(0)
        .astype(int)
        for level in ("cluster", "individual")
    }
    context = {"flow": wide, "figures": {"diagram": embed_png(inputs["flow_figure"])}}
    return Section("flow", "Flow of clusters and participants", "flow.html.j2", context)


def _baseline_section(config: Config, inputs: Inputs) -> Section:
    context = {
        "baseline": pd.read_csv(inputs["baseline"]),
        "figures": {"primary_distribution": embed_png(inputs["primary_figure"])},
    }
    return Section("baseline", "Baseline characteristics", "baseline.html.j2", context)


def _outcomes_section(config: Config, inputs: Inputs) -> Section:
    def records(name: str) -> list[dict[str, Any]]:
        return pd.read_csv(inputs[name]).to_dict("records") if inputs.get(name) else []

    context = {
        "outcomes": records("outcomes"),
        "arm_tests": records("arm_tests"),
        "pairwise": records("pairwise"),
        "multiplicity": records("multiplicity"),
        "figures": {"forest": embed_png(inputs["forest_figure"])},
    }
    return Section("outcomes", "Primary and secondary outcomes", "outcomes.html.j2", context)


def _reproduction_section(config: Config, inputs: Inputs) -> Section | None:
    truth = None
    if inputs.get("truth"):
        truth = json.loads(Path(inputs["truth"][0]).read_text(encoding="utf-8"))
    table = reproduction_table(config, pd.read_csv(inputs["outcomes"]), truth)
    if table.empty:
        return None
    has_published = any("published" in o for o in config["analysis"]["outcomes"])
    compared = ["Published figures"] if has_published else []
    compared += ["this run"] + (["truth"] if truth else [])
    title = " vs ".join(compared)
    return Section(
        "reproduction",
        title[0].upper() + title[1:],
        "reproduction.html.j2",
        {
            "reproduction": table.to_dict("records"),
            "has_truth": truth is not None,
            "has_published": has_published,
        },
    )


def _provenance_section(config: Config, inputs: Inputs) -> Section:
    info = inputs["provenance_info"]
    context = {"provenance": info, "table_rules": sorted(inputs.get("table_rules", {}).items())}
    return Section("provenance", "Provenance", "provenance.html.j2", context)


# The report's sections in order: (name, builder, the input names it needs).
SECTION_BUILDERS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("design", _design_section, ("traces",)),
    ("estimands", estimands_section, ("intercurrent_events",)),
    ("flow", _flow_section, ("flow", "flow_figure")),
    ("baseline", _baseline_section, ("baseline", "primary_figure")),
    ("outcomes", _outcomes_section, ("outcomes", "forest_figure")),
    ("imputation", diagnostics_section, ("traces", "imputation_model", "missingness",
                                         "imputed_vs_observed", "trace_figure", "imputed_figure",
                                         "arm_check", "arm_check_figure")),
    ("reproduction", _reproduction_section, ("outcomes",)),
    ("participation", participation_section, ("participation", "participation_scores")),
    ("sensitivity", sensitivity_section, ("outcomes", "sensitivity", "rerandomisation",
                                          "delta_adjustment", "tipping_figure",
                                          "forest_all_figure")),
    ("clustering", icc_section, ("icc",)),
    ("audit", audit_section, ("audit_availability", "audit_by_time", "audit_estimates",
                              "audit_tests", "audit_figure")),
    ("costs", cost_section, ("cost_use", "cost_units", "costs", "cost_effectiveness", "ceac",
                             "cheers", "ce_plane_figure", "ceac_figure")),
    ("provenance", _provenance_section, ("provenance_info",)),
]


def build_sections(config: Config, inputs: Inputs) -> list[Section]:
    """Every section whose inputs are present, in report order, then the CONSORT checklist.

    A builder may return ``None`` when its inputs hold nothing to show.
    """
    built = [
        builder(config, inputs)
        for _, builder, needs in SECTION_BUILDERS
        if all(inputs.get(name) for name in needs)
    ]
    sections = [section for section in built if section is not None]
    # The checklist goes just before provenance (the last section) and points at the others.
    body, tail = sections[:-1], sections[-1:]
    if not tail or tail[0].id != "provenance":
        body, tail = sections, []
    present = {s.id: (i + 1, s.title) for i, s in enumerate(body)}
    present.update({s.id: (len(body) + 2 + i, s.title) for i, s in enumerate(tail)})
    checklist = Section(
        "consort",
        "CONSORT-cluster checklist",
        "checklist.html.j2",
        {
            "rows": checklist_rows(CONSORT_CLUSTER, present),
            "guideline": "CONSORT 2010 extension to cluster randomised trials "
            "(Campbell et al 2012, BMJ 345:e5661)",
        },
    )
    return [*body, checklist, *tail]


def render_report(config: Config, sections: list[Section]) -> str:
    """Render the HTML report from its sections."""
    env = Environment(
        loader=PackageLoader("trial", "templates"),
        autoescape=select_autoescape(),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    design = config["design"]
    arm_codes = arms(config)
    return env.get_template("report.html.j2").render(
        config=config,
        design=design,
        arms=arm_codes,
        arm_labels=design["arm_labels"],
        arm_columns=[design["arm_labels"][a] for a in arm_codes],
        m=config["imputation"]["m"],
        sections=sections,
        fmt=fmt,
        p_text=p_text,
    )
