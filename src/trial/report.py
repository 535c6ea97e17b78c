"""Figures and the self-contained HTML report.

The report reads result tables and figures made by earlier steps; it computes no statistics.
It is a list of sections (:class:`trial.reporting.Section`), each built from the result files of
one stage by a builder in :data:`SECTION_BUILDERS`; a builder whose inputs are absent (a stage
the config leaves out) contributes nothing. Figures are embedded so the HTML file stands alone.

Kept as one module for now, over the 600-line guide: the registry of report sections and the
figures move out when the report's figures and sections are separated from the analyses.
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

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from trial import __version__
from trial.audit import audit_section
from trial.checklist import CONSORT_CLUSTER, checklist_rows
from trial.costs import cost_section
from trial.estimands import estimands_section
from trial.icc import icc_section
from trial.impute.diagnostics import diagnostics_section
from trial.intermediate import read_intermediate
from trial.participation import participation_section
from trial.reporting import (
    Section,
    arm_colours,
    display_name,
    embed_png,
    figure_dpi,
    fmt,
    inline_svg,
    p_text,
    pyplot,
    save_figure,
    standardised_by,
)
from trial.sensitivity import sensitivity_section, tipping_points
from trial.stepped_report import SECTION_ID, scheduled_checklist, stepped_wedge_section
from trial.vocabulary import (
    Config,
    arms,
    baseline_column,
    cluster_covariates,
    contrast_sign,
    covariate_missing,
    followup_column,
    outcome_covariates,
    outcome_family,
    outcome_has_baseline,
    outcome_scales,
    plural,
    primary_outcome,
    single_treatment_arm,
    treatment_arms,
    unit_plural,
    with_plural_labels,
)

Inputs = Mapping[str, Any]  # input name -> path or list of paths, as the render rule names them


def is_ratio(row: Mapping[str, Any]) -> bool:
    """Whether a pooled outcome row is a log odds or log rate ratio (reported as a ratio)."""
    return isinstance(row.get("measure"), str) and row["measure"] in RATIO_NAMES


#: Name of the ratio reported for each model scale of a binomial or poisson outcome.
RATIO_NAMES = {"log odds ratio": "odds ratio", "log rate ratio": "rate ratio"}


def effect_text(row: Mapping[str, Any]) -> str:
    """A pooled effect with its interval as display text: the ratio for a log odds or log rate
    ratio, else the difference."""
    if is_ratio(row):
        return f"{row['ratio']:.2f} ({row['ratio_ci_low']:.2f} to {row['ratio_ci_high']:.2f})"
    return f"{row['estimate']:.2f} ({row['ci_low']:.2f} to {row['ci_high']:.2f})"


def forest_plot(config: Config, outcomes: pd.DataFrame, path: str | Path) -> None:
    """Pooled effects with CIs: differences divided by each outcome's standardising SD so scales
    compare (``sd_standardise``: the baseline SD, or for a post-only outcome the reference arm's
    follow-up SD, :func:`trial.analysis.standardising_sd`); odds and rate ratios (binomial and
    poisson outcomes) in a panel of their own on a log axis.

    Each treatment arm's contrasts have that arm's colour.
    """
    plt = pyplot()
    frame = outcomes.iloc[::-1].reset_index(drop=True)
    ratio = np.array([is_ratio(r) for r in frame.to_dict("records")], dtype=bool)
    panels = [
        (rows, kind) for rows, kind in ((~ratio, "difference"), (ratio, "ratio")) if rows.any()
    ]
    heights = [int(rows.sum()) for rows, _ in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(7.5, 0.45 * len(frame) + 1.2 * len(panels)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
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
            from matplotlib.ticker import FuncFormatter  # matplotlib loads with the figure

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
    plt = pyplot()
    design = config["design"]
    scale = primary_outcome(config)
    panels = [(followup_column(scale), "Follow-up (observed)")]
    if outcome_has_baseline(config, scale):
        panels.insert(0, (baseline_column(scale), "Baseline"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3), sharey=True)
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


def reproduction_table(
    config: Config,
    outcomes: pd.DataFrame,
    truth: Mapping[str, Any] | None,
    marginal: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Published figure vs this run's estimate vs the true generating value, same direction.

    One row per outcome and treatment arm that has a published figure or a true value. The
    true values are differences in population means: a binomial outcome is compared through
    its standardised risk difference (``marginal``, :func:`trial.pooled_outcomes.pool_marginal`); a
    poisson outcome, whose rate ratio has no such true value, is left out.
    """
    rows = []
    if marginal is not None and not marginal.empty:
        differences = marginal[marginal["measure"] == "risk difference"]
        differences = differences.assign(measure=np.nan, standardised=True)
        outcomes = pd.concat(
            [outcomes[~outcomes["outcome"].isin(differences["outcome"])], differences]
        )
    outcomes = outcomes[[not is_ratio(r) for r in outcomes.to_dict("records")]]
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
            if (quoted is None and t is None) or (scale, arm) not in by_contrast.index:
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
                true_value = contrast_sign(outcome["direction"]) * t
            rows.append(
                {
                    "outcome": config["scales"][scale]["label"]
                    + (
                        " (standardised risk difference)"
                        if row.get("standardised") is True
                        else ""
                    ),
                    "contrast": row["contrast"],
                    **reported,
                    "this_run": f"{row['estimate']:.2f} "
                    f"({row['ci_low']:.2f} to {row['ci_high']:.2f})",
                    "this_run_p": p_text(row["p"]),
                    "true_value": "" if true_value is None else f"{true_value:.2f}",
                }
            )
    return pd.DataFrame(rows)


