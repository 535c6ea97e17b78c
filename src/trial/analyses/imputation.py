"""The imputation model of a trial and the check that it is compatible with the analysis.

An imputation model is congenial with an analysis only if it contains every term the analysis
model uses: the treatment arm, the baseline value of the outcome (when its model holds one), the
randomisation strata, the covariates and the cluster (here as a random intercept or cluster
feature), besides the outcome itself. A term left out is imputed as if it had no association
with the outcome, which biases its estimate towards zero. :func:`check_imputation_model`
compares the two models term by term, from the same config and analysis table the workflow
uses, and stops with a message naming each missing term before any imputation is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trial.config.vocabulary import (
    COST,
    Config,
    all_covariates,
    arm_terms,
    baseline_column,
    cluster_covariates,
    cluster_variable_names,
    design_matrix,
    effect_scale,
    followup_column,
    imputed_extra_columns,
    numeric_predictors,
    outcome_scales,
    outcome_score_columns,
    primary_outcome,
    score_columns,
    treatment_indicators,
)

__all__ = [
    "AnalysisTerm",
    "ImputationModel",
    "ImputationModelError",
    "analysis_model_terms",
    "check_imputation_model",
    "imputation_model",
    "missing_terms",
]


class ImputationModelError(ValueError):
    """The imputation model lacks terms of an analysis model; the message names each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"the imputation model is not compatible with the analysis models "
            f"({len(problems)} problem(s)); fix the config or the analysis table before "
            f"imputing:\n{lines}"
        )


@dataclass(frozen=True)
class ImputationModel:
    """The variables of the imputation model, as handed to an imputation engine.

    Attributes
    ----------
    cluster
        Column of cluster labels (a random intercept or a cluster feature in the engine).
    impute
        Columns whose missing values are imputed; each also predicts the others.
    predictors
        Complete columns that only predict (arm, coded strata, covariates, auxiliary, complete
        cluster variables).
    data
        The engine's input: ``cluster``, ``predictors`` and ``impute`` columns.
    cluster_level
        Columns of ``predictors`` or ``impute`` that are constant within cluster (arm, strata,
        cluster variables); an incomplete one is imputed once per cluster.
    cluster_means
        For each level-1 column of ``impute``, the level-1 columns whose cluster means enter its
        model (the multilevel engine; see :func:`trial.stats.impute.multilevel.impute_multilevel`).
    blocks
        The columns of ``impute`` in disjoint blocks, imputed one block after another, each by
        its own chained equations in which the columns of other blocks take no part (apart
        from cluster-level columns completed by an earlier block, which then predict). By
        default one block of every column.
    """

    cluster: str
    impute: list[str]
    predictors: list[str]
    data: pd.DataFrame
    cluster_level: list[str] = field(default_factory=list)
    cluster_means: dict[str, list[str]] = field(default_factory=dict)
    blocks: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.blocks:
            object.__setattr__(self, "blocks", [list(self.impute)])
        flat = [c for block in self.blocks for c in block]
        if sorted(flat) != sorted(self.impute):
            raise ValueError("the blocks must hold every imputed column exactly once")

    @property
    def n_missing(self) -> pd.Series:
        """Missing values of each imputed column (0 for all: nothing to impute)."""
        return self.data[self.impute].isna().sum()

    @property
    def columns(self) -> list[str]:
        """Every column of the model, cluster first."""
        return [self.cluster, *self.predictors, *self.impute]

    def as_dict(self) -> dict[str, Any]:
        """The model as plain lists (for a JSON record of what was imputed with what)."""
        return {
            "cluster": self.cluster,
            "impute": self.impute,
            "predictors": self.predictors,
            "cluster_level": self.cluster_level,
            "cluster_means": self.cluster_means,
            "blocks": self.blocks,
        }

    def restricted(self, rows: pd.Series) -> ImputationModel:
        """The model on a subset of rows (e.g. one arm), without predictors constant there.

        A predictor that does not vary among the rows (the arm indicator within one arm, a
        stratum absent from it) carries no information and would make the design singular.
        """
        data = self.data.loc[rows]
        dropped = {c for c in self.predictors if data[c].nunique(dropna=False) <= 1}
        kept = [c for c in self.predictors if c not in dropped]
        return ImputationModel(
            cluster=self.cluster,
            impute=list(self.impute),
            predictors=kept,
            data=data[[self.cluster, *kept, *self.impute]],
            cluster_level=[c for c in self.cluster_level if c not in dropped],
            cluster_means={
                target: [c for c in columns if c not in dropped]
                for target, columns in self.cluster_means.items()
            },
            blocks=[list(block) for block in self.blocks],
        )

    def block(self, number: int, data: pd.DataFrame) -> ImputationModel:
        """The model of block ``number`` (0-based) on ``data``, a copy of :attr:`data` whose
        earlier blocks are complete: its columns are imputed; the predictors, and the
        cluster-level columns that earlier blocks completed, predict."""
        columns = self.blocks[number]
        done = [c for block in self.blocks[:number] for c in block if c in self.cluster_level]
        predictors = [*self.predictors, *done]
        allowed = {*columns, *predictors}
        return ImputationModel(
            cluster=self.cluster,
            impute=list(columns),
            predictors=predictors,
            data=data[[self.cluster, *predictors, *columns]],
            cluster_level=[c for c in self.cluster_level if c in allowed],
            cluster_means={
                target: [c for c in self.cluster_means[target] if c in allowed]
                for target in columns
                if target in self.cluster_means
            },
        )


