"""Participation (implementation) effects and staff-level outcomes.

Three analyses, each one workflow step:

* **Participation score** (:func:`participation_scores`): each treatment cluster's values over the
  parts of the intervention are combined into a score (their mean) and classed high or low by the
  config's rule (at or above / above the median of treatment clusters). Reference clusters
  cannot take part (one-sided non-compliance) and have no score.
* **High vs low participation** (:func:`fit_participation`, :func:`staff_outcomes`): a
  random-intercept mixed model among treatment clusters only, with participation as a
  cluster-level factor plus the baseline value and strata, small-sample df. This comparison is
  **not randomised**: clusters chose how much to take part, so it may be confounded.
* **Complier-average causal effect** (:func:`cace_fit`, :func:`cace_bootstrap`): randomisation
  as the instrument for participation (the treatment received: 1 for high-participation
  treatment clusters, or the score itself), two-stage least squares with baseline and strata as
  exogenous regressors, cluster-robust covariance with the small-sample correction
  ``G/(G-1) (n-1)/(n-k)`` (linearmodels ``IV2SLS``, ``cov_type="clustered"``,
  ``debiased=True``), t on between-within df (clusters minus cluster-level parameters). A
  cluster bootstrap (clusters resampled within arm and stratum) gives a percentile interval; with
  multiple imputation the replicates of all completed datasets are pooled before taking
  percentiles (Schomaker and Heumann 2018, "MI boot pooled").

Staff outcomes (:func:`staff_outcomes`) are analysed on the observed staff data (complete cases
at follow-up, no imputation), adjusted for the staff member's baseline score where available
(missing baselines are set to the mean with a missingness indicator).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trial.analysis import (
    TREATMENT,
    arm_term,
    baseline_column,
    contrast_label,
    design_matrix,
    followup_column,
    outcome_scales,
)
from trial.config import Config, single_treatment_arm
from trial.mixed import fit_random_intercept_model
from trial.pooling import pool_rubin
from trial.reporting import Section, fmt, p_text
from trial.scoring import score_scale
from trial.seeding import derive_rng
from trial.validation import read_table

__all__ = [
    "HIGH",
    "RECEIVED",
    "ParticipationError",
    "cace_bootstrap",
    "cace_fit",
    "fit_participation",
    "participation_direction_label",
    "participation_scores",
    "participation_section",
    "pool_participation",
    "published_participation_table",
    "secondary_config_problems",
    "staff_analysis_table",
    "staff_outcomes",
]

HIGH = "participation[high]"  # term name of the high-vs-low participation effect
RECEIVED = "received"  # term name of the treatment received in the complier-average analysis
SCORE = "participation_score"


class ParticipationError(ValueError):
    """The participation data or configuration cannot define the analysis."""


# ---------------------------------------------------------------------------------------------
# Configuration checks that the schema cannot express
# ---------------------------------------------------------------------------------------------


def secondary_config_problems(config: Config) -> list[str]:
    """Cross-reference problems of the participation, staff, sensitivity and icc sections.

    Parameters
    ----------
    config : dict
        A schema-valid trial configuration.

    Returns
    -------
    list of str
        One message per problem (empty when all is well).
    """
    problems: list[str] = []
    scales = config["scales"]
    staff_scales = [o["scale"] for o in config.get("staff", {}).get("outcomes", [])]
    for i, scale in enumerate(staff_scales):
        if scale not in scales:
            problems.append(f"staff/outcomes/{i}/scale: {scale!r} is not a declared scale")
            continue
        table = scales[scale]["table"]
        if config["staff"]["id"] not in config["tables"][table]["columns"]:
            problems.append(
                f"staff/outcomes/{i}: scale {scale!r} lives in table {table!r}, which has no "
                f"staff ID column {config['staff']['id']!r}"
            )
    if (
        "staff" in config
        and config["design"]["cluster_id"]
        not in config["tables"][config["staff"]["table"]]["columns"]
    ):
        problems.append(
            f"staff/table: {config['staff']['table']!r} has no cluster ID column "
            f"{config['design']['cluster_id']!r}"
        )
    for i, pub in enumerate(config.get("participation", {}).get("published", [])):
        if pub["scale"] not in scales:
            problems.append(
                f"participation/published/{i}/scale: {pub['scale']!r} is not a declared scale"
            )
    arms = config["tables"][config["design"]["cluster_table"]]["columns"][config["design"]["arm"]]
    for arm in config.get("sensitivity", {}).get("delta", {}).get("arms", []):
        if arm not in arms.get("values", []):
            problems.append(
                f"sensitivity/delta/arms: {arm!r} is not one of the arm values {arms.get('values')}"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Participation score
# ---------------------------------------------------------------------------------------------


def participation_scores(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per treatment cluster: its value per part, its score and high/low class.

    Parameters
    ----------
    config : dict
        Trial configuration with a ``participation`` section.
    raw_dir : path, optional
        Folder of the raw tables (default ``paths.raw``).

    Returns
    -------
    pandas.DataFrame
        Columns: cluster ID, stratum columns, one column per part, ``participation_score``
        (the mean over parts), ``high`` (1/0) and ``level`` (``"high"``/``"low"``).

    Raises
    ------
    ParticipationError
        A treatment cluster lacks a part, or a reference cluster has participation rows.
    """
    design = config["design"]
    spec = config["participation"]
    cid = design["cluster_id"]
    clusters = read_table(config, design["cluster_table"], raw_dir)
    table = read_table(config, spec["table"], raw_dir)
    treated = clusters.loc[clusters[design["arm"]] == single_treatment_arm(config)]
    stray = sorted(set(table[cid]) - set(treated[cid]))
    if stray:
        raise ParticipationError(
            f"{spec['table']}: {len(stray)} cluster(s) not in the treatment arm have "
            f"participation rows (non-compliance must be one-sided): {stray}"
        )
    wide = table.pivot(index=cid, columns=spec["part"], values=spec["value"])
    wide = wide.reindex(treated[cid])
    missing = wide.isna()
    if missing.to_numpy().any():
        gaps = [
            f"{c} lacks {list(wide.columns[missing.loc[c].to_numpy()])}"
            for c in wide.index[missing.any(axis=1)]
        ]
        raise ParticipationError(
            f"{spec['table']}: every treatment cluster needs a {spec['value']!r} value for every "
            f"{spec['part']!r}; " + "; ".join(gaps)
        )
    wide.columns = [str(c) for c in wide.columns]
    score = wide.mean(axis=1)
    median = float(score.median())
    if spec["high_rule"] == "at_or_above_median":
        high = score >= median
    else:
        high = score > median
    out = treated[[cid, *design["strata"]]].set_index(cid).join(wide)
    out[SCORE] = score
    out["high"] = high.astype(int)
    out["level"] = np.where(high, "high", "low")
    if out["high"].nunique() < 2:
        raise ParticipationError(
            "participation: every treatment cluster falls in the same class "
            f"({out['level'].iloc[0]}); a high vs low comparison is impossible"
        )
    return out.reset_index()


