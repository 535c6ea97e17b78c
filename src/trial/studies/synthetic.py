"""Generating a synthetic cluster-randomised trial from the config's ``synthetic`` section.

Everything the generator writes is named by the config (tables, columns, items, arms, strata), so
the same code makes any trial shaped by its config. The generating model:

* clusters are allocated to arms within strata as listed; individuals are spread over clusters
  with sizes that vary (``cluster_size_dispersion``);
* each questionnaire instrument has a standard-normal latent trait per person and assessment,
  built from a cluster part (share ``icc``) and a person part, each mixing the person's common
  factor (share ``common_weight``) with an instrument-specific factor; follow-up components
  correlate ``rho`` with baseline ones;
* at follow-up the trait of individuals in treatment clusters shifts by ``arm_effect`` (item
  units); with a participation section the shift of a treatment cluster is
  ``arm_effect x score / E(score)``, proportional to its participation score (the mean of its
  participation values over the parts), so that the average over clusters is ``arm_effect``,
  the effect is linear in the dose and a cluster that takes no part gains nothing: the
  exclusion restriction of the instrumental-variable analyses holds by construction;
* participation: each cluster has a latent propensity to take part, correlated
  (``outcome_correlation``) with the cluster's common follow-up factor (so that clusters that
  take part more also do better whatever their arm: the non-randomised high-vs-low comparison is
  confounded); a share ``non_participating`` of treatment clusters, those least inclined, take
  no part at all; the others take part in each part to a Beta-distributed degree (0-1) around
  the part's mean, shifted by the propensity;
* items are ``round(item_mean + loading * trait + noise)``, clipped to the item range, with
  reverse-keyed items written reversed and item gaps at random; an instrument with
  ``distribution: poisson`` has counts instead, Poisson with log mean
  ``log(item_mean) + loading * trait (+ arm_effect at follow-up)`` (drawn by inverting the
  Poisson distribution function at the item's own normal noise, so the other variables' draws
  are those of the rounded-normal version), clipped to the item range: the arm multiplies every
  person's mean count by ``exp(arm_effect)``, so ``arm_effect`` is the true log rate ratio, the
  same given the practice and person effects as over them (the log link is collapsible);
* follow-up loss is missing at random given baseline covariates (logistic, rate solved exactly);
* service use is Poisson with a person gamma frailty (correlated between the baseline and
  follow-up recall periods) and a cluster effect; use up to an event such as death is recorded
  for the share of the follow-up recall period lived;
* audit items are logistic with cluster and person effects, a time trend and an arm effect after
  the intervention starts.

True effects are population mean differences of the *scored* outcomes, computed on a large
counterfactual population in which every person is scored under both arms with the same draws
(the clipping and rounding of items make a closed form impractical): the effect of allocation,
the complier-average effect (mean effect among individuals of clusters that took part) and the
dose effect (mean effect of allocation divided by the mean participation score under
allocation: the estimand of a dose-response instrumental-variable analysis).

Kept as one module, over the 600-line guide: its private functions are the steps of
:func:`generate_trial` (clusters, people, latent scores, participation, dropout, measures,
service use, audit), each drawing from a random stream of its own name, and no other module of
the library calls them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, stats
from scipy.optimize import brentq
from scipy.special import expit, logit

from trial.config.schedule import SCHEDULED_TYPES, design_type, read_schedule
from trial.config.vocabulary import Config, has_baseline_wave, single_treatment_arm, treatment_arms
from trial.data.scoring import score_scale
from trial.seeding import derive_rng

_COMMON_RHO_DEFAULT = 0.5


def generate_trial(config: Config) -> dict[str, pd.DataFrame]:
    """Generate every raw table of the synthetic trial, keyed by table name."""
    syn = config["synthetic"]
    seed = config["seed"]
    design = config["design"]
    tables: dict[str, pd.DataFrame] = {}

    clusters = _make_clusters(config, derive_rng(seed, "clusters"))
    tables[design["cluster_table"]] = clusters

    people = _make_people(
        config,
        clusters,
        syn["individuals"],
        syn["individual_id_format"],
        syn["covariates"],
        design["individual_id"],
        derive_rng(seed, "individuals"),
    )
    population = {"individuals": people}
    if "staff" in config:
        population["staff"] = _make_people(
            config,
            clusters,
            syn["staff"],
            syn["staff_id_format"],
            syn["staff_covariates"],
            config["staff"]["id"],
            derive_rng(seed, "staff"),
        )

    arm_of = clusters.set_index(design["cluster_id"])[design["arm"]]
    latent = {
        name: _draw_latent(
            config, frame, derive_rng(seed, "latent", name), n_clusters=len(clusters)
        )
        for name, frame in population.items()
    }
    scheduled = design_type(config) in SCHEDULED_TYPES
    if scheduled:
        period = derive_rng(seed, "periods").integers(0, len(design["periods"]), len(people))
        people[design["period"]] = np.array(design["periods"], dtype=object)[period]
        _add_period_effects(
            config,
            latent["individuals"],
            people["_cluster_index"].to_numpy(),
            period,
            derive_rng(seed, "cluster_periods"),
            n_clusters=len(clusters),
        )
    dose_of = _participation(
        config,
        clusters,
        latent["individuals"]["_common"]["cluster_followup"],
        derive_rng(seed, "participation"),
        tables,
    )
    followed = _dropout(
        config, people, clusters, latent["individuals"], derive_rng(seed, "dropout")
    )
    people[design["followup_status"]] = followed
    tables[design["individual_table"]] = people.drop(columns="_cluster_index")

    for name, frame in population.items():
        arm = frame[design["cluster_id"]].map(arm_of).to_numpy()
        if scheduled and name == "individuals":
            arm = _scheduled_conditions(config, clusters, frame)
        dose = frame[design["cluster_id"]].map(dose_of).fillna(1.0).to_numpy()
        items = _instrument_items(config, name, latent[name], arm, dose)
        for table_name, table in _measure_tables(
            config, name, frame, items, derive_rng(seed, "measures", name)
        ).items():
            tables[table_name] = table
    if "staff" in config:
        tables[config["staff"]["table"]] = population["staff"].drop(columns="_cluster_index")

    if "costs" in config:
        tables.update(_service_use(config, people, clusters, derive_rng(seed, "costs")))
    if "audit" in config:
        tables[config["audit"]["table"]] = _audit(config, clusters, derive_rng(seed, "audit"))
    return {name: _order_columns(config, name, table) for name, table in tables.items()}


def true_effects(config: Config) -> dict[str, Any]:
    """True effects of the generating model, on the scored outcome scales.

    Returns a mapping with ``outcomes`` (per scale: ``arm_minus_reference``, each treatment arm
    minus the reference arm, and, with a participation section, ``complier_average_effect``
    (mean effect among individuals of treatment clusters that took part), ``dose_effect`` (mean
    effect of allocation divided by the mean participation score under allocation, both over
    individuals: the effect per unit of score that a dose-response instrumental-variable
    analysis estimates) and ``high_minus_low_participation`` (difference in mean follow-up
    score under allocation between clusters at or above and below the median score: an
    association that includes the confounding, not an effect)), ``participation`` (share of
    clusters taking part and mean scores), ``costs`` (mean cost difference, treatment minus
    reference, at follow-up) and the size of the counterfactual population used.
    """
    syn = config["synthetic"]
    design = config["design"]
    rng = derive_rng(config["seed"], "truth")
    n_people = int(syn["truth_population"])
    mean_size = syn["individuals"] / sum(sum(a.values()) for a in syn["clusters"].values())
    n_clusters = max(200, int(round(n_people / mean_size)))
    frame = pd.DataFrame(
        {
            "_cluster_index": rng.integers(0, n_clusters, n_people),
            design["individual_id"]: np.arange(n_people).astype(str),
        }
    )
    for column, spec in syn["covariates"].items():
        frame[column] = _draw_covariate(
            config, design["individual_table"], column, spec, rng, n_people
        )
    latent = _draw_latent(config, frame, rng, n_clusters=n_clusters)
    cluster = frame["_cluster_index"].to_numpy()
    if design_type(config) in SCHEDULED_TYPES:
        period = rng.integers(0, len(design["periods"]), n_people)
        _add_period_effects(config, latent, cluster, period, rng, n_clusters=n_clusters)
    dose = np.ones(n_people)
    if "participation" in config:
        values = _draw_participation_values(config, latent["_common"]["cluster_followup"], rng)
        cluster_score = values.mean(axis=1)
        score = cluster_score[cluster]
        dose = score / expected_participation_score(config)

    def followup_scores(arm: str) -> dict[str, np.ndarray]:
        items = _instrument_items(config, "individuals", latent, np.full(n_people, arm), dose)
        return {
            o["scale"]: score_scale(
                _complete_items(config["scales"][o["scale"]], items["followup"]),
                config["scales"][o["scale"]],
            ).to_numpy()
            for o in config["analysis"]["outcomes"]
        }

    reference = followup_scores(design["reference_arm"])
    treated = {arm: followup_scores(arm) for arm in treatment_arms(config)}
    outcomes: dict[str, dict[str, Any]] = {}
    families = {o["scale"]: o.get("family", "gaussian") for o in config["analysis"]["outcomes"]}
    poisson_effects = {
        scale: _arm_effects(config, spec)
        for spec in syn["instruments"].values()
        if spec.get("distribution") == "poisson"
        for scale in spec["scales"]
    }
    for scale, s0 in reference.items():
        outcomes[scale] = {
            "arm_minus_reference": {
                arm: float(np.nanmean(scores[scale] - s0)) for arm, scores in treated.items()
            }
        }
        if families[scale] != "gaussian":  # marginal truths on the ratio scales
            outcomes[scale].update(_marginal_truths(s0, {a: t[scale] for a, t in treated.items()}))
        if scale in poisson_effects:  # the generating log rate ratio (before clipping)
            outcomes[scale]["log_rate_ratio"] = poisson_effects[scale]
        if "participation" in config:
            s1 = treated[single_treatment_arm(config)][scale]
            effect = s1 - s0
            ok = np.isfinite(effect)
            took_part = score > 0
            high = score >= np.median(cluster_score)
            if config["participation"]["high_rule"] != "at_or_above_median":
                high = score > np.median(cluster_score)
            outcomes[scale].update(
                complier_average_effect=float(np.mean(effect[ok & took_part])),
                dose_effect=float(np.mean(effect[ok]) / np.mean(score[ok])),
                high_minus_low_participation=float(np.nanmean(s1[high]) - np.nanmean(s1[~high])),
            )
    truth: dict[str, Any] = {"population_size": n_people, "outcomes": outcomes}
    if "participation" in config:
        truth["participation"] = {
            "share_clusters_taking_part": float(np.mean(cluster_score > 0)),
            "mean_score": float(np.mean(cluster_score)),
            "mean_score_taking_part": float(np.mean(cluster_score[cluster_score > 0])),
            "expected_score": expected_participation_score(config),
        }
    if "costs" in config:
        costs = syn["costs"]
        baseline_mean = sum(s["mean"] * s["unit_cost"] for s in costs["services"].values())
        # Follow-up cost is counted while alive: people whose use is recorded until an event
        # (lost to follow-up through it) live a uniform share, on average half, of the period.
        dropout = syn["dropout"]
        reasons = dropout["reasons"]
        until_event = sum(reasons.get(r, 0.0) for r in costs.get("recorded_until_event", []))
        share = dropout["rate"] * until_event / sum(reasons.values())
        followup_mean = baseline_mean * (1.0 - share / 2)
        truth["costs"] = {
            "treatment_minus_reference": followup_mean * (costs["arm_ratio_followup"] - 1.0),
            "reference_mean_cost": followup_mean,
        }
    if "audit" in config:
        truth["audit"] = {"log_odds_ratio_after_start": syn["audit"]["arm_effect_after"]}
    return truth


def _marginal_truths(reference: np.ndarray, treated: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Population risks (mean counts) under each arm and their ratios, for a binomial or count
    outcome: ``reference_mean``, ``arm_mean``, ``arm_over_reference`` (risk or rate ratio) and
    ``marginal_odds_ratio`` (for a 0/1 outcome only)."""
    p0 = float(np.nanmean(reference))
    means = {arm: float(np.nanmean(values)) for arm, values in treated.items()}
    binary = bool(np.all(np.isin(reference[np.isfinite(reference)], (0.0, 1.0))))
    truths: dict[str, Any] = {
        "reference_mean": p0,
        "arm_mean": means,
        "arm_over_reference": {arm: p1 / p0 for arm, p1 in means.items()},
    }
    if binary:
        truths["marginal_odds_ratio"] = {
            arm: (p1 / (1 - p1)) / (p0 / (1 - p0)) for arm, p1 in means.items()
        }
    return truths


