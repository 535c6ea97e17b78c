"""Staff-level outcomes: the arm effect and the (non-randomised) participation effect.

Analysed on the observed staff data (complete cases at follow-up, no imputation) by a
random-intercept mixed model with small-sample df, adjusted for the staff member's baseline
score where available (missing baselines are set to the mean with a missingness indicator) and
the strata. The participation effect compares staff of high- and low-participation clusters
among treatment clusters only (:mod:`trial.analyses.participation`): it is not randomised.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trial.analyses.participation import (
    HIGH,
    _drop_constant,
    _participation_sign,
    high_vs_low_possible,
    participation_direction_label,
)
from trial.config.vocabulary import (
    TREATMENT,
    Config,
    arm_term,
    baseline_column,
    contrast_label,
    contrast_sign,
    followup_column,
    single_treatment_arm,
    strata_columns,
)
from trial.data.scoring import score_scale
from trial.data.validation import read_table
from trial.stats.mixed import fit_random_intercept_model

__all__ = ["staff_analysis_table", "staff_outcomes"]


def staff_analysis_table(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per staff member: cluster, arm, strata, baseline and follow-up staff scores.

    Parameters
    ----------
    config : dict
        Trial configuration with ``staff.outcomes``.
    raw_dir : path, optional
        Folder of the raw tables.

    Returns
    -------
    pandas.DataFrame
        Columns: staff ID, cluster ID, ``treatment``, arm, strata and
        ``<scale>__baseline`` / ``<scale>__followup`` for every staff outcome.
    """
    design = config["design"]
    staff = config["staff"]
    cid = design["cluster_id"]
    clusters = read_table(config, design["cluster_table"], raw_dir)
    people = read_table(config, staff["table"], raw_dir)[[staff["id"], cid]]
    table = people.merge(
        clusters[[cid, design["arm"], *design["strata"]]],
        on=cid,
        how="left",
        validate="many_to_one",
    )
    table.insert(2, TREATMENT, (table[design["arm"]] == single_treatment_arm(config)).astype(int))
    for outcome in staff.get("outcomes", []):
        scale = outcome["scale"]
        spec = config["scales"][scale]
        measures = read_table(config, spec["table"], raw_dir)
        for time, column in (
            (design["baseline"], baseline_column(scale)),
            (design["followup"], followup_column(scale)),
        ):
            rows = measures[measures[design["timepoint"]] == time]
            scored = pd.Series(score_scale(rows, spec).to_numpy(), index=rows[staff["id"]])
            table[column] = table[staff["id"]].map(scored)
    return table


def _staff_design(config: Config, table: pd.DataFrame, scale: str) -> pd.DataFrame:
    """Intercept, arm, baseline (mean-filled with an indicator where missing) and strata."""
    base = table[baseline_column(scale)].astype(float)
    X = pd.DataFrame(
        {"(Intercept)": 1.0, arm_term(config): table[TREATMENT].astype(float)}, index=table.index
    )
    X[baseline_column(scale)] = base.fillna(base.mean())
    if base.isna().any():
        X[f"{baseline_column(scale)}[missing]"] = base.isna().astype(float)
    return pd.concat([X, strata_columns(config, table)], axis=1)


def staff_outcomes(
    config: Config, table: pd.DataFrame, scores: pd.DataFrame | None
) -> pd.DataFrame:
    """Arm effect and (non-randomised) participation effect of every staff outcome.

    Parameters
    ----------
    config : dict
        Trial configuration.
    table : pandas.DataFrame
        Output of :func:`staff_analysis_table`.
    scores : pandas.DataFrame or None
        Output of :func:`~trial.analyses.participation.participation_scores` (``None`` skips the
        participation effect).

    Returns
    -------
    pandas.DataFrame
        One row per analysis (``arm``, ``high_vs_low``) and staff outcome: estimate, SE, df,
        CI, p, contrast, counts and the model-based ICC.
    """
    design = config["design"]
    cid = design["cluster_id"]
    alpha = config["analysis"]["alpha"]
    df_method = config["analysis"]["df_method"]
    rows = []
    for outcome in config["staff"].get("outcomes", []):
        scale = outcome["scale"]
        y = table[followup_column(scale)].astype(float)
        X = _staff_design(config, table, scale)
        used = y.notna()
        n_missing_baseline = int(table.loc[used, baseline_column(scale)].isna().sum())
        analyses = [("arm", used, X, arm_term(config))]
        if scores is not None and high_vs_low_possible(scores):
            high = table[cid].map(scores.set_index(cid)["high"])
            Xp = X.copy()
            Xp[arm_term(config)] = high.fillna(0).to_numpy(float)
            Xp = Xp.rename(columns={arm_term(config): HIGH})
            analyses.append(("high_vs_low", used & (table[TREATMENT] == 1), Xp, HIGH))
        for analysis, rows_used, design_X, term in analyses:
            Xu = _drop_constant(design_X[rows_used])
            fit = fit_random_intercept_model(
                y[rows_used].to_numpy(float),
                Xu,
                table.loc[rows_used, cid].to_numpy(),
                reml=True,
                df_method=df_method,
            )
            res = fit.contrast(pd.Series({term: 1.0}), alpha=alpha)
            if analysis == "arm":
                sign = contrast_sign(outcome["direction"])
                direction = outcome["direction"]
                contrast = contrast_label(config, direction)
            else:
                sign = _participation_sign(config)
                direction = config["participation"].get("direction", "high_minus_low")
                contrast = participation_direction_label(config)
            est = sign * res.estimate
            lo, hi = sorted((sign * res.ci_low, sign * res.ci_high))
            rows.append(
                {
                    "analysis": analysis,
                    "randomised": analysis == "arm",
                    "outcome": scale,
                    "label": config["scales"][scale]["label"],
                    "population": "staff",
                    "direction": direction,
                    "contrast": contrast,
                    "estimate": est,
                    "se": res.se,
                    "df": res.df,
                    "ci_low": lo,
                    "ci_high": hi,
                    "p": res.p,
                    "df_method": df_method,
                    "n_clusters": int(table.loc[rows_used, cid].nunique()),
                    "n_individuals": int(rows_used.sum()),
                    "n_missing_baseline": n_missing_baseline,
                    "icc_model": float(fit.icc),
                    "at_boundary": bool(fit.at_boundary),
                    "sd_baseline": float(table[baseline_column(scale)].std()),
                }
            )
    return pd.DataFrame(rows)