@dataclass(frozen=True)
class AnalysisTerm:
    """One term of an outcome's analysis model and the column that carries it.

    Attributes
    ----------
    outcome
        Scale name of the outcome.
    kind
        ``outcome``, ``arm``, ``baseline``, ``stratum``, ``covariate`` or ``cluster``.
    source
        The config name of the term (e.g. the stratum column).
    column
        The column of the (coded) analysis data holding it, e.g. ``stratum[B]``.
    """

    outcome: str
    kind: str
    source: str
    column: str

    def describe(self) -> str:
        """The term as a person reads it."""
        if self.kind in ("outcome", "baseline"):
            return f"{self.kind} {self.column!r}"
        if self.source == self.column:
            return f"{self.kind} {self.column!r}"
        return f"{self.kind} {self.source!r} (column {self.column!r})"


def imputation_model(config: Config, table: pd.DataFrame) -> ImputationModel:
    """The imputation model the workflow uses for an analysis table.

    Imputed: the baseline and follow-up score of every outcome, any further analysed columns
    (:func:`trial.config.vocabulary.imputed_extra_columns`, e.g. costs) and any incomplete cluster
    variable (``imputation.cluster_variables``, imputed at cluster level). Predictors: the
    treatment indicator(s), the strata and individual covariates (categories dummy-coded as in
    the analysis model), the auxiliary variables and the complete cluster variables. The
    cluster enters through the engine.

    With ``imputation.blocks: analysis`` (the default), the variables analysed together are
    imputed together and apart from the rest (:attr:`ImputationModel.blocks`): each outcome's
    baseline and follow-up scores, with the auxiliary variables and every analysis-model term
    as predictors. Every analysis model is then congenial with its block, and the chained
    equations avoid tens of jointly missing, nearly collinear scores (e.g. a total and its
    subscales), among which the chains drift and carry the arm effect poorly.
    ``blocks: all`` makes one block of every imputed variable.

    With ``imputation.cluster_means`` (the default), the model of each level-1 score also holds
    the cluster means of the level-1 variables its analysis uses: the same outcome's score at
    the other time point, the covariates and the auxiliary variables. An incomplete cluster
    variable is modelled on the other cluster-level columns and the cluster means of the
    primary outcome's scores. Cluster means of every variable are not used: with tens of
    variables and few clusters they would saturate the between-cluster part of each model.
    """
    design = config["design"]
    spec = config["imputation"]
    pairs = [tuple(score_columns(config, s)) for s in outcome_scales(config)]
    extra = imputed_extra_columns(config)
    if baseline_column(COST) in extra and followup_column(COST) in extra:
        pairs.append((baseline_column(COST), followup_column(COST)))
    scores = [c for pair in pairs for c in pair]
    scores += [c for c in extra if c not in scores]
    predictors = numeric_predictors(config, table)
    by_design = _cluster_level_predictors(config, predictors)
    level1 = [c for c in predictors.columns if c not in by_design]
    cluster_vars = cluster_variable_names(config)
    complete_vars = [c for c in cluster_vars if table[c].notna().all()]
    incomplete_vars = [c for c in cluster_vars if c not in complete_vars]
    impute = [*scores, *incomplete_vars]
    data = pd.concat(
        [table[[design["cluster_id"]]], predictors, table[complete_vars], table[impute]], axis=1
    )
    cluster_level = [*by_design, *cluster_vars]
    if spec.get("blocks", "analysis") == "analysis":
        blocks = _analysis_blocks(config, pairs, scores, incomplete_vars)
    else:
        blocks = [impute]
    cluster_means: dict[str, list[str]] = {}
    if spec.get("cluster_means", True):
        partner = {a: b for a, b in (p for p in pairs if len(p) == 2)}
        partner |= {b: a for a, b in partner.items()}
        for column in scores:
            cluster_means[column] = [*([partner[column]] if column in partner else []), *level1]
        primary = primary_outcome(config)
        for column in incomplete_vars:
            cluster_means[column] = score_columns(config, primary)
    return ImputationModel(
        cluster=design["cluster_id"],
        impute=impute,
        predictors=[*predictors.columns, *complete_vars],
        data=data,
        cluster_level=list(dict.fromkeys(cluster_level)),
        cluster_means=cluster_means,
        blocks=blocks,
    )