def write_example(config: Config, out_dir: str | Path) -> list[Path]:
    """Generate the example, write each table as CSV plus ``truth.json`` and ``data_dictionary.md``.

    Returns the paths written. Files are byte-identical for the same config.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in generate_trial(config).items():
        path = out / config["tables"][name]["file"]
        table.to_csv(path, index=False, lineterminator="\n", float_format="%.6g")
        written.append(path)
    # The hash covers what generates the data (seed and `synthetic` section), so editing other
    # parts of the config does not change the committed example.
    generating = json.dumps(
        {"seed": config["seed"], "synthetic": config["synthetic"]}, sort_keys=True
    )
    truth = {
        "synthetic_section_sha256": hashlib.sha256(generating.encode("utf-8")).hexdigest(),
        "seed": config["seed"],
        **true_effects(config),
    }
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    dictionary_path = out / "data_dictionary.md"
    dictionary_path.write_text(data_dictionary(config), encoding="utf-8")
    return [*written, truth_path, dictionary_path]


def data_dictionary(config: Config) -> str:
    """A Markdown data dictionary of every table and column, with the generator's assumptions."""
    lines = [f"# Data dictionary: {config['trial']['name']}", ""]
    if config["trial"]["synthetic"]:
        calibrated = any("published" in o for o in config["analysis"]["outcomes"])
        lines += [
            "**These data are synthetic.** They are generated from the `synthetic` section of the "
            + (
                "config and calibrated to the published figures; they are not the trial's data."
                if calibrated
                else "config; they are not real data."
            ),
            "",
        ]
    items_by_table: dict[str, dict[str, list[str]]] = {}
    for scale_name, scale in config["scales"].items():
        owned = items_by_table.setdefault(scale["table"], {})
        for item in scale["items"]:
            owned.setdefault(item, []).append(scale_name)
        for item in scale.get("gate", []):
            owned.setdefault(item, []).append(f"{scale_name} (gate)")
    for name, spec in config["tables"].items():
        lines += [f"## `{spec['file']}` ({name})", "", spec["description"], ""]
        lines.append(f"Key: {', '.join(spec['key'])}.")
        for column, target in spec.get("references", {}).items():
            lines.append(f"Every `{column}` must exist in `{config['tables'][target]['file']}`.")
        lines += ["", "| column | type | allowed values | meaning |", "|---|---|---|---|"]
        for column, col in spec["columns"].items():
            lines.append(f"| `{column}` | {col['type']} | {_allowed(col)} | {col['description']} |")
        for item, scales in items_by_table.get(name, {}).items():
            scale = config["scales"][scales[0].split(" ")[0]]
            if "(gate)" in scales[0]:
                allowed, kind = "0, 1", "gate: 1 = applies (rated), 0 = does not apply"
            else:
                lo, hi = scale["item_range"]
                allowed = f"{lo:g} to {hi:g}"
                kind = "item" + (", reverse-keyed" if item in scale.get("reverse", []) else "")
            lines.append(
                f"| `{item}` | integer | {allowed}, blank = missing "
                f"| {kind} of {', '.join(scales)} |"
            )
        lines.append("")
    lines += ["## Scoring rules", ""]
    for name, scale in config["scales"].items():
        rule = {"sum": "prorated sum", "mean": "mean", "gated_mean": "mean of items gated 1"}
        extra = (
            f", rescaled to {scale['rescale'][0]}-{scale['rescale'][1]}"
            if "rescale" in scale
            else ""
        )
        lines.append(
            f"- **{name}** ({scale['label']}): {rule[scale['method']]} of {len(scale['items'])} "
            f"items{extra}; scored when at least {scale['min_fraction']:.0%} are answered."
        )
    lines += ["", "## Assumptions where the published record is silent", ""]
    lines += [f"- {a}" for a in config.get("synthetic", {}).get("assumptions", [])]
    lines += [
        "",
        "The true generating values are in `truth.json` beside these files.",
        "",
    ]
    return "\n".join(lines)


