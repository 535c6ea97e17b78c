"""The cost analysis (trial.analyses.costs: use, fits, bootstrap, pooling): costs by hand from the
raw example files, the imputed cost columns, pooling of the bootstrap with multiple imputation, net
benefit by hand, directions, and the gamma GLM on data with a known ratio of means."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trial.analyses.costs.bootstrap import bootstrap_costs, chunk_replicates
from trial.analyses.costs.fits import fit_costs
from trial.analyses.costs.pooling import pool_costs
from trial.analyses.costs.spec import CostConfigError, wtp_grid
from trial.analyses.costs.use import cost_totals, use_and_cost_table
from trial.analyses.outcomes import build_analysis_table
from trial.config.vocabulary import COST_BASELINE, COST_FOLLOWUP
from trial.report.checklist import cheers_checklist
from trial.stats.pooling import pool_rubin

from ...conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"


@pytest.fixture(scope="module")
def raw_costs() -> pd.DataFrame:
    """Cost per consumer and assessment computed here with plain pandas from the raw files."""
    use = pd.read_csv(RAW / "service_use.csv")
    prices = pd.read_csv(RAW / "unit_costs.csv")
    use = use.merge(prices, on="service")
    use["cost"] = use["quantity"] * use["unit_cost"]
    return use


def test_cost_totals_by_hand(example_config, raw_costs):
    totals = cost_totals(example_config).set_index("consumer_id")
    by_hand = raw_costs.groupby(["consumer_id", "timepoint"])["cost"].sum().unstack()
    np.testing.assert_allclose(totals[COST_BASELINE], by_hand.loc[totals.index, "baseline"])
    followed = by_hand["12m"].dropna()
    np.testing.assert_allclose(totals.loc[followed.index, COST_FOLLOWUP], followed)
    assert totals[COST_FOLLOWUP].isna().sum() == len(totals) - len(followed)


def test_analysis_table_carries_costs_for_imputation(example_config):
    table = build_analysis_table(example_config)
    assert {COST_BASELINE, COST_FOLLOWUP} <= set(table.columns)
    consumers = pd.read_csv(RAW / "consumers.csv")
    # the use of those who died is recorded up to death (their costs while alive)
    not_recorded = (~consumers["followup_status"].isin(["completed", "died"])).sum()
    assert table[COST_FOLLOWUP].isna().sum() == not_recorded
    assert table[COST_BASELINE].notna().all()


def test_use_and_cost_table_by_hand(example_config, raw_costs):
    table = use_and_cost_table(example_config)
    teams = pd.read_csv(RAW / "teams.csv")
    consumers = pd.read_csv(RAW / "consumers.csv").merge(teams, on="team_id")
    data = raw_costs.merge(consumers[["consumer_id", "arm"]], on="consumer_id")
    part = data[(data["timepoint"] == "12m") & (data["arm"] == "control")]
    per_person = part.groupby("consumer_id")["cost"].sum()
    row = table[
        (table["timepoint"] == "12m") & (table["arm"] == "control") & (table["level"] == "total")
    ].iloc[0]
    assert row["n"] == per_person.size
    assert row["cost_mean"] == pytest.approx(per_person.mean())
    assert row["cost_sd"] == pytest.approx(per_person.std())
    inpatient = part[part["service"] == "inpatient_day"]["quantity"]
    srow = table[
        (table["timepoint"] == "12m")
        & (table["arm"] == "control")
        & (table["item"] == "inpatient_day")
    ].iloc[0]
    assert srow["use_mean"] == pytest.approx(inpatient.mean())
    assert srow["pct_using"] == pytest.approx(100 * (inpatient > 0).mean())


def completed(analysis_table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A crude completed table: missing values filled by arm means plus noise (tests only)."""
    table = analysis_table.copy()
    rng = np.random.default_rng(seed)
    for column in table.columns:
        if table[column].dtype.kind == "f" and table[column].isna().any():
            gaps = table[column].isna()
            fill = table.groupby("treatment")[column].transform("mean")[gaps]
            table.loc[gaps, column] = fill + rng.normal(0, table[column].std() / 4, gaps.sum())
    return table


