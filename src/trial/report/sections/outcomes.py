"""Report sections of the randomised comparisons (design and methods, flow, baseline,
outcomes) and the texts above them: the headline sentences, Table 2 (:func:`outcome_table`),
the robustness strip and the points for the reader."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from trial.analyses.sensitivity import tipping_points
from trial.config.vocabulary import (
    Config,
    arms,
    cluster_covariates,
    covariate_missing,
    outcome_covariates,
    outcome_family,
    outcome_has_baseline,
    outcome_scales,
    plural,
    unit_plural,
)
from trial.data.intermediate import read_intermediate
from trial.report.blocks import Section, display_name, embed_png, fmt, inline_svg, p_text
from trial.report.sections import Inputs


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


def confidence_percent(config: Config) -> int:
    """The confidence level of every interval, in percent."""
    return round((1 - config["analysis"]["alpha"]) * 100)


def headline(config: Config, outcomes: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """One paragraph per primary contrast: estimate, CI, p, the arm favoured, who it rests on.

    ``outcomes`` is the pooled outcomes table and ``summary`` the observed outcomes by arm
    (:func:`trial.analyses.describe.outcome_summary`). The arm favoured follows the scale's
    ``better`` (config); the counts separate individuals whose follow-up was observed from those
    imputed.
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
    :func:`trial.analyses.describe.outcome_summary`); a treatment arm's row adds its pooled adjusted
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


def baseline_outcomes(config: Config) -> dict[str, bool]:
    """Whether ``all``, ``any`` and the ``primary`` outcome's models hold the baseline value
    (:func:`trial.config.vocabulary.outcome_has_baseline`), for the report's wording."""
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
    words = {
        "mean": "blanks set to the mean",
        "indicator": "blanks set to the mean, with a missing-value indicator",
    }
    out = []
    for name in names:
        notes = [
            *(["cluster level"] if name in cluster else []),
            *([words[handling[name]]] if name in handling else []),
        ]
        out.append(f"{name} ({'; '.join(notes)})" if notes else name)
    return out


def design_section(config: Config, inputs: Inputs) -> Section:
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


def flow_section(config: Config, inputs: Inputs) -> Section:
    arm_codes = arms(config)
    flow = pd.read_csv(inputs["flow"])
    flow = flow[flow["arm"].isin(arm_codes)]  # enrolment (arm "all") is in the diagram
    # a stage counted for some arms only (receipt, from participation data) is left out of the
    # others' boxes rather than shown as 0
    wide = {
        level: flow[flow["level"] == level]
        .pivot_table(index="stage", columns="arm", values="n", sort=False)
        .reindex(columns=arm_codes)
        .astype("Int64")
        .astype(object)
        .where(lambda frame: frame.notna(), None)
        for level in ("cluster", "individual")
    }
    diagram = inline_svg(inputs["flow_figure"], "CONSORT flow diagram of clusters and participants")
    context = {"flow": wide, "figures": {"diagram": diagram}}
    return Section("flow", "Flow of clusters and participants", "flow.html.j2", context)


def baseline_section(config: Config, inputs: Inputs) -> Section:
    context = {
        "baseline": pd.read_csv(inputs["baseline"]),
        "figures": {"primary_distribution": embed_png(inputs["primary_figure"])},
    }
    return Section("baseline", "Baseline characteristics", "baseline.html.j2", context)


def outcomes_section(config: Config, inputs: Inputs) -> Section:
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
        # the randomised staff outcomes sit with the other outcomes; their participation rows
        # (not randomised) are in the participation section
        "staff": [r for r in records("staff_outcomes") if r["analysis"] == "arm"],
        # Table 2 carries one ICC per outcome; the clustering section, when present, the others
        "icc_in_clustering": bool(inputs.get("icc")),
        "figures": {"forest": embed_png(inputs["forest_figure"])},
    }
    return Section("outcomes", "Primary and secondary outcomes", "outcomes.html.j2", context)
