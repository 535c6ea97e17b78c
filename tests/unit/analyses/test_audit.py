"""The audit (trial.analyses.audit: data, models, binary, fits): availability counts and per-time
CIs on a tiny hand-made audit, errors, and the arm x time estimates recovered from simulated audits
with a known effect."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trial.analyses.audit.data import AuditInputError, prepare_audit, summarise_by_time
from trial.analyses.audit.fits import fit_audit_models
from trial.seeding import derive_rng

ITEMS = ["values_documented", "strengths_documented", "goals_documented", "actions_documented"]

CLUSTERS = pd.DataFrame(
    {
        "team_id": ["C1", "C2", "C3", "C4"],
        "trust": ["SLaM", "2gether", "SLaM", "2gether"],
        "arm": ["refocus", "refocus", "control", "control"],
    }
)


def _record(audit_id, team, time, values=None, others=0):
    """One audit row; ``values=None`` means the record was not available."""
    if values is None:
        return {
            "audit_id": audit_id,
            "team_id": team,
            "audit_time": time,
            "record_available": "no",
            **{item: pd.NA for item in ITEMS},
        }
    return {
        "audit_id": audit_id,
        "team_id": team,
        "audit_time": time,
        "record_available": "yes",
        "values_documented": values,
        **{item: others for item in ITEMS[1:]},
    }


def tiny_audit() -> pd.DataFrame:
    """Four clusters (two per arm), eight individuals, three time points."""
    rows = []
    # time 1. treatment: C1 a1=1 a2=0; C2 a3=1, a4 not available. control: C3 1 1; C4 0 0
    values_t1 = {"a1": 1, "a2": 0, "a3": 1, "a4": None, "b1": 1, "b2": 1, "b3": 0, "b4": 0}
    team = {
        "a1": "C1",
        "a2": "C1",
        "a3": "C2",
        "a4": "C2",
        "b1": "C3",
        "b2": "C3",
        "b3": "C4",
        "b4": "C4",
    }
    for who, v in values_t1.items():
        rows.append(_record(who, team[who], 1, v, others=1))
    # times 2 and 3: everyone available with values 1, except b1 unavailable at time 3
    for t in (2, 3):
        for who in team:
            rows.append(_record(who, team[who], t, None if (who, t) == ("b1", 3) else 1))
    frame = pd.DataFrame(rows)
    for item in ITEMS:
        frame[item] = frame[item].astype("Int64")
    return frame


def test_availability_counts_every_record_per_time_and_arm(config):
    data = prepare_audit(config, tiny_audit(), CLUSTERS)
    a = data.availability.set_index(["time", "arm"])
    assert a.loc[("1", "refocus"), "n_records"] == 4
    assert a.loc[("1", "refocus"), "n_not_available"] == 1
    assert a.loc[("1", "control"), "n_not_available"] == 0
    assert a.loc[("3", "control"), "n_not_available"] == 1
    assert a.loc[("total", "refocus"), "n_records"] == 12
    assert a.loc[("total", "refocus"), "n_not_available"] == 1
    assert a.loc[("total", "control"), "n_not_available"] == 1
    assert a.loc[("1", "refocus"), "pct_not_available"] == pytest.approx(25.0)
    # nothing is dropped from the long table
    assert len(data.long) == 24 and data.long["available"].sum() == 22


def test_composite_counts_documented_items(config):
    long = prepare_audit(config, tiny_audit(), CLUSTERS).long.set_index(["audit_id", "audit_time"])
    assert long.loc[("a1", 1), "items_documented"] == 4  # 1 + three others at 1
    assert long.loc[("a2", 1), "items_documented"] == 3
    assert long.loc[("a1", 2), "items_documented"] == 1
    assert math.isnan(long.loc[("a4", 1), "items_documented"])


def test_per_time_proportions_and_cluster_robust_cis_by_hand(config):
    long = prepare_audit(config, tiny_audit(), CLUSTERS).long
    by_time = summarise_by_time(config, long)
    got = by_time[(by_time["measure"] == "values_documented") & (by_time["time"] == 1)]
    got = got.set_index("arm")
    # treatment: values 1, 0 (C1) and 1 (C2); mean 2/3; residual sums per cluster -1/3, 1/3;
    # se^2 = G/(G-1) * (1/9 + 1/9) / n^2 = 2 * 2/9 / 9 = 4/81
    t = got.loc["refocus"]
    assert t["estimate"] == pytest.approx(2 / 3)
    assert t["se"] == pytest.approx(2 / 9)
    assert t["df"] == 1 and t["n_records"] == 3 and t["n_clusters"] == 2
    q = stats.t.ppf(0.975, 1)
    assert t["ci_low"] == pytest.approx(2 / 3 - q * 2 / 9)
    assert t["ci_high"] == pytest.approx(2 / 3 + q * 2 / 9)
    # control: 1, 1 (C3) and 0, 0 (C4); mean 1/2; sums 1 and -1; se^2 = 2 * 2 / 16
    c = got.loc["control"]
    assert c["estimate"] == pytest.approx(0.5)
    assert c["se"] == pytest.approx(0.5)
    # time 2: all documented, no between-record variation: se 0
    t2 = by_time[(by_time["measure"] == "values_documented") & (by_time["time"] == 2)]
    assert (t2["estimate"] == 1).all() and (t2["se"] == 0).all()
    assert set(by_time["period"][by_time["time"] <= 2]) == {"pre"}
    assert set(by_time["period"][by_time["time"] == 3]) == {"intervention"}


def test_inconsistent_records_are_refused_with_a_clear_message(config):
    audit = tiny_audit()
    audit.loc[(audit["audit_id"] == "a4") & (audit["audit_time"] == 1), "values_documented"] = 1
    with pytest.raises(AuditInputError, match="marked not available but have items scored"):
        prepare_audit(config, audit, CLUSTERS)
    audit = tiny_audit()
    audit.loc[(audit["audit_id"] == "a1") & (audit["audit_time"] == 2), "team_id"] = "C2"
    with pytest.raises(AuditInputError, match="more than one team"):
        prepare_audit(config, audit, CLUSTERS)


def test_no_time_point_after_the_start_is_an_error(config):
    config["audit"]["intervention_starts_after"] = 3
    long = prepare_audit(config, tiny_audit(), CLUSTERS).long
    with pytest.raises(AuditInputError, match="none of the audit time points"):
        summarise_by_time(config, long)


# ---------------------------------------------------------------------------------------------
# Simulation with a known effect on the linear-probability scale
# ---------------------------------------------------------------------------------------------

EFFECT = 0.15  # added to every item's probability in treatment clusters after the start


def simulate_audit(rng, *, n_clusters=24, per_cluster=25, n_times=5, effect=EFFECT):
    """Linear-probability audit: p = base + cluster + individual + trend (t-1) + effect x after.

    Probabilities stay within (0.1, 0.75), so E[y] is exactly linear and the true arm x time
    term at every time after the start is ``effect`` (0 before), the true difference-in-
    differences is ``effect`` and, for the composite (sum of 4 items), 4 x ``effect``.
    """
    clusters = pd.DataFrame(
        {
            "team_id": [f"C{j:02d}" for j in range(n_clusters)],
            "trust": ["SLaM", "2gether"] * (n_clusters // 2),
            "arm": ["refocus"] * (n_clusters // 2) + ["control"] * (n_clusters // 2),
        }
    )
    treat = (clusters["arm"] == "refocus").to_numpy()
    c_eff = rng.uniform(-0.06, 0.06, n_clusters)
    rows = []
    for j in range(n_clusters):
        for i in range(per_cluster):
            b = rng.uniform(-0.08, 0.08)
            for t in range(1, n_times + 1):
                base = {
                    "audit_id": f"P{j:02d}{i:03d}",
                    "team_id": clusters["team_id"][j],
                    "audit_time": t,
                }
                if rng.random() < 0.1:
                    rows.append({**base, "record_available": "no"})
                    continue
                after = t > 2
                values = {}
                for k, item in enumerate(ITEMS):
                    p = 0.22 + 0.04 * k + c_eff[j] + b + 0.02 * (t - 1) + effect * treat[j] * after
                    values[item] = int(rng.random() < p)
                rows.append({**base, "record_available": "yes", **values})
    audit = pd.DataFrame(rows)
    for item in ITEMS:
        audit[item] = audit[item].astype("Int64")
    return audit, clusters


@pytest.fixture(scope="module")
def simulated_fits(example_config):
    import copy

    config = copy.deepcopy(example_config)
    config["audit"]["binary_model"] = "linear"  # the truth is linear in the probability
    audit, clusters = simulate_audit(derive_rng(20240601, "test_audit", "recovery"))
    long = prepare_audit(config, audit, clusters).long
    estimates, tests = fit_audit_models(config, long)
    return estimates, tests


@pytest.mark.parametrize("model", ["panel", "mixed"])
def test_arm_x_time_effect_is_recovered_from_simulated_audit(simulated_fits, model):
    estimates, tests = simulated_fits
    part = estimates[estimates["model"] == model]
    # About 30 estimates per model are checked at once, so each must lie within 4 SE of the
    # truth (a family-wise false-alarm rate near 0.2%); a wrong sign, scale or term fails this.
    # test_panel_did_interval_covers_the_truth (slow) checks the calibration itself.
    for measure, truth in [("items_documented", 4 * EFFECT)] + [(i, EFFECT) for i in ITEMS]:
        rows = part[part["measure"] == measure].set_index(["quantity", "time"])
        did = rows.loc[("did_final_vs_pre", 5)]
        assert did["se"] < 0.4 * truth  # precise enough for the check to mean something
        assert abs(did["estimate"] - truth) < 4 * did["se"], (model, measure, did["estimate"])
        for t, true_term in [(2, 0.0), (3, truth), (4, truth), (5, truth)]:
            term = rows.loc[("arm_x_time", t)]
            assert abs(term["estimate"] - true_term) < 4 * term["se"], (model, measure, t)
        if model == "mixed":
            diff = rows.loc[("difference_at_final_time", 5)]
            assert abs(diff["estimate"] - truth) < 4 * diff["se"]
            assert (rows["df"] == 21).all()  # clusters - intercept, arm and stratum
        else:
            assert ((rows["df"] > 10) & (rows["df"] < 23)).all()  # CR2 df, below clusters - 1
    test = tests[(tests["model"] == model) & (tests["measure"] == "items_documented")].iloc[0]
    assert test["num_df"] == 4 and test["p"] < 0.001
    assert test["den_df"] < 24  # on the clusters' scale, whatever the number of records


def test_no_effect_gives_estimates_near_zero(example_config):
    import copy

    config = copy.deepcopy(example_config)
    config["audit"]["binary_model"] = "linear"
    audit, clusters = simulate_audit(derive_rng(20240601, "test_audit", "null"), effect=0.0)
    long = prepare_audit(config, audit, clusters).long
    estimates, _ = fit_audit_models(config, long, mixed_measures=[])
    did = estimates[estimates["quantity"] == "did_final_vs_pre"]
    assert (did["model"] == "panel").all() and len(did) == 5
    assert (np.abs(did["estimate"]) < 3 * did["se"]).all()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["panel", "mixed"])
def test_did_interval_covers_the_truth(example_config, model):
    """Coverage of the 95% CI of the difference-in-differences, 24 clusters: the panel model's
    CR2 interval and the cluster-period model's t interval on cluster-level df."""
    from trial.analyses.audit.data import AuditMeasure
    from trial.analyses.audit.models import fit_mixed_model, fit_panel_model

    fit = fit_panel_model if model == "panel" else fit_mixed_model

    measures = [
        AuditMeasure("items_documented", "composite", "mean"),
        AuditMeasure("values_documented", "item", "proportion"),
    ]
    truths = {"items_documented": 4 * EFFECT, "values_documented": EFFECT}
    covered = {m.name: 0 for m in measures}
    reps = 100
    for r in range(reps):
        audit, clusters = simulate_audit(derive_rng(20240601, "test_audit", "coverage", r))
        long = prepare_audit(example_config, audit, clusters).long
        for m in measures:
            did = fit(example_config, long, m).estimates.set_index("quantity")
            did = did.loc["did_final_vs_pre"]
            covered[m.name] += did["ci_low"] <= truths[m.name] <= did["ci_high"]
    for name, n in covered.items():
        assert 0.88 <= n / reps <= 0.995, (name, n / reps)


