"""Descriptive tables computed from the data: trial flow and baseline characteristics by arm.

Counts come from the raw tables, never from typed numbers, so the flow diagram and the analysis
always agree. Reports carry aggregates only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trial.analyses.estimands import flow_rows, score_defined
from trial.analyses.participation import TOOK_PART, participation_scores
from trial.config.vocabulary import (
    Config,
    all_covariates,
    arms,
    baseline_column,
    cluster_covariates,
    enrolment_stage,
    followup_column,
    outcome_family,
    outcome_has_baseline,
    outcome_scales,
    primary_outcome,
    treatment_arms,
    unit_plural,
)
from trial.data.validation import read_table

#: Flow stage counting the treatment clusters that took part at all (participation score above 0).
RECEIVED = "received allocated intervention"
#: Flow stage counting the treatment clusters in the high class of the participation score.
HIGH_PARTICIPATION = "with high participation"


def flow_counts(
    config: Config,
    analysis_table: pd.DataFrame,
    clusters: pd.DataFrame,
    participation: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Flow of clusters and individuals per arm, CONSORT-style, as a long table.

    Columns: ``level`` (cluster or individual), ``stage``, ``arm``, ``n``; the loss stage is
    broken down by recorded reason in rows whose stage starts with ``lost: ``. Individuals whose
    intercurrent event leaves their outcome undefined (a while-alive strategy,
    :mod:`trial.analyses.estimands`) are counted in rows starting ``excluded from outcome analyses:
    `` and not among those analysed. Receipt of the intervention is counted only where the data
    record it: with ``participation`` (the scores of
    :func:`trial.analyses.participation.participation_scores`) a treatment cluster counts as having
    received the intervention when it took part at all (score above 0), and a row
    :data:`HIGH_PARTICIPATION` counts the clusters in the high class of the non-randomised
    comparison. The reference arm, and a treatment arm without participation data, have no
    receipt row: nothing in the data says what their clusters received.
    """
    design = config["design"]
    enrolled = enrolment_stage(config)
    rows = []
    for arm in arms(config):
        arm_clusters = clusters[clusters[design["arm"]] == arm]
        people = analysis_table[analysis_table[design["arm"]] == arm]
        completed = people[design["followup_status"]] == design["followup_completed"]
        primary = primary_outcome(config)
        clusters_with_people = people[design["cluster_id"]].nunique()
        clusters_followed = people.loc[completed, design["cluster_id"]].nunique()
        uptake = []
        if participation is not None and arm in treatment_arms(config):
            ids = arm_clusters[design["cluster_id"]]
            took_part = participation.loc[participation[TOOK_PART] == 1, design["cluster_id"]]
            high = participation.loc[participation["high"] == 1, design["cluster_id"]]
            uptake = [
                ("cluster", RECEIVED, arm, int(ids.isin(set(took_part)).sum())),
                ("cluster", HIGH_PARTICIPATION, arm, int(ids.isin(set(high)).sum())),
            ]
        rows += [
            ("cluster", "randomised", arm, len(arm_clusters)),
            *uptake,
            ("cluster", f"with individuals {enrolled}", arm, clusters_with_people),
            ("cluster", "with individuals followed up", arm, clusters_followed),
            ("cluster", "analysed", arm, clusters_with_people),
            ("individual", enrolled, arm, len(people)),
            ("individual", "followed up", arm, int(completed.sum())),
        ]
        if loss_possible(config):  # a design that declares no reason for loss has no such row
            rows.append(("individual", "lost to follow-up", arm, int((~completed).sum())))
        reasons = people.loc[~completed, design["followup_status"]].value_counts().sort_index()
        rows += [("individual", f"lost: {reason}", arm, int(n)) for reason, n in reasons.items()]
        excluded = [r for r in flow_rows(config, people) if r[2] == arm]
        rows += [
            (
                "individual",
                "primary outcome observed",
                arm,
                int(people[followup_column(primary)].notna().sum()),
            ),
            *excluded,
            ("individual", analysed_stage(config), arm, len(people) - sum(r[3] for r in excluded)),
        ]
    return pd.DataFrame(rows, columns=["level", "stage", "arm", "n"])


def loss_possible(config: Config) -> bool:
    """Whether an individual can be lost to follow-up: the follow-up status column declares a
    code other than the completed one (or is not a category, whose codes are then unknown)."""
    design = config["design"]
    status = config["tables"][design["individual_table"]]["columns"][design["followup_status"]]
    return set(status.get("values", [None])) != {design["followup_completed"]}


def analysed_stage(config: Config) -> str:
    """The flow's stage of the individuals analysed: after multiple imputation, or as observed
    when nothing analysed is missing (``imputation.m`` of 1, which the checks before any job
    allow only then)."""
    if config["imputation"]["m"] == 1:
        return "analysed (intention to treat, nothing missing)"
    return "analysed (multiple imputation, intention to treat)"