def _allowed(col: Mapping[str, Any]) -> str:
    if "values" in col:
        text = ", ".join(str(v) for v in col["values"])
    elif "min" in col or "max" in col:
        text = f"{col.get('min', '')} to {col.get('max', '')}"
    else:
        text = "any"
    if col.get("missing") == "allowed":
        text += ", blank = missing"
    return text


def _make_clusters(config: Config, rng: np.random.Generator) -> pd.DataFrame:
    design = config["design"]
    syn = config["synthetic"]
    stratum_column = design["strata"][0] if design["strata"] else None
    rows = [
        (stratum, arm)
        for stratum, arms in syn["clusters"].items()
        for arm, count in arms.items()
        for _ in range(count)
    ]
    order = rng.permutation(len(rows))
    frame = pd.DataFrame(
        {
            design["cluster_id"]: [
                syn["cluster_id_format"].format(i + 1) for i in range(len(rows))
            ],
            design["arm"]: [rows[k][1] for k in order],
        }
    )
    if stratum_column:
        frame.insert(1, stratum_column, [rows[k][0] for k in order])
    schedule = design.get("schedule", {})
    if design_type(config) in SCHEDULED_TYPES and "column" in schedule:
        switch = [p for p, count in syn["crossover"].items() for _ in range(count)]
        frame[schedule["column"]] = [switch[k] for k in rng.permutation(len(switch))]
    return frame


