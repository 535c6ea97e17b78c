"""The audit's binary model of a 0/1 item: a population-averaged logistic GEE with arm x time
terms (:func:`fit_binary_model`).

Logistic GEE with arm, strata, time and arm x time terms, the cluster as the unit, an
exchangeable working correlation and a bias-corrected sandwich covariance (default
Kauermann-Carroll), t on clusters - coefficients df: odds ratios (population-averaged) and the
risk difference at the final time point standardised over the records audited then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trial.analyses.audit.data import (
    TREATMENT,
    AuditInputError,
    AuditMeasure,
    audit_times,
    interaction_term,
)
from trial.analyses.audit.models import (
    JointTest,
    ModelResult,
    estimate_row,
    final_weights,
    time_design,
    used_records,
)
from trial.config.vocabulary import Config, arm_term, strata_columns
from trial.stats.gee import fit_gee
from trial.stats.marginal import standardise

__all__ = [
    "DEFAULT_GEE_COVARIANCE",
    "binary_design",
    "fit_binary_model",
    "gee_df_method",
]

DEFAULT_GEE_COVARIANCE = "kauermann-carroll"


def gee_df_method(covariance: str) -> str:
    """How the binary model's intervals are made, for the result tables."""
    return (
        f"logistic GEE, exchangeable working correlation within cluster; {covariance} "
        "bias-corrected sandwich covariance; t on clusters - coefficients df; risk difference "
        "standardised over the records at the final time point (delta method)"
    )


def binary_design(
    config: Config, data: pd.DataFrame, times: Sequence[int], treat: np.ndarray | None = None
) -> pd.DataFrame:
    """Design of the binary model: intercept, arm, strata, time and arm x time indicators.

    ``treat`` (0/1 per record) overrides the records' arm, for counterfactual predictions.
    """
    arm = data[TREATMENT].to_numpy(dtype=float) if treat is None else treat
    return pd.concat(
        [
            pd.DataFrame({"(Intercept)": 1.0, arm_term(config): arm}, index=data.index),
            strata_columns(config, data),
            time_design(config, data, times, arm),
        ],
        axis=1,
    )


def fit_binary_model(config: Config, long: pd.DataFrame, measure: AuditMeasure) -> ModelResult:
    """Population-averaged logistic model of a 0/1 item with arm x time terms (GEE).

    ``logit P(y_it = 1) = b0 + b_arm x + strata + sum_{t > 1} g_t [time = t]
    + sum_{t > 1} d_t [time = t] x`` fitted by GEE (:func:`trial.stats.gee.fit_gee`) with the
    cluster as the unit: an exchangeable working correlation among all records of a cluster
    (records of one individual over time included), and a bias-corrected sandwich covariance
    (``audit.gee_covariance``, default Kauermann-Carroll) that stays valid whatever the true
    correlation within cluster and individual, with t on ``clusters - p`` df (Li and Redden
    2015). Reported, with the linear models' quantity names where the meaning carries over:

    * ``arm_x_time``: ``exp(d_t)``, the odds ratio between arms at time ``t`` over that at the
      first time point;
    * ``odds_ratio_at_final_time``: ``exp(b_arm + d_T)``, the population-averaged odds ratio
      between arms at the last time point (given the strata);
    * ``risk_difference_at_final_time``: the difference in risk at the last time point,
      standardised over the records audited then (every record predicted under each arm,
      :func:`trial.stats.marginal.standardise`), with a delta-method interval;
    * ``did_final_vs_pre``: the ratio of odds ratios, final time point against the mean log
      odds ratio of the pre-intervention time points;

    and the Wald F test of all arm x time terms on ``(T - 1, clusters - p)`` df. Odds-ratio rows
    give ``se`` and ``t`` on the log scale.
    """
    spec = config["audit"]
    design = config["design"]
    covariance = spec.get("gee_covariance", DEFAULT_GEE_COVARIANCE)
    alpha = config["analysis"]["alpha"]
    data = used_records(config, long, measure.name)
    times = audit_times(config, data)
    X = binary_design(config, data, times)
    values = set(np.unique(data[measure.name].to_numpy(dtype=float)))
    if not values <= {0.0, 1.0}:
        raise AuditInputError(
            f"{measure.name}: the binary model needs 0/1 values, found {sorted(values)[:5]}"
        )
    fit = fit_gee(
        data[measure.name].to_numpy(dtype=float),
        X,
        data[design["cluster_id"]].to_numpy(),
        family="binomial",
        cov_type=covariance,
    )
    df_method = gee_df_method(covariance)
    counts = {
        "n_obs": int(fit.n_obs),
        "n_individuals": int(data[spec["id"]].nunique()),
        "n_clusters": int(fit.n_clusters),
    }
    columns = list(X.columns)

    def weights(named: Mapping[str, float]) -> np.ndarray:
        return np.array([named.get(c, 0.0) for c in columns])

    def log_odds_row(
        quantity: str, term: str, t: int, named: Mapping[str, float]
    ) -> dict[str, Any]:
        c = fit.arrays.contrast(weights(named), alpha=alpha)
        return estimate_row(
            config,
            "gee",
            measure,
            quantity,
            term,
            t,
            c.estimate,
            c.se,
            c.df,
            df_method,
            counts,
            scale="odds ratio",
        )

    last = times[-1]
    rows = [
        log_odds_row(
            "arm_x_time", interaction_term(config, t), t, {interaction_term(config, t): 1.0}
        )
        for t in times[1:]
    ]
    final = final_weights(config, times, with_arm=True)
    rows.append(
        log_odds_row("odds_ratio_at_final_time", "", last, final["difference_at_final_time"])
    )
    at_last = data[data[spec["time"]] == last]
    n_last = len(at_last)
    risks = standardise(
        fit,
        binary_design(config, at_last, times, np.ones(n_last)),
        binary_design(config, at_last, times, np.zeros(n_last)),
        alpha=alpha,
    )
    rd = risks.difference
    rows.append(
        estimate_row(
            config,
            "gee",
            measure,
            "risk_difference_at_final_time",
            "",
            last,
            rd.estimate,
            rd.se,
            rd.df,
            df_method,
            counts,
            scale="risk difference",
        )
    )
    if "did_final_vs_pre" in final:
        rows.append(log_odds_row("did_final_vs_pre", "", last, final["did_final_vs_pre"]))
    L = np.array([weights({interaction_term(config, t): 1.0}) for t in times[1:]])
    f = fit.arrays.f_test(L)
    test = JointTest("gee", measure, f.F, f.num_df, f.den_df, f.p, df_method, **counts)
    return ModelResult(pd.DataFrame(rows), test)