def baseline_table(
    config: Config, analysis_table: pd.DataFrame, clusters: pd.DataFrame
) -> pd.DataFrame:
    """Baseline characteristics by arm at cluster and individual level, with missing counts.

    Continuous variables: mean (SD); categories: n (%). No p-values (CONSORT), and nothing
    measured after randomisation (participation in the intervention is in its own section).
    Columns: ``level``, ``characteristic``, ``statistic`` and one column per arm label.
    """
    design = config["design"]
    labels = design["arm_labels"]
    arm_codes = arms(config)
    rows: list[dict[str, object]] = []

    def add(level: str, name: str, statistic: str, values: dict[str, str]) -> None:
        rows.append(
            {
                "level": level,
                "characteristic": name,
                "statistic": statistic,
                **{labels[a]: values[a] for a in arm_codes},
            }
        )

    sizes = analysis_table.groupby(design["cluster_id"]).size()
    cluster_frame = clusters.assign(_size=clusters[design["cluster_id"]].map(sizes).fillna(0))
    by_arm = {a: cluster_frame[cluster_frame[design["arm"]] == a] for a in arm_codes}
    add("cluster", unit_plural(design, "cluster"), "n", {a: f"{len(f)}" for a, f in by_arm.items()})
    add(
        "cluster",
        f"{unit_plural(design, 'individual')} per {design['cluster_label']}",
        "mean (SD); min-max",
        {a: _size_summary(f["_size"]) for a, f in by_arm.items()},
    )
    for stratum in design["strata"]:
        for level in sorted(clusters[stratum].dropna().unique()):
            add(
                "cluster",
                _readable(f"{stratum}: {level}"),
                "n (%)",
                {a: _n_pct((f[stratum] == level).sum(), len(f)) for a, f in by_arm.items()},
            )
    cluster_columns = config["tables"][design["cluster_table"]]["columns"]
    for column in cluster_covariates(config):
        _describe_column(add, column, cluster_columns[column], by_arm, level="cluster")

    people = {a: analysis_table[analysis_table[design["arm"]] == a] for a in arm_codes}
    add(
        "individual",
        unit_plural(design, "individual"),
        "n",
        {a: f"{len(f)}" for a, f in people.items()},
    )
    individual_columns = config["tables"][design["individual_table"]]["columns"]
    auxiliary = config["imputation"].get("auxiliary", [])
    described = [
        c for c in dict.fromkeys([*all_covariates(config), *auxiliary]) if c in individual_columns
    ]
    for column in described:
        _describe_column(add, column, individual_columns[column], people)
    for column, spec in individual_columns.items():
        if column in (design["individual_id"], design["cluster_id"], design["followup_status"]):
            continue
        if column in described:
            continue
        if column in analysis_table:
            _describe_column(add, column, spec, people)
    for scale in outcome_scales(config):
        if not outcome_has_baseline(config, scale):
            continue
        column = baseline_column(scale)
        binary = outcome_family(config, scale) == "binomial"
        add(
            "individual",
            f"{config['scales'][scale]['label']} at baseline",
            "n (%); missing" if binary else "mean (SD); missing",
            {a: (_ones(f[column]) if binary else _mean_sd(f[column])) for a, f in people.items()},
        )
    return pd.DataFrame(rows)


def _ones(values: pd.Series) -> str:
    """A 0/1 variable's count and percentage of 1s among its observed values, and missing."""
    observed = values.dropna()
    return f"{_n_pct(int((observed == 1).sum()), len(observed))}; {int(values.isna().sum())}"


def _describe_column(add, column, spec, people, level="individual") -> None:
    if spec["type"] == "category":
        for code in spec["values"]:
            add(
                level,
                _readable(f"{column}: {code}"),
                "n (%)",
                {
                    a: _n_pct((f[column] == code).sum(), f[column].notna().sum())
                    for a, f in people.items()
                },
            )
        missing = {a: int(f[column].isna().sum()) for a, f in people.items()}
        if any(missing.values()):
            add(
                level,
                _readable(f"{column}: missing"),
                "n",
                {a: str(n) for a, n in missing.items()},
            )
    elif spec["type"] in ("integer", "number"):
        add(
            level,
            _readable(column),
            "mean (SD); missing",
            {a: _mean_sd(f[column]) for a, f in people.items()},
        )


def _readable(name: str) -> str:
    """A column or category code as Table 1 shows it (underscores spaced)."""
    return name.replace("_", " ")


def _size_summary(sizes: pd.Series) -> str:
    return f"{sizes.mean():.1f} ({sizes.std():.1f}); {sizes.min():.0f}-{sizes.max():.0f}"


def _n_pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f}%)" if total else "0 (-)"


def _mean_sd(values: pd.Series) -> str:
    x = values.astype(float)
    missing = int(x.isna().sum())
    if x.notna().sum() == 0:
        return f"- ; {missing}"
    return f"{np.nanmean(x):.1f} ({np.nanstd(x, ddof=1):.1f}); {missing}"


