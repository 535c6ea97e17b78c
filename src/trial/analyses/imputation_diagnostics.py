"""Diagnostics of the missing data and the imputations (their figures and report section are in
:mod:`trial.report.figures.diagnostics` and :mod:`trial.report.sections.diagnostics`).

* :func:`missingness_table`: missing scores by outcome, time point and arm.
* :func:`imputed_vs_observed_table`: mean and SD of observed and of imputed values by arm.
* :func:`arm_difference_check`: does the arm effect survive
  imputation? The adjusted arm difference among imputed rows beside the one among observed
  rows, and the imputed/observed residual SD ratio, per analysed outcome, with flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.config.vocabulary import (
    COST,
    Config,
    all_covariates,
    arm_terms,
    arms,
    baseline_column,
    design_matrix,
    followup_column,
    numeric_predictors,
    outcome_has_baseline,
    outcome_scales,
)
from trial.stats.mixed import fit_random_intercept_model
from trial.stats.pooling import pool_rubin

_BY_IMPUTED = ":imputed"

__all__ = [
    "analysed_followups",
    "arm_difference_check",
    "imputed_vs_observed_table",
    "missingness_table",
]



def _timepoints(config: Config, scale: str) -> list[tuple[str, Any]]:
    """The time points at which ``scale`` is analysed, each with its column's name maker."""
    design = config["design"]
    followup = [(design["followup"], followup_column)]
    if not outcome_has_baseline(config, scale):
        return followup
    return [(design["baseline"], baseline_column), *followup]


def missingness_table(config: Config, table: pd.DataFrame) -> pd.DataFrame:
    """Missing scores of every outcome by time point and arm (and over both arms).

    Returns
    -------
    pandas.DataFrame
        Columns outcome, label, timepoint, arm (a code, or ``all``), n, n_missing,
        pct_missing; outcomes primary first, then time points and arms in design order.
    """
    design = config["design"]
    rows = []
    for scale in outcome_scales(config):
        for time, column_of in _timepoints(config, scale):
            column = column_of(scale)
            for arm in [*arms(config), "all"]:
                part = (
                    table[column]
                    if arm == "all"
                    else table.loc[table[design["arm"]] == arm, column]
                )
                n, missing = len(part), int(part.isna().sum())
                rows.append(
                    {
                        "outcome": scale,
                        "label": config["scales"][scale]["label"],
                        "timepoint": time,
                        "arm": arm,
                        "n": n,
                        "n_missing": missing,
                        "pct_missing": 100.0 * missing / n if n else float("nan"),
                    }
                )
    return pd.DataFrame(rows)


def imputed_vs_observed_table(
    config: Config, table: pd.DataFrame, completed: Sequence[pd.DataFrame]
) -> pd.DataFrame:
    """Observed vs imputed values of every imputed outcome variable, by arm.

    Parameters
    ----------
    table
        The analysis table (with its gaps).
    completed
        The completed datasets, rows in the order of ``table``.

    Returns
    -------
    pandas.DataFrame
        Per outcome, time point and arm with missing values: n_observed, observed_mean,
        observed_sd, n_imputed (per imputation), imputed_mean and imputed_sd (over all
        imputed values of all imputations), m.
    """
    design = config["design"]
    rows = []
    for scale in outcome_scales(config):
        for time, column_of in _timepoints(config, scale):
            column = column_of(scale)
            # imputed: missing before, filled after (a value an estimand leaves undefined stays
            # missing in the completed data and is not an imputed value)
            missing = (table[column].isna() & completed[0][column].notna()).to_numpy()
            if not missing.any():
                continue
            for arm in arms(config):
                in_arm = (table[design["arm"]] == arm).to_numpy()
                observed = table.loc[in_arm & table[column].notna().to_numpy(), column]
                imputed = np.concatenate(
                    [c[column].to_numpy(dtype=float)[in_arm & missing] for c in completed]
                )
                rows.append(
                    {
                        "outcome": scale,
                        "label": config["scales"][scale]["label"],
                        "timepoint": time,
                        "arm": arm,
                        "n_observed": len(observed),
                        "observed_mean": float(observed.mean()),
                        "observed_sd": float(observed.std()),
                        "n_imputed": int((in_arm & missing).sum()),
                        "imputed_mean": float(np.mean(imputed)) if imputed.size else np.nan,
                        "imputed_sd": float(np.std(imputed, ddof=1))
                        if imputed.size > 1
                        else np.nan,
                        "m": len(completed),
                    }
                )
    return pd.DataFrame(rows)