def test_cluster_period_model_needs_every_cluster_at_every_time(config):
    from trial.analyses.audit.data import AuditMeasure
    from trial.analyses.audit.models import fit_mixed_model

    long = prepare_audit(config, tiny_audit(), CLUSTERS).long
    long.loc[(long["team_id"] == "C4") & (long["audit_time"] == 2), "available"] = False
    measure = AuditMeasure("values_documented", "values", "proportion")
    with pytest.raises(AuditInputError, match="team_id=C4, audit_time=2"):
        fit_mixed_model(config, long, measure)


# ---------------------------------------------------------------------------------------------
# The binary model of the items: simulation with a known effect on the logit scale
# ---------------------------------------------------------------------------------------------

LOG_OR = 0.8  # added to every item's log-odds in treatment clusters after the start


def _logit_linear(k: int, t: int, treated: bool) -> float:
    return -1.2 + 0.25 * k + 0.1 * (t - 1) + LOG_OR * treated * (t > 2)


def simulate_logistic_audit(rng, *, n_clusters=24, per_cluster=25, n_times=5, sd=0.15):
    """Logistic audit: logit p = item + trend + LOG_OR x after x treated + cluster + individual.

    The cluster and individual effects (each normal with SD ``sd``) make records of a cluster
    and of an individual correlated; they are small enough that the population-averaged log odds
    ratio differs from LOG_OR by a factor of ``1 / sqrt(1 + 0.346 * 2 sd^2)`` (about 0.992,
    under 0.01 on the log scale), far below the standard errors tested against.
    """
    clusters = pd.DataFrame(
        {
            "team_id": [f"C{j:02d}" for j in range(n_clusters)],
            "trust": ["SLaM", "2gether"] * (n_clusters // 2),
            "arm": ["refocus"] * (n_clusters // 2) + ["control"] * (n_clusters // 2),
        }
    )
    treat = (clusters["arm"] == "refocus").to_numpy()
    c_eff = rng.normal(0.0, sd, n_clusters)
    rows = []
    for j in range(n_clusters):
        for i in range(per_cluster):
            b = rng.normal(0.0, sd)
            for t in range(1, n_times + 1):
                values = {
                    item: int(
                        rng.random()
                        < 1 / (1 + math.exp(-(_logit_linear(k, t, treat[j]) + c_eff[j] + b)))
                    )
                    for k, item in enumerate(ITEMS)
                }
                rows.append(
                    {
                        "audit_id": f"P{j:02d}{i:03d}",
                        "team_id": clusters["team_id"][j],
                        "audit_time": t,
                        "record_available": "yes",
                        **values,
                    }
                )
    audit = pd.DataFrame(rows)
    for item in ITEMS:
        audit[item] = audit[item].astype("Int64")
    return audit, clusters


def test_items_get_the_binary_model_and_its_effects_are_recovered(config):
    audit, clusters = simulate_logistic_audit(derive_rng(20240601, "test_audit", "logistic"))
    long = prepare_audit(config, audit, clusters).long
    estimates, tests = fit_audit_models(config, long)
    models = estimates.groupby("measure")["model"].unique().map(set)
    assert models["items_documented"] == {"panel", "mixed"}
    assert all(models[item] == {"gee"} for item in ITEMS)
    gee = estimates[estimates["model"] == "gee"]
    # 24 clusters - (intercept, arm, stratum, 4 times, 4 arm x time) coefficients
    assert (gee["df"] == 13).all() and (tests.loc[tests["model"] == "gee", "den_df"] == 13).all()
    expit = stats.logistic.cdf
    for k, item in enumerate(ITEMS):
        rows = gee[gee["measure"] == item].set_index(["quantity", "time"])
        # about 30 estimates are checked at once: each within 4 SE of the truth
        for quantity, t, truth in [
            ("arm_x_time", 2, 0.0),
            ("arm_x_time", 3, LOG_OR),
            ("arm_x_time", 5, LOG_OR),
            ("did_final_vs_pre", 5, LOG_OR),
            ("odds_ratio_at_final_time", 5, LOG_OR),
        ]:
            row = rows.loc[(quantity, t)]
            assert row["scale"] == "odds ratio"
            assert row["ci_low"] < row["estimate"] < row["ci_high"]
            assert abs(math.log(row["estimate"]) - truth) < 4 * row["se"], (item, quantity, t)
        did = rows.loc[("did_final_vs_pre", 5)]
        assert did["se"] < 0.4 * LOG_OR  # precise enough for the check to mean something
        rd = rows.loc[("risk_difference_at_final_time", 5)]
        true_rd = expit(_logit_linear(k, 5, True)) - expit(_logit_linear(k, 5, False))
        assert rd["scale"] == "risk difference" and rd["se"] < 0.3 * true_rd
        assert abs(rd["estimate"] - true_rd) < 4 * rd["se"], (item, rd["estimate"], true_rd)
    test = tests[(tests["model"] == "gee") & (tests["measure"] == ITEMS[0])].iloc[0]
    assert test["num_df"] == 4 and test["p"] < 0.001


def test_binary_model_under_no_effect_and_a_bad_choice(config):
    audit, clusters = simulate_audit(derive_rng(20240601, "test_audit", "null"), effect=0.0)
    long = prepare_audit(config, audit, clusters).long
    estimates, _ = fit_audit_models(config, long, mixed_measures=[])
    did = estimates[(estimates["quantity"] == "did_final_vs_pre") & (estimates["model"] == "gee")]
    assert len(did) == 4
    assert (np.abs(np.log(did["estimate"])) < 3 * did["se"]).all()
    config["audit"]["binary_model"] = "probit"
    with pytest.raises(AuditInputError, match="binary_model must be one of"):
        fit_audit_models(config, long)