def outcome_summary(config: Config, analysis_table: pd.DataFrame) -> pd.DataFrame:
    """Per outcome and arm: who is analysed, how many were observed, and the observed scores.

    One row per outcome (primary first) and arm, over the individuals the outcome analyses
    include (those whose follow-up score the declared estimands define): ``n_clusters`` with at
    least one of them, ``n_analysed``, ``n_observed`` with the follow-up score recorded (the rest,
    ``n_imputed``, enter the analysis through multiple imputation), and the mean and SD (ddof 1)
    of the recorded baseline and follow-up scores with how many each rests on.
    """
    design = config["design"]
    roles = {o["scale"]: o["role"] for o in config["analysis"]["outcomes"]}
    analysed = analysis_table[score_defined(config, analysis_table)]
    rows = []
    for scale in outcome_scales(config):
        for arm in arms(config):
            people = analysed[analysed[design["arm"]] == arm]
            baseline = people.get(baseline_column(scale), pd.Series(np.nan, people.index))
            baseline = baseline.astype(float)
            followup = people[followup_column(scale)].astype(float)
            n_observed = int(followup.notna().sum())
            rows.append(
                {
                    "outcome": scale,
                    "label": config["scales"][scale]["label"],
                    "role": roles[scale],
                    "arm": arm,
                    "arm_label": design["arm_labels"][arm],
                    "n_clusters": int(people[design["cluster_id"]].nunique()),
                    "n_analysed": len(people),
                    "n_observed": n_observed,
                    "n_imputed": len(people) - n_observed,
                    "n_baseline": int(baseline.notna().sum()),
                    "mean_baseline": baseline.mean(),
                    "sd_baseline": baseline.std(ddof=1),
                    "mean_followup": followup.mean(),
                    "sd_followup": followup.std(ddof=1),
                }
            )
    return pd.DataFrame(rows)


def enrolment_counts(config: Config, randomised: int) -> list[tuple[str, str, str, int]]:
    """Flow rows before randomisation (arm ``all``) from the optional ``design.enrolment``.

    ``clusters_assessed`` and ``clusters_excluded`` (reason: count) for clusters,
    ``individuals_assessed`` and ``individuals_excluded`` for individuals; the data of a trial
    usually hold neither, so nothing is counted unless declared. The clusters assessed less
    those excluded must equal the clusters randomised.
    """
    spec = config["design"].get("enrolment") or {}
    rows = []
    for level, unit in (("cluster", "clusters"), ("individual", "individuals")):
        if f"{unit}_assessed" not in spec:
            continue
        excluded = spec.get(f"{unit}_excluded", {})
        rows.append((level, "assessed for eligibility", "all", int(spec[f"{unit}_assessed"])))
        rows += [(level, f"excluded: {why}", "all", int(n)) for why, n in excluded.items()]
    if "clusters_assessed" in spec:
        kept = spec["clusters_assessed"] - sum(spec.get("clusters_excluded", {}).values())
        if kept != randomised:
            raise ValueError(
                f"design.enrolment: {spec['clusters_assessed']} clusters assessed less "
                f"{spec['clusters_assessed'] - kept} excluded leaves {kept}, but the cluster "
                f"table randomises {randomised}"
            )
    return rows


def cluster_sizes(
    config: Config, analysis_table: pd.DataFrame, clusters: pd.DataFrame
) -> pd.DataFrame:
    """Individuals assessed at baseline per randomised cluster, by arm: ``arm``,
    ``n_clusters``, ``median``, ``smallest``, ``largest`` (a cluster with nobody counts 0)."""
    design = config["design"]
    counts = analysis_table.groupby(design["cluster_id"]).size()
    rows = []
    for arm in arms(config):
        ids = clusters.loc[clusters[design["arm"]] == arm, design["cluster_id"]]
        sizes = counts.reindex(ids.to_numpy(), fill_value=0)
        rows.append(
            {
                "arm": arm,
                "n_clusters": len(sizes),
                "median": float(sizes.median()),
                "smallest": int(sizes.min()),
                "largest": int(sizes.max()),
            }
        )
    return pd.DataFrame(rows)


def describe_trial(
    config: Config, analysis_table: pd.DataFrame, raw_dir: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Flow counts (enrolment first when declared), baseline table and cluster sizes, reading
    the cluster and participation tables."""
    clusters = read_table(config, config["design"]["cluster_table"], raw_dir)
    participation = None
    if "participation" in config:
        participation = participation_scores(config, raw_dir)
    flow = flow_counts(config, analysis_table, clusters, participation)
    enrolment = pd.DataFrame(enrolment_counts(config, len(clusters)), columns=flow.columns)
    flow = pd.concat([enrolment, flow], ignore_index=True) if len(enrolment) else flow
    return (
        flow,
        baseline_table(config, analysis_table, clusters),
        cluster_sizes(config, analysis_table, clusters),
    )
