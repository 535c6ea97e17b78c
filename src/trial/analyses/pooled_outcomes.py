"""Pooling the per-imputation outcome fits: arm effects by Rubin's rules with Barnard-Rubin df
(:func:`pool_outcomes`, :func:`pool_pairwise`), the joint test of the arms by D1 with Reiter's
df (:func:`pool_arm_tests`), and the standardised measures of binary outcomes
(:func:`pool_marginal`). The fits come from :func:`trial.analyses.outcomes.fit_outcomes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trial.analyses.glm_outcomes import (
    MARGINAL_MEASURES,
    MODEL_MEASURES,
)
from trial.config.vocabulary import (
    Config,
    arm_terms,
    contrast_label,
    contrast_sign,
    outcome_family,
    outcome_has_baseline,
    outcome_measures,
    outcome_scales,
    treatment_arms,
    treatment_pairs,
)
from trial.stats.pooling import PooledEstimate, pool_d1, pool_rubin


def pool_outcomes(config: Config, fits: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Pool per-imputation arm effects by Rubin's rules, in each outcome's reported direction.

    One row per outcome and treatment arm (each against the reference arm), primary outcome
    first.

    The complete-data df given to the Barnard-Rubin formula is the mean over imputations of the
    per-imputation small-sample df (they differ only through the imputed values).
    """
    reference = config["design"]["reference_arm"]
    pairs = [(arm, reference) for arm in treatment_arms(config)]
    return _pool_contrasts(config, fits, pairs)