def confidence_percent(config: Config) -> int:
    """The confidence level of every interval, in percent."""
    return round((1 - config["analysis"]["alpha"]) * 100)


def headline(config: Config, outcomes: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """One paragraph per primary contrast: estimate, CI, p, the arm favoured, who it rests on.

    ``outcomes`` is the pooled outcomes table and ``summary`` the observed outcomes by arm
    (:func:`trial.describe.outcome_summary`). The arm favoured follows the scale's ``better``
    (config); the counts separate individuals whose follow-up was observed from those imputed.
    """
    design = config["design"]
    clusters, individuals = unit_plural(design, "cluster"), unit_plural(design, "individual")
    level = confidence_percent(config)
    counts = summary.set_index(["outcome", "arm"])
    sentences = []
    for row in outcomes[outcomes["role"] == "primary"].to_dict("records"):
        scale, arm, reference = row["outcome"], row["arm"], design["reference_arm"]
        better = config["scales"][scale].get("better")
        p = p_text(row["p"])
        p = f"p < {p[1:]}" if p.startswith("<") else f"p = {p}"
        arm_counts = []
        for code in (arm, reference):
            c = counts.loc[(scale, code)]
            arm_counts.append(
                f"{design['arm_labels'][code]} {c['n_clusters']} {clusters} and "
                f"{c['n_analysed']} {individuals} ({c['n_observed']} observed, "
                f"{c['n_imputed']} imputed)"
            )
        effect = effect_text(row).replace(" (", f" ({level}% CI ", 1).rstrip(")")
        measure = f"{RATIO_NAMES[row['measure']]}" if is_ratio(row) else "difference"
        text = (
            f"Primary outcome, {row['label']} at follow-up ({row['contrast']}): adjusted "
            f"{measure} {effect}; {p}). "
        )
        includes_zero = row["ci_low"] <= 0 <= row["ci_high"]
        null = "one" if is_ratio(row) else "zero"
        interval = f"the {level}% CI {'includes' if includes_zero else 'excludes'} {null}"
        if better is None:
            text += f"The config does not declare which scores are better; {interval}. "
        else:
            treatment_minus_reference = (
                row["estimate"]
                if row["direction"] == "treatment_minus_reference"
                else -row["estimate"]
            )
            favoured = arm if (treatment_minus_reference > 0) == (better == "higher") else reference
            if treatment_minus_reference == 0:
                text += f"{better.capitalize()} scores are better; the estimate is exactly zero. "
            else:
                text += (
                    f"{better.capitalize()} scores are better, so the point estimate favours "
                    f"{design['arm_labels'][favoured]}; {interval}. "
                )
        m = config["imputation"]["m"]
        missing = (
            f"follow-up values missing were multiply imputed ({m} imputations)"
            if m > 1
            else "no analysed value was missing, so nothing was imputed"
        )
        text += f"Analysed: {'; '.join(arm_counts)}; {missing}."
        sentences.append(text)
    return sentences


def build_summary(config: Config, inputs: Inputs) -> list[str]:
    """The report's opening sentences (:func:`headline`) from the outcome result tables."""
    return headline(config, pd.read_csv(inputs["outcomes"]), pd.read_csv(inputs["outcome_summary"]))


def _mean_sd(mean: float, sd: float) -> str:
    return "" if pd.isna(mean) else f"{mean:.1f} ({fmt(sd, 1) or '-'})"


def _n_percent(share: float, n: int) -> str:
    """A 0/1 outcome's observed count of 1s and its percentage, from its mean and count."""
    return "" if pd.isna(share) else f"{round(share * n)} ({100 * share:.1f}%)"


def outcome_table(
    config: Config,
    outcomes: pd.DataFrame,
    summary: pd.DataFrame,
    icc: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """The outcomes as a journal table: one block per outcome, one row per arm.

    Each arm's row gives its clusters, individuals analysed and observed at follow-up, and the
    observed mean (SD) at baseline and follow-up (``summary``,
    :func:`trial.describe.outcome_summary`); a treatment arm's row adds its pooled adjusted
    difference from the reference arm with its CI and p (``outcomes``); the block carries the
    outcome's ICC from the analysis model at follow-up with its bootstrap CI (``icc``, when the
    ICC stage ran). Cells are display text.
    """
    design = config["design"]
    effects = outcomes.set_index(["outcome", "arm"])
    icc_rows = {}
    if icc is not None:
        chosen = icc[
            (icc["timepoint"] == "followup")
            & (icc["estimator"] == "model_adjusted")
            & (icc["population"] == "individuals")
        ]
        icc_rows = {r["outcome"]: r for r in chosen.to_dict("records")}
    blocks = []
    for scale, part in summary.groupby("outcome", sort=False):
        rows = []
        for r in part.set_index("arm").reindex(arms(config)).reset_index().to_dict("records"):
            binary = outcome_family(config, scale) == "binomial"
            row = {
                "arm": design["arm_labels"][r["arm"]],
                "clusters": f"{r['n_clusters']}",
                "analysed": f"{r['n_analysed']}",
                "observed": f"{r['n_observed']}",
                "baseline": _n_percent(r["mean_baseline"], r["n_baseline"])
                if binary
                else _mean_sd(r["mean_baseline"], r["sd_baseline"]),
                "followup": _n_percent(r["mean_followup"], r["n_observed"])
                if binary
                else _mean_sd(r["mean_followup"], r["sd_followup"]),
                "difference": "reference" if r["arm"] == design["reference_arm"] else "",
                "contrast": "",
                "p": "",
            }
            if (scale, r["arm"]) in effects.index:
                e = effects.loc[(scale, r["arm"])]
                row["difference"] = effect_text(e)
                if is_ratio(e):
                    row["contrast"] = RATIO_NAMES[e["measure"]]
                row["p"] = p_text(e["p"])
                if e["direction"] != "treatment_minus_reference":
                    row["contrast"] = ", ".join(filter(None, [row["contrast"], e["contrast"]]))
            rows.append(row)
        i = icc_rows.get(scale)
        icc_text = ""
        if i is not None:
            icc_text = f"{i['icc']:.3f}"
            if not pd.isna(i["boot_low"]):
                icc_text += f" ({i['boot_low']:.3f} to {i['boot_high']:.3f})"
        blocks.append(
            {
                "outcome": scale,
                "label": part["label"].iloc[0],
                "role": part["role"].iloc[0],
                "icc": icc_text,
                "rows": rows,
            }
        )
    return blocks


def robustness_rows(config: Config, inputs: Inputs) -> list[dict[str, str]]:
    """The primary estimate beside each sensitivity analysis of it, for the report's summary.

    Rows (``analysis``, ``estimate`` with its CI, ``p``): the primary analysis, every row of the
    sensitivity table, the re-randomisation test and, per shifted arm, the delta-adjustment
    tipping point. Empty when the sensitivity stage did not run.
    """
    if not inputs.get("sensitivity"):
        return []
    outcomes = pd.read_csv(inputs["outcomes"])
    primary = outcomes[outcomes["role"] == "primary"].iloc[0]

    def row(analysis: str, r: Mapping[str, Any]) -> dict[str, str]:
        return {
            "analysis": analysis,
            "estimate": f"{r['estimate']:.2f} ({r['ci_low']:.2f} to {r['ci_high']:.2f})",
            "p": p_text(r["p"]),
        }

    rows = [row(f"Primary analysis ({config['imputation']['m']} imputations)", primary)]
    for r in pd.read_csv(inputs["sensitivity"]).to_dict("records"):
        rows.append(row(display_name(config, r["analysis"]).capitalize(), r))
    if inputs.get("rerandomisation"):
        test = json.loads(Path(inputs["rerandomisation"]).read_text(encoding="utf-8"))
        method = "exact" if test["method"] == "exact" else "Monte Carlo"
        rows.append(
            {
                "analysis": f"Re-randomisation test (observed data, {method})",
                "estimate": "",
                "p": p_text(test["p"]),
            }
        )
    if inputs.get("delta_adjustment"):
        delta = pd.read_csv(inputs["delta_adjustment"])
        grid = f"{delta['delta'].min():g} to {delta['delta'].max():g}"
        labels = dict(zip(delta["arm_shifted"], delta["arm_label"], strict=False))
        log_odds = "delta_scale" in delta and (delta["delta_scale"] == "log odds").all()
        units = " in the log odds of an imputed 1" if log_odds else ""
        for t in tipping_points(delta).to_dict("records"):
            where = (
                f"tipping point: none for shifts from {grid}{units}"
                if pd.isna(t["tipping_delta"])
                else f"tipping point: a CI limit crosses zero at a shift of "
                f"{t['tipping_delta']:.2f}{units}"
            )
            rows.append(
                {
                    "analysis": f"Imputed values of {labels[t['arm_shifted']]} shifted (MNAR)",
                    "estimate": where,
                    "p": "",
                }
            )
    return rows


def reader_points(config: Config, inputs: Inputs) -> list[dict[str, str]]:
    """What a reviewer would flag, found in this run's results, one sentence each.

    Each point has ``text`` and ``anchor`` (the report section that shows it). Points: outcomes
    whose imputations fail the imputation check (arm difference or residual spread among imputed
    individuals beyond noise of the observed), fits with the cluster variance at zero, cost
    methods that disagree with the headline cost difference, an incremental cost without a
    declared delivery cost, and an ICER whose effect CI includes zero (not reported). Only what
    the result tables and the config show is flagged; none of these is judged on a threshold
    chosen here.
    """
    m = config["imputation"]["m"]
    level = confidence_percent(config)
    points = []
    if inputs.get("arm_check") and m > 1:  # with m = 1 nothing was imputed to check
        check = pd.read_csv(inputs["arm_check"])
        for r in check.to_dict("records"):
            found = []
            if str(r["flag_difference"]) == "True":
                found.append("the arm difference among imputed individuals")
            if str(r["flag_sd"]) == "True":
                found.append(f"the spread of imputed values (SD ratio {r['sd_ratio']:.2f})")
            if found:
                points.append(
                    {
                        "text": f"{r['label']}: {' and '.join(found)} differ from the observed "
                        "by more than noise explains; the imputations may not carry the "
                        "treatment effect.",
                        "anchor": "imputation",
                    }
                )
    outcomes = pd.read_csv(inputs["outcomes"])
    for r in outcomes[outcomes["n_boundary_fits"] > 0].to_dict("records"):
        points.append(
            {
                "text": f"{r['label']} ({r['contrast']}): the {config['design']['cluster_label']} "
                "variance was estimated at zero"
                + (f" in {r['n_boundary_fits']} of {m} imputations." if m > 1 else "."),
                "anchor": "outcomes",
            }
        )
    if inputs.get("costs"):
        costs = pd.read_csv(inputs["costs"])
        for r in costs[costs["agrees"].astype(str) == "False"].to_dict("records"):
            points.append(
                {
                    "text": f"Costs: {r['label']} gives {r['estimate']:.0f} "
                    f"({r['ci_low']:.0f} to {r['ci_high']:.0f}), which disagrees with the "
                    "headline cost difference.",
                    "anchor": "costs",
                }
            )
    cost_spec = config.get("costs")
    if inputs.get("costs") and cost_spec is not None and not cost_spec.get("intervention_cost"):
        points.append(
            {
                "text": "Costs: no intervention delivery cost was declared in the config, so "
                "the incremental cost covers service use only.",
                "anchor": "costs",
            }
        )
    if inputs.get("cost_effectiveness"):
        ce = pd.read_csv(inputs["cost_effectiveness"]).set_index("quantity")
        effect = ce.loc["incremental_effect"]
        if effect["ci_low"] <= 0 <= effect["ci_high"]:
            points.append(
                {
                    "text": f"Cost-effectiveness: the incremental effect's {level}% CI "
                    f"({effect['ci_low']:.2f} to {effect['ci_high']:.2f}) includes zero, so "
                    "the ICER is not reported (the ratio of the pooled estimates, "
                    f"{ce.loc['icer', 'estimate']:.0f}, is not interpretable on its own).",
                    "anchor": "costs",
                }
            )
    return points


def build_outcome_table(config: Config, inputs: Inputs) -> list[dict[str, Any]]:
    """Table 2 (:func:`outcome_table`) from the result tables; the ICC only when it was run."""
    icc = pd.read_csv(inputs["icc"]) if inputs.get("icc") else None
    outcomes, summary = pd.read_csv(inputs["outcomes"]), pd.read_csv(inputs["outcome_summary"])
    return outcome_table(config, outcomes, summary, icc)


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
        "xhtml2pdf",
        "python-docx",
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


def non_gaussian_methods(config: Config) -> str:
    """Methods text for the binomial and poisson outcomes (empty without any): the model, its
    estimation, the df, the effect measure and the standardised measures."""
    spec = config["analysis"]["non_gaussian"]
    by_family: dict[str, list[str]] = {}
    for scale in outcome_scales(config):
        by_family.setdefault(outcome_family(config, scale), []).append(
            config["scales"][scale]["label"]
        )
    cluster = config["design"]["cluster_label"]
    sentences = []
    kinds = {
        "binomial": ("0/1", "logistic", "odds ratio"),
        "poisson": ("count", "log-linear", "rate ratio"),
    }
    for family, (kind, link, ratio) in kinds.items():
        if family not in by_family:
            continue
        names = "; ".join(by_family[family])
        if spec["method"] == "glmm":
            nodes = (
                "the Laplace approximation"
                if spec["n_agq"] == 1
                else f"adaptive Gauss-Hermite quadrature with {spec['n_agq']} nodes per {cluster}"
            )
            sentences.append(
                f"The {kind} outcome(s) ({names}) are analysed with a {link} mixed model "
                f"(GLMM) with a random intercept for {cluster}, fitted by maximum likelihood "
                f"using {nodes}; the {ratio} is {cluster}-specific (conditional on the random "
                "intercept), and inference uses t statistics with between-within degrees of "
                "freedom."
            )
        else:
            sentences.append(
                f"The {kind} outcome(s) ({names}) are analysed by generalised estimating "
                f"equations with a {link} link and an exchangeable working correlation within "
                f"{cluster}; the {ratio} is population-averaged, and inference uses the "
                f"{spec['gee_covariance']} bias-corrected sandwich covariance with t "
                f"statistics on {plural(cluster)} minus coefficients degrees of freedom."
            )
        if family == "binomial":
            over = " integrating over the random intercept" if spec["method"] == "glmm" else ""
            sentences.append(
                "Risk difference, risk ratio and marginal odds ratio are standardised over the "
                f"analysed individuals{over}, with delta-method intervals on the same df, and "
                "pooled over imputations on the difference and log-ratio scales."
            )
    return " ".join(sentences)


def _design_section(config: Config, inputs: Inputs) -> Section:
    traces = read_intermediate(config, inputs["traces"][0])
    engine = traces["engine"].iloc[0] if len(traces) else None  # none: nothing was imputed
    context = {
        "engine": engine,
        "linear_outcomes": any(
            outcome_family(config, s) == "gaussian" for s in outcome_scales(config)
        ),
        "non_gaussian": non_gaussian_methods(config),
    }
    return Section("design", "Design and methods", "design.html.j2", context)


def _flow_section(config: Config, inputs: Inputs) -> Section:
    arm_codes = arms(config)
    flow = pd.read_csv(inputs["flow"])
    flow = flow[flow["arm"].isin(arm_codes)]  # enrolment (arm "all") is in the diagram
    wide = {
        level: flow[flow["level"] == level]
        .pivot_table(index="stage", columns="arm", values="n", sort=False)
        .reindex(columns=arm_codes)
        .fillna(0)
        .astype(int)
        for level in ("cluster", "individual")
    }
    diagram = inline_svg(inputs["flow_figure"], "CONSORT flow diagram of clusters and participants")
    context = {"flow": wide, "figures": {"diagram": diagram}}
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
        "table": build_outcome_table(config, inputs),
        "marginal": records("marginal_effects"),
        "ratios": any(is_ratio(r) for r in records("outcomes")),
        "linear": not all(is_ratio(r) for r in records("outcomes")),
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
    marginal = pd.read_csv(inputs["marginal_effects"]) if inputs.get("marginal_effects") else None
    table = reproduction_table(config, pd.read_csv(inputs["outcomes"]), truth, marginal)
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


# The report's sections in order of evidence: the randomised comparisons, their robustness and
# missing data, clustering, non-randomised analyses, economics, process, and the check against
# published figures or the generating truth last: (name, builder, the input names it needs).
SECTION_BUILDERS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("design", _design_section, ("traces",)),
    ("estimands", estimands_section, ("intercurrent_events",)),
    ("flow", _flow_section, ("flow", "flow_figure")),
    ("stepped_wedge", stepped_wedge_section, ("stepped_wedge", "stepped_wedge_sensitivity",
                                              "stepped_wedge_flow", "schedule_figure")),
    ("baseline", _baseline_section, ("baseline", "primary_figure")),
    ("outcomes", _outcomes_section, ("outcomes", "outcome_summary", "forest_figure")),
    ("sensitivity", sensitivity_section, ("outcomes", "sensitivity", "rerandomisation",
                                          "forest_all_figure")),
    ("imputation", diagnostics_section, ("traces", "imputation_model", "missingness",
                                         "imputed_vs_observed", "trace_figure", "imputed_figure",
                                         "arm_check", "arm_check_figure")),
    ("clustering", icc_section, ("icc",)),
    ("participation", participation_section, ("participation", "participation_scores")),
    ("costs", cost_section, ("cost_use", "cost_units", "costs", "cost_effectiveness", "ceac",
                             "cheers", "ce_plane_figure", "ceac_figure")),
    ("audit", audit_section, ("audit_availability", "audit_by_time", "audit_estimates",
                              "audit_tests", "audit_figure")),
    ("reproduction", _reproduction_section, ("outcomes",)),
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
            "rows": checklist_rows(
                scheduled_checklist(CONSORT_CLUSTER) if SECTION_ID in present else CONSORT_CLUSTER,
                present,
            ),
            "guideline": "CONSORT 2010 extension to cluster randomised trials "
            "(Campbell et al 2012, BMJ 345:e5661)",
        },
    )
    return [*body, checklist, *tail]


