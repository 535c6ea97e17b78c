"""Service costs and cost-effectiveness of a cluster-randomised trial, multiply imputed.

Data flow (each step one workflow rule):

* :func:`cost_totals` (called by :func:`trial.analysis.build_analysis_table`): each
  individual's total cost in the recall period before baseline and before follow-up, the sum over
  services of units used x unit cost. No service-use rows for an assessment = cost missing; the
  missing costs are imputed together with the outcome scores (columns :data:`COST_BASELINE`,
  :data:`COST_FOLLOWUP`).
* :func:`use_and_cost_table`: observed use and cost by service, service category and arm at
  baseline and follow-up (mean, SD, % using).
* :func:`fit_costs` (one completed data set): the adjusted cost difference (follow-up cost on
  arm, baseline cost, strata and covariates) by least squares (the estimator the bootstrap
  resamples), by a random-intercept mixed model with small-sample df, and by a gamma GLM with
  log link and cluster-robust standard errors (ratio of means and recycled-prediction
  difference); plus the least-squares incremental effect on the effect scale, among the
  individuals whose effect score the declared estimands define (:mod:`trial.estimands`).
* :func:`bootstrap_costs` (one chunk of replicates, every completed data set): joint two-stage
  cluster bootstrap (with shrinkage) of the incremental cost and effect.
* :func:`pool_costs`: Rubin's rules over imputations, the bootstrap combined with multiple
  imputation, the comparison of every mean difference with the headline, the cost-effectiveness
  summary and the acceptability curve.

The headline cost difference is the method named by ``costs.headline`` (default: the two-stage
bootstrap of the least-squares mean difference, pooled by Rubin's rules), with the reason given
in ``costs.headline_reason``; every other mean difference is compared with it and flagged when
it differs by more than ``costs.agreement`` (``estimate_se`` headline SEs for the estimate, a
factor ``se_ratio`` for the SE).

Multiple imputation and the bootstrap (Brand et al 2019, Stat Med 38:210-220) are combined by
**MI then bootstrap** ("MI-boot"): every completed data set is bootstrapped with the same
replicate numbers; per completed data set the point estimate is the least-squares estimate on the
data and its within-imputation variance is the variance of its bootstrap replicates; these are
pooled by Rubin's rules with Barnard-Rubin df whose complete-data df is the number of clusters
minus the cluster-level parameters (intercept, arm, strata). The percentile interval of all
``m x B`` replicates stacked ("pooled sample") is reported beside it and the stacked replicates
draw the cost-effectiveness plane and the acceptability curve. That is valid when the imputation
model is proper and congenial with the cost and effect regressions; the report states what the
configured engine does and does not guarantee
(:func:`trial.report.sections.costs.congeniality_text`). Bootstrapping before imputing (Brand et
al's "bootstrap then single imputation", which needs no congeniality) would need the imputation
model refitted in every replicate and is not implemented.

Kept as one module for now, over the 600-line guide: its seams are the costs from service use
(:func:`service_costs` to :func:`unit_cost_table`), the analysis (:func:`fit_costs`,
:func:`bootstrap_costs`, :func:`pool_costs`) and the CHEERS checklist (its figures and report
section are in :mod:`trial.report`), and :func:`pool_costs` would become one function per method
when it is split.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.bootstrap import (
    ClusterLayout,
    bootstrap_weights,
    shrink_two_stage,
    shrinkage_factors,
    weighted_ols_coefficient,
)
from trial.estimands import score_defined
from trial.mixed import fit_random_intercept_model
from trial.pooling import pool_rubin
from trial.progress import progress
from trial.validation import read_table
from trial.vocabulary import (
    COST,
    COST_BASELINE,
    COST_FOLLOWUP,
    TREATMENT,
    Config,
    allocation_strata,
    arm_term,
    baseline_column,
    contrast_label,
    contrast_sign,
    design_matrix,
    effect_scale,
    followup_column,
    single_treatment_arm,
)

__all__ = [
    "CostConfigError",
    "bootstrap_costs",
    "cheers_checklist",
    "cost_totals",
    "fit_costs",
    "pool_costs",
    "service_costs",
    "use_and_cost_table",
    "wtp_grid",
]


class CostConfigError(ValueError):
    """The costs section of the config does not fit the data; the message says what."""


# ---------------------------------------------------------------------------------------------
# Config helpers
# ---------------------------------------------------------------------------------------------


def _effect_sign(config: Config) -> float:
    """+1 when a higher effect score is better for the individual, else -1."""
    return 1.0 if config["costs"].get("effect_higher_is_better", True) else -1.0


def _cost_sign(config: Config) -> float:
    """+1 to report treatment minus reference, -1 for the reverse."""
    return contrast_sign(_direction(config))


def _direction(config: Config) -> str:
    return str(config["costs"].get("direction", "treatment_minus_reference"))


def wtp_grid(config: Config) -> np.ndarray:
    """Willingness-to-pay values of the acceptability curve (config ``willingness_to_pay``)."""
    spec = config["costs"].get("willingness_to_pay", {"from": 0, "to": 0, "step": 1})
    lo, hi, step = float(spec["from"]), float(spec["to"]), float(spec["step"])
    if step <= 0 or hi < lo:
        raise CostConfigError(f"costs/willingness_to_pay: need from <= to and step > 0, got {spec}")
    return lo + step * np.arange(int(math.floor((hi - lo) / step + 1e-9)) + 1)


HEADLINE_METHODS = ("bootstrap_rubin", "bootstrap_percentile", "mixed_model", "glm_difference")


def headline_method(config: Config) -> str:
    """The method whose estimate is the headline cost difference (``costs.headline``)."""
    return str(config["costs"].get("headline", "bootstrap_rubin"))


def _agreement(config: Config) -> dict[str, float]:
    spec = {"estimate_se": 0.5, "se_ratio": 1.5}
    spec.update(config["costs"].get("agreement", {}))
    return spec


def _compare_with_headline(config: Config, costs: pd.DataFrame) -> pd.DataFrame:
    """The cost rows, headline first, each mean difference compared with the headline.

    ``difference_in_headline_se`` is (estimate - headline estimate) / headline SE and
    ``se_ratio`` the row's SE over the headline's; ``agrees`` is False when either passes the
    configured tolerance (``costs.agreement``: ``estimate_se``, ``se_ratio``). Rows that are not
    a mean difference (the ratio of means) are not compared.
    """
    tolerance = _agreement(config)
    method = headline_method(config)
    if method not in set(costs["method"]):
        raise CostConfigError(f"costs/headline: {method!r} is not one of {HEADLINE_METHODS}")
    head = costs.set_index("method").loc[method]
    out = pd.concat(
        [costs[costs["method"] == method], costs[costs["method"] != method]], ignore_index=True
    )
    out.insert(1, "headline", out["method"] == method)
    comparable = (out["estimand"] == "mean difference") & ~out["headline"]
    shift = (out["estimate"] - head["estimate"]) / head["se"]
    ratio = out["se"] / head["se"]
    out["difference_in_headline_se"] = shift.where(comparable)
    out["se_ratio"] = ratio.where(comparable)
    spread = np.maximum(ratio, 1.0 / ratio)
    agrees = (shift.abs() <= tolerance["estimate_se"]) & (spread <= tolerance["se_ratio"])
    out["agrees"] = agrees.where(comparable)
    return out


#: replicates whose frequency weights are held at once (250 x 50,000 individuals: 100 MB)
_REPLICATE_BLOCK = 250


def _bootstrap_spec(config: Config) -> dict[str, Any]:
    spec = {"replicates": 2000, "chunks": 1, "resampling": "two-stage"}
    spec.update(config["costs"].get("bootstrap", {}))
    return spec


def chunk_replicates(config: Config, chunk: int) -> dict[int, range]:
    """Replicate numbers (0-based) of each imputation computed by bootstrap chunk ``chunk``.

    The imputations x replicates grid, in imputation then replicate order, is cut into
    ``costs.bootstrap.chunks`` contiguous runs of (nearly) equal length, one per chunk
    (1-based), so that a chunk reads only the completed datasets of its own run. Imputations
    are numbered 1..``imputation.m``; imputations the chunk does not touch are absent.
    """
    spec = _bootstrap_spec(config)
    total, chunks = int(spec["replicates"]), int(spec["chunks"])
    if not 1 <= chunk <= chunks:
        raise CostConfigError(f"bootstrap chunk {chunk} is outside 1..{chunks}")
    edges = np.linspace(0, total * int(config["imputation"]["m"]), chunks + 1).round()
    start, stop = int(edges[chunk - 1]), int(edges[chunk])
    work = {}
    for imputation in range(start // total + 1, -(-stop // total) + 1):
        first = (imputation - 1) * total
        work[imputation] = range(max(start - first, 0), min(stop - first, total))
    return {imputation: reps for imputation, reps in work.items() if len(reps)}


# ---------------------------------------------------------------------------------------------
# Costs from service use
# ---------------------------------------------------------------------------------------------


def service_costs(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """Service-use rows with unit, unit cost, category and cost (= quantity x unit cost).

    Raises
    ------
    CostConfigError
        A service without a unit cost, or a unit-cost column named in the config that is absent.
    """
    spec = config["costs"]
    use = read_table(config, spec["use_table"], raw_dir)
    prices = read_table(config, spec["unit_cost_table"], raw_dir)
    wanted = [spec["service"], spec["unit_cost"], spec["category"]]
    wanted += [spec[k] for k in ("unit", "price_year", "source") if k in spec]
    absent = [c for c in wanted if c not in prices.columns]
    if absent:
        raise CostConfigError(
            f"costs: column(s) {absent} named in the config are not in table "
            f"{spec['unit_cost_table']!r}"
        )
    unknown = sorted(set(use[spec["service"]]) - set(prices[spec["service"]]))
    if unknown:
        raise CostConfigError(
            f"costs: service(s) {unknown} in table {spec['use_table']!r} have no unit cost in "
            f"table {spec['unit_cost_table']!r}"
        )
    rows = use.merge(prices[wanted], on=spec["service"], how="left", validate="many_to_one")
    unit_cost = rows[spec["unit_cost"]].astype(float)
    if spec.get("missing_unit_cost", "error") == "zero":  # the config's documented choice
        unit_cost = unit_cost.fillna(0.0)
    rows["cost"] = rows[spec["quantity"]].astype(float) * unit_cost
    if rows["cost"].isna().any():  # never summed away as 0 (validation stops this first)
        blank = sorted(set(rows.loc[rows["cost"].isna(), spec["service"]]))
        raise CostConfigError(
            f"costs: service-use rows of {blank} have no cost (a blank quantity or unit cost); "
            "give each, or set costs/missing_unit_cost: zero to cost a blank unit cost at 0"
        )
    return rows


def cost_totals(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """Total cost per individual at baseline and follow-up: ``id, cost__baseline, cost__followup``.

    An individual with no service-use rows for an assessment has a missing total there.
    """
    design = config["design"]
    rows = service_costs(config, raw_dir)
    idc, tp = design["individual_id"], design["timepoint"]
    totals = rows.groupby([idc, tp], observed=True)["cost"].sum().unstack(tp)
    out = pd.DataFrame(index=totals.index)
    for time, column in ((design["baseline"], COST_BASELINE), (design["followup"], COST_FOLLOWUP)):
        out[column] = totals[time] if time in totals.columns else np.nan
    return out.reset_index()


def use_and_cost_table(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """Observed service use and cost by arm and assessment, per service, category and in total.

    Only individuals whose service use was recorded at an assessment count there (``n``).
    Columns: ``timepoint, arm, level (service | category | total), item, unit, n, use_mean,
    use_sd, pct_using, cost_mean, cost_sd, pct_with_cost``. Use statistics are given for services
    only (units differ within a category).
    """
    design = config["design"]
    spec = config["costs"]
    rows = service_costs(config, raw_dir)
    people = read_table(config, design["individual_table"], raw_dir)
    clusters = read_table(config, design["cluster_table"], raw_dir)
    arm_of = people.merge(
        clusters[[design["cluster_id"], design["arm"]]], on=design["cluster_id"], how="left"
    ).set_index(design["individual_id"])[design["arm"]]
    idc, tp, service = design["individual_id"], design["timepoint"], spec["service"]
    rows["_arm"] = rows[idc].map(arm_of)
    services = list(dict.fromkeys(rows[service]))
    units = rows.drop_duplicates(service).set_index(service)
    categories = list(dict.fromkeys(units[spec["category"]]))
    out = []
    for time in (design["baseline"], design["followup"]):
        for arm in (single_treatment_arm(config), design["reference_arm"]):
            part = rows[(rows[tp] == time) & (rows["_arm"] == arm)]
            ids = pd.Index(part[idc].unique())
            qty = (
                part.pivot_table(index=idc, columns=service, values=spec["quantity"], aggfunc="sum")
                .reindex(index=ids, columns=services)
                .fillna(0)
            )
            cost = (
                part.pivot_table(index=idc, columns=service, values="cost", aggfunc="sum")
                .reindex(index=ids, columns=services)
                .fillna(0)
            )

            for s in services:
                unit = str(units.loc[s, spec["unit"]]) if "unit" in spec else ""
                out.append(_use_row(time, arm, "service", s, unit, qty[s], cost[s]))
            for cat in categories:
                members = [s for s in services if units.loc[s, spec["category"]] == cat]
                out.append(
                    _use_row(time, arm, "category", cat, "", None, cost[members].sum(axis=1))
                )
            out.append(_use_row(time, arm, "total", "total", "", None, cost.sum(axis=1)))
    return pd.DataFrame(out)


def _use_row(
    time: str, arm: str, level: str, item: str, unit: str, use: pd.Series | None, c: pd.Series
) -> dict[str, Any]:
    n = len(c)
    has_use = use is not None and n > 0
    return {
        "timepoint": time,
        "arm": arm,
        "level": level,
        "item": item,
        "unit": unit,
        "n": n,
        "use_mean": float(use.mean()) if has_use else np.nan,
        "use_sd": float(use.std()) if has_use and n > 1 else np.nan,
        "pct_using": 100.0 * float((use > 0).mean()) if has_use else np.nan,
        "cost_mean": float(c.mean()) if n else np.nan,
        "cost_sd": float(c.std()) if n > 1 else np.nan,
        "pct_with_cost": 100.0 * float((c > 0).mean()) if n else np.nan,
    }


def unit_cost_table(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """The unit costs used, with price year and source when the config names those columns."""
    spec = config["costs"]
    prices = read_table(config, spec["unit_cost_table"], raw_dir)
    keep = [spec["service"], spec["category"]]
    keep += [spec[k] for k in ("unit",) if k in spec] + [spec["unit_cost"]]
    keep += [spec[k] for k in ("price_year", "source") if k in spec]
    names = ["service", "category"] + (["unit"] if "unit" in spec else []) + ["unit_cost"]
    names += [k for k in ("price_year", "source") if k in spec]
    return prices[keep].set_axis(names, axis=1)


# ---------------------------------------------------------------------------------------------
# One completed data set
# ---------------------------------------------------------------------------------------------


def _rows(config: Config, table: pd.DataFrame, scale: str) -> np.ndarray:
    """Rows analysed for ``scale``: every row for cost; for the effect, the rows whose score the
    declared estimands define (:func:`trial.estimands.score_defined`)."""
    if scale == COST:
        return np.ones(len(table), dtype=bool)
    return score_defined(config, table)


def delivery_cost(config: Config, table: pd.DataFrame) -> np.ndarray:
    """Each row's share of the cost of delivering the intervention (``costs.intervention_cost``).

    Rows of the treatment arm carry the declared cost per individual, or their cluster's declared
    cost shared equally among the cluster's rows in ``table``; rows of the reference arm, and
    every row when no cost is declared, carry zero. The share is added to the follow-up cost
    after imputation, so every imputed and bootstrapped data set carries it unchanged.
    """
    spec = config["costs"].get("intervention_cost") or {}
    treated = table[TREATMENT].to_numpy() == 1
    share = np.full(len(table), float(spec.get("per_individual", 0.0)))
    if "per_cluster" in spec:
        sizes = table.groupby(config["design"]["cluster_id"])[TREATMENT].transform("size")
        share = float(spec["per_cluster"]) / sizes.to_numpy(dtype=float)
    return np.where(treated, share, 0.0)


def _design(config: Config, table: pd.DataFrame, scale: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Outcome, design matrix and arm column of ``scale`` on its analysed rows (:func:`_rows`);
    the follow-up cost includes the intervention's delivery cost (:func:`delivery_cost`)."""
    table = table[_rows(config, table, scale)]
    X = design_matrix(config, table, scale)
    y = table[followup_column(scale)].to_numpy(dtype=float)
    if scale == COST:
        y = y + delivery_cost(config, table)
    column = list(X.columns).index(arm_term(config))
    Xv = X.to_numpy(dtype=float)
    if not (np.all(np.isfinite(Xv)) and np.all(np.isfinite(y))):
        raise CostConfigError(
            f"the {scale!r} analysis needs a completed table: missing values remain in "
            f"{followup_column(scale)!r} or its covariates"
        )
    return y, Xv, column


