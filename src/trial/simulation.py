"""Simulation study of the missing-data methods: bias, precision and CI coverage.

Each replicate generates a trial of the configured shape with only the primary outcome (a lean
generator: clusters by stratum and arm, unequal cluster sizes, a baseline and a follow-up score
with a cluster component, follow-up missing at random given baseline, age and stratum), then
estimates the arm effect by

* ``complete_case``: the analysis model on individuals with a follow-up score;
* ``multilevel`` and ``forest``: the workflow's own imputation (:func:`trial.analysis.
  impute_analysis_table`), analysis (:func:`trial.analysis.fit_outcomes`) and pooling
  (:func:`trial.analysis.pool_outcomes`) with the engine of that name.

Each replicate's data depend only on the seed, the scenario and the replicate number, so the
methods are compared on the same trials and splitting replicates into jobs changes nothing.
:func:`summarise_simulation` gives bias, empirical SE, mean model SE, CI coverage and the
rejection rate (type I error under a null effect), each with its Monte Carlo SE (Morris, White
and Crowther 2019, Stat Med 38:2074, table 6).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from trial.analysis import (
    TREATMENT,
    baseline_column,
    fit_outcomes,
    followup_column,
    impute_analysis_table,
    outcome_scales,
    pool_outcomes,
)
from trial.config import Config, single_treatment_arm
from trial.impute.model import check_imputation_model
from trial.reporting import PNG_METADATA
from trial.seeding import derive_rng, derive_seed

__all__ = [
    "METHODS",
    "generate_replicate",
    "replicate_chunks",
    "simulate_replicates",
    "simulation_config",
    "simulation_plot",
    "summarise_simulation",
]

log = logging.getLogger(__name__)

#: Methods compared, in report order.
METHODS = ("complete_case", "multilevel", "forest")
METHOD_LABELS = {
    "complete_case": "complete case",
    "multilevel": "multilevel imputation",
    "forest": "miceforest imputation",
}


def method_settings(config: Config, method: str) -> dict[str, Any]:
    """Replicates, imputations and iterations of one method (method entries override)."""
    sim = config["simulation"]
    if method not in sim["methods"]:
        raise ValueError(f"simulation method {method!r} is not listed under simulation/methods")
    settings = {"replicates": sim["replicates"], "m": sim["m"], "iterations": sim["iterations"]}
    settings.update(sim["methods"][method] or {})
    return settings


def replicate_chunks(config: Config, method: str) -> list[range]:
    """The 1-based replicate numbers of each job of ``method``, in order."""
    n = method_settings(config, method)["replicates"]
    size = config["simulation"]["replicates_per_job"]
    return [range(start, min(start + size, n + 1)) for start in range(1, n + 1, size)]


def simulation_config(config: Config, method: str, seed: int) -> Config:
    """The trial config reduced to the primary outcome, with the method's imputation settings."""
    sim_config = copy.deepcopy(config)
    primary = outcome_scales(config)[0]
    sim_config["analysis"]["outcomes"] = [
        {k: v for k, v in o.items() if k != "published"}
        for o in config["analysis"]["outcomes"]
        if o["scale"] == primary
    ]
    sim_config["seed"] = seed
    sim_config.pop("costs", None)  # the lean generator makes the primary outcome only
    if method != "complete_case":
        settings = method_settings(config, method)
        sim_config["imputation"].update(
            engine=method, m=settings["m"], iterations=settings["iterations"]
        )
    return sim_config