def _scheduled_conditions(
    config: Config, clusters: pd.DataFrame, people: pd.DataFrame
) -> np.ndarray:
    """Each person's condition: the arm of their cluster in the period they were sampled in."""
    design = config["design"]
    schedule, problems = read_schedule(config, clusters)
    if schedule is None:
        raise ValueError(f"the synthetic schedule cannot be analysed: {problems}")
    treated = schedule.treated_at(
        people[design["cluster_id"]].tolist(), people[design["period"]].tolist()
    )
    return np.where(treated, single_treatment_arm(config), design["reference_arm"])


def _add_period_effects(
    config: Config,
    latent: Mapping[str, dict[str, np.ndarray]],
    cluster: np.ndarray,
    period: np.ndarray,
    rng: np.random.Generator,
    n_clusters: int,
) -> None:
    """Add the period effects and the cluster-period effects to every follow-up trait.

    ``period_effects`` are item-level shifts, added to the trait as shift / loading; the
    cluster-period effect adds a variance ``cluster_period_icc`` to the trait's unit variance.
    """
    syn = config["synthetic"]
    periods = config["design"]["periods"]
    shares = float(syn.get("cluster_period_icc", 0.0))
    for name, spec in _instruments_of(config, "individuals").items():
        shift = np.array([syn.get("period_effects", {}).get(p, 0.0) for p in periods])
        cells = rng.standard_normal((n_clusters, len(periods)))
        latent[name]["followup"] = (
            latent[name]["followup"]
            + shift[period] / spec["loading"]
            + np.sqrt(shares) * cells[cluster, period]
        )


def _participation_threshold(syn: Mapping[str, Any]) -> float:
    """Propensity below which a cluster takes no part (``-inf`` when every cluster does)."""
    share = float(syn.get("non_participating", 0.0))
    return float(stats.norm.ppf(share)) if share > 0 else -np.inf