def _received(config: Config, table: pd.DataFrame, scores: pd.DataFrame) -> np.ndarray:
    """Treatment received per row: 0 in reference clusters, high (or score) in treatment ones."""
    cid = config["design"]["cluster_id"]
    kind = config["participation"].get("received", "high")
    column = "high" if kind == "high" else SCORE
    values = table[cid].map(scores.set_index(cid)[column]).fillna(0.0).to_numpy(float)
    return values * table[TREATMENT].to_numpy(float)


def participation_direction_label(config: Config) -> str:
    """Human-readable direction of the participation contrast."""
    design = config["design"]
    treated = design["arm_labels"][single_treatment_arm(config)]
    direction = config["participation"].get("direction", "high_minus_low")
    first, second = ("high", "low") if direction == "high_minus_low" else ("low", "high")
    return f"{first} minus {second} participation ({treated} {design['cluster_label']}s only)"


def _participation_sign(config: Config) -> float:
    direction = config["participation"].get("direction", "high_minus_low")
    return 1.0 if direction == "high_minus_low" else -1.0


def _drop_constant(X: pd.DataFrame) -> pd.DataFrame:
    """Drop columns other than the intercept that do not vary (e.g. a stratum absent here)."""
    keep = [c for c in X.columns if c == "(Intercept)" or X[c].nunique() > 1]
    return X[keep]