def _cluster_sizes(n: int, n_clusters: int, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Cluster sizes summing to ``n`` with coefficient of variation about ``cv`` (at least 2)."""
    if n < 2 * n_clusters:
        raise ValueError(f"{n} individuals are too few for {n_clusters} clusters")
    weights = rng.gamma(1.0 / cv**2, size=n_clusters) if cv > 0 else np.ones(n_clusters)
    extra = rng.multinomial(n - 2 * n_clusters, weights / weights.sum())
    return 2 + extra


def _draw_covariate(spec: Mapping[str, Any], size: int, rng: np.random.Generator) -> np.ndarray:
    if "mean" in spec:
        lo, hi = spec.get("range", [-np.inf, np.inf])
        values = np.clip(np.round(rng.normal(spec["mean"], spec["sd"], size)), lo, hi)
        return values.astype(int) if np.isfinite([lo, hi]).all() else values
    levels = list(spec)
    p = np.asarray([spec[k] for k in levels], dtype=float)
    return rng.choice(np.asarray(levels, dtype=object), size=size, p=p / p.sum())


def generate_replicate(config: Config, effect: float, rng: np.random.Generator) -> pd.DataFrame:
    """One simulated analysis table with the primary outcome only.

    Model (``simulation.trial`` of the config): clusters by stratum and arm; cluster sizes with
    the given coefficient of variation; baseline ``b = mu + sd (sqrt(icc) c_j + sqrt(1-icc)
    e_ij)`` and follow-up ``y = mu + effect * treatment + sd (sqrt(icc) c'_j + sqrt(1-icc)
    e'_ij)``, where the cluster parts ``(c, c')`` and the individual parts ``(e, e')`` are
    standard bivariate normal with correlation ``rho``. So the outcome SD is ``sd``, its ICC
    ``icc`` and the true arm effect (treatment minus reference) ``effect``. The follow-up is
    missing with log-odds linear in the standardised baseline score and covariates plus a
    stratum offset, the intercept set so that the expected missing share is ``dropout.rate``.

    Parameters
    ----------
    config
        Trial config with ``design`` and ``simulation``.
    effect
        True arm effect, treatment minus reference, in outcome units.
    rng
        Random generator (one per replicate).

    Returns
    -------
    pandas.DataFrame
        Columns of the analysis table: individual and cluster IDs, treatment, arm, strata, the
        simulated covariates, and the primary outcome's baseline and follow-up scores.
    """
    design = config["design"]
    spec = config["simulation"]["trial"]
    if len(design["strata"]) > 1:
        raise ValueError("the simulation generator supports at most one stratum column")
    rows = [
        (stratum, arm)
        for stratum, arms in spec["clusters"].items()
        for arm, count in arms.items()
        for _ in range(count)
    ]
    for _, arm in rows:
        if arm not in (single_treatment_arm(config), design["reference_arm"]):
            raise ValueError(f"simulation/trial/clusters: {arm!r} is not an arm of the design")
    n_clusters = len(rows)
    sizes = _cluster_sizes(spec["individuals"], n_clusters, spec["cluster_size_dispersion"], rng)
    codes = np.repeat(np.arange(n_clusters), sizes)
    n = int(sizes.sum())
    strata = np.array([r[0] for r in rows], dtype=object)[codes]
    arms = np.array([r[1] for r in rows], dtype=object)[codes]
    treatment = (arms == single_treatment_arm(config)).astype(int)

    out = spec["outcome"]
    mu, sd, icc, rho = out["mean"], out["sd"], out["icc"], out["rho"]

    def pair(size: int) -> tuple[np.ndarray, np.ndarray]:
        a = rng.standard_normal(size)
        return a, rho * a + np.sqrt(1 - rho**2) * rng.standard_normal(size)

    c0, c1 = pair(n_clusters)
    e0, e1 = pair(n)
    base = mu + sd * (np.sqrt(icc) * c0[codes] + np.sqrt(1 - icc) * e0)
    follow = mu + effect * treatment + sd * (np.sqrt(icc) * c1[codes] + np.sqrt(1 - icc) * e1)

    table = pd.DataFrame(
        {
            design["individual_id"]: [f"S{i + 1:05d}" for i in range(n)],
            design["cluster_id"]: [f"K{j + 1:03d}" for j in codes],
            TREATMENT: treatment,
            design["arm"]: arms,
        }
    )
    for stratum in design["strata"]:
        table[stratum] = strata
    for name, cov_spec in spec.get("covariates", {}).items():
        table[name] = _draw_covariate(cov_spec, n, rng)

    drop = spec["dropout"]
    linear = np.zeros(n)
    for name, slope in drop.get("log_odds_per_sd", {}).items():
        values = base if name == "baseline" else table[name].to_numpy(dtype=float)
        linear += slope * (values - values.mean()) / values.std()
    for stratum_value, offset in drop.get("stratum_log_odds", {}).items():
        linear += offset * (strata == stratum_value)
    rate = drop["rate"]
    intercept = optimize.brentq(
        lambda a: float(np.mean(1.0 / (1.0 + np.exp(-(a + linear))))) - rate, -30.0, 30.0
    )
    missing = rng.random(n) < 1.0 / (1.0 + np.exp(-(intercept + linear)))
    scale = outcome_scales(config)[0]
    table[baseline_column(scale)] = base
    table[followup_column(scale)] = np.where(missing, np.nan, follow)
    return table


def _complete_case(sim_config: Config, table: pd.DataFrame) -> dict[str, float]:
    fit = fit_outcomes(sim_config, table).iloc[0]
    outcome = sim_config["analysis"]["outcomes"][0]
    sign = 1.0 if outcome["direction"] == "treatment_minus_reference" else -1.0
    alpha = sim_config["analysis"]["alpha"]
    se = float(np.sqrt(fit["variance"]))
    estimate = sign * float(fit["estimate"])
    df = float(fit["df"])
    half = stats.t.ppf(1 - alpha / 2, df) * se
    return {
        "estimate": estimate,
        "se": se,
        "df": df,
        "ci_low": estimate - half,
        "ci_high": estimate + half,
        "p": float(2 * stats.t.sf(abs(estimate / se), df)),
        "n_analysed": int(fit["n_individuals"]),
    }


def _imputed(sim_config: Config, table: pd.DataFrame) -> dict[str, float]:
    m = sim_config["imputation"]["m"]
    model = check_imputation_model(sim_config, table)  # once per replicate
    fits = [
        fit_outcomes(sim_config, impute_analysis_table(sim_config, table, i, model).completed)
        for i in range(1, m + 1)
    ]
    pooled = pool_outcomes(sim_config, fits).iloc[0]
    return {
        key: float(pooled[key]) for key in ("estimate", "se", "df", "ci_low", "ci_high", "p")
    } | {"n_analysed": int(pooled["n_individuals"])}


def simulate_replicates(
    config: Config, scenario: str, method: str, replicates: Iterable[int]
) -> pd.DataFrame:
    """Simulate and analyse the given replicates of one scenario with one method.

    Parameters
    ----------
    config
        Trial config with a ``simulation`` section.
    scenario
        Name of a scenario under ``simulation/scenarios``.
    method
        ``complete_case``, ``multilevel`` or ``forest``.
    replicates
        1-based replicate numbers; replicate ``r`` of a scenario is the same trial for every
        method and whatever the other replicates of the job.

    Returns
    -------
    pandas.DataFrame
        One row per replicate: scenario, method, replicate, true_effect (in the primary
        outcome's reported direction), estimate, se, df, ci_low, ci_high, p, n_analysed,
        n_individuals, m, iterations.
    """
    sim = config["simulation"]
    if scenario not in sim["scenarios"]:
        raise ValueError(f"simulation scenario {scenario!r} is not in simulation/scenarios")
    if method not in METHODS:
        raise ValueError(f"unknown simulation method {method!r}; choose from {METHODS}")
    settings = method_settings(config, method)
    effect = float(sim["scenarios"][scenario]["effect"])
    primary = next(o for o in config["analysis"]["outcomes"] if o["role"] == "primary")
    sign = 1.0 if primary["direction"] == "treatment_minus_reference" else -1.0
    rows = []
    for replicate in replicates:
        started = time.perf_counter()
        rng = derive_rng(config["seed"], "simulation", scenario, replicate)
        seed = derive_seed(config["seed"], "simulation", scenario, replicate, "analysis")
        sim_config = simulation_config(config, method, seed)
        table = generate_replicate(sim_config, effect, rng)
        if method == "complete_case":
            result = _complete_case(sim_config, table)
            m, iterations = 0, 0
        else:
            result = _imputed(sim_config, table)
            m, iterations = settings["m"], settings["iterations"]
        rows.append(
            {
                "scenario": scenario,
                "method": method,
                "replicate": int(replicate),
                "true_effect": sign * effect,
                **result,
                "n_individuals": len(table),
                "m": m,
                "iterations": iterations,
            }
        )
        log.info(
            "%s %s replicate %d: %.3f s", scenario, method, replicate, time.perf_counter() - started
        )
    return pd.DataFrame(rows)


def summarise_simulation(results: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Performance of each method in each scenario, with Monte Carlo SEs.

    Parameters
    ----------
    results
        Rows of :func:`simulate_replicates`.
    alpha
        Significance level of the rejection rate (type I error when the true effect is 0,
        power otherwise).

    Returns
    -------
    pandas.DataFrame
        Per scenario and method: n_replicates, true_effect, mean_estimate, bias, bias_mcse,
        empirical_se, empirical_se_mcse, model_se (mean of the model SEs), model_se_mcse,
        coverage, coverage_mcse, rejection, rejection_mcse, rejection_is (``type I error`` or
        ``power``), mean m and iterations. Replicates without a finite estimate or SE are
        dropped and counted in n_failed.
    """
    rows = []
    for (scenario, method), part in results.groupby(["scenario", "method"], sort=False):
        ok = np.isfinite(part["estimate"]) & np.isfinite(part["se"])
        part = part[ok]
        n = len(part)
        truth = float(part["true_effect"].iloc[0])
        est = part["estimate"].to_numpy()
        se = part["se"].to_numpy()
        emp_se = float(np.std(est, ddof=1))
        covered = (part["ci_low"] <= truth) & (truth <= part["ci_high"])
        coverage = float(covered.mean())
        rejection = float((part["p"] < alpha).mean())
        rows.append(
            {
                "scenario": scenario,
                "method": method,
                "n_replicates": n,
                "n_failed": int((~ok).sum()),
                "true_effect": truth,
                "mean_estimate": float(est.mean()),
                "bias": float(est.mean() - truth),
                "bias_mcse": emp_se / np.sqrt(n),
                "empirical_se": emp_se,
                "empirical_se_mcse": emp_se / np.sqrt(2 * (n - 1)),
                "model_se": float(se.mean()),
                "model_se_mcse": float(np.std(se, ddof=1) / np.sqrt(n)),
                "coverage": coverage,
                "coverage_mcse": float(np.sqrt(coverage * (1 - coverage) / n)),
                "rejection": rejection,
                "rejection_mcse": float(np.sqrt(rejection * (1 - rejection) / n)),
                "rejection_is": "type I error" if truth == 0 else "power",
                "m": float(part["m"].mean()),
                "iterations": float(part["iterations"].mean()),
            }
        )
    return pd.DataFrame(rows)


def simulation_plot(summary: pd.DataFrame, path: str | Path, alpha: float = 0.05) -> None:
    """Bias, CI coverage and rejection rate by method and scenario, with 95% MC intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(dict.fromkeys(summary["scenario"]))
    methods = [m for m in METHODS if m in set(summary["method"])]
    fig, axes = plt.subplots(1, 3, figsize=(10, 0.5 * len(methods) * len(scenarios) + 1.8))
    panels = (
        ("bias", "bias_mcse", "Bias (outcome units)", [0.0], None),
        ("coverage", "coverage_mcse", f"{1 - alpha:.0%} CI coverage", [1 - alpha], (0.94, 0.96)),
        ("rejection", "rejection_mcse", f"Rejection rate at {alpha:g}", [alpha], (0.04, 0.06)),
    )
    labels = []
    y = 0
    positions = {}
    for scenario in scenarios:
        for method in methods:
            positions[(scenario, method)] = y
            labels.append(f"{METHOD_LABELS[method]}\n({scenario})")
            y += 1
    colours = {"complete_case": "#7f7f7f", "multilevel": "#1f4e79", "forest": "#c55a11"}
    for ax, (value, mcse, title, refs, band) in zip(axes, panels, strict=True):
        for _, row in summary.iterrows():
            key = (row["scenario"], row["method"])
            if key not in positions:
                continue
            if value == "rejection" and row["rejection_is"] == "power":
                marker = "s"
            else:
                marker = "o"
            ax.errorbar(
                row[value],
                positions[key],
                xerr=1.96 * row[mcse],
                fmt=marker,
                color=colours[row["method"]],
                capsize=3,
            )
        for ref in refs:
            ax.axvline(ref, color="grey", lw=1, ls="--")
        if band:
            ax.axvspan(*band, color="#2ca02c", alpha=0.12, lw=0)
        ax.set_title(title, fontsize=9)
        ax.set_yticks(range(len(labels)), labels if ax is axes[0] else [""] * len(labels))
        ax.tick_params(labelsize=7)
        ax.invert_yaxis()
    axes[2].set_xlabel("type I error (circles); power (squares)", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=PNG_METADATA)
    plt.close(fig)