def render_report(
    config: Config,
    sections: list[Section],
    summary: list[str] | tuple[str, ...] = (),
    robustness: list[dict[str, str]] | tuple[dict[str, str], ...] = (),
    points: list[dict[str, str]] | tuple[dict[str, str], ...] = (),
) -> str:
    """Render the HTML report from its sections, with the summary sentences, the primary
    estimate's robustness (:func:`robustness_rows`) and the points for the reader
    (:func:`reader_points`) above them."""
    env = Environment(
        loader=PackageLoader("trial", "templates"),
        autoescape=select_autoescape(),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["name"] = lambda code: display_name(config, code)
    env.filters["plural"] = plural
    design = config["design"]
    arm_codes = arms(config)
    return env.get_template("report.html.j2").render(
        config=config,
        design=with_plural_labels(design),
        arms=arm_codes,
        arm_labels=design["arm_labels"],
        arm_columns=[design["arm_labels"][a] for a in arm_codes],
        m=config["imputation"]["m"],
        sections=sections,
        summary=summary,
        robustness=robustness,
        points=points,
        section_titles={s.id: f"{i}. {s.title}" for i, s in enumerate(sections, start=1)},
        fmt=fmt,
        p_text=p_text,
        baseline=baseline_outcomes(config),
        adjusted_for=adjusted_for(config),
    )


def baseline_outcomes(config: Config) -> dict[str, bool]:
    """Whether ``all``, ``any`` and the ``primary`` outcome's models hold the baseline value
    (:func:`trial.vocabulary.outcome_has_baseline`), for the report's wording."""
    has = [outcome_has_baseline(config, s) for s in outcome_scales(config)]
    return {"all": all(has), "any": any(has), "primary": has[0]}


def adjusted_for(config: Config) -> str:
    """What the outcome models adjust for, in words: the baseline value of the outcome (naming
    the outcomes when only some have one), the strata and the covariates; empty for none."""
    has = baseline_outcomes(config)
    parts = []
    if has["all"]:
        parts.append("the baseline value of the outcome")
    elif has["any"]:
        labels = [
            config["scales"][s]["label"]
            for s in outcome_scales(config)
            if outcome_has_baseline(config, s)
        ]
        parts.append(f"the baseline value of the outcome ({'; '.join(labels)} only)")
    parts.append(", ".join(config["design"]["strata"]))
    per_outcome = {s: outcome_covariates(config, s) for s in outcome_scales(config)}
    if len({tuple(names) for names in per_outcome.values()}) == 1:
        parts.append(", ".join(_covariate_words(config, next(iter(per_outcome.values())))))
    else:
        parts.append(
            "covariates by outcome ("
            + "; ".join(
                f"{config['scales'][s]['label']}: "
                + (", ".join(_covariate_words(config, names)) or "none")
                for s, names in per_outcome.items()
            )
            + ")"
        )
    return " and ".join(p for p in parts if p)


def _covariate_words(config: Config, names: list[str]) -> list[str]:
    """Each covariate as the methods text names it: its level when cluster-level, and its
    declared handling of blanks (White and Thompson 2005)."""
    cluster = set(cluster_covariates(config))
    handling = covariate_missing(config)
    words = {"mean": "blanks set to the mean", "indicator": "blanks set to the mean, with a "
             "missing-value indicator"}
    out = []
    for name in names:
        notes = [*(["cluster level"] if name in cluster else []),
                 *([words[handling[name]]] if name in handling else [])]
        out.append(f"{name} ({'; '.join(notes)})" if notes else name)
    return out