def _high_vs_low(
    config: Config,
    y: pd.Series,
    X: pd.DataFrame,
    high: pd.Series,
    clusters: pd.Series,
) -> dict[str, Any]:
    """Mixed model among treatment clusters with the high/low factor in place of the arm."""
    X = X.copy()
    X.insert(1, HIGH, high.astype(float).to_numpy())
    X = X.drop(columns=[c for c in X.columns if c == arm_term(config)])
    used = y.notna() & X.notna().all(axis=1)
    X = _drop_constant(X[used])
    df_method = config["analysis"]["df_method"]
    fit = fit_random_intercept_model(
        y[used].to_numpy(float), X, clusters[used].to_numpy(), reml=True, df_method=df_method
    )
    return {
        "estimate": float(fit.params[HIGH]),
        "variance": float(fit.cov.loc[HIGH, HIGH]),
        "df": float(fit.df[HIGH]),
        "df_method": df_method,
        "n_individuals": int(used.sum()),
        "n_clusters": int(clusters[used].nunique()),
        "n_high_clusters": int(clusters[used & (high == 1)].nunique()),
        "at_boundary": bool(fit.at_boundary),
    }


# ---------------------------------------------------------------------------------------------
# Complier-average causal effect
# ---------------------------------------------------------------------------------------------


def _iv_design(config: Config, table: pd.DataFrame, scale: str, received: np.ndarray):
    """Outcome, exogenous regressors, endogenous regressor and instrument of the 2SLS model."""
    X = design_matrix(config, table, scale)
    exog = X.drop(columns=[arm_term(config)])
    y = table[followup_column(scale)].astype(float)
    used = (y.notna() & exog.notna().all(axis=1)).to_numpy()
    return (
        y[used].to_numpy(float),
        exog[used],
        received[used],
        table.loc[used, TREATMENT].to_numpy(float),
        used,
    )