def analysed_followups(config: Config) -> list[tuple[str, str]]:
    """Every analysed follow-up variable as (name for :func:`design_matrix`, report label):
    the outcome scales, then total cost when the config has costs."""
    rows = [(s, config["scales"][s]["label"]) for s in outcome_scales(config)]
    if "costs" in config:
        rows.append(
            (COST, f"Total cost ({config['costs'].get('currency', '')})".replace(" ()", ""))
        )
    return rows


def _arm_check_fit(
    config: Config, completed: pd.DataFrame, scale: str, imputed: np.ndarray, extra: pd.DataFrame
) -> dict[str, float]:
    """One completed dataset: the analysis model with every fixed effect interacted with
    'imputed', so the arm difference among observed rows, the extra arm difference among
    imputed rows and the residual SDs of both groups come from one fit."""
    X = design_matrix(config, completed, scale)
    X = pd.concat([X, extra.drop(columns=[c for c in extra if c in X])], axis=1)
    flag = imputed.astype(float)
    interacted = X.mul(flag, axis=0).add_suffix(_BY_IMPUTED)
    interacted = interacted.loc[:, interacted.abs().sum() > 0]
    design = pd.concat([X, interacted], axis=1)
    design = design.loc[:, _independent_columns(design)]
    y = completed[followup_column(scale)].to_numpy(dtype=float)
    fit = fit_random_intercept_model(
        y,
        design,
        completed[config["design"]["cluster_id"]].to_numpy(),
        reml=True,
        df_method=config["analysis"]["df_method"],
    )
    resid = y - design.to_numpy() @ fit.params[design.columns].to_numpy()
    out: dict[str, float] = {
        "log_sd_ratio": float(
            np.log(np.std(resid[imputed], ddof=1) / np.std(resid[~imputed], ddof=1))
        ),
        "log_sd_ratio_var": 1.0 / (2.0 * (imputed.sum() - 1))
        + 1.0 / (2.0 * ((~imputed).sum() - 1)),
    }
    for term in arm_terms(config).values():
        both = term + _BY_IMPUTED
        cov = fit.cov
        out[f"{term}|observed"] = float(fit.params[term])
        out[f"{term}|observed_var"] = float(cov.loc[term, term])
        out[f"{term}|observed_df"] = float(fit.df[term])
        out[f"{term}|difference"] = float(fit.params[both])
        out[f"{term}|imputed"] = float(fit.params[term] + fit.params[both])
        out[f"{term}|imputed_var"] = float(
            cov.loc[term, term] + cov.loc[both, both] + 2 * cov.loc[term, both]
        )
    return out


def _independent_columns(design: pd.DataFrame) -> list[str]:
    """Columns of ``design`` left to right, skipping any that is a linear combination of the
    ones kept (e.g. a stratum with no imputed rows)."""
    values = design.to_numpy()  # once: selecting DataFrame columns cost more than the ranks
    kept: list[int] = []
    for j in range(values.shape[1]):
        trial_cols = [*kept, j]
        if np.linalg.matrix_rank(values[:, trial_cols]) == len(trial_cols):
            kept.append(j)
    return [design.columns[j] for j in kept]