def _analysis_blocks(
    config: Config, pairs: list[tuple[str, ...]], scores: list[str], cluster_vars: list[str]
) -> list[list[str]]:
    """Blocks of the variables analysed together: each outcome's scores (baseline, when its
    model holds one, and follow-up);
    total cost with the scale used as effect in the cost-effectiveness analysis; the
    incomplete cluster variables with the primary outcome; any other imputed column alone."""
    blocks = [list(pair) for pair in pairs]
    owner = {c: i for i, block in enumerate(blocks) for c in block}
    if "costs" in config and baseline_column(COST) in owner:
        cost_block = owner[baseline_column(COST)]
        effect_block = owner.get(followup_column(effect_scale(config)))
        if effect_block is not None and effect_block != cost_block:
            blocks[effect_block] += blocks[cost_block]
            blocks[cost_block] = []
    blocks[owner[followup_column(primary_outcome(config))]] += cluster_vars
    blocks += [[c] for c in scores if c not in owner]
    return [block for block in blocks if block]


def _cluster_level_predictors(config: Config, predictors: pd.DataFrame) -> list[str]:
    """Columns of :func:`trial.config.vocabulary.numeric_predictors` that are cluster-level by
    design: the treatment indicators, the coded strata and the cluster-level covariates."""
    strata = (*config["design"]["strata"], *cluster_covariates(config))
    return [
        c
        for c in predictors.columns
        if c in treatment_indicators(config).values() or c.split("[", 1)[0] in strata
    ]


def analysis_model_terms(config: Config, table: pd.DataFrame) -> list[AnalysisTerm]:
    """Every term of every outcome's analysis model, read off the analysis design matrix.

    The fixed effects come from :func:`trial.config.vocabulary.design_matrix` itself (so a term
    added there is checked too); the outcome and the cluster are added.
    """
    design = config["design"]
    sources: dict[str, tuple[str, str]] = {}
    for kind, names in (("stratum", design["strata"]), ("covariate", all_covariates(config))):
        for name in names:
            sources[name] = (kind, name)
    indicators = treatment_indicators(config)
    arm_indicator = {term: indicators[arm] for arm, term in arm_terms(config).items()}
    terms: list[AnalysisTerm] = []
    for scale in outcome_scales(config):
        terms.append(AnalysisTerm(scale, "outcome", scale, followup_column(scale)))
        X = design_matrix(config, table.head(0), scale)
        for column in X.columns:
            if column == "(Intercept)":
                continue
            if column in arm_indicator:
                terms.append(AnalysisTerm(scale, "arm", design["arm"], arm_indicator[column]))
            elif column == baseline_column(scale):
                terms.append(AnalysisTerm(scale, "baseline", scale, column))
            else:
                base = column.split("[", 1)[0]
                kind, source = sources.get(base, ("term", base))
                terms.append(AnalysisTerm(scale, kind, source, column))
        terms.append(AnalysisTerm(scale, "cluster", design["cluster_id"], design["cluster_id"]))
    return terms