def _draw_participation_values(
    config: Config, cluster_factor: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Participation value (0-1, three decimals) of each cluster in each part, clusters by parts.

    A cluster's propensity mixes its common follow-up factor (weight ``outcome_correlation``)
    with noise; clusters below the ``non_participating`` quantile take no part (value 0).
    """
    syn = config["synthetic"]["participation"]
    k = syn["concentration"]
    c = float(syn.get("outcome_correlation", 0.0))
    spread = float(syn.get("propensity_sd", 0.8))
    noise = rng.standard_normal(len(cluster_factor))
    propensity = c * np.asarray(cluster_factor) + np.sqrt(1 - c**2) * noise
    takes_part = propensity > _participation_threshold(syn)
    means = np.array(list(syn["mean_attendance"].values()), dtype=float)
    a = expit(logit(means)[None, :] + spread * propensity[:, None])
    values = np.round(rng.beta(a * k, (1 - a) * k), 3)
    return np.where(takes_part[:, None], values, 0.0)


def expected_participation_score(config: Config) -> float:
    """Expected participation score of a treatment cluster under the generating model.

    The mean over parts of ``E[expit(logit(mean) + sd Z); Z > threshold]`` for a standard
    normal propensity ``Z`` (the Beta draws have mean ``expit(...)``), by quadrature.
    """
    syn = config["synthetic"]["participation"]
    spread = float(syn.get("propensity_sd", 0.8))
    means = np.array(list(syn["mean_attendance"].values()), dtype=float)

    def integrand(z: float) -> float:
        return float(np.mean(expit(logit(means) + spread * z)) * stats.norm.pdf(z))

    return float(integrate.quad(integrand, _participation_threshold(syn), np.inf)[0])


def _participation(
    config: Config,
    clusters: pd.DataFrame,
    cluster_factor: np.ndarray,
    rng: np.random.Generator,
    tables: dict[str, pd.DataFrame],
) -> pd.Series:
    """Write the participation table; return each treatment cluster's dose multiplier.

    The multiplier is the cluster's score over its expected value, so that the arm effect
    averages ``arm_effect`` over clusters and is zero where the cluster took no part.
    """
    design = config["design"]
    if "participation" not in config:
        return pd.Series(dtype=float)
    treated = (clusters[design["arm"]] == single_treatment_arm(config)).to_numpy()
    ids = clusters.loc[treated, design["cluster_id"]].to_numpy()
    spec = config["participation"]
    parts = list(config["synthetic"]["participation"]["mean_attendance"])
    values = _draw_participation_values(config, np.asarray(cluster_factor)[treated], rng)
    tables[spec["table"]] = pd.DataFrame(
        {
            design["cluster_id"]: np.repeat(ids, len(parts)),
            spec["part"]: np.tile(parts, len(ids)),
            spec["value"]: values.ravel(),
        }
    )
    score = values.mean(axis=1)
    return pd.Series(score / expected_participation_score(config), index=ids)


def _make_people(
    config: Config,
    clusters: pd.DataFrame,
    n: int,
    id_format: str,
    covariates: Mapping[str, Any],
    id_column: str,
    rng: np.random.Generator,
) -> pd.DataFrame:
    design = config["design"]
    dispersion = config["synthetic"]["cluster_size_dispersion"]
    n_clusters = len(clusters)
    weights = (
        rng.gamma(1 / dispersion**2, dispersion**2, n_clusters)
        if dispersion > 0
        else np.ones(n_clusters)
    )
    sizes = np.maximum(1, np.floor(weights / weights.sum() * n).astype(int))
    while sizes.sum() < n:
        sizes[rng.integers(n_clusters)] += 1
    while sizes.sum() > n:
        candidates = np.flatnonzero(sizes > 1)
        sizes[rng.choice(candidates)] -= 1
    cluster_index = np.repeat(np.arange(n_clusters), sizes)
    frame = pd.DataFrame(
        {
            id_column: [id_format.format(i + 1) for i in range(n)],
            design["cluster_id"]: clusters[design["cluster_id"]].to_numpy()[cluster_index],
            "_cluster_index": cluster_index,
        }
    )
    table = _table_of_column(config, id_column)
    for column, spec in covariates.items():
        frame[column] = _draw_covariate(config, table, column, spec, rng, n)
    return frame


def _table_of_column(config: Config, id_column: str) -> str:
    for name, spec in config["tables"].items():
        if spec["key"] == [id_column]:
            return name
    raise KeyError(f"no table is keyed by {id_column!r}")


def _draw_covariate(
    config: Config,
    table: str,
    column: str,
    spec: Mapping[str, Any],
    rng: np.random.Generator,
    n: int,
) -> np.ndarray:
    if "mean" in spec:
        col = config["tables"][table]["columns"][column]
        values = rng.normal(spec["mean"], spec["sd"], n)
        values = np.clip(values, col.get("min", -np.inf), col.get("max", np.inf))
        return np.round(values).astype(int) if col["type"] == "integer" else values
    levels = list(spec)
    p = np.array([spec[v] for v in levels], dtype=float)
    return np.array(levels, dtype=object)[rng.choice(len(levels), n, p=p / p.sum())]


def _instruments_of(config: Config, population: str) -> dict[str, Any]:
    return {
        name: spec
        for name, spec in config["synthetic"]["instruments"].items()
        if spec["population"] == population
    }


def _draw_latent(
    config: Config, frame: pd.DataFrame, rng: np.random.Generator, n_clusters: int | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """Latent standard-normal traits per instrument at baseline and follow-up (no effects yet)."""
    population = "staff" if "staff" in config and config["staff"]["id"] in frame else "individuals"
    cluster = frame["_cluster_index"].to_numpy()
    n = len(frame)
    n_clusters = n_clusters or int(cluster.max()) + 1
    instruments = _instruments_of(config, population)
    rhos = [s["rho"] for s in instruments.values()]
    common_rho = float(np.mean(rhos)) if rhos else _COMMON_RHO_DEFAULT

    def pair(size: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
        first = rng.standard_normal(size)
        return first, rho * first + np.sqrt(1 - rho**2) * rng.standard_normal(size)

    common_cluster = pair(n_clusters, common_rho)
    common_person = pair(n, common_rho)
    latent: dict[str, dict[str, np.ndarray]] = {}
    for name, spec in instruments.items():
        own_cluster = pair(n_clusters, spec["rho"])
        own_person = pair(n, spec["rho"])
        w, icc = spec["common_weight"], spec["icc"]
        traits = []
        for t in range(2):
            c = np.sqrt(w) * common_cluster[t] + np.sqrt(1 - w) * own_cluster[t]
            p = np.sqrt(w) * common_person[t] + np.sqrt(1 - w) * own_person[t]
            traits.append(np.sqrt(icc) * c[cluster] + np.sqrt(1 - icc) * p)
        latent[name] = {
            "baseline": traits[0],
            "followup": traits[1],
            "noise_baseline": rng.standard_normal((n, _n_items(config, spec))),
            "noise_followup": rng.standard_normal((n, _n_items(config, spec))),
            "gate_baseline": rng.random((n, _n_items(config, spec))),
            "gate_followup": rng.random((n, _n_items(config, spec))),
        }
    latent["_common"] = {"baseline": common_person[0], "cluster_followup": common_cluster[1]}
    return latent


def _instrument_item_names(config: Config, spec: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for scale_name in spec["scales"]:
        for item in config["scales"][scale_name]["items"]:
            if item not in names:
                names.append(item)
    return names


def _n_items(config: Config, spec: Mapping[str, Any]) -> int:
    return len(_instrument_item_names(config, spec))


def _instrument_items(
    config: Config,
    population: str,
    latent: Mapping[str, Mapping[str, np.ndarray]],
    arm: np.ndarray,
    dose: np.ndarray,
) -> dict[str, dict[str, np.ndarray]]:
    """Item responses (before gaps) per assessment: {"baseline"|"followup": {item: values}}.

    ``arm`` is each person's arm code; ``dose`` multiplies the arm effect (the cluster's
    participation score over its expected value in treatment clusters; 1 without participation
    data).
    """
    out: dict[str, dict[str, np.ndarray]] = {"baseline": {}, "followup": {}}
    for name, spec in _instruments_of(config, population).items():
        names = _instrument_item_names(config, spec)
        scale = config["scales"][spec["scales"][0]]
        lo, hi = scale["item_range"]
        reverse = {i for s in spec["scales"] for i in config["scales"][s].get("reverse", [])}
        gated = scale["method"] == "gated_mean"
        arm_shift = pd.Series(arm).map(_arm_effects(config, spec)).fillna(0.0).to_numpy(float)
        shift = arm_shift * dose
        counts = spec.get("distribution", "rounded_normal") == "poisson"
        for time in ("baseline", "followup"):
            trait = latent[name][time]
            noise = latent[name][f"noise_{time}"]
            level = (np.log(spec["item_mean"]) if counts else spec["item_mean"]) + spec[
                "loading"
            ] * trait
            if time == "followup":
                level = level + shift
            if counts:
                drawn = stats.poisson.ppf(stats.norm.cdf(noise), np.exp(level)[:, None])
            else:
                drawn = np.round(level[:, None] + spec["noise_sd"] * noise)
            values = np.clip(drawn, lo, hi)
            for j, item in enumerate(names):
                column = lo + hi - values[:, j] if item in reverse else values[:, j]
                out[time][item] = column
            if gated:
                important = latent[name][f"gate_{time}"] < spec.get("gate_probability", 1.0)
                for j, gate_item in enumerate(scale["gate"]):
                    out[time][gate_item] = important[:, j].astype(float)
                    out[time][names[j]] = np.where(important[:, j], out[time][names[j]], np.nan)
    return out


def _arm_effects(config: Config, spec: Mapping[str, Any]) -> dict[str, float]:
    """Follow-up trait shift of each treatment arm: one number for every arm, or one per arm."""
    effect = spec["arm_effect"]
    if isinstance(effect, Mapping):
        return {arm: float(effect[arm]) for arm in treatment_arms(config)}
    return dict.fromkeys(treatment_arms(config), float(effect))


def _complete_items(scale: Mapping[str, Any], items: Mapping[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({c: items[c] for c in [*scale["items"], *scale.get("gate", [])]})


def _dropout(
    config: Config,
    people: pd.DataFrame,
    clusters: pd.DataFrame,
    latent: Mapping[str, Mapping[str, np.ndarray]],
    rng: np.random.Generator,
) -> np.ndarray:
    """Follow-up status per individual: completed, or a reason for loss (MAR on baseline)."""
    design = config["design"]
    spec = config["synthetic"]["dropout"]
    linear = np.zeros(len(people))
    for name, slope in spec["log_odds_per_sd"].items():
        values = (
            latent["_common"]["baseline"]
            if name == "baseline_trait"
            else people[name].to_numpy(dtype=float)
        )
        linear += slope * (values - values.mean()) / values.std()
    if design["strata"]:
        stratum = people[design["cluster_id"]].map(
            clusters.set_index(design["cluster_id"])[design["strata"][0]]
        )
        linear += stratum.map(spec["stratum_log_odds"]).fillna(0.0).to_numpy(dtype=float)
    # Exactly round(rate x n) are lost, drawn without replacement with probability weights
    # from the logistic model (Efraimidis-Spirakis keys), so the example's counts are as
    # published while loss still depends on the baseline covariates.
    n_lost = int(round(spec["rate"] * len(people)))
    if not n_lost:  # a trial with no loss: no logistic intercept to solve for, no reasons
        return np.full(len(people), design["followup_completed"], dtype=object)
    intercept = brentq(lambda a: expit(a + linear).mean() - spec["rate"], -20, 20)
    keys = np.log(rng.random(len(people))) / expit(intercept + linear)
    lost = np.zeros(len(people), bool)
    lost[np.argsort(-keys, kind="stable")[:n_lost]] = True
    reasons = list(spec["reasons"])
    p = np.array([spec["reasons"][r] for r in reasons], dtype=float)
    reason = np.array(reasons, dtype=object)[rng.choice(len(reasons), len(people), p=p / p.sum())]
    return np.where(lost, reason, design["followup_completed"])


def _measure_tables(
    config: Config,
    population: str,
    frame: pd.DataFrame,
    items: Mapping[str, Mapping[str, np.ndarray]],
    rng: np.random.Generator,
) -> dict[str, pd.DataFrame]:
    """One table per measures table of this population: rows per person and assessment."""
    design = config["design"]
    syn = config["synthetic"]
    id_column = config["staff"]["id"] if population == "staff" else design["individual_id"]
    if population == "staff":
        followed = rng.random(len(frame)) < syn["staff_followup_rate"]
    else:
        followed = (frame[design["followup_status"]] == design["followup_completed"]).to_numpy()
    item_missing = {}
    for spec in _instruments_of(config, population).values():
        for item in _instrument_item_names(config, spec):
            item_missing[item] = spec["item_missing"]
    tables: dict[str, pd.DataFrame] = {}
    table_names = sorted(
        {
            config["scales"][s]["table"]
            for spec in _instruments_of(config, population).values()
            for s in spec["scales"]
        },
        key=list(config["tables"]).index,
    )
    for table_name in table_names:
        item_columns = [
            c
            for spec in _instruments_of(config, population).values()
            if config["scales"][spec["scales"][0]]["table"] == table_name
            for c in [
                *config["scales"][spec["scales"][0]].get("gate", []),
                *_instrument_item_names(config, spec),
            ]
        ]
        missing_rate = syn["questionnaire_missing"].get(table_name, {})
        parts = []
        waves = [("followup", design["followup"], followed)]
        if has_baseline_wave(config):  # a post-only design measures at follow-up only
            waves.insert(0, ("baseline", design["baseline"], np.ones(len(frame), bool)))
        for time, code, present in waves:
            present = present & (rng.random(len(frame)) >= missing_rate.get(code, 0.0))
            part = pd.DataFrame({id_column: frame[id_column].to_numpy(), design["timepoint"]: code})
            for item in item_columns:
                values = np.array(items[time][item], dtype=float)
                gap = rng.random(len(frame)) < item_missing.get(item, 0.0)
                part[item] = np.where(gap, np.nan, values)
            parts.append(part[present])
        table = pd.concat(parts, ignore_index=True)
        table[item_columns] = table[item_columns].astype("Int64")
        tables[table_name] = table.sort_values(
            [id_column, design["timepoint"]], kind="stable", key=_timepoint_order(config)
        ).reset_index(drop=True)
    return tables


def _timepoint_order(config: Config):
    design = config["design"]
    order = {design.get("baseline"): 0, design["followup"]: 1}

    def key(column: pd.Series) -> pd.Series:
        return column.map(order) if column.name == design["timepoint"] else column

    return key


def _service_use(
    config: Config, people: pd.DataFrame, clusters: pd.DataFrame, rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    design = config["design"]
    spec = config["costs"]
    syn = config["synthetic"]["costs"]
    services = syn["services"]
    cost_table = pd.DataFrame(
        {
            spec["service"]: list(services),
            spec["category"]: [s["category"] for s in services.values()],
            "unit": [s["unit"] for s in services.values()],
            spec["unit_cost"]: [float(s["unit_cost"]) for s in services.values()],
            "price_year": syn["price_year"],
            "source": syn["source"],
        }
    )
    n = len(people)
    frailty = _frailty_pair(syn, n, rng)
    cluster_effect = np.exp(
        syn["cluster_sd"] * rng.standard_normal(len(clusters)) - syn["cluster_sd"] ** 2 / 2
    )
    person_cluster = cluster_effect[people["_cluster_index"].to_numpy()]
    treat = (
        people[design["cluster_id"]].map(clusters.set_index(design["cluster_id"])[design["arm"]])
        == single_treatment_arm(config)
    ).to_numpy()
    status = people[design["followup_status"]].to_numpy()
    followed = status == design["followup_completed"]
    # Use up to an event (e.g. death) is recorded from care records for the part of the recall
    # period the person lived through: a uniform share of it.
    until_event = np.isin(status, syn.get("recorded_until_event", []))
    exposure = np.where(until_event, rng.random(n), 1.0)
    quantity_max = config["tables"][spec["use_table"]]["columns"][spec["quantity"]].get(
        "max", np.inf
    )
    rows = []
    for time, code, present, ratio in (
        (0, design["baseline"], np.ones(n, bool), np.ones(n)),
        (
            1,
            design["followup"],
            followed | until_event,
            np.where(treat, syn["arm_ratio_followup"], 1.0) * exposure,
        ),
    ):
        for service, s in services.items():
            mean = s["mean"] * frailty[time] * person_cluster * ratio
            quantity = np.minimum(rng.poisson(mean), quantity_max).astype(int)
            part = pd.DataFrame(
                {
                    design["individual_id"]: people[design["individual_id"]].to_numpy(),
                    design["timepoint"]: code,
                    spec["service"]: service,
                    spec["quantity"]: quantity,
                }
            )
            rows.append(part[present])
    use = pd.concat(rows, ignore_index=True)
    order = {design["baseline"]: 0, design["followup"]: 1}
    use = use.assign(
        _t=use[design["timepoint"]].map(order),
        _s=use[spec["service"]].map({s: i for i, s in enumerate(services)}),
    )
    use = use.sort_values([design["individual_id"], "_t", "_s"]).drop(columns=["_t", "_s"])
    return {spec["use_table"]: use.reset_index(drop=True), spec["unit_cost_table"]: cost_table}


def _frailty_pair(
    syn: Mapping[str, Any], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Person frailties in the baseline and follow-up recall periods.

    Each is gamma with shape ``k = frailty_shape`` and mean 1, built as
    ``(G_shared + G_own) / k`` with ``G_shared ~ Gamma(rho k)`` and ``G_own ~ Gamma((1 - rho) k)``
    independent, so the two correlate exactly ``rho = frailty_correlation``.
    """
    k = float(syn["frailty_shape"])
    rho = float(syn["frailty_correlation"])
    shared = rng.gamma(rho * k, 1.0, n) if rho > 0 else np.zeros(n)
    own = [rng.gamma((1 - rho) * k, 1.0, n) if rho < 1 else np.zeros(n) for _ in range(2)]
    return (shared + own[0]) / k, (shared + own[1]) / k


