"""Diagnostics of the missing data and the imputations, and their report section.

* :func:`missingness_table`: missing scores by outcome, time point and arm.
* :func:`imputed_vs_observed_table`: mean and SD of observed and of imputed values by arm.
* :func:`arm_difference_check` and :func:`arm_difference_plot`: does the arm effect survive
  imputation? The adjusted arm difference among imputed rows beside the one among observed
  rows, and the imputed/observed residual SD ratio, per analysed outcome, with flags.
* :func:`trace_plot`: chain traces (mean and SD of the imputed values per iteration, one line
  per imputation) of the primary outcome's imputed variables.
* :func:`imputed_vs_observed_plot`: strip plot per imputation and densities by arm of the
  primary outcome's observed and imputed follow-up scores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.intermediate import read_intermediate
from trial.mixed import fit_random_intercept_model
from trial.pooling import pool_rubin
from trial.reporting import (
    DEFAULT_DPI,
    Section,
    arm_colours,
    display_name,
    embed_png,
    figure_dpi,
    pyplot,
    save_figure,
)
from trial.vocabulary import (
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
    outcome_score_columns,
    primary_outcome,
    score_columns,
    treatment_arms,
)

_BY_IMPUTED = ":imputed"

__all__ = [
    "analysed_followups",
    "arm_difference_check",
    "arm_difference_plot",
    "diagnostics_section",
    "imputed_vs_observed_plot",
    "imputed_vs_observed_table",
    "missingness_table",
    "trace_plot",
]

_OBSERVED, _IMPUTED = "#1f4e79", "#c00000"


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


def arm_difference_plot(
    check: pd.DataFrame, path: str | Path, level: float = 0.05, dpi: int = DEFAULT_DPI
) -> None:
    """The arm-difference check as a figure: per outcome (and arm), the adjusted arm difference
    among observed rows and among imputed rows with their ``1 - level`` intervals (left,
    scaled by the observed-row SE so that outcomes share an axis), and the residual SD ratio of
    imputed to observed rows with its interval (right); flagged rows in red."""
    plt = pyplot()
    labels = [
        f"{r.label}" + (f" ({r.arm})" if check["arm"].nunique() > 1 else "")
        for r in check.itertuples()
    ]
    y = np.arange(len(check))
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9, 0.32 * len(check) + 1.4), sharey=True, width_ratios=[1.4, 1]
    )
    z = stats.norm.ppf(1 - level / 2)
    scale = check["observed_se"].to_numpy()
    for offset, (value, se, colour, name) in enumerate(
        (
            ("observed_difference", "observed_se", _OBSERVED, "observed rows"),
            ("imputed_difference", "imputed_se", _IMPUTED, "imputed rows"),
        )
    ):
        left.errorbar(
            check[value] / scale,
            y + (offset - 0.5) * 0.3,
            xerr=z * check[se] / scale,
            fmt="o",
            ms=3,
            color=colour,
            capsize=2,
            lw=0.8,
            label=name,
        )
    left.axvline(0, color="grey", lw=0.8, ls="--")
    left.set_xlabel("adjusted arm difference / its observed-row SE", fontsize=8)
    left.legend(fontsize=7, loc="lower right")
    flagged = (check["flag_difference"] | check["flag_sd"]).to_numpy()
    right.errorbar(
        check["sd_ratio"],
        y,
        xerr=[
            check["sd_ratio"] - check["sd_ratio_low"],
            check["sd_ratio_high"] - check["sd_ratio"],
        ],
        fmt="none",
        ecolor="grey",
        capsize=2,
        lw=0.8,
    )
    right.scatter(check["sd_ratio"], y, s=12, c=np.where(flagged, "#c00000", "#1f4e79"), zorder=3)
    right.axvline(1, color="grey", lw=0.8, ls="--")
    right.set_xlabel("residual SD, imputed / observed rows", fontsize=8)
    left.set_yticks(y, labels)
    left.invert_yaxis()
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi)


def trace_plot(config: Config, traces: pd.DataFrame, path: str | Path) -> list[str]:
    """Chain traces of the primary outcome's imputed variables; returns the variables shown.

    ``traces`` stacks the trace files of all imputations (columns imputation, iteration,
    variable, mean, sd). One line per imputation; chains that mix well overlap without trend.
    """
    plt = pyplot()
    scale = primary_outcome(config)
    variables = [c for c in score_columns(config, scale) if c in set(traces["variable"])]
    if not variables:  # nothing of the primary outcome was imputed
        variables = list(dict.fromkeys(traces["variable"]))[:1]
    fig, axes = plt.subplots(
        len(variables), 2, figsize=(8, 2.3 * len(variables) + 0.4), squeeze=False
    )
    for row, variable in enumerate(variables):
        part = traces[traces["variable"] == variable]
        for col, statistic in enumerate(("mean", "sd")):
            ax = axes[row, col]
            for _, chain in part.groupby("imputation"):
                ax.plot(chain["iteration"], chain[statistic], lw=0.8, alpha=0.6)
            ax.set_title(
                f"{display_name(config, variable)}: {statistic.upper()} of imputed values",
                fontsize=8,
            )
            ax.set_xlabel("iteration", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    save_figure(fig, path, figure_dpi(config))
    return variables


def imputed_vs_observed_plot(
    config: Config,
    table: pd.DataFrame,
    completed: Sequence[pd.DataFrame],
    path: str | Path,
    max_strips: int = 20,
) -> None:
    """Observed and imputed follow-up scores of the primary outcome.

    Left: strip plot, observed values at 0 and each imputation's imputed values at its number
    (the first ``max_strips`` imputations). Right: kernel densities of observed (solid) and
    imputed (dashed, all imputations) values by arm.
    """
    plt = pyplot()
    design = config["design"]
    scale = primary_outcome(config)
    column = followup_column(scale)
    missing = (table[column].isna() & completed[0][column].notna()).to_numpy()
    rng = np.random.default_rng(0)  # jitter only
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), width_ratios=[1.4, 1])
    observed = table[column].dropna().to_numpy(dtype=float)
    left.scatter(rng.uniform(-0.25, 0.25, observed.size), observed, s=4, color=_OBSERVED, alpha=0.5)
    shown = completed[:max_strips]
    for i, frame in enumerate(shown, start=1):
        values = frame[column].to_numpy(dtype=float)[missing]
        left.scatter(
            i + rng.uniform(-0.25, 0.25, values.size), values, s=4, color=_IMPUTED, alpha=0.5
        )
    left.set_xticks([0, *range(1, len(shown) + 1)], ["obs", *map(str, range(1, len(shown) + 1))])
    left.tick_params(labelsize=6)
    left.set_xlabel("imputation", fontsize=8)
    left.set_ylabel(config["scales"][scale]["label"], fontsize=8)
    grid_values = np.concatenate(
        [observed, *[f[column].to_numpy(dtype=float)[missing] for f in completed]]
    )
    grid = np.linspace(grid_values.min(), grid_values.max(), 200)
    colours = arm_colours(treatment_arms(config), config["design"]["reference_arm"])
    for arm, colour in colours.items():
        in_arm = (table[design["arm"]] == arm).to_numpy()
        label = design["arm_labels"][arm]
        obs = table.loc[in_arm & table[column].notna().to_numpy(), column].to_numpy(dtype=float)
        imp = np.concatenate([f[column].to_numpy(dtype=float)[in_arm & missing] for f in completed])
        if obs.size > 1 and np.ptp(obs) > 0:
            right.plot(grid, stats.gaussian_kde(obs)(grid), color=colour, label=f"{label} observed")
        if imp.size > 1 and np.ptp(imp) > 0:
            right.plot(
                grid,
                stats.gaussian_kde(imp)(grid),
                color=colour,
                ls="--",
                label=f"{label} imputed",
            )
    right.set_xlabel(config["scales"][scale]["label"], fontsize=8)
    right.set_ylabel("density", fontsize=8)
    right.tick_params(labelsize=7)
    right.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, figure_dpi(config))


def diagnostics_section(config: Config, inputs: Mapping[str, Any]) -> Section | None:
    """Report section 'Missing data and imputation diagnostics' from the diagnostics files;
    none when nothing was imputed (``imputation.m: 1``, the design section says why)."""
    if config["imputation"]["m"] == 1:
        return None
    design = config["design"]
    missingness = pd.read_csv(inputs["missingness"])
    wide = (
        missingness.assign(
            cell=[
                f"{k} ({p:.1f}%)"
                for k, p in zip(missingness["n_missing"], missingness["pct_missing"], strict=True)
            ]
        )
        .pivot_table(
            index=["label", "timepoint"], columns="arm", values="cell", aggfunc="first", sort=False
        )
        .reindex(columns=[*arms(config), "all"])
        .reset_index()
    )
    totals = missingness[missingness["arm"] != "all"].drop_duplicates(["arm"]).set_index("arm")["n"]
    engine = read_intermediate(config, inputs["traces"][0])["engine"].iloc[0]
    check = pd.read_csv(inputs["arm_check"])
    model = json.loads(Path(inputs["imputation_model"]).read_text(encoding="utf-8"))
    context = {
        "engine": engine,
        "engine_setting": config["imputation"]["engine"],
        "reason": config["imputation"].get("default_reason", ""),
        "iterations": config["imputation"]["iterations"],
        "by_arm": config["imputation"]["engine"] == "forest" or config["imputation"].get("by_arm"),
        "model": model,
        "missingness": wide.to_dict("records"),
        "arm_n": {arm: int(totals.get(arm, 0)) for arm in arms(config)},
        "total_n": int(missingness.loc[missingness["arm"] == "all", "n"].iloc[0]),
        "comparison": pd.read_csv(inputs["imputed_vs_observed"]).to_dict("records"),
        "arm_check": check.to_dict("records"),
        "arm_check_flagged": check.loc[
            check["flag_difference"] | check["flag_sd"], "label"
        ].tolist(),
        "several_arms": len(treatment_arms(config)) > 1,
        "figures": {
            "traces": embed_png(inputs["trace_figure"]),
            "imputed": embed_png(inputs["imputed_figure"]),
            "arm_check": embed_png(inputs["arm_check_figure"]),
        },
        "primary_label": config["scales"][primary_outcome(config)]["label"],
        "arm_codes": arms(config),
        "n_outcomes": len(outcome_scales(config)),
        "extra_imputed": [
            c
            for c in model["impute"]
            if c
            not in set(outcome_score_columns(config))
        ],
        "cluster_id": design["cluster_id"],
    }
    return Section(
        "imputation", "Missing data and imputation diagnostics", "imputation.html.j2", context
    )


def nothing_imputed_figure(path: str | Path, dpi: int) -> None:
    """The figure written in place of a diagnostic plot when no analysed value was missing
    (``imputation.m: 1``): a panel saying so, which the report does not show."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, "No analysed value was missing: nothing was imputed.", ha="center")
    save_figure(fig, path, dpi)