def cace_fit(
    y: np.ndarray,
    exog: pd.DataFrame,
    received: np.ndarray,
    instrument: np.ndarray,
    clusters: np.ndarray,
    *,
    df: float | None = None,
    alpha: float = 0.05,
) -> dict[str, float]:
    """Two-stage least squares estimate of the effect of the treatment received.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Outcome.
    exog : pandas.DataFrame, shape (n, p)
        Exogenous regressors including the intercept column.
    received : ndarray, shape (n,)
        Treatment received (endogenous), 0 wherever ``instrument`` is 0 (one-sided).
    instrument : ndarray, shape (n,)
        Randomised allocation (0/1).
    clusters : ndarray, shape (n,)
        Cluster labels for the cluster-robust covariance.
    df : float, optional
        Degrees of freedom of the t reference; default: clusters minus cluster-level
        parameters (every column of ``exog`` constant within clusters, plus the instrument).
    alpha : float, default 0.05
        Level of the confidence interval.

    Returns
    -------
    dict
        ``estimate``, ``se``, ``variance``, ``df``, ``ci_low``, ``ci_high``, ``p``,
        ``first_stage`` (coefficient of the instrument in the first stage) and ``itt``
        (reduced-form coefficient of the instrument), ``n_individuals``, ``n_clusters``.
    """
    from linearmodels.iv import IV2SLS

    codes = pd.factorize(pd.Series(clusters))[0]
    endog = pd.DataFrame({RECEIVED: received.astype(float)}, index=exog.index)
    instr = pd.DataFrame({"instrument": instrument.astype(float)}, index=exog.index)
    res = IV2SLS(pd.Series(y, index=exog.index), exog, endog, instr).fit(
        cov_type="clustered", clusters=codes, debiased=True
    )
    if df is None:
        frame = exog.assign(_c=codes)
        level = [c for c in exog.columns if (frame.groupby("_c")[c].nunique() <= 1).all()]
        df = float(len(np.unique(codes)) - len(level) - 1)
    estimate = float(res.params[RECEIVED])
    se = float(res.std_errors[RECEIVED])
    q = float(stats.t.ppf(1 - alpha / 2, df))
    Z = np.column_stack([exog.to_numpy(float), instrument])
    first = np.linalg.lstsq(Z, received, rcond=None)[0][-1]
    itt = np.linalg.lstsq(Z, y, rcond=None)[0][-1]
    return {
        "estimate": estimate,
        "se": se,
        "variance": se**2,
        "df": df,
        "ci_low": estimate - q * se,
        "ci_high": estimate + q * se,
        "p": float(2 * stats.t.sf(abs(estimate / se), df)),
        "first_stage": float(first),
        "itt": float(itt),
        "n_individuals": int(len(y)),
        "n_clusters": int(len(np.unique(codes))),
    }


def _iv_estimates(
    y: np.ndarray,
    W: np.ndarray,
    d: np.ndarray,
    z: np.ndarray,
    members: Sequence[np.ndarray],
    picks: Sequence[np.ndarray],
) -> np.ndarray:
    """Just-identified 2SLS coefficient of ``d`` for each bootstrap sample of clusters.

    ``members[k]`` holds the rows of cluster ``k``; ``picks[b]`` the clusters drawn (with
    repeats) in replicate ``b``. A replicate's normal equations ``Z'X b = Z'y`` are sums of
    per-cluster cross-products, each counted as often as its cluster was drawn, so the
    replicates cost O(clusters p^2) each instead of O(n p^2).
    """
    X = np.column_stack([W, d])
    Z = np.column_stack([W, z])
    zx = np.stack([Z[rows].T @ X[rows] for rows in members])
    zy = np.stack([Z[rows].T @ y[rows] for rows in members])
    out = np.full(len(picks), np.nan)
    for b, picked in enumerate(picks):
        times = np.bincount(picked, minlength=len(members)).astype(float)
        A = np.tensordot(times, zx, axes=1)
        if np.linalg.matrix_rank(A) < A.shape[0]:
            continue
        out[b] = np.linalg.solve(A, times @ zy)[-1]
    return out