def pool_pairwise(config: Config, fits: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Pool the active-vs-active contrasts of a trial with several treatment arms.

    One row per outcome and pair of treatment arms (:func:`treatment_pairs`), pooled like the
    arm effects: Rubin's rules with the Barnard-Rubin df, whose complete-data df is the mean
    over imputations of the contrast's own small-sample df. Empty with one treatment arm.
    """
    return _pool_contrasts(config, fits, treatment_pairs(config))


def _pool_contrasts(
    config: Config, fits: Sequence[pd.DataFrame], pairs: Sequence[tuple[str, str]]
) -> pd.DataFrame:
    alpha = config["analysis"]["alpha"]
    directions = {o["scale"]: o for o in config["analysis"]["outcomes"]}
    stacked = _stack_fits(fits)
    if "versus" not in stacked:  # fits made before pairwise contrasts: every row vs reference
        stacked["versus"] = config["design"]["reference_arm"]
    rows = []
    for scale, (arm, versus) in ((s, p) for s in outcome_scales(config) for p in pairs):
        part = stacked[
            (stacked["outcome"] == scale) & (stacked["arm"] == arm) & (stacked["versus"] == versus)
        ]
        sign = contrast_sign(directions[scale]["direction"])
        pooled = pool_rubin(
            sign * part["estimate"].to_numpy(),
            part["variance"].to_numpy(),
            df_complete=float(part["df"].mean()),
            alpha=alpha,
        )
        rows.append(
            {
                "outcome": scale,
                "label": config["scales"][scale]["label"],
                "role": directions[scale]["role"],
                "arm": arm,
                **({} if versus == config["design"]["reference_arm"] else {"versus": versus}),
                "direction": directions[scale]["direction"],
                "contrast": contrast_label(config, directions[scale]["direction"], arm, versus),
                **{k: v for k, v in pooled.as_dict().items() if k not in {"alpha"}},
                "df_method": part["df_method"].iloc[0],
                "n_clusters": int(part["n_clusters"].max()),
                "n_individuals": int(part["n_individuals"].max()),
                "icc_mean": float(part["icc"].mean()),
                "sd_baseline": float(part["sd_baseline"].mean()),
                "sd_standardise": float(part["sd_standardise"].mean()),
                "standardised_by": (
                    "baseline SD"
                    if outcome_has_baseline(config, scale)
                    else "follow-up SD in the reference arm"
                ),
                "n_boundary_fits": int(part["at_boundary"].sum()),
                "n_unconverged_fits": int((~part["converged"].astype(bool)).sum()),
                **_model_scale_columns(config, scale, part, pooled),
            }
        )
    return pd.DataFrame(rows)


def config_direction(config: Config, scale: str) -> str:
    """The declared ``direction`` of an outcome's contrasts."""
    return next(o["direction"] for o in config["analysis"]["outcomes"] if o["scale"] == scale)


def _model_scale_columns(
    config: Config, scale: str, part: pd.DataFrame, pooled: PooledEstimate
) -> dict[str, Any]:
    """For a binomial or poisson outcome: the model, the scale of the pooled estimate (a log
    odds or log rate ratio) and the ratio with its interval; nothing for a gaussian one."""
    family = outcome_family(config, scale)
    if family == "gaussian":
        return {}
    row = part.iloc[0]
    direction = config_direction(config, scale)
    versus = None if row["versus"] == config["design"]["reference_arm"] else row["versus"]
    return {
        "contrast": contrast_label(config, direction, row["arm"], versus, ratio=True),
        "family": family,
        "model": part["model"].iloc[0],
        "measure": MODEL_MEASURES[family],
        "ratio": math.exp(pooled.estimate),
        "ratio_ci_low": math.exp(pooled.ci_low),
        "ratio_ci_high": math.exp(pooled.ci_high),
        "icc_proportion_mean": float(part["icc_proportion"].mean()),
    }


def pool_marginal(config: Config, fits: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Pool the standardised (marginal) measures of every binomial outcome over imputations.

    Per imputation each measure is on its analysis scale (risk difference, log risk ratio, log
    marginal odds ratio) with its delta-method variance; Rubin's rules pool it with the
    Barnard-Rubin df, whose complete-data df is the mean over imputations of the model's df
    for the arm effect. The pooled estimate and interval are reported on the natural scale (a
    difference, or a ratio), in each outcome's reported direction. One row per binomial
    outcome, treatment arm and configured measure; empty without binomial outcomes.
    """
    alpha = config["analysis"]["alpha"]
    reference = config["design"]["reference_arm"]
    directions = {o["scale"]: o for o in config["analysis"]["outcomes"]}
    binomial = [s for s in outcome_scales(config) if outcome_family(config, s) == "binomial"]
    if not binomial:
        return pd.DataFrame()
    stacked = _stack_fits(fits)
    rows = []
    for scale, arm in ((s, a) for s in binomial for a in treatment_arms(config)):
        part = stacked[
            (stacked["outcome"] == scale)
            & (stacked["arm"] == arm)
            & (stacked["versus"] == reference)
        ]
        direction = directions[scale]["direction"]
        sign = contrast_sign(direction)
        wanted = outcome_measures(config, scale)
        for name, label, stem, log in MARGINAL_MEASURES:
            if name not in wanted:
                continue
            pooled = pool_rubin(
                sign * part[stem].to_numpy(),
                part[f"{stem}_variance"].to_numpy(),
                df_complete=float(part["marginal_df"].mean()),
                alpha=alpha,
            )
            natural = math.exp if log else float
            rows.append(
                {
                    "outcome": scale,
                    "label": config["scales"][scale]["label"],
                    "role": directions[scale]["role"],
                    "arm": arm,
                    "direction": direction,
                    "contrast": contrast_label(config, direction, arm, ratio=log),
                    "measure": label,
                    "estimate": natural(pooled.estimate),
                    "ci_low": natural(pooled.ci_low),
                    "ci_high": natural(pooled.ci_high),
                    "log_scale": log,
                    "estimate_analysis_scale": pooled.estimate,
                    "se_analysis_scale": pooled.se,
                    "df": pooled.df,
                    "p": pooled.p,
                    "riv": pooled.riv,
                    "fmi": pooled.fmi,
                    "risk_arm": float(part["risk_treated"].mean()),
                    "risk_reference": float(part["risk_reference"].mean()),
                    "model": part["model"].iloc[0],
                    "n_clusters": int(part["n_clusters"].max()),
                    "n_individuals": int(part["n_individuals"].max()),
                }
            )
    return pd.DataFrame(rows)


def _stack_fits(fits: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The per-imputation fit tables as one, with a 1-based ``imputation`` column."""
    return pd.concat([f.assign(imputation=i + 1) for i, f in enumerate(fits)], ignore_index=True)


def pool_arm_tests(config: Config, fits: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Test per outcome that every treatment arm's effect is zero, pooled over imputations by D1.

    The per-imputation Wald tests of all arm effects jointly are pooled with D1 and Reiter's
    small-sample denominator df, whose complete-data df is the mean over imputations of the
    joint F test's small-sample denominator df. One row per outcome, primary first.
    """
    terms = list(arm_terms(config).values())
    stacked = _stack_fits(fits)
    rows = []
    for scale in outcome_scales(config):
        part = stacked[stacked["outcome"] == scale]
        by_imputation = [
            g.set_index("term").loc[terms] for _, g in part.groupby("imputation", sort=True)
        ]
        estimates = np.array([g["estimate"].to_numpy() for g in by_imputation])
        covariances = np.array([g[[f"cov[{t}]" for t in terms]].to_numpy() for g in by_imputation])
        test = pool_d1(estimates, covariances, df_complete=float(part["arms_den_df"].mean()))
        rows.append(
            {
                "outcome": scale,
                "label": config["scales"][scale]["label"],
                "hypothesis": "every treatment arm equals "
                + config["design"]["arm_labels"][config["design"]["reference_arm"]],
                "F": test.F,
                "num_df": test.num_df,
                "den_df": test.den_df,
                "p": test.p,
                "riv": test.riv,
                "method": "D1 (Reiter df)",
                "df_method": part["df_method"].iloc[0],
            }
        )
    return pd.DataFrame(rows)