def _cluster_level_parameters(config: Config, table: pd.DataFrame) -> int:
    """Intercept, arm and strata dummies: the parameters estimated between clusters."""
    X = design_matrix(config, table, COST)
    cluster = table[config["design"]["cluster_id"]]
    constant = X.groupby(cluster.to_numpy()).nunique().le(1).all()
    return int(constant.sum())


def fit_costs(config: Config, table: pd.DataFrame) -> pd.DataFrame:
    """Cost and effect analyses of one completed data set (rows in the treatment-minus-reference
    direction; pooling turns them to the reported direction).

    Returns
    -------
    pandas.DataFrame
        One row per ``method``: ``mixed`` (random-intercept LMM of follow-up cost, the configured
        df method), ``ols`` (least squares, the bootstrap's estimator; variance left blank),
        ``glm_log_ratio`` (gamma GLM with log link, log ratio of means, cluster-robust variance),
        ``glm_difference`` (its recycled-prediction mean difference, delta-method variance),
        ``effect_ols`` (least-squares incremental effect on the effect scale), with
        ``estimate, variance, df, df_method, n_individuals, n_clusters`` and means by arm.
    """
    import statsmodels.api as sm

    design = config["design"]
    df_method = config["analysis"]["df_method"]
    clusters = table[design["cluster_id"]].to_numpy()
    n_clusters = int(pd.Series(clusters).nunique())
    y, X, column = _design(config, table, COST)
    names = list(design_matrix(config, table.head(1), COST).columns)
    base = {"n_individuals": len(y), "n_clusters": n_clusters}
    rows = []
    fit = fit_random_intercept_model(
        y, pd.DataFrame(X, columns=names), clusters, reml=True, df_method=df_method
    )
    term = arm_term(config)
    rows.append(
        {
            "method": "mixed",
            "estimate": float(fit.params[term]),
            "variance": float(fit.cov.loc[term, term]),
            "df": float(fit.df[term]),
            "df_method": df_method,
            "icc": float(fit.icc),
            "at_boundary": bool(fit.at_boundary),
            **base,
        }
    )
    ols = float(weighted_ols_coefficient(y, X, np.ones(len(y)), column))
    rows.append(
        {
            "method": "ols",
            "estimate": ols,
            "variance": np.nan,
            "df": np.nan,
            "df_method": "",
            **base,
        }
    )
    codes = pd.factorize(pd.Series(clusters))[0]
    # On the log scale a linear baseline-cost term makes predictions explode for the highest
    # baseline costs; the GLM takes log(1 + baseline cost) instead (a power law in the mean).
    X = X.copy()
    X[:, names.index(COST_BASELINE)] = np.log1p(X[:, names.index(COST_BASELINE)])
    glm = sm.GLM(y, X, family=sm.families.Gamma(sm.families.links.Log())).fit(
        cov_type="cluster", cov_kwds={"groups": codes}
    )
    cov = np.asarray(glm.cov_params())
    beta = np.asarray(glm.params)
    rows.append(
        {
            "method": "glm_log_ratio",
            "estimate": float(beta[column]),
            "variance": float(cov[column, column]),
            "df": float(n_clusters - 1),
            "df_method": "clusters - 1 (cluster-robust)",
            **base,
        }
    )
    X1, X0 = X.copy(), X.copy()
    X1[:, column], X0[:, column] = 1.0, 0.0
    mu1, mu0 = np.exp(X1 @ beta), np.exp(X0 @ beta)
    gradient = (mu1[:, None] * X1).mean(axis=0) - (mu0[:, None] * X0).mean(axis=0)
    rows.append(
        {
            "method": "glm_difference",
            "estimate": float(mu1.mean() - mu0.mean()),
            "variance": float(gradient @ cov @ gradient),
            "df": float(n_clusters - 1),
            "df_method": "clusters - 1 (cluster-robust)",
            **base,
        }
    )
    ye, Xe, ce = _design(config, table, effect_scale(config))
    rows.append(
        {
            "method": "effect_ols",
            "estimate": float(weighted_ols_coefficient(ye, Xe, np.ones(len(ye)), ce)),
            "variance": np.nan,
            "df": np.nan,
            "df_method": "",
            **base,
            "n_individuals": len(ye),
        }
    )
    out = pd.DataFrame(rows)
    treated = table[TREATMENT].to_numpy() == 1
    out["mean_treatment"] = float(y[treated].mean())
    out["mean_reference"] = float(y[~treated].mean())
    out["cluster_level_parameters"] = _cluster_level_parameters(config, table)
    return out