@pytest.fixture(scope="module")
def small(example_config):
    import copy

    config = copy.deepcopy(example_config)
    config["costs"]["bootstrap"] = {"replicates": 60, "chunks": 4, "resampling": "two-stage"}
    config["imputation"]["m"] = 3
    analysis_table = build_analysis_table(config)
    tables = {i: completed(analysis_table, i) for i in (1, 2, 3)}
    fits = [fit_costs(config, tables[i]) for i in (1, 2, 3)]
    reps = []
    for k in (1, 2, 3, 4):
        work = chunk_replicates(config, k)
        reps.append(bootstrap_costs(config, {i: tables[i] for i in work}, work))
    return config, tables, fits, pd.concat(reps, ignore_index=True)


def test_chunks_give_the_same_replicates(small, monkeypatch):
    config, tables, _, reps = small
    whole = bootstrap_costs(config, {2: tables[2], 1: tables[1], 3: tables[3]}, range(60))
    ordered = reps.sort_values(["imputation", "replicate"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, ordered, check_exact=True)
    # replicates are computed in blocks that bound the memory: any block size, same numbers
    import trial.analyses.costs.bootstrap

    monkeypatch.setattr(trial.analyses.costs.bootstrap, "_REPLICATE_BLOCK", 7)
    blocked = bootstrap_costs(config, {1: tables[1], 3: tables[3]}, {1: range(60), 3: range(5, 60)})
    kept = (whole["imputation"] == 1) | ((whole["imputation"] == 3) & (whole["replicate"] >= 5))
    expected = whole[kept].reset_index(drop=True)
    pd.testing.assert_frame_equal(blocked, expected, check_exact=True)


@pytest.mark.parametrize("chunks", [1, 2, 3, 5, 7, 180, 200])
def test_chunks_cover_the_grid_once_and_read_only_their_imputations(example_config, chunks):
    import copy

    config = copy.deepcopy(example_config)
    config["costs"]["bootstrap"] = {"replicates": 60, "chunks": chunks}
    config["imputation"]["m"] = 3
    cells = [
        (i, r)
        for k in range(1, chunks + 1)
        for i, reps in chunk_replicates(config, k).items()
        for r in reps
    ]
    assert sorted(cells) == [(i, r) for i in (1, 2, 3) for r in range(60)]  # each cell once
    # a chunk touches at most the imputations its share of the grid spans
    touched = [len(chunk_replicates(config, k)) for k in range(1, chunks + 1)]
    share = math.ceil(180 / chunks)
    assert max(touched) <= math.ceil(share / 60) + 1
    if 3 % chunks == 0:  # whole imputations
        assert touched == [3 // chunks] * chunks
    with pytest.raises(CostConfigError, match="outside"):
        chunk_replicates(config, chunks + 1)
    # a chunk with no replicates (more chunks than cells) makes an empty table
    empties = [k for k in range(1, chunks + 1) if not chunk_replicates(config, k)]
    assert bool(empties) == (chunks > 180)
    if empties:
        empty = bootstrap_costs(config, {}, chunk_replicates(config, empties[0]))
        assert list(empty.columns) == ["imputation", "replicate", "cost", "effect"]
        assert len(empty) == 0


def test_pooled_bootstrap_is_rubin_on_bootstrap_variances(small):
    config, _, fits, reps = small
    out = pool_costs(config, fits, reps)
    costs = out.costs.set_index("method")
    ols = [f.set_index("method").loc["ols", "estimate"] for f in fits]
    variances = reps.groupby("imputation")["cost"].var(ddof=1).to_numpy()
    expected = pool_rubin(ols, variances, df_complete=27 - 3, alpha=0.05)
    assert costs.loc["bootstrap_rubin", "estimate"] == pytest.approx(expected.estimate)
    assert costs.loc["bootstrap_rubin", "ci_low"] == pytest.approx(expected.ci_low)
    lo = np.quantile(reps["cost"], 0.025)
    assert costs.loc["bootstrap_percentile", "ci_low"] == pytest.approx(lo)
    mixed = [f.set_index("method").loc["mixed", "estimate"] for f in fits]
    assert costs.loc["mixed_model", "estimate"] == pytest.approx(np.mean(mixed))


def test_net_benefit_and_acceptability_by_hand(small):
    config, _, fits, reps = small
    ceac = pool_costs(config, fits, reps).ceac.set_index("wtp")
    assert list(ceac.index) == list(wtp_grid(config))
    wtp = 500.0
    inb = wtp * reps["effect"] - reps["cost"]
    assert ceac.loc[wtp, "prob_cost_effective"] == pytest.approx((inb > 0).mean())
    assert ceac.loc[0.0, "prob_cost_effective"] == pytest.approx((reps["cost"] < 0).mean())
    est = [
        wtp * f.set_index("method").loc["effect_ols", "estimate"]
        - f.set_index("method").loc["ols", "estimate"]
        for f in fits
    ]
    variances = inb.groupby(reps["imputation"]).var(ddof=1).to_numpy()
    expected = pool_rubin(est, variances, df_complete=24, alpha=0.05)
    assert ceac.loc[wtp, "inb"] == pytest.approx(expected.estimate)
    assert ceac.loc[wtp, "inb_ci_high"] == pytest.approx(expected.ci_high)


def test_reported_direction_flips_signs(small):
    import copy

    config, _, fits, reps = small
    flipped = copy.deepcopy(config)
    flipped["costs"]["direction"] = "reference_minus_treatment"
    a = pool_costs(config, fits, reps).costs.set_index("method")
    b = pool_costs(flipped, fits, reps).costs.set_index("method")
    for method in ("mixed_model", "bootstrap_rubin", "glm_difference"):
        assert b.loc[method, "estimate"] == pytest.approx(-a.loc[method, "estimate"])
        assert b.loc[method, "ci_low"] == pytest.approx(-a.loc[method, "ci_high"])
    assert b.loc["glm_log_ratio", "estimate"] == pytest.approx(
        1 / a.loc["glm_log_ratio", "estimate"]
    )
    assert b.loc["mixed_model", "contrast"] == "Usual care minus REFOCUS"


def test_missing_imputation_in_replicates_is_named(small):
    config, _, fits, reps = small
    with pytest.raises(ValueError, match="expected 1..3"):
        pool_costs(config, fits, reps[reps["imputation"] != 2])


def test_gamma_glm_recovers_a_known_ratio(example_config):
    """60 clusters x 40, gamma costs with mean exp(8 + log(0.8) T): the log ratio is log 0.8."""
    rng = np.random.default_rng(12)
    rows = []
    for j in range(60):
        treat = j % 2
        stratum = "SLaM" if j < 30 else "2gether"
        base = rng.gamma(1.0, 3000.0, 40)
        mean = np.exp(8 + math.log(0.8) * treat + 0.1 * rng.standard_normal())
        rows.append(
            pd.DataFrame(
                {
                    "team_id": f"T{j}",
                    "treatment": treat,
                    "trust": stratum,
                    COST_BASELINE: base,
                    COST_FOLLOWUP: rng.gamma(0.8, mean / 0.8, 40),
                    "qpr_total__baseline": rng.normal(40, 9, 40),
                    "qpr_total__followup": rng.normal(40, 9, 40),
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    fit = fit_costs(example_config, table).set_index("method")
    est, se = fit.loc["glm_log_ratio", "estimate"], math.sqrt(fit.loc["glm_log_ratio", "variance"])
    assert abs(est - math.log(0.8)) < 3 * se
    assert se < 0.08
    diff = fit.loc["glm_difference", "estimate"]
    assert abs(diff - math.exp(8) * (0.8 - 1)) < 3 * math.sqrt(
        fit.loc["glm_difference", "variance"]
    )


def test_cheers_has_28_items_each_placed():
    table = cheers_checklist({})
    assert list(table["item"]) == list(range(1, 29))
    assert table["where"].str.len().gt(10).all()
    assert set(table["applicable"]) <= {"yes", "no", "outside pipeline", "yes, not reported"}


def test_headline_comes_first_and_disagreement_is_flagged_by_hand(small):
    config, _, fits, reps = small
    costs = pool_costs(config, fits, reps).costs
    assert costs["method"].iloc[0] == "bootstrap_rubin" and costs["headline"].iloc[0]
    head = costs.iloc[0]
    tolerance = config["costs"]["agreement"]
    for row in costs.iloc[1:].itertuples():
        if row.estimand != "mean difference":
            assert pd.isna(row.agrees)
            continue
        shift = (row.estimate - head["estimate"]) / head["se"]
        ratio = row.se / head["se"]
        assert row.difference_in_headline_se == pytest.approx(shift)
        assert row.se_ratio == pytest.approx(ratio)
        expected = abs(shift) <= tolerance["estimate_se"] and (
            1 / tolerance["se_ratio"] <= ratio <= tolerance["se_ratio"]
        )
        assert row.agrees == expected, row.method
    # a tighter tolerance flags every other mean difference; another headline reorders
    import copy

    strict = copy.deepcopy(config)
    strict["costs"]["agreement"] = {"estimate_se": 1e-9, "se_ratio": 1.0}
    strict["costs"]["headline"] = "mixed_model"
    again = pool_costs(strict, fits, reps).costs
    assert again["method"].iloc[0] == "mixed_model"
    compared = again[again["estimand"] == "mean difference"].iloc[1:]
    assert not compared["agrees"].astype(bool).any()


def test_effect_left_undefined_by_the_estimand_drops_out_of_the_effect_only(small):
    """Deaths (while alive) have no effect score: the effect regression uses the others, with
    the same replicate weights; the cost regression keeps everyone."""
    from trial.analyses.estimands import undefined_after_events
    from trial.config.vocabulary import allocation_strata, design_matrix, followup_column
    from trial.stats.bootstrap import ClusterLayout, bootstrap_weights, weighted_ols_coefficient

    config, tables, _, _ = small
    config = {**config, "costs": {**config["costs"], "bootstrap": {"resampling": "cluster"}}}
    observed = build_analysis_table(config)
    table = undefined_after_events(config, observed, tables[1])
    died = (table["followup_status"] == "died").to_numpy()
    assert table.loc[died, followup_column("qpr_total")].isna().all() and died.sum() == 8
    fit = fit_costs(config, table).set_index("method")
    X = design_matrix(config, table[~died], "qpr_total").to_numpy(float)
    y = table.loc[~died, followup_column("qpr_total")].to_numpy(float)
    assert fit.loc["effect_ols", "estimate"] == pytest.approx(
        np.linalg.lstsq(X, y, rcond=None)[0][1]
    )
    assert fit.loc["effect_ols", "n_individuals"] == len(table) - 8
    assert fit.loc["ols", "n_individuals"] == len(table)
    reps = bootstrap_costs(config, {1: table}, range(5))
    layout = ClusterLayout.from_labels(table["team_id"], allocation_strata(config, table))
    weights = bootstrap_weights(
        layout, range(5), seed=config["seed"], keys=("cost_bootstrap", 1), resampling="cluster"
    )
    expected = weighted_ols_coefficient(y, X, weights[:, ~died], 1)
    np.testing.assert_allclose(reps["effect"], expected)


def test_delivery_cost_per_individual_shifts_every_cost_difference_by_exactly_that(small):
    import copy

    from trial.analyses.costs.use import delivery_cost
    from trial.report.sections.costs import delivery_cost_text

    config, tables, fits, _ = small
    table = tables[1]
    plus = copy.deepcopy(config)
    plus["costs"]["intervention_cost"] = {"per_individual": 250.0, "basis": "training"}
    shifted = fit_costs(plus, table).set_index("method")
    before = fits[0].set_index("method")
    # a constant added to every treatment-arm cost moves the adjusted arm difference by it,
    # in least squares and in the mixed model alike, and the treatment arm's mean
    for method in ("ols", "mixed"):
        assert shifted.loc[method, "estimate"] - before.loc[method, "estimate"] == pytest.approx(
            250.0, abs=1e-6
        )
    assert shifted.loc["mixed", "variance"] == pytest.approx(before.loc["mixed", "variance"])
    assert shifted["mean_treatment"].iloc[0] - before["mean_treatment"].iloc[0] == pytest.approx(
        250.0
    )
    assert shifted["mean_reference"].iloc[0] == pytest.approx(before["mean_reference"].iloc[0])
    # per cluster: each treatment cluster's rows share its cost, reference rows carry nothing
    plus["costs"]["intervention_cost"] = {"per_cluster": 1400.0, "basis": "facilitator time"}
    share = delivery_cost(plus, table)
    cluster = table[config["design"]["cluster_id"]]
    treated = table["treatment"] == 1
    by_cluster = pd.Series(share).groupby(cluster.to_numpy()).sum()
    assert by_cluster[cluster[treated].unique()].to_numpy() == pytest.approx(1400.0)
    assert (by_cluster[cluster[~treated].unique()] == 0).all()
    assert "1,400 per team of the REFOCUS arm" in delivery_cost_text(plus)
    plus["costs"]["intervention_cost"] = {"per_individual": 0, "basis": "delivered in routine time"}
    assert "declared as zero (delivered in routine time)" in delivery_cost_text(plus)
    assert (delivery_cost(plus, table) == 0).all()
    plus["costs"].pop("intervention_cost")
    assert "none was declared" in delivery_cost_text(plus)