def _audit(config: Config, clusters: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    design = config["design"]
    spec = config["audit"]
    syn = config["synthetic"]["audit"]
    table_spec = config["tables"][spec["table"]]["columns"]
    n_times = int(table_spec[spec["time"]].get("max", 7))
    n = syn["individuals"]
    cluster_index = rng.integers(0, len(clusters), n)
    cluster_effect = syn["cluster_sd"] * rng.standard_normal(len(clusters))
    person_effect = syn["individual_sd"] * rng.standard_normal(n)
    treat = (clusters[design["arm"]] == single_treatment_arm(config)).to_numpy()[cluster_index]
    available_codes = table_spec[spec["available"]]["values"]
    other_code = next(v for v in available_codes if v != spec["available_code"])
    parts = []
    for t in range(1, n_times + 1):
        available = rng.random(n) < syn["availability"]
        part = pd.DataFrame(
            {
                spec["id"]: [syn["id_format"].format(i + 1) for i in range(n)],
                design["cluster_id"]: clusters[design["cluster_id"]].to_numpy()[cluster_index],
                spec["time"]: t,
                spec["available"]: np.where(available, spec["available_code"], other_code),
            }
        )
        after = t > spec["intervention_starts_after"]
        for item in spec["items"]:
            logit = (
                syn["item_logit_intercept"][item]
                + cluster_effect[cluster_index]
                + person_effect
                + syn["time_trend"] * (t - 1)
                + syn["arm_effect_after"] * treat * after
            )
            value = (rng.random(n) < expit(logit)).astype(float)
            part[item] = pd.array(np.where(available, value, np.nan), dtype="Float64").astype(
                "Int64"
            )
        parts.append(part)
    return pd.concat(parts).sort_values([spec["id"], spec["time"]]).reset_index(drop=True)


def _order_columns(config: Config, name: str, table: pd.DataFrame) -> pd.DataFrame:
    declared = [c for c in config["tables"][name]["columns"] if c in table]
    rest = [c for c in table.columns if c not in declared and not c.startswith("_")]
    return table[declared + rest]