# ---------------------------------------------------------------------------------------------
# Bootstrap
# ---------------------------------------------------------------------------------------------


def bootstrap_costs(
    config: Config,
    tables: Mapping[int, pd.DataFrame],
    replicates: Sequence[int] | range | Mapping[int, Sequence[int] | range],
) -> pd.DataFrame:
    """Joint bootstrap replicates of incremental cost and effect for completed data sets.

    Parameters
    ----------
    config : dict
        Trial config; ``costs.bootstrap.resampling`` is ``two-stage`` (with shrinkage,
        default) or ``cluster`` (one stage).
    tables : mapping of int to pandas.DataFrame
        Completed data sets by imputation number.
    replicates : sequence of int, or mapping of int to sequence of int
        Replicate numbers, the same for every imputation or by imputation (as from
        :func:`chunk_replicates`); replicate ``r`` of imputation ``i`` always uses the generator
        ``derive_seed(seed, "cost_bootstrap", i, r)``, so any chunking gives the same numbers.

    Returns
    -------
    pandas.DataFrame
        ``imputation, replicate, cost, effect`` (treatment minus reference, least squares with
        the analysis covariates, on the resampled (shrunk) data).
    """
    design = config["design"]
    resampling = _bootstrap_spec(config)["resampling"]
    columns = ["imputation", "replicate", "cost", "effect"]
    frames = [pd.DataFrame(columns=columns)] if not tables else []
    for imputation, table in progress(sorted(tables.items()), "cost bootstrap, imputations"):
        numbers = replicates[imputation] if isinstance(replicates, Mapping) else replicates
        layout = ClusterLayout.from_labels(
            table[design["cluster_id"]], allocation_strata(config, table)
        )
        regressions = []
        for scale in (COST, effect_scale(config)):
            y, X, column = _design(config, table, scale)
            rows = _rows(config, table, scale)
            # the same draws for cost and effect; an effect left undefined by the estimand
            # (e.g. after death) drops out of the effect regression only
            part = (
                layout
                if rows.all()
                else ClusterLayout.from_labels(
                    table.loc[rows, design["cluster_id"]], allocation_strata(config, table[rows])
                )
            )
            if resampling == "two-stage":
                # common factors from the fitted model's residuals (see trial.bootstrap)
                beta = np.linalg.lstsq(X, y, rcond=None)[0]
                factors = shrinkage_factors(y - X @ beta, part)
                shrunk = shrink_two_stage(
                    np.column_stack([y, table.loc[rows, baseline_column(scale)].to_numpy(float)]),
                    part,
                    factors,
                )
                y = shrunk[:, 0]
                X = X.copy()
                X[
                    :,
                    list(design_matrix(config, table.head(1), scale).columns).index(
                        baseline_column(scale)
                    ),
                ] = shrunk[:, 1]
            regressions.append((y, X, column, None if rows.all() else rows))
        # replicates in blocks (numbers r // _REPLICATE_BLOCK alike, whatever the chunking): a
        # replicates x individuals weight matrix per block bounds the memory
        for _, group in itertools.groupby(numbers, key=lambda r: r // _REPLICATE_BLOCK):
            block = list(group)
            weights = bootstrap_weights(
                layout,
                block,
                seed=config["seed"],
                keys=("cost_bootstrap", imputation),
                resampling=resampling,
                dtype=float,
            )
            estimates = {
                name: weighted_ols_coefficient(
                    y, X, weights if rows is None else weights[:, rows], column
                )
                for name, (y, X, column, rows) in zip(("cost", "effect"), regressions, strict=True)
            }
            frames.append(pd.DataFrame({"imputation": imputation, "replicate": block, **estimates}))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Pooling and cost-effectiveness
# ---------------------------------------------------------------------------------------------


def _row(method: str, label: str, estimand: str, pooled: Any, **extra: Any) -> dict[str, Any]:
    values = pooled.as_dict()
    return {
        "method": method,
        "label": label,
        "estimand": estimand,
        "estimate": values["estimate"],
        "se": values["se"],
        "ci_low": values["ci_low"],
        "ci_high": values["ci_high"],
        "df": values["df"],
        "p": values["p"],
        "fmi": values["fmi"],
        "mc_se": values["mc_se"],
        "m": values["m"],
        "df_complete": values["df_complete"],
        **extra,
    }


def pool_costs(
    config: Config, fits: Sequence[pd.DataFrame], replicates: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Pool the cost analyses over imputations; cost-effectiveness from the joint bootstrap.

    Parameters
    ----------
    config : dict
    fits : sequence of pandas.DataFrame
        :func:`fit_costs` per imputation, in imputation order (1..m).
    replicates : pandas.DataFrame
        All :func:`bootstrap_costs` chunks, concatenated.

    Returns
    -------
    dict of pandas.DataFrame
        ``costs`` (adjusted cost difference by method, in the configured direction),
        ``cost_effectiveness`` (incremental cost and effect, ICER, quadrant probabilities) and
        ``ceac`` (probability cost-effective and incremental net benefit by willingness to pay).
    """
    alpha = config["analysis"]["alpha"]
    design = config["design"]
    sign = _cost_sign(config)
    direction = _direction(config)
    contrast = contrast_label(config, direction)
    stacked = pd.concat([f.assign(imputation=i + 1) for i, f in enumerate(fits)], ignore_index=True)
    m = len(fits)
    n_clusters = int(stacked["n_clusters"].max())
    n_individuals = int(stacked["n_individuals"].max())
    common = {
        "direction": direction,
        "contrast": contrast,
        "n_clusters": n_clusters,
        "n_individuals": n_individuals,
    }
    rows = []

    def part(method: str) -> pd.DataFrame:
        return stacked[stacked["method"] == method].sort_values("imputation")

    mixed = part("mixed")
    pooled = pool_rubin(
        sign * mixed["estimate"].to_numpy(),
        mixed["variance"].to_numpy(),
        df_complete=float(mixed["df"].mean()),
        alpha=alpha,
    )
    rows.append(
        _row(
            "mixed_model",
            f"Linear mixed model (random intercept for {design['cluster_label']}), Rubin's rules",
            "mean difference",
            pooled,
            df_method=f"{mixed['df_method'].iloc[0]}, Barnard-Rubin",
            ci_method="t",
            replicates=np.nan,
            n_boundary_fits=int(mixed["at_boundary"].astype(bool).sum()),
            **common,
        )
    )

    reps = replicates.sort_values(["imputation", "replicate"])
    B = int(reps.groupby("imputation").size().min()) if len(reps) else 0
    if sorted(reps["imputation"].unique().tolist()) != list(range(1, m + 1)):
        raise CostConfigError(
            f"bootstrap replicates cover imputations {sorted(reps['imputation'].unique())}, "
            f"expected 1..{m}"
        )
    boot_var = reps.groupby("imputation")[["cost", "effect"]].var(ddof=1)
    boot_cov = reps.groupby("imputation")[["cost", "effect"]].cov(ddof=1)
    ols = part("ols")
    effect = part("effect_ols")
    df_boot = float(n_clusters - ols["cluster_level_parameters"].iloc[0])
    resampling = _bootstrap_spec(config)["resampling"]
    boot_label = (
        "Two-stage cluster bootstrap with shrinkage"
        if resampling == "two-stage"
        else "One-stage cluster bootstrap"
    )
    pooled_boot = pool_rubin(
        sign * ols["estimate"].to_numpy(),
        boot_var["cost"].to_numpy(),
        df_complete=df_boot,
        alpha=alpha,
    )
    rows.append(
        _row(
            "bootstrap_rubin",
            f"{boot_label}, least squares; MI then bootstrap, Rubin's rules",
            "mean difference",
            pooled_boot,
            df_method="clusters minus cluster-level parameters, Barnard-Rubin",
            ci_method="t",
            replicates=B,
            **common,
        )
    )
    lo_q, hi_q = np.quantile(sign * reps["cost"].to_numpy(), [alpha / 2, 1 - alpha / 2])
    rows.append(
        {
            "method": "bootstrap_percentile",
            "label": f"{boot_label}, least squares; MI then bootstrap, percentile interval "
            "of the stacked replicates",
            "estimand": "mean difference",
            "estimate": pooled_boot.estimate,
            "se": float(np.std(sign * reps["cost"], ddof=1)),
            "ci_low": float(lo_q),
            "ci_high": float(hi_q),
            "df": np.nan,
            "p": float(min(1.0, 2 * min((reps["cost"] > 0).mean(), (reps["cost"] < 0).mean()))),
            "fmi": np.nan,
            "mc_se": np.nan,
            "m": m,
            "df_complete": np.nan,
            "df_method": "",
            "ci_method": "percentile",
            "replicates": B,
            **common,
        }
    )
    for method, label, estimand in (
        (
            "glm_difference",
            "Gamma GLM, log link, cluster-robust SE: recycled-prediction difference, Rubin's rules",
            "mean difference",
        ),
        (
            "glm_log_ratio",
            "Gamma GLM, log link, cluster-robust SE: ratio of means, Rubin's rules",
            "ratio of means",
        ),
    ):
        glm = part(method)
        estimates = glm["estimate"].to_numpy()
        if method == "glm_difference":
            estimates = sign * estimates
        elif sign < 0:
            estimates = -estimates
        pooled_glm = pool_rubin(
            estimates, glm["variance"].to_numpy(), df_complete=float(glm["df"].mean()), alpha=alpha
        )
        row = _row(
            method,
            label,
            estimand,
            pooled_glm,
            df_method=glm["df_method"].iloc[0] + ", Barnard-Rubin",
            ci_method="t",
            replicates=np.nan,
            **common,
        )
        if method == "glm_log_ratio":
            for key in ("estimate", "ci_low", "ci_high"):
                row[key] = math.exp(row[key])
            row["se"] = np.nan  # a ratio's SE is on the log scale; the CI is exponentiated
        rows.append(row)
    means = {arm: float(part("mixed")[f"mean_{arm}"].mean()) for arm in ("treatment", "reference")}
    costs = _compare_with_headline(config, pd.DataFrame(rows))
    costs["mean_treatment"] = means["treatment"]
    costs["mean_reference"] = means["reference"]

    # cost-effectiveness (always incremental = treatment minus reference, effect as benefit)
    e_sign = _effect_sign(config)
    dc = reps["cost"].to_numpy()
    de = e_sign * reps["effect"].to_numpy()
    cost_pooled = pool_rubin(
        ols["estimate"].to_numpy(), boot_var["cost"].to_numpy(), df_complete=df_boot, alpha=alpha
    )
    effect_pooled = pool_rubin(
        e_sign * effect["estimate"].to_numpy(),
        boot_var["effect"].to_numpy(),
        df_complete=df_boot,
        alpha=alpha,
    )
    quadrants = {
        "prob_more_effective_less_costly": float(np.mean((de > 0) & (dc < 0))),
        "prob_more_effective_more_costly": float(np.mean((de > 0) & (dc >= 0))),
        "prob_less_effective_less_costly": float(np.mean((de <= 0) & (dc < 0))),
        "prob_less_effective_more_costly": float(np.mean((de <= 0) & (dc >= 0))),
    }

    def interval_row(quantity: str, pooled: Any, draws: np.ndarray) -> dict[str, Any]:
        return {
            "quantity": quantity,
            "estimate": pooled.estimate,
            "ci_low": pooled.ci_low,
            "ci_high": pooled.ci_high,
            "df": pooled.df,
            "pct_low": float(np.quantile(draws, alpha / 2)),
            "pct_high": float(np.quantile(draws, 1 - alpha / 2)),
        }

    no_interval = dict.fromkeys(("ci_low", "ci_high", "df", "pct_low", "pct_high"), np.nan)
    point_estimates = {"icer": cost_pooled.estimate / effect_pooled.estimate, **quadrants}
    ce_rows = [
        interval_row("incremental_cost", cost_pooled, dc),
        interval_row("incremental_effect", effect_pooled, de),
        *({"quantity": k, "estimate": v, **no_interval} for k, v in point_estimates.items()),
    ]
    ce = pd.DataFrame(ce_rows)
    ce["effect_scale"] = effect_scale(config)
    ce["replicates"] = B
    ce["m"] = m

    ceac_rows = []
    var_c = boot_var["cost"].to_numpy()
    var_e = boot_var["effect"].to_numpy()
    cov_ce = e_sign * boot_cov.xs("cost", level=1)["effect"].to_numpy()
    est_c = ols["estimate"].to_numpy()
    est_e = e_sign * effect["estimate"].to_numpy()
    for wtp in wtp_grid(config):
        inb = wtp * de - dc
        variances = wtp**2 * var_e + var_c - 2 * wtp * cov_ce
        pooled_inb = pool_rubin(wtp * est_e - est_c, variances, df_complete=df_boot, alpha=alpha)
        ceac_rows.append(
            {
                "wtp": float(wtp),
                "prob_cost_effective": float(np.mean(inb > 0)),
                "inb": pooled_inb.estimate,
                "inb_se": pooled_inb.se,
                "inb_ci_low": pooled_inb.ci_low,
                "inb_ci_high": pooled_inb.ci_high,
                "inb_df": pooled_inb.df,
                "inb_pct_low": float(np.quantile(inb, alpha / 2)),
                "inb_pct_high": float(np.quantile(inb, 1 - alpha / 2)),
            }
        )
    return {"costs": costs, "cost_effectiveness": ce, "ceac": pd.DataFrame(ceac_rows)}


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# CHEERS 2022 and the report section
# ---------------------------------------------------------------------------------------------

# (item, section, topic, where it is reported in this report or why it is not applicable);
# "{costs}" is the cost section's title.
_CHEERS_2022 = [
    (1, "Title", "Title", "outside the pipeline: title of the trial's economic publication"),
    (2, "Abstract", "Abstract", "outside the pipeline: the economic publication's abstract"),
    (
        3,
        "Introduction",
        "Background and objectives",
        "report header (trial title and reference); {costs}: aim stated in the opening paragraph",
    ),
    (
        4,
        "Methods",
        "Health economic analysis plan",
        "outside the pipeline: the trial protocol "
        "and analysis plan; this config records every analysis choice",
    ),
    (5, "Methods", "Study population", "Baseline characteristics section; Flow section"),
    (6, "Methods", "Setting and location", "report header and Design and methods section"),
    (7, "Methods", "Comparators", "{costs}: every estimate names its contrast (arms)"),
    (8, "Methods", "Perspective", "{costs}: methods paragraph (perspective)"),
    (9, "Methods", "Time horizon", "{costs}: methods paragraph (time horizon)"),
    (10, "Methods", "Discount rate", "{costs}: methods paragraph (discounting)"),
    (11, "Methods", "Selection of outcomes", "{costs}: methods paragraph (effect measure)"),
    (
        12,
        "Methods",
        "Measurement of outcomes",
        "Primary and secondary outcomes section; effect scale scoring in the config",
    ),
    (
        13,
        "Methods",
        "Valuation of outcomes",
        "not applicable: the effect is a clinical score, not a preference-based utility",
    ),
    (
        14,
        "Methods",
        "Measurement and valuation of resources and costs",
        "{costs}: unit cost table (source) and use and cost table",
    ),
    (
        15,
        "Methods",
        "Currency, price date, and conversion",
        "{costs}: unit cost table (currency, price year); no conversion",
    ),
    (
        16,
        "Methods",
        "Rationale and description of model",
        "not applicable: within-trial analysis, no decision model",
    ),
    (
        17,
        "Methods",
        "Analytics and assumptions",
        "{costs}: headline and methods paragraphs (two-stage bootstrap with shrinkage, mixed "
        "model, multiple imputation, GLM sensitivity, agreement between methods)",
    ),
    (18, "Methods", "Characterising heterogeneity", "not reported: no subgroup analysis"),
    (19, "Methods", "Characterising distributional effects", "not reported: not assessed"),
    (
        20,
        "Methods",
        "Characterising uncertainty",
        "{costs}: bootstrap CIs, CE plane, acceptability curve, net benefit CIs, GLM sensitivity",
    ),
    (
        21,
        "Methods",
        "Approach to engagement with patients and others affected by the study",
        "outside the pipeline: the trial's publications",
    ),
    (22, "Results", "Study parameters", "{costs}: unit cost table; config file in Provenance"),
    (
        23,
        "Results",
        "Summary of main results",
        "{costs}: adjusted cost difference table and cost-effectiveness table",
    ),
    (
        24,
        "Results",
        "Effect of uncertainty",
        "{costs}: CE plane, acceptability curve, net benefit table, sensitivity (GLM) rows",
    ),
    (
        25,
        "Results",
        "Effect of engagement with patients and others affected by the study",
        "outside the pipeline: the trial's publications",
    ),
    (
        26,
        "Discussion",
        "Study findings, limitations, generalisability, and current knowledge",
        "outside the pipeline: the economic publication; {costs} states the direction and the "
        "published figure",
    ),
    (
        27,
        "Other relevant information",
        "Source of funding",
        "outside the pipeline: the trial's publications",
    ),
    (
        28,
        "Other relevant information",
        "Conflicts of interest",
        "outside the pipeline: the trial's publications",
    ),
]

SECTION_TITLE = "Service costs and cost-effectiveness"


def cheers_checklist(config: Config) -> pd.DataFrame:
    """The CHEERS 2022 checklist (Husereau et al 2022): where each item is reported.

    Returns
    -------
    pandas.DataFrame
        ``item, section, topic, applicable (yes | no | outside pipeline), where``.
    """
    rows = []
    for item, section, topic, where in _CHEERS_2022:
        applicable = (
            "no"
            if where.startswith("not applicable")
            else "outside pipeline"
            if where.startswith("outside")
            else "yes, not reported"
            if where.startswith("not reported")
            else "yes"
        )
        rows.append(
            {
                "item": item,
                "section": section,
                "topic": topic,
                "applicable": applicable,
                "where": where.format(costs=SECTION_TITLE),
            }
        )
    return pd.DataFrame(rows)