def arm_difference_check(
    config: Config,
    table: pd.DataFrame,
    completed: Sequence[pd.DataFrame],
    *,
    level: float = 0.05,
) -> pd.DataFrame:
    """Does the treatment effect survive imputation? Arm differences among imputed and observed
    rows, per analysed follow-up variable.

    In each completed dataset the outcome's analysis model (arm, baseline, strata, covariates,
    random cluster intercept), with the auxiliary variables added, is fitted with every fixed
    effect interacted with an indicator of the rows whose follow-up value was imputed. The arm
    coefficient is then the adjusted arm difference among observed rows; arm plus its
    interaction, the one among imputed rows; the interaction, their difference. The two arm
    differences are pooled over the imputations by Rubin's rules.

    Under missing at random given the imputation model's variables, and with an imputation
    model that holds the arm, the imputed values of each imputation are drawn from a model
    fitted to the observed rows, so the imputed-row difference re-estimates the observed-row
    one from the same observed data. What separates them is noise of two kinds: (1) the
    Monte Carlo error of averaging ``m`` imputations, ``B_d / m`` with ``B_d`` the
    between-imputation variance of the per-imputation difference; (2) the difference between
    the imputation model's estimate of the arm effect and the diagnostic model's, two
    estimators of one effect on the same rows that adjust for different variables; when one
    is efficient its variance is at most that of the less adjusted one, so the variance of
    their difference is at most the observed-row estimate's variance ``W_obs`` (its mean
    within-imputation variance). The difference is flagged when it exceeds its
    ``1 - level`` t quantile times ``sqrt(W_obs + B_d / m)``, on the observed-row estimate's
    complete-data df. This bound is conservative: it flags a dilution of the arm effect by
    about twice the effect's SE or more, not a small one. An engine that ignores the arm
    shrinks the imputed-row difference towards zero.

    The residual SD ratio compares the spread of the residuals (about the fitted fixed
    effects) of imputed and observed rows; under-dispersed imputations give a ratio below 1.
    It is pooled on the log scale by Rubin's rules with the within-imputation variance
    ``1 / (2 (n_imputed - 1)) + 1 / (2 (n_observed - 1))`` of a log SD ratio of normal data
    (which ignores the clustering, so its interval is a little too narrow) and flagged when
    its ``1 - level`` interval excludes 1.

    Parameters
    ----------
    config
        Trial config.
    table
        The analysis table (with its gaps).
    completed
        The completed datasets, rows in the order of ``table``.
    level
        Two-sided level of both flags.

    Returns
    -------
    pandas.DataFrame
        Per outcome (and treatment arm): outcome, label, arm, n_observed, n_imputed,
        observed_difference and observed_se (Rubin), imputed_difference, imputed_se (Rubin)
        and imputed_mc_se (``sqrt(B / m)``), ratio (imputed / observed difference),
        difference (imputed minus observed), difference_se (the noise above), difference_p,
        sd_ratio with sd_ratio_low and sd_ratio_high (``1 - level`` interval),
        flag_difference, flag_sd, m. Outcomes without imputed rows are left out.
    """
    individual = set(all_covariates(config)) | set(config["imputation"].get("auxiliary", []))
    coded = numeric_predictors(config, table)
    extra_columns = [c for c in coded.columns if c.split("[", 1)[0] in individual]
    m = len(completed)
    rows = []
    for scale, label in analysed_followups(config):
        # rows whose value the estimands leave undefined (e.g. after death) stay missing in
        # every completed dataset and belong to neither group
        defined = completed[0][followup_column(scale)].notna().to_numpy()
        imputed = table[followup_column(scale)].isna().to_numpy()[defined]
        if not imputed.any() or imputed.all():
            continue
        frames = [frame.loc[defined] for frame in completed]
        stacked = pd.DataFrame(
            [
                _arm_check_fit(
                    config, frame, scale, imputed, numeric_predictors(config, frame)[extra_columns]
                )
                for frame in frames
            ]
        )
        sd = pool_rubin(
            stacked["log_sd_ratio"].to_numpy(),
            stacked["log_sd_ratio_var"].to_numpy(),
            df_complete=float(imputed.size - 2),
            alpha=level,
        )
        for arm, term in arm_terms(config).items():
            df_obs = float(stacked[f"{term}|observed_df"].mean())
            observed, imputed_rows = (
                pool_rubin(
                    stacked[f"{term}|{part}"].to_numpy(),
                    stacked[f"{term}|{part}_var"].to_numpy(),
                    df_complete=df_obs,
                    alpha=level,
                )
                for part in ("observed", "imputed")
            )
            differences = stacked[f"{term}|difference"].to_numpy()
            difference = float(differences.mean())
            between = float(differences.var(ddof=1)) if m > 1 else 0.0
            noise = float(np.sqrt(stacked[f"{term}|observed_var"].mean() + between / m))
            p = float(2 * stats.t.sf(abs(difference) / noise, df_obs))
            rows.append(
                {
                    "outcome": scale,
                    "label": label,
                    "arm": arm,
                    "n_observed": int((~imputed).sum()),
                    "n_imputed": int(imputed.sum()),
                    "observed_difference": observed.estimate,
                    "observed_se": observed.se,
                    "imputed_difference": imputed_rows.estimate,
                    "imputed_se": imputed_rows.se,
                    "imputed_mc_se": imputed_rows.mc_se,
                    "ratio": imputed_rows.estimate / observed.estimate,
                    "difference": difference,
                    "difference_se": noise,
                    "difference_p": p,
                    "sd_ratio": float(np.exp(sd.estimate)),
                    "sd_ratio_low": float(np.exp(sd.ci_low)),
                    "sd_ratio_high": float(np.exp(sd.ci_high)),
                    "flag_difference": bool(p < level),
                    "flag_sd": bool(sd.p < level),
                    "m": m,
                }
            )
    return pd.DataFrame(rows)