def cace_bootstrap(
    y: np.ndarray,
    exog: pd.DataFrame,
    received: np.ndarray,
    instrument: np.ndarray,
    clusters: np.ndarray,
    strata: np.ndarray,
    *,
    replicates: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Cluster bootstrap replicates of the 2SLS estimate.

    Clusters are resampled with replacement within each allocation stratum (arm x randomisation
    stratum), so every replicate keeps the design's numbers of clusters per arm and stratum.

    Parameters
    ----------
    y, exog, received, instrument, clusters
        As for :func:`cace_fit`.
    strata : ndarray, shape (n,)
        Resampling stratum of each row (constant within cluster).
    replicates : int
        Number of bootstrap replicates.
    rng : numpy.random.Generator
        Source of the resampling draws.

    Returns
    -------
    ndarray, shape (replicates,)
        Replicate estimates; NaN where a replicate could not identify the effect (e.g. no
        cluster receiving the treatment was drawn).
    """
    W = exog.to_numpy(float)
    codes, uniques = pd.factorize(pd.Series(clusters))
    members = [np.flatnonzero(codes == k) for k in range(len(uniques))]
    cluster_stratum = pd.Series(strata).groupby(codes).first()
    groups = [np.asarray(g.index) for _, g in cluster_stratum.groupby(cluster_stratum)]
    picks = [
        np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        for _ in range(replicates)
    ]
    return _iv_estimates(y, W, received.astype(float), instrument.astype(float), members, picks)


# ---------------------------------------------------------------------------------------------
# Per-imputation fits and pooling
# ---------------------------------------------------------------------------------------------


def fit_participation(
    config: Config, table: pd.DataFrame, scores: pd.DataFrame, index: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """High-vs-low and complier-average fits of every outcome on one completed dataset.

    Parameters
    ----------
    config : dict
        Trial configuration.
    table : pandas.DataFrame
        A completed dataset (or the observed analysis table).
    scores : pandas.DataFrame
        Output of :func:`participation_scores`.
    index : int
        Imputation number (seeds the bootstrap).

    Returns
    -------
    fits : pandas.DataFrame
        One row per analysis (``high_vs_low``, ``cace``) and outcome: estimate, variance, df
        and counts, in the raw (high minus low; received minus not) direction.
    bootstrap : pandas.DataFrame
        ``outcome``, ``replicate``, ``estimate``: cluster bootstrap replicates of the
        complier-average effect.
    """
    design = config["design"]
    cid = design["cluster_id"]
    spec = config["participation"]
    received = _received(config, table, scores)
    high = table[cid].map(scores.set_index(cid)["high"])
    treated = (table[TREATMENT] == 1).to_numpy()
    # "arm/stratum/..." per row; column-wise concatenation (a row-wise join is slow on large n)
    keys = table[[design["arm"], *design["strata"]]].astype(str)
    strata = keys.iloc[:, 0]
    for j in range(1, keys.shape[1]):
        strata = strata + "/" + keys.iloc[:, j]
    rows, boots = [], []
    for scale in outcome_scales(config):
        X = design_matrix(config, table, scale)
        y = table[followup_column(scale)].astype(float)
        nonrand = _high_vs_low(
            config, y[treated], X[treated], high[treated], table.loc[treated, cid]
        )
        rows.append({"analysis": "high_vs_low", "outcome": scale, **nonrand})
        yv, exog, d, z, used = _iv_design(config, table, scale, received)
        cl = table.loc[used, cid].to_numpy()
        fit = cace_fit(yv, exog, d, z, cl, alpha=config["analysis"]["alpha"])
        rows.append(
            {
                "analysis": "cace",
                "outcome": scale,
                "estimate": fit["estimate"],
                "variance": fit["variance"],
                "df": fit["df"],
                "df_method": "between-within",
                "n_individuals": fit["n_individuals"],
                "n_clusters": fit["n_clusters"],
                "n_high_clusters": int(scores["high"].sum()),
                "first_stage": fit["first_stage"],
                "itt": fit["itt"],
            }
        )
        reps = int(spec.get("bootstrap", 0))
        if reps:
            rng = derive_rng(config["seed"], "cace_bootstrap", scale, index)
            est = cace_bootstrap(
                yv, exog, d, z, cl, strata[used].to_numpy(), replicates=reps, rng=rng
            )
            boots.append(
                pd.DataFrame(
                    {"outcome": scale, "replicate": np.arange(1, reps + 1), "estimate": est}
                )
            )
    boot = (
        pd.concat(boots, ignore_index=True)
        if boots
        else pd.DataFrame(columns=["outcome", "replicate", "estimate"])
    )
    return pd.DataFrame(rows), boot


def pool_participation(
    config: Config,
    fits: Sequence[pd.DataFrame],
    bootstraps: Sequence[pd.DataFrame],
    outcomes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pool the per-imputation participation fits by Rubin's rules (Barnard-Rubin df).

    Parameters
    ----------
    config : dict
        Trial configuration.
    fits, bootstraps : sequence of pandas.DataFrame
        Outputs of :func:`fit_participation`, one per imputation.
    outcomes : pandas.DataFrame, optional
        The pooled arm effects (``outcomes.csv``); supplies each outcome's baseline SD.

    Returns
    -------
    pandas.DataFrame
        One row per analysis and outcome, in the reported direction (``direction`` and
        ``contrast`` columns), with the pooled estimate, SE, df, CI, p, FMI, and for the
        complier-average effect the bootstrap percentile interval. Every high-vs-low row has
        ``randomised = False``.
    """
    alpha = config["analysis"]["alpha"]
    arm_direction = {o["scale"]: o["direction"] for o in config["analysis"]["outcomes"]}
    roles = {o["scale"]: o["role"] for o in config["analysis"]["outcomes"]}
    stacked = pd.concat([f.assign(imputation=i + 1) for i, f in enumerate(fits)], ignore_index=True)
    boot = pd.concat(list(bootstraps), ignore_index=True) if bootstraps else pd.DataFrame()
    sd = {} if outcomes is None else outcomes.set_index("outcome")["sd_baseline"].to_dict()
    rows = []
    for analysis in ("high_vs_low", "cace"):
        for scale in outcome_scales(config):
            part = stacked[(stacked["analysis"] == analysis) & (stacked["outcome"] == scale)]
            if analysis == "high_vs_low":
                sign = _participation_sign(config)
                direction = config["participation"].get("direction", "high_minus_low")
                contrast = participation_direction_label(config)
            else:
                sign = 1.0 if arm_direction[scale] == "treatment_minus_reference" else -1.0
                direction = arm_direction[scale]
                contrast = contrast_label(config, direction) + " (among compliers)"
            pooled = pool_rubin(
                sign * part["estimate"].to_numpy(),
                part["variance"].to_numpy(),
                df_complete=float(part["df"].mean()),
                alpha=alpha,
            )
            row = {
                "analysis": analysis,
                "randomised": analysis == "cace",
                "outcome": scale,
                "label": config["scales"][scale]["label"],
                "role": roles[scale],
                "population": "individuals",
                "direction": direction,
                "contrast": contrast,
                **{k: v for k, v in pooled.as_dict().items() if k != "alpha"},
                "df_method": part["df_method"].iloc[0],
                "n_clusters": int(part["n_clusters"].max()),
                "n_individuals": int(part["n_individuals"].max()),
                "n_high_clusters": int(part["n_high_clusters"].max()),
                "sd_baseline": sd.get(scale, math.nan),
                "boot_low": math.nan,
                "boot_high": math.nan,
                "n_boot": 0,
                "first_stage": math.nan,
                "itt": math.nan,
            }
            if analysis == "cace":
                row["first_stage"] = float(part["first_stage"].mean())
                row["itt"] = float(sign * part["itt"].mean())
                if len(boot):
                    reps = sign * boot.loc[boot["outcome"] == scale, "estimate"].dropna()
                    if len(reps):
                        lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
                        row.update(boot_low=float(lo), boot_high=float(hi), n_boot=len(reps))
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Staff outcomes
# ---------------------------------------------------------------------------------------------


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
    spec = config["tables"][config["design"]["cluster_table"]]["columns"]
    for column in config["design"]["strata"]:
        levels = spec[column].get("values") or sorted(table[column].dropna().unique())
        for level in levels[1:]:
            X[f"{column}[{level}]"] = (table[column] == level).astype(float)
    return X


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
        Output of :func:`participation_scores` (``None`` skips the participation effect).

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
        if scores is not None:
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
                sign = 1.0 if outcome["direction"] == "treatment_minus_reference" else -1.0
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


# ---------------------------------------------------------------------------------------------
# Report section
# ---------------------------------------------------------------------------------------------


def published_participation_table(
    config: Config,
    participation: pd.DataFrame,
    staff: pd.DataFrame | None,
    truth: Mapping[str, Any] | None,
) -> pd.DataFrame:
    """Published participation figures beside this run's, in this run's direction.

    The true value is ``high_minus_low_participation`` from the synthetic example's truth file
    (turned to the configured direction) where the truth file has the outcome.
    """
    own = config["participation"].get("direction", "high_minus_low")
    frames = [participation[participation["analysis"] == "high_vs_low"]]
    if staff is not None and len(staff):
        frames.append(staff[staff["analysis"] == "high_vs_low"])
    ours = pd.concat(frames, ignore_index=True).set_index("outcome")
    rows = []
    for pub in config["participation"].get("published", []):
        scale = pub["scale"]
        sign = 1.0 if pub["direction"] == own else -1.0
        lo, hi = sorted(sign * np.asarray(pub["ci"], dtype=float))
        row = {
            "outcome": config["scales"][scale]["label"],
            "contrast": participation_direction_label(config),
            "published": f"{sign * pub['estimate']:.2f} ({lo:.1f} to {hi:.1f})",
            "published_direction": pub["direction"].replace("_", " "),
            "published_stated": f"{pub['estimate']:g} ({pub['ci'][0]:g} to {pub['ci'][1]:g})",
            "published_p": p_text(pub.get("p"), pub.get("p_bound", "=")),
            "this_run": "not analysed",
            "this_run_p": "",
            "true_value": None,
        }
        if scale in ours.index:
            r = ours.loc[scale]
            row["this_run"] = f"{fmt(r['estimate'])} ({fmt(r['ci_low'])} to {fmt(r['ci_high'])})"
            row["this_run_p"] = p_text(float(r["p"]))
        outcome_truth = (truth or {}).get("outcomes", {}).get(scale, {})
        if "high_minus_low_participation" in outcome_truth:
            t = outcome_truth["high_minus_low_participation"]
            row["true_value"] = round(t if own == "high_minus_low" else -t, 2)
        rows.append(row)
    return pd.DataFrame(rows)


def participation_section(config: Config, inputs: Mapping[str, Any]) -> Section:
    """Report section: participation scores, high vs low, complier-average effects, staff."""
    scores = pd.read_csv(inputs["participation_scores"])
    pooled = pd.read_csv(inputs["participation"])
    staff = pd.read_csv(inputs["staff_outcomes"]) if inputs.get("staff_outcomes") else None
    truth = None
    if inputs.get("truth"):
        truth = json.loads(Path(inputs["truth"][0]).read_text(encoding="utf-8"))
    parts = [
        c
        for c in scores.columns
        if c
        not in {config["design"]["cluster_id"], *config["design"]["strata"], SCORE, "high", "level"}
    ]
    levels = []
    for level in ("high", "low"):
        sub = scores[scores["level"] == level]
        levels.append(
            {
                "level": level,
                "n": len(sub),
                "score_mean": float(sub[SCORE].mean()),
                "score_min": float(sub[SCORE].min()),
                "score_max": float(sub[SCORE].max()),
                "parts": {p: float(sub[p].mean()) for p in parts},
            }
        )
    context = {
        "parts": parts,
        "levels": levels,
        "threshold": float(scores[SCORE].median()),
        "rule": config["participation"]["high_rule"].replace("_", " "),
        "received": config["participation"].get("received", "high"),
        "high_vs_low": pooled[pooled["analysis"] == "high_vs_low"].to_dict("records"),
        "cace": pooled[pooled["analysis"] == "cace"].to_dict("records"),
        "staff": [] if staff is None else staff.to_dict("records"),
        "published": [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in published_participation_table(config, pooled, staff, truth).to_dict("records")
        ],
        "has_truth": truth is not None,
        "n_boot_per_imputation": int(config["participation"].get("bootstrap", 0)),
    }
    return Section(
        "participation",
        "Participation (non-randomised and complier-average) and staff outcomes",
        "participation.html.j2",
        context,
    )
