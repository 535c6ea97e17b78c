"""The outcome analysis: analysis table, imputation, per-imputation models (pooling in
:mod:`trial.analyses.pooled_outcomes`).

Data flow (each step one workflow rule): raw tables -> :func:`build_analysis_table` (one row per
individual, baseline and follow-up score of every outcome) -> :func:`impute_analysis_table` (one
completed table per imputation) -> :func:`fit_outcomes` (one tidy table of arm effects per
imputation) -> :func:`trial.analyses.pooled_outcomes.pool_outcomes` (Rubin's rules with
Barnard-Rubin df).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.analyses.costs.use import cost_totals
from trial.analyses.design import term_effect
from trial.analyses.estimands import prepare_for_imputation
from trial.analyses.glm_outcomes import (
    MODEL_MEASURES,
    fit_outcome_model,
    marginal_columns,
)
from trial.analyses.imputation import ImputationModel, check_imputation_model
from trial.config.vocabulary import (
    Config,
    arm_terms,
    arms,
    baseline_column,
    cluster_covariates,
    cluster_variable_names,
    cost_columns,
    design_matrix,
    followup_column,
    imputed_extra_columns,
    outcome_family,
    outcome_has_baseline,
    outcome_scales,
    outcome_score_columns,
    score_columns,
    treatment_indicators,
    treatment_pairs,
)
from trial.data.scoring import score_scale
from trial.data.validation import read_table
from trial.seeding import derive_seed
from trial.stats.impute import ImputationResult
from trial.stats.impute.multilevel import engine_name, impute_multilevel
from trial.stats.mixed import fit_random_intercept_model


def build_analysis_table(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per individual: cluster, arm, strata, covariates and every outcome's scores.

    Every individual of the individual table is kept (intention to treat); scores that could not
    be computed, or questionnaires not returned, are missing and left for imputation, except as
    the declared estimands say (:func:`trial.analyses.estimands.prepare_for_imputation`).
    """
    design = config["design"]
    clusters = read_table(config, design["cluster_table"], raw_dir)
    people = read_table(config, design["individual_table"], raw_dir)
    keep = [design["cluster_id"], design["arm"], *design["strata"], *cluster_covariates(config)]
    table = people.merge(
        clusters[keep], on=design["cluster_id"], how="left", validate="many_to_one"
    )
    for position, (arm, column) in enumerate(treatment_indicators(config).items(), start=2):
        table.insert(position, column, (table[design["arm"]] == arm).astype(int))

    by_table: dict[str, list[str]] = {}
    for scale in outcome_scales(config):
        by_table.setdefault(config["scales"][scale]["table"], []).append(scale)
    for table_name, scales in by_table.items():
        measures = read_table(config, table_name, raw_dir)
        for time, column_of in (
            (design.get("baseline"), baseline_column),
            (design["followup"], followup_column),
        ):
            wanted = [s for s in scales if column_of(s) in score_columns(config, s)]
            if not wanted:  # no outcome of this table is measured at this time
                continue
            rows = measures[measures[design["timepoint"]] == time]
            scores = pd.DataFrame({design["individual_id"]: rows[design["individual_id"]]})
            for scale in wanted:
                scores[column_of(scale)] = score_scale(rows, config["scales"][scale]).to_numpy()
            table = table.merge(
                scores, on=design["individual_id"], how="left", validate="one_to_one"
            )
    columns = [
        design["individual_id"],
        design["cluster_id"],
        *treatment_indicators(config).values(),
        design["arm"],
        *design["strata"],
        *cluster_covariates(config),
        *config["tables"][design["individual_table"]]["columns"],
    ]
    columns += outcome_score_columns(config)
    if "costs" in config:  # total cost per recall period, imputed with the scores
        totals = cost_totals(config, raw_dir)
        table = table.merge(totals, on=design["individual_id"], how="left", validate="one_to_one")
        columns += cost_columns(config)
    if cluster_variable_names(config):
        per_cluster = cluster_variables(config, raw_dir)
        table = table.merge(
            per_cluster, on=design["cluster_id"], how="left", validate="many_to_one"
        )
        columns += cluster_variable_names(config)
    return prepare_for_imputation(config, table[list(dict.fromkeys(columns))])


