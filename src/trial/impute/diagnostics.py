"""Diagnostics of the missing data and the imputations, and their report section.

* :func:`missingness_table`: missing scores by outcome, time point and arm.
* :func:`imputed_vs_observed_table`: mean and SD of observed and of imputed values by arm.
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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from trial.analysis import baseline_column, followup_column, outcome_scales  # noqa: E402
from trial.config import Config, arms, treatment_arms  # noqa: E402
from trial.reporting import PNG_METADATA, Section, arm_colours, embed_png  # noqa: E402

__all__ = [
    "diagnostics_section",
    "imputed_vs_observed_plot",
    "imputed_vs_observed_table",
    "missingness_table",
    "trace_plot",
]

_OBSERVED, _IMPUTED = "#1f4e79", "#c00000"


def _timepoints(config: Config) -> list[tuple[str, Any]]:
    design = config["design"]
    return [(design["baseline"], baseline_column), (design["followup"], followup_column)]


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
        for time, column_of in _timepoints(config):
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
        for time, column_of in _timepoints(config):
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


def trace_plot(config: Config, traces: pd.DataFrame, path: str | Path) -> list[str]:
    """Chain traces of the primary outcome's imputed variables; returns the variables shown.

    ``traces`` stacks the trace files of all imputations (columns imputation, iteration,
    variable, mean, sd). One line per imputation; chains that mix well overlap without trend.
    """
    scale = outcome_scales(config)[0]
    variables = [
        c(scale) for c in (baseline_column, followup_column) if c(scale) in set(traces["variable"])
    ]
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
            ax.set_title(f"{variable}: {statistic.upper()} of imputed values", fontsize=8)
            ax.set_xlabel("iteration", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata=PNG_METADATA)
    plt.close(fig)
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
    design = config["design"]
    scale = outcome_scales(config)[0]
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
    fig.savefig(path, dpi=110, metadata=PNG_METADATA)
    plt.close(fig)


def diagnostics_section(config: Config, inputs: Mapping[str, Any]) -> Section:
    """Report section 'Missing data and imputation diagnostics' from the diagnostics files."""
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
    engine = pd.read_csv(inputs["traces"][0])["engine"].iloc[0]
    model = json.loads(Path(inputs["imputation_model"]).read_text(encoding="utf-8"))
    context = {
        "engine": engine,
        "engine_setting": config["imputation"]["engine"],
        "reason": config["imputation"].get("default_reason", ""),
        "iterations": config["imputation"]["iterations"],
        "model": model,
        "missingness": wide.to_dict("records"),
        "arm_n": {arm: int(totals.get(arm, 0)) for arm in arms(config)},
        "total_n": int(missingness.loc[missingness["arm"] == "all", "n"].iloc[0]),
        "comparison": pd.read_csv(inputs["imputed_vs_observed"]).to_dict("records"),
        "figures": {
            "traces": embed_png(inputs["trace_figure"]),
            "imputed": embed_png(inputs["imputed_figure"]),
        },
        "primary_label": config["scales"][outcome_scales(config)[0]]["label"],
        "arm_codes": arms(config),
        "n_outcomes": len(outcome_scales(config)),
        "extra_imputed": [
            c
            for c in model["impute"]
            if c
            not in {
                f(s) for s in outcome_scales(config) for f in (baseline_column, followup_column)
            }
        ],
        "cluster_id": design["cluster_id"],
    }
    return Section(
        "imputation", "Missing data and imputation diagnostics", "imputation.html.j2", context
    )