def missing_terms(terms: Sequence[AnalysisTerm], model: ImputationModel) -> list[str]:
    """Problems that make ``model`` incompatible with the analysis ``terms`` (empty if none).

    A term is missing when its column is not among the model's variables, when it is a
    predictor (complete by assumption) yet holds missing values that no engine would impute, or
    when it is imputed in another block than the outcome (so imputed as if unrelated to it).
    """
    problems: list[str] = []
    present = set(model.columns)
    block_of = {c: i for i, block in enumerate(model.blocks) for c in block}
    outcome_column = {t.outcome: t.column for t in terms if t.kind == "outcome"}
    for term in terms:
        if term.kind == "cluster":
            if term.column != model.cluster:
                problems.append(
                    f"outcome {term.outcome!r}: the imputation model's cluster is "
                    f"{model.cluster!r}, but the analysis model clusters by {term.column!r}"
                )
            continue
        if term.column not in present:
            problems.append(
                f"outcome {term.outcome!r}: analysis-model term {term.describe()} is not in "
                f"the imputation model"
            )
        elif term.column in model.predictors and model.data[term.column].isna().any():
            n = int(model.data[term.column].isna().sum())
            problems.append(
                f"outcome {term.outcome!r}: analysis-model term {term.describe()} has {n} "
                f"missing value(s) but is used only as a complete predictor"
            )
        elif term.column in block_of and block_of[term.column] != block_of.get(
            outcome_column.get(term.outcome), block_of[term.column]
        ):
            problems.append(
                f"outcome {term.outcome!r}: analysis-model term {term.describe()} is imputed in "
                f"another block than {outcome_column[term.outcome]!r}"
            )
    return list(dict.fromkeys(problems))


def check_imputation_model(config: Config, table: pd.DataFrame) -> ImputationModel:
    """Build the imputation model and check it holds every analysis-model term.

    Parameters
    ----------
    config
        The trial config (design, covariates, imputation, analysis outcomes).
    table
        The analysis table (:func:`trial.analyses.outcomes.build_analysis_table`).

    Returns
    -------
    ImputationModel
        The checked model.

    Raises
    ------
    ImputationModelError
        Naming every missing term (or column of the config absent from the table), by outcome.
    """
    design = config["design"]
    needed = [
        design["cluster_id"],
        *treatment_indicators(config).values(),
        *design["strata"],
        *all_covariates(config),
        *config["imputation"].get("auxiliary", []),
        *cluster_variable_names(config),
        *outcome_score_columns(config),
        *imputed_extra_columns(config),
    ]
    absent = [c for c in dict.fromkeys(needed) if c not in table.columns]
    if absent:
        raise ImputationModelError(
            [f"column {c!r} named by the config is not in the analysis table" for c in absent]
        )
    if table[design["cluster_id"]].isna().any():
        raise ImputationModelError([f"the cluster column {design['cluster_id']!r} has gaps"])
    model = imputation_model(config, table)
    problems = missing_terms(analysis_model_terms(config, table), model)
    problems += _number_of_imputations_problems(config, model)
    if problems:
        raise ImputationModelError(problems)
    return model


def _number_of_imputations_problems(config: Config, model: ImputationModel) -> list[str]:
    """``imputation.m: 1`` exactly when no analysed value is missing.

    One dataset is then the data, analysed once with each model's own SE and df; copies of it
    pooled as imputations would give a Barnard-Rubin df below the model's own, and a single
    imputed dataset would understate the variance."""
    m = config["imputation"]["m"]
    missing = model.n_missing[model.n_missing > 0]
    if m == 1 and not missing.empty:
        listed = ", ".join(f"{column} ({n})" for column, n in missing.items())
        return [
            f"imputation.m is 1, which is allowed only when no analysed value is missing; "
            f"missing values: {listed}; set imputation.m to at least 2"
        ]
    if m > 1 and missing.empty:
        return [
            f"no analysed value is missing, so there is nothing to impute, but imputation.m is "
            f"{m}; set imputation.m to 1 to fit each analysis once to the data, with its own "
            f"SE and df"
        ]
    return []
