"""The imputation model of a trial and the check that it is compatible with the analysis.

An imputation model is congenial with an analysis only if it contains every term the analysis
model uses: the treatment arm, the baseline value of the outcome, the randomisation strata, the
covariates and the cluster (here as a random intercept or cluster feature), besides the outcome
itself. A term left out is imputed as if it had no association with the outcome, which biases
its estimate towards zero. :func:`check_imputation_model` compares the two models term by term,
from the same config and analysis table the workflow uses, and stops with a message naming each
missing term before any imputation is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from trial.config import Config

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
        Complete columns that only predict (arm, coded strata, covariates, auxiliary).
    data
        The engine's input: ``cluster``, ``predictors`` and ``impute`` columns.
    """

    cluster: str
    impute: list[str]
    predictors: list[str]
    data: pd.DataFrame

    @property
    def columns(self) -> list[str]:
        """Every column of the model, cluster first."""
        return [self.cluster, *self.predictors, *self.impute]

    def as_dict(self) -> dict[str, Any]:
        """The model as plain lists (for a JSON record of what was imputed with what)."""
        return {"cluster": self.cluster, "impute": self.impute, "predictors": self.predictors}


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

    Imputed: the baseline and follow-up score of every outcome and any further analysed
    columns (:func:`trial.analysis.imputed_extra_columns`, e.g. costs). Predictors: the treatment
    indicator, the strata and individual covariates (categories dummy-coded as in the analysis
    model) and the auxiliary variables. The cluster enters through the engine.
    """
    from trial.analysis import (
        baseline_column,
        followup_column,
        imputed_extra_columns,
        numeric_predictors,
        outcome_scales,
    )

    design = config["design"]
    scores = [c(s) for s in outcome_scales(config) for c in (baseline_column, followup_column)]
    scores += [c for c in imputed_extra_columns(config) if c not in scores]
    predictors = numeric_predictors(config, table)
    data = pd.concat([table[[design["cluster_id"]]], predictors, table[scores]], axis=1)
    return ImputationModel(
        cluster=design["cluster_id"],
        impute=scores,
        predictors=list(predictors.columns),
        data=data,
    )


def analysis_model_terms(config: Config, table: pd.DataFrame) -> list[AnalysisTerm]:
    """Every term of every outcome's analysis model, read off the analysis design matrix.

    The fixed effects come from :func:`trial.analysis.design_matrix` itself (so a term added
    there is checked too); the outcome and the cluster are added.
    """
    from trial.analysis import (
        arm_terms,
        baseline_column,
        design_matrix,
        followup_column,
        outcome_scales,
        treatment_indicators,
    )

    design = config["design"]
    sources: dict[str, tuple[str, str]] = {}
    for kind, names in (("stratum", design["strata"]), ("covariate", config["covariates"])):
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

    A term is missing when its column is not among the model's variables, or when it is a
    predictor (complete by assumption) yet holds missing values that no engine would impute.
    """
    problems: list[str] = []
    present = set(model.columns)
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
    return list(dict.fromkeys(problems))


def check_imputation_model(config: Config, table: pd.DataFrame) -> ImputationModel:
    """Build the imputation model and check it holds every analysis-model term.

    Parameters
    ----------
    config
        The trial config (design, covariates, imputation, analysis outcomes).
    table
        The analysis table (:func:`trial.analysis.build_analysis_table`).

    Returns
    -------
    ImputationModel
        The checked model.

    Raises
    ------
    ImputationModelError
        Naming every missing term (or column of the config absent from the table), by outcome.
    """
    from trial.analysis import (
        baseline_column,
        followup_column,
        imputed_extra_columns,
        outcome_scales,
        treatment_indicators,
    )

    design = config["design"]
    needed = [
        design["cluster_id"],
        *treatment_indicators(config).values(),
        *design["strata"],
        *config["covariates"],
        *config["imputation"].get("auxiliary", []),
        *[c(s) for s in outcome_scales(config) for c in (baseline_column, followup_column)],
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
    if problems:
        raise ImputationModelError(problems)
    return model
