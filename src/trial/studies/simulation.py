"""Calibration study of the missing-data methods: bias, precision and CI coverage over a grid.

Each cell of the study is one kind of trial (``simulation.grid`` crosses numbers of clusters,
ICCs, true effects and cluster-size variation; ``simulation.extra_cells`` adds named cells such
as a nonlinear one). Each replicate generates a fresh trial of the cell with the primary outcome
only (:func:`generate_replicate`): clusters in strata, arms balanced within strata, a baseline and
a follow-up score with cluster components, an auxiliary variable that predicts the follow-up
beyond the baseline but is not in the analysis model, and follow-up loss missing at random given
the auxiliary variable, the baseline and the arm, with dropout rates that vary between clusters.
Its arm effect is then estimated by

* ``complete_case``: the analysis model on individuals with a follow-up score;
* an imputation method (``multilevel``, ``forest`` or any named entry of
  ``simulation.methods`` with its own imputation settings): the workflow's own imputation
  (:func:`trial.analyses.outcomes.impute_analysis_table`), analysis
  (:func:`trial.analyses.outcomes.fit_outcomes`) and pooling
  (:func:`trial.analyses.pooled_outcomes.pool_outcomes`).

Each replicate's data depend only on the seed, the cell and the replicate number, so the methods
are compared on the same trials and splitting replicates into jobs changes nothing.
:func:`summarise_simulation` gives bias, empirical SE, model SE, their ratio, CI coverage and the
rejection rate (type I error under a null effect), each with its Monte Carlo SE (Morris, White and
Crowther 2019, Stat Med 38:2074, table 6); :func:`judge_simulation` applies the decision rule.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from trial.analyses.imputation import check_imputation_model
from trial.analyses.outcomes import fit_outcomes, impute_analysis_table
from trial.analyses.pooled_outcomes import pool_outcomes
from trial.config.vocabulary import (
    TREATMENT,
    Config,
    baseline_column,
    contrast_sign,
    followup_column,
    outcome_scales,
    primary_outcome,
    single_treatment_arm,
)
from trial.progress import progress
from trial.seeding import derive_rng, derive_seed

__all__ = [
    "AUXILIARY",
    "COMPLETE_CASE",
    "CELL_KEYS",
    "generate_replicate",
    "judge_simulation",
    "method_settings",
    "replicate_chunks",
    "simulate_replicates",
    "simulation_cells",
    "simulation_config",
    "summarise_simulation",
]

log = logging.getLogger(__name__)

COMPLETE_CASE = "complete_case"
#: Name of the simulated auxiliary variable (in the imputation model, not the analysis model).
AUXILIARY = "auxiliary"
#: What defines a cell: clusters, ICC, true effect in outcome SDs, cluster-size CV.
CELL_KEYS = ("clusters", "icc", "effect_sd", "cluster_size_cv")
#: Imputation settings a method entry may override.
IMPUTATION_KEYS = ("engine", "m", "iterations", "by_arm", "cluster_means", "mean_match_candidates")


# ---------------------------------------------------------------------------------------------
# Cells, methods and jobs
# ---------------------------------------------------------------------------------------------


def _format(value: float) -> str:
    return f"{value:g}"


def cell_name(cell: Mapping[str, Any]) -> str:
    """The name of a grid cell, e.g. ``c27_icc0.1_d0.3_cv0.6``."""
    return (
        f"c{cell['clusters']}_icc{_format(cell['icc'])}_d{_format(cell['effect_sd'])}"
        f"_cv{_format(cell['cluster_size_cv'])}"
    )


def simulation_cells(config: Config) -> dict[str, dict[str, Any]]:
    """Every cell of the study by name: the grid's combinations, then the extra cells.

    Each cell holds the :data:`CELL_KEYS` and ``nonlinear`` (0 unless an extra cell sets it).
    """
    sim = config["simulation"]
    grid = sim["grid"]
    cells: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*(grid[k] for k in CELL_KEYS)):
        cell = dict(zip(CELL_KEYS, values, strict=True)) | {"nonlinear": 0.0}
        cells[cell_name(cell)] = cell
    for name, extra in sim.get("extra_cells", {}).items():
        cells[name] = {"nonlinear": 0.0, **extra}
    return cells


def method_settings(config: Config, method: str) -> dict[str, Any]:
    """Replicates, imputation settings and cells of one method (method entries override).

    The engine of a method is its ``engine`` entry or else its name; ``cells`` lists the cells
    it runs in (all by default).
    """
    sim = config["simulation"]
    if method not in sim["methods"]:
        raise ValueError(f"simulation method {method!r} is not listed under simulation/methods")
    entry = dict(sim["methods"][method] or {})
    settings = {
        "replicates": sim["replicates"],
        "m": sim["m"],
        "iterations": sim["iterations"],
        "engine": None if method == COMPLETE_CASE else method,
        "cells": list(simulation_cells(config)),
    }
    settings.update(entry)
    unknown = set(settings["cells"]) - set(simulation_cells(config))
    if unknown:
        raise ValueError(f"simulation/methods/{method}/cells: no such cells {sorted(unknown)}")
    return settings


def replicate_chunks(config: Config, method: str) -> list[range]:
    """The 1-based replicate numbers of each job of ``method`` (in every cell), in order."""
    settings = method_settings(config, method)
    n = settings["replicates"]
    size = settings.get("replicates_per_job", config["simulation"]["replicates_per_job"])
    return [range(start, min(start + size, n + 1)) for start in range(1, n + 1, size)]


def simulation_jobs(config: Config) -> list[tuple[str, str, int]]:
    """Every job of the study as (cell, method, chunk number), in a fixed order."""
    jobs = []
    for method in config["simulation"]["methods"]:
        settings = method_settings(config, method)
        for cell in settings["cells"]:
            for chunk in range(1, len(replicate_chunks(config, method)) + 1):
                jobs.append((cell, method, chunk))
    return jobs


def simulation_config(config: Config, method: str, seed: int) -> Config:
    """The trial config reduced to what a replicate analyses, with the method's settings.

    The primary outcome only, no covariates in the analysis model, the simulated auxiliary
    variable as the only auxiliary, no costs and no cluster variables.
    """
    sim_config = copy.deepcopy(config)
    primary = primary_outcome(config)
    sim_config["analysis"]["outcomes"] = [
        {k: v for k, v in o.items() if k != "published"} | {"role": "primary"}
        for o in config["analysis"]["outcomes"]
        if o["scale"] == primary
    ]
    sim_config["seed"] = seed
    sim_config.pop("costs", None)
    sim_config["covariates"] = []
    individual = sim_config["tables"][sim_config["design"]["individual_table"]]["columns"]
    individual[AUXILIARY] = {"type": "number", "description": "simulated auxiliary variable"}
    imputation = sim_config["imputation"]
    imputation.pop("cluster_variables", None)
    imputation["auxiliary"] = [AUXILIARY]
    if method != COMPLETE_CASE:
        settings = method_settings(config, method)
        imputation.update({k: settings[k] for k in IMPUTATION_KEYS if k in settings})
    return sim_config


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------


def _cluster_sizes(n: int, n_clusters: int, cv: float, rng: np.random.Generator) -> np.ndarray:
    """Cluster sizes summing to ``n`` with coefficient of variation about ``cv`` (at least 2)."""
    if n < 2 * n_clusters:
        raise ValueError(f"{n} individuals are too few for {n_clusters} clusters")
    weights = rng.gamma(1.0 / cv**2, size=n_clusters) if cv > 0 else np.ones(n_clusters)
    extra = rng.multinomial(n - 2 * n_clusters, weights / weights.sum())
    return 2 + extra


def _strata_values(config: Config) -> list[str]:
    design = config["design"]
    if len(design["strata"]) != 1:
        raise ValueError("the simulation generator needs exactly one stratum column")
    spec = config["tables"][design["cluster_table"]]["columns"][design["strata"][0]]
    return list(spec["values"])


def _logistic_intercept(linear: np.ndarray, rate: float) -> float:
    """The intercept that makes the mean of ``expit(a + linear)`` equal ``rate``."""
    return float(
        optimize.brentq(
            lambda a: float(np.mean(1.0 / (1.0 + np.exp(-(a + linear))))) - rate, -40.0, 40.0
        )
    )


def generate_replicate(
    config: Config, cell: Mapping[str, Any], rng: np.random.Generator
) -> pd.DataFrame:
    r"""One simulated analysis table of a cell, with the primary outcome only.

    Design: ``cell["clusters"]`` clusters dealt in turn to the strata (the values of the
    config's stratum column), arms allocated at random within each stratum, as evenly as
    possible (one more treatment cluster where a stratum is odd); cluster sizes of mean
    ``simulation.trial.mean_cluster_size`` with coefficient of variation
    ``cell["cluster_size_cv"]`` (gamma-distributed weights), at least 2 each.

    Outcome (``simulation.trial.outcome``: mean :math:`\mu`, SD :math:`\sigma`,
    baseline/follow-up correlation :math:`\rho`; the cell's ICC :math:`\kappa`, effect
    :math:`\delta` in SDs): baseline :math:`b = \mu + \sigma(\sqrt\kappa c_{0j} +
    \sqrt{1-\kappa} e_{0ij})`, follow-up :math:`y = \mu + \delta\sigma T_j + \sigma(\sqrt\kappa
    c_{1j} + \sqrt{1-\kappa} e_{1ij}) + \sigma\gamma (a_{ij}^2 - 1)/\sqrt2`, where the cluster
    parts :math:`(c_0, c_1)` and the individual parts :math:`(e_0, e_1)` are standard
    bivariate normal with correlation :math:`\rho`, and :math:`\gamma` is ``cell["nonlinear"]``
    (0 except in a nonlinear cell). So, without the nonlinear term, the outcome SD is
    :math:`\sigma` at both times, its ICC :math:`\kappa`, and the true effect
    :math:`\delta\sigma`; the nonlinear term has mean 0 in both arms, so the effect is
    unchanged.

    Auxiliary variable :math:`a = \lambda z + \sqrt{1-\lambda^2} w`, with :math:`z` the
    standardised part of :math:`e_1` not explained by :math:`e_0` and :math:`w` independent
    noise (``auxiliary_correlation`` :math:`\lambda`): it predicts the follow-up beyond the
    baseline and is not in the analysis model.

    Follow-up loss: log-odds ``log_odds_per_sd`` times the standardised auxiliary variable and
    baseline, plus ``reference_arm_log_odds`` in reference clusters, plus a cluster effect
    :math:`N(0, \tau^2)` (``cluster_sd``), with the intercept set so that the replicate's
    expected missing share is ``rate``. Missing at random given the auxiliary variable, the
    baseline, the arm and the cluster; not given the analysis model's terms alone.

    Returns
    -------
    pandas.DataFrame
        Columns of the analysis table: individual and cluster IDs, treatment, arm, stratum,
        :data:`AUXILIARY`, and the primary outcome's baseline and follow-up scores.
    """
    design = config["design"]
    spec = config["simulation"]["trial"]
    strata = _strata_values(config)
    n_clusters = int(cell["clusters"])
    stratum_c = np.array([strata[j % len(strata)] for j in range(n_clusters)], dtype=object)
    treated_c = np.zeros(n_clusters, dtype=int)
    for value in strata:
        members = np.flatnonzero(stratum_c == value)
        arms = np.arange(members.size) < (members.size + 1) // 2
        treated_c[members] = rng.permutation(arms).astype(int)
    sizes = _cluster_sizes(
        int(round(spec["mean_cluster_size"] * n_clusters)),
        n_clusters,
        float(cell["cluster_size_cv"]),
        rng,
    )
    codes = np.repeat(np.arange(n_clusters), sizes)
    n = int(sizes.sum())
    treatment = treated_c[codes]

    out = spec["outcome"]
    mu, sd, rho = out["mean"], out["sd"], out["rho"]
    icc = float(cell["icc"])

    def pair(size: int) -> tuple[np.ndarray, np.ndarray]:
        a = rng.standard_normal(size)
        return a, rho * a + np.sqrt(1 - rho**2) * rng.standard_normal(size)

    c0, c1 = pair(n_clusters)
    e0, e1 = pair(n)
    lam = spec["auxiliary_correlation"]
    unexplained = (e1 - rho * e0) / np.sqrt(1 - rho**2)
    auxiliary = lam * unexplained + np.sqrt(1 - lam**2) * rng.standard_normal(n)
    base = mu + sd * (np.sqrt(icc) * c0[codes] + np.sqrt(1 - icc) * e0)
    follow = (
        mu
        + float(cell["effect_sd"]) * sd * treatment
        + sd * (np.sqrt(icc) * c1[codes] + np.sqrt(1 - icc) * e1)
        + sd * float(cell["nonlinear"]) * (auxiliary**2 - 1) / np.sqrt(2)
    )

    drop = spec["dropout"]
    slopes = drop.get("log_odds_per_sd", {})
    linear = slopes.get("auxiliary", 0.0) * (auxiliary - auxiliary.mean()) / auxiliary.std()
    linear += slopes.get("baseline", 0.0) * (base - base.mean()) / base.std()
    linear += drop.get("reference_arm_log_odds", 0.0) * (1 - treatment)
    linear += drop.get("cluster_sd", 0.0) * rng.standard_normal(n_clusters)[codes]
    intercept = _logistic_intercept(linear, drop["rate"])
    missing = rng.random(n) < 1.0 / (1.0 + np.exp(-(intercept + linear)))

    arm_codes = np.where(treated_c == 1, single_treatment_arm(config), design["reference_arm"])
    scale = primary_outcome(config)
    return pd.DataFrame(
        {
            design["individual_id"]: [f"S{i + 1:05d}" for i in range(n)],
            design["cluster_id"]: [f"K{j + 1:03d}" for j in codes],
            TREATMENT: treatment,
            design["arm"]: arm_codes[codes],
            design["strata"][0]: stratum_c[codes],
            AUXILIARY: auxiliary,
            baseline_column(scale): base,
            followup_column(scale): np.where(missing, np.nan, follow),
        }
    )


# ---------------------------------------------------------------------------------------------
# Analysing replicates
# ---------------------------------------------------------------------------------------------


def _complete_case(sim_config: Config, table: pd.DataFrame) -> dict[str, float]:
    fit = fit_outcomes(sim_config, table).iloc[0]
    outcome = sim_config["analysis"]["outcomes"][0]
    sign = contrast_sign(outcome["direction"])
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
    config: Config, cell: str, method: str, replicates: Iterable[int]
) -> pd.DataFrame:
    """Simulate and analyse the given replicates of one cell with one method.

    Parameters
    ----------
    config
        Trial config with a ``simulation`` section.
    cell
        Name of a cell (:func:`simulation_cells`).
    method
        ``complete_case`` or an imputation method listed under ``simulation/methods``.
    replicates
        1-based replicate numbers; replicate ``r`` of a cell is the same trial for every
        method and whatever the other replicates of the job.

    Returns
    -------
    pandas.DataFrame
        One row per replicate: cell, method, replicate, true_effect (in the primary outcome's
        reported direction), estimate, se, df, ci_low, ci_high, p, n_analysed,
        n_individuals, n_missing, m, iterations. (No timings: results must be identical on
        a rerun; speed is measured by ``benchmarks/``.)
    """
    cells = simulation_cells(config)
    if cell not in cells:
        raise ValueError(f"simulation cell {cell!r} is not in the study's grid or extra cells")
    settings = method_settings(config, method)
    spec = cells[cell]
    effect = float(spec["effect_sd"]) * float(config["simulation"]["trial"]["outcome"]["sd"])
    primary = next(o for o in config["analysis"]["outcomes"] if o["role"] == "primary")
    sign = contrast_sign(primary["direction"])
    rows = []
    for replicate in progress(replicates, f"simulation {cell} {method}"):
        rng = derive_rng(config["seed"], "simulation", cell, replicate)
        seed = derive_seed(config["seed"], "simulation", cell, replicate, "analysis")
        sim_config = simulation_config(config, method, seed)
        table = generate_replicate(sim_config, spec, rng)
        if method == COMPLETE_CASE:
            result = _complete_case(sim_config, table)
            m, iterations = 0, 0
        else:
            result = _imputed(sim_config, table)
            m, iterations = settings["m"], settings["iterations"]
        scale = outcome_scales(sim_config)[0]
        rows.append(
            {
                "cell": cell,
                "method": method,
                "replicate": int(replicate),
                "true_effect": sign * effect,
                **result,
                "n_individuals": len(table),
                "n_missing": int(table[followup_column(scale)].isna().sum()),
                "m": m,
                "iterations": iterations,
            }
        )
        log.info("%s %s replicate %d done", cell, method, replicate)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Performance and the decision rule
# ---------------------------------------------------------------------------------------------


def summarise_simulation(results: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Performance of each method in each cell, with Monte Carlo SEs.

    Parameters
    ----------
    results
        Rows of :func:`simulate_replicates`.
    alpha
        Significance level of the rejection rate (type I error when the true effect is 0,
        power otherwise); the CIs are ``1 - alpha`` intervals.

    Returns
    -------
    pandas.DataFrame
        Per cell and method: n_replicates, n_failed (replicates without a finite estimate or
        SE, dropped), true_effect, mean_estimate, bias, bias_mcse, empirical_se,
        empirical_se_mcse, model_se (root mean of the model variances), model_se_mcse,
        se_ratio (model / empirical SE) and se_ratio_mcse, coverage, coverage_mcse,
        rejection, rejection_mcse, rejection_is (``type I error`` or ``power``), mean m and
        iterations.

    Notes
    -----
    Morris, White and Crowther (2019), table 6: the MCSE of the bias is the empirical SE over
    sqrt(n); of the empirical SE, ``SE / sqrt(2 (n - 1))``; of the model SE (root mean
    variance), ``sqrt(var(se^2) / (4 n mean(se^2)))``; of a proportion, ``sqrt(p (1 - p) /
    n)``. The ratio's MCSE combines the relative MCSEs of its two parts as if independent.
    """
    rows = []
    for (cell, method), part in results.groupby(["cell", "method"], sort=False):
        ok = np.isfinite(part["estimate"]) & np.isfinite(part["se"])
        part = part[ok]
        n = len(part)
        truth = float(part["true_effect"].iloc[0])
        est = part["estimate"].to_numpy()
        variance = part["se"].to_numpy() ** 2
        emp_se = float(np.std(est, ddof=1))
        emp_mcse = emp_se / math.sqrt(2 * (n - 1))
        model_se = float(math.sqrt(variance.mean()))
        model_mcse = float(math.sqrt(np.var(variance, ddof=1) / (4 * n * variance.mean())))
        ratio = model_se / emp_se
        covered = (part["ci_low"] <= truth) & (truth <= part["ci_high"])
        coverage = float(covered.mean())
        rejection = float((part["p"] < alpha).mean())
        rows.append(
            {
                "cell": cell,
                "method": method,
                "n_replicates": n,
                "n_failed": int((~ok).sum()),
                "true_effect": truth,
                "mean_estimate": float(est.mean()),
                "bias": float(est.mean() - truth),
                "bias_mcse": emp_se / math.sqrt(n),
                "empirical_se": emp_se,
                "empirical_se_mcse": emp_mcse,
                "model_se": model_se,
                "model_se_mcse": model_mcse,
                "se_ratio": ratio,
                "se_ratio_mcse": ratio * math.hypot(model_mcse / model_se, emp_mcse / emp_se),
                "coverage": coverage,
                "coverage_mcse": math.sqrt(coverage * (1 - coverage) / n),
                "rejection": rejection,
                "rejection_mcse": math.sqrt(rejection * (1 - rejection) / n),
                "rejection_is": "type I error" if truth == 0 else "power",
                "m": float(part["m"].mean()),
                "iterations": float(part["iterations"].mean()),
            }
        )
    return pd.DataFrame(rows)


def judge_simulation(
    summary: pd.DataFrame,
    *,
    reference_effect: float,
    alpha: float = 0.05,
    bias_fraction: float = 0.02,
    n_mcse: float = 2.0,
) -> pd.DataFrame:
    """The decision rule, with Monte Carlo error, for every method in every cell.

    A method fails a cell when

    * its bias is beyond ``n_mcse`` Monte Carlo SEs of zero **and** larger than
      ``bias_fraction`` of the effect: of the cell's true effect, or of ``reference_effect``
      (the grid's non-null effect, in outcome units) where the true effect is 0, so that a
      null cell has the same absolute tolerance as its non-null twin rather than none; or
    * its CI coverage is more than ``n_mcse`` Monte Carlo SEs from ``1 - alpha``, the MCSE
      being that of a proportion ``1 - alpha`` over the cell's replicates,
      ``sqrt(alpha (1 - alpha) / n)`` (the SE under the hypothesis that the coverage is
      nominal).

    A method that is exactly calibrated still fails each criterion of each cell by chance
    with probability about 4.6% at ``n_mcse = 2`` (the normal two-sided tail beyond 2; the
    bias criterion a little less because of its second condition), so over many cells a few
    chance failures are expected; ``chance_failures`` counts that expectation per row.

    Returns
    -------
    pandas.DataFrame
        ``summary`` with bias_tolerance, bias_fail, coverage_mcse_nominal, coverage_fail,
        fail, and efficiency: the method's empirical SE over complete case's in the same
        cell (below 1 = more efficient), when complete case was run there.
    """
    out = summary.copy()
    tolerance = bias_fraction * np.where(
        out["true_effect"] != 0, out["true_effect"].abs(), abs(reference_effect)
    )
    out["bias_tolerance"] = tolerance
    out["bias_fail"] = (out["bias"].abs() > n_mcse * out["bias_mcse"]) & (
        out["bias"].abs() > tolerance
    )
    nominal = 1 - alpha
    out["coverage_mcse_nominal"] = np.sqrt(nominal * (1 - nominal) / out["n_replicates"])
    out["coverage_fail"] = (out["coverage"] - nominal).abs() > n_mcse * out["coverage_mcse_nominal"]
    out["fail"] = out["bias_fail"] | out["coverage_fail"]
    out["chance_failures"] = 2 * stats.norm.sf(n_mcse) * 2
    complete = out[out["method"] == COMPLETE_CASE].set_index("cell")["empirical_se"]
    out["efficiency"] = out["empirical_se"] / out["cell"].map(complete)
    return out