def cluster_variables(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per cluster: the cluster ID and each configured cluster variable.

    A cluster variable is a cluster-level quantity that an analysis uses (e.g. how much of the
    intervention a cluster took up), so the imputation model must hold it too. Each is the
    ``summary`` (mean, sum, min or max) of a numeric ``value`` column over the rows of a
    ``table`` that carries the cluster ID; a cluster with no rows in that table takes
    ``absent`` (e.g. 0 where reference clusters cannot take part) or, without it, is missing and
    imputed at cluster level, as is a cluster whose rows all lack the value.
    """
    design = config["design"]
    cid = design["cluster_id"]
    clusters = read_table(config, design["cluster_table"], raw_dir)[[cid]]
    out = clusters.copy()
    for name, spec in config["imputation"].get("cluster_variables", {}).items():
        rows = read_table(config, spec["table"], raw_dir)
        grouped = rows.groupby(cid, observed=True)[spec["value"]]
        # a cluster whose rows all lack the value is missing, also for a sum
        summary = (
            grouped.sum(min_count=1) if spec["summary"] == "sum" else grouped.agg(spec["summary"])
        )
        values = clusters[cid].map(summary).astype(float)
        has_rows = clusters[cid].isin(rows[cid])
        if "absent" in spec:
            values = values.where(has_rows, float(spec["absent"]))
        out[name] = values.to_numpy()
    return out


def impute_analysis_table(
    config: Config, table: pd.DataFrame, index: int, model: ImputationModel | None = None
) -> ImputationResult:
    """Make completed dataset number ``index`` (1-based) with the configured engine.

    The imputation model holds every analysis-model term: treatment arm, strata, covariates,
    the cluster, and the baseline and follow-up scores of every outcome; auxiliary variables
    and cluster variables help predict (see :func:`trial.analyses.imputation.imputation_model`).
    ``model`` may pass the result of :func:`trial.analyses.imputation.check_imputation_model` on
    this same config and table, to check it once when imputing a table many times; by default it is
    checked here.

    With ``imputation.by_arm`` (always, for the forest engine) the rows of each arm are imputed
    separately, each arm with its own seed, so that every association may differ between arms
    and no model can leave the arm out.
    """
    spec = config["imputation"]
    engine = spec["engine"]
    if model is None:
        model = check_imputation_model(config, table)  # stops if an analysis term is left out
    if not model.n_missing.any():  # nothing to impute (then m = 1): the data are the dataset
        trace = pd.DataFrame(columns=["iteration", "variable", "mean", "sd"])
        return ImputationResult(completed=table.copy(), trace=trace, engine="none")
    if engine == "forest" or spec.get("by_arm", False):
        arm_values = table[config["design"]["arm"]]
        parts = [
            (model.restricted(arm_values == arm), ("arm", arm))
            for arm in arms(config)
            if (arm_values == arm).any()
        ]
    else:
        parts = [(model, ())]
    completed = table.copy()
    completed[model.impute] = completed[model.impute].astype(float)
    traces, counts, latent = [], [], []
    for part, label in parts:
        data = part.data.copy()
        part_traces = []
        for number in range(len(part.blocks)):
            block_label = ("block", number + 1) if len(part.blocks) > 1 else ()
            seed = derive_seed(config["seed"], "impute", engine, index, *label, *block_label)
            block = part.block(number, data)
            result = _impute_part(config, block, seed)
            data[block.impute] = result.completed[block.impute].to_numpy()
            part_traces.append(result.trace)
            # rows of the block's input are positions in it; the table's positions are kept
            rows = table.index.get_indexer(block.data.index[result.latent["row"].to_numpy()])
            latent.append(result.latent.assign(row=rows))
        completed.loc[data.index, model.impute] = data[model.impute].to_numpy()
        traces.append(pd.concat(part_traces, ignore_index=True))
        counts.append(part.data[model.impute].isna().sum().to_dict())
    trace = combine_traces(traces, counts)
    latent_draws = pd.concat(latent, ignore_index=True).sort_values(["variable", "row"])
    engine_label = result.engine
    if engine != "forest":  # parts and blocks each name their own draws: name them all
        incomplete = model.n_missing[model.n_missing > 0].index
        engine_label = engine_name(incomplete, *_multilevel_draws(config, model))
    return ImputationResult(
        completed=completed,
        trace=trace,
        engine=engine_label,
        latent=latent_draws.reset_index(drop=True),
    )


def _impute_part(config: Config, model: ImputationModel, seed: int) -> ImputationResult:
    """One completed dataset of the rows of ``model`` with the configured engine."""
    spec = config["imputation"]
    common = {
        "cluster": model.cluster,
        "impute": model.impute,
        "predictors": model.predictors,
        "seed": seed,
        "iterations": spec["iterations"],
    }
    return IMPUTATION_ENGINES[spec["engine"]](config, model, common)


def _impute_forest(
    config: Config, model: ImputationModel, common: Mapping[str, Any]
) -> ImputationResult:
    from trial.stats.impute.forest import impute_forest  # defers importing miceforest and lightgbm

    candidates = config["imputation"].get("mean_match_candidates", 5)
    return impute_forest(model.data, mean_match_candidates=candidates, **common)


def _impute_multilevel(
    config: Config, model: ImputationModel, common: Mapping[str, Any]
) -> ImputationResult:
    binary, matched = _multilevel_draws(config, model)
    return impute_multilevel(
        model.data,
        mean_match=matched,
        binary=binary,
        mean_match_candidates=config["imputation"].get("mean_match_candidates", 5) or 1,
        cluster_level=model.cluster_level,
        cluster_means=model.cluster_means,
        **common,
    )


def _multilevel_draws(config: Config, model: ImputationModel) -> tuple[list[str], list[str]]:
    """The columns of ``model`` that the multilevel engine imputes as 0/1 (``binary``) and by
    predictive mean matching (``mean_match``).

    Extra analysed columns (costs: skewed, non-negative) and counts by predictive mean matching
    on the multilevel model, so that every imputed value is one of the observed ones; 0/1
    outcomes from the latent-normal (probit) random-intercept model.
    """
    counts = outcome_columns(config, "poisson")
    matched = [c for c in [*imputed_extra_columns(config), *counts] if c in model.impute]
    binary = [c for c in outcome_columns(config, "binomial") if c in model.impute]
    return binary, matched


#: The imputation engines by the name ``imputation.engine`` gives (the schema's enum lists the
#: same names).
IMPUTATION_ENGINES: dict[
    str, Callable[[Config, ImputationModel, Mapping[str, Any]], ImputationResult]
] = {"forest": _impute_forest, "multilevel": _impute_multilevel}


def outcome_columns(config: Config, family: str) -> list[str]:
    """Baseline and follow-up columns of the outcomes of one ``family``."""
    return [
        column(scale)
        for scale in outcome_scales(config)
        if outcome_family(config, scale) == family
        for column in (baseline_column, followup_column)
    ]


def combine_traces(
    traces: Sequence[pd.DataFrame], counts: Sequence[Mapping[str, int]]
) -> pd.DataFrame:
    """One chain trace from the traces of parts imputed separately (e.g. the arms).

    The mean and SD of each variable's imputed values after each iteration are combined over
    the parts as if their imputed values were pooled, weighting each part by ``counts``, its
    number of imputed values of each variable (SDs combined with divisor n, which differs
    from the parts' n - 1 only in the last digits for tens of values).
    """
    if len(traces) == 1:
        return traces[0]
    stacked = pd.concat(
        [
            t.assign(weight=t["variable"].map(dict(c)).astype(float))
            for t, c in zip(traces, counts, strict=True)
        ],
        ignore_index=True,
    )
    rows = []
    for (iteration, variable), part in stacked.groupby(["iteration", "variable"], sort=False):
        w = part["weight"].to_numpy()
        mean = float(np.average(part["mean"], weights=w))
        second = np.average(part["sd"].fillna(0.0) ** 2 + (part["mean"] - mean) ** 2, weights=w)
        rows.append((iteration, variable, mean, float(np.sqrt(second))))
    return pd.DataFrame(rows, columns=["iteration", "variable", "mean", "sd"])


def fit_outcomes(config: Config, table: pd.DataFrame) -> pd.DataFrame:
    """Fit the analysis model of every outcome on one (completed or complete-case) table.

    One row per outcome and treatment arm: the arm's effect against the reference arm, its
    covariances with the other arms' effects (columns ``cov[<term>]``) and the denominator df of
    the joint F test that every arm effect is zero (``arms_den_df``, the complete-data df of
    :func:`pool_arm_tests`). With several treatment arms, one row per outcome and pair of
    treatment arms follows (:func:`treatment_pairs`): the difference of the two arm effects with
    its own small-sample df. The ``versus`` column names the comparator of every row (the
    reference arm, or the other treatment arm). Rows with a missing follow-up or baseline score
    are excluded from that outcome's fit and counted in ``n_excluded``; on a completed table
    none are.

    A gaussian outcome is fitted by the linear mixed model (REML, the configured df); a
    binomial or poisson one by :func:`trial.analyses.glm_outcomes.fit_outcome_model` (GLMM or GEE,
    on the log-odds or log-rate scale), its rows adding ``family``, ``model``, ``measure`` and
    ``icc_proportion``, and for a binomial outcome the standardised risks and measures of each
    arm with their delta-method variances (:func:`trial.analyses.glm_outcomes.marginal_columns`).
    """
    design = config["design"]
    df_method = config["analysis"]["df_method"]
    terms_of = arm_terms(config)
    rows, pair_rows = [], []
    for scale in outcome_scales(config):
        X = design_matrix(config, table, scale)
        y = table[followup_column(scale)].astype(float)
        used = y.notna() & X.notna().all(axis=1)
        clusters = table.loc[used, design["cluster_id"]].to_numpy()
        family = outcome_family(config, scale)
        if family == "gaussian":
            fit = fit_random_intercept_model(
                y[used].to_numpy(), X[used], clusters, reml=True, df_method=df_method
            )
            components = fit.variance_components
            model = {
                "df_method": df_method,
                "var_cluster": float(components["cluster"]),
                "var_residual": float(components["residual"]),
                "icc": float(fit.icc),
            }
            converged, at_boundary = bool(fit.converged), bool(fit.at_boundary)
        else:
            outcome_fit = fit_outcome_model(config, y[used], X[used], clusters, family)
            fit = outcome_fit.fit
            model = {
                "df_method": outcome_fit.df_method,
                "var_cluster": outcome_fit.var_cluster,
                "var_residual": outcome_fit.var_residual,
                "icc": outcome_fit.icc,
            }
            converged, at_boundary = outcome_fit.converged, outcome_fit.at_boundary
        terms = list(terms_of.values())
        joint = fit.f_test(pd.DataFrame(np.eye(len(terms)), columns=terms))
        common = {
            "outcome": scale,
            "df_method": model["df_method"],
            "n_individuals": int(used.sum()),
            "n_excluded": int((~used).sum()),
            "n_clusters": int(table.loc[used, design["cluster_id"]].nunique()),
            "var_cluster": model["var_cluster"],
            "var_residual": model["var_residual"],
            "icc": model["icc"],
            **standardising_sd(config, table, scale),
            "converged": converged,
            "at_boundary": at_boundary,
        }
        if family != "gaussian":
            common |= {
                "family": family,
                "model": outcome_fit.model,
                "measure": MODEL_MEASURES[family],
                "icc_proportion": outcome_fit.icc_proportion,
            }
        rows += [
            {
                "outcome": scale,
                "arm": arm,
                "versus": design["reference_arm"],
                "term": term,
                **term_effect(fit, term).as_row(),
                **common,
                **{f"cov[{other}]": float(fit.cov.loc[term, other]) for other in terms},
                "arms_den_df": float(joint.den_df),
                **(
                    marginal_columns(outcome_fit, X[used], terms, term)
                    if family == "binomial"
                    else {}
                ),
            }
            for arm, term in terms_of.items()
        ]
        for arm, versus in treatment_pairs(config):
            contrast = fit.contrast(pd.Series({terms_of[arm]: 1.0, terms_of[versus]: -1.0}))
            pair_rows.append(
                {
                    "outcome": scale,
                    "arm": arm,
                    "versus": versus,
                    "term": f"{terms_of[arm]} - {terms_of[versus]}",
                    "estimate": contrast.estimate,
                    "variance": contrast.se**2,
                    "df": contrast.df,
                    **common,
                }
            )
    return pd.DataFrame(rows + pair_rows)


def standardising_sd(config: Config, table: pd.DataFrame, scale: str) -> dict[str, float]:
    """The SD by which an outcome's effects are divided to compare outcomes on one scale.

    ``sd_baseline``: the SD of the baseline value over every arm (randomisation makes it free
    of the treatment), missing for a post-only outcome. ``sd_standardise``: that SD when the
    outcome has a baseline value, else the SD of the follow-up value in the reference arm
    (which no treatment has touched).
    """
    if outcome_has_baseline(config, scale):
        sd = float(table[baseline_column(scale)].std())
        return {"sd_baseline": sd, "sd_standardise": sd}
    reference = table[config["design"]["arm"]] == config["design"]["reference_arm"]
    sd = float(table.loc[reference, followup_column(scale)].std())
    return {"sd_baseline": float("nan"), "sd_standardise": sd}
