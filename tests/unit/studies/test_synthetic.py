"""The synthetic example: deterministic, as committed, and shaped as published."""

import filecmp
import json

import numpy as np
import pandas as pd
import pytest

from trial.studies.synthetic import generate_trial, write_example

from ...conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"


def test_regenerating_gives_the_committed_files_byte_for_byte(example_config, tmp_path):
    written = write_example(example_config, tmp_path)
    for path in written:
        assert filecmp.cmp(path, RAW / path.name, shallow=False), (
            f"{path.name} differs from the committed file"
        )


def test_another_seed_gives_other_data(config):
    config["seed"] = config["seed"] + 1
    other = generate_trial(config)["consumer_measures"]
    committed = pd.read_csv(RAW / "consumer_measures.csv")
    assert not other.iloc[:, 2:].astype(float).equals(committed.iloc[:, 2:].astype(float))


def test_sizes_are_as_published(example_config):
    teams = pd.read_csv(RAW / "teams.csv")
    consumers = pd.read_csv(RAW / "consumers.csv")
    assert teams["arm"].value_counts().to_dict() == {"refocus": 14, "control": 13}
    assert teams["trust"].nunique() == 2
    assert len(consumers) == 403
    assert (consumers["followup_status"] == "completed").sum() == 297
    assert len(pd.read_csv(RAW / "staff.csv")) == 532
    audit = pd.read_csv(RAW / "casenote_audit.csv")
    assert audit["audit_id"].nunique() == 950 and len(audit) == 950 * 7


def test_followup_loss_is_missing_at_random_on_age(example_config):
    # the generating model makes younger consumers more likely to be lost (log-odds -0.35/SD)
    consumers = pd.read_csv(RAW / "consumers.csv")
    lost = consumers["followup_status"] != "completed"
    assert consumers.loc[lost, "age"].mean() < consumers.loc[~lost, "age"].mean()


def test_truth_matches_the_generating_parameters(example_config):
    truth = json.loads((RAW / "truth.json").read_text())
    syn = example_config["synthetic"]
    costs = syn["costs"]
    # deaths (4% of the 26.3% lost) have costs for half the follow-up period on average
    died = syn["dropout"]["rate"] * syn["dropout"]["reasons"]["died"]
    died /= sum(syn["dropout"]["reasons"].values())
    expected = (
        sum(s["mean"] * s["unit_cost"] for s in costs["services"].values())
        * (1 - died / 2)
        * (costs["arm_ratio_followup"] - 1)
    )
    assert truth["costs"]["treatment_minus_reference"] == pytest.approx(expected)
    # a single-item outcome with no clipping in practice: its true effect is the shift itself
    assert truth["outcomes"]["functioning"]["arm_minus_reference"]["refocus"] == pytest.approx(
        6.96, abs=0.05
    )


TRIO_CONFIG = ROOT / "config" / "trio.yaml"
TRIO_RAW = ROOT / "data" / "raw" / "trio"


PULSE_CONFIG = ROOT / "config" / "pulse.yaml"
PULSE_RAW = ROOT / "data" / "raw" / "pulse"


@pytest.mark.parametrize(
    ("config_path", "raw"),
    [(TRIO_CONFIG, TRIO_RAW), (PULSE_CONFIG, PULSE_RAW)],
    ids=["trio", "pulse"],
)
def test_bundled_example_regenerates_byte_for_byte(config_path, raw, tmp_path):
    from trial.config.load import load_config

    written = write_example(load_config(config_path), tmp_path)
    for path in written:
        assert filecmp.cmp(path, raw / path.name, shallow=False), path.name


def test_three_arm_truth_follows_each_arms_shift():
    from trial.config.load import load_config

    config = load_config(TRIO_CONFIG)
    truth = json.loads((TRIO_RAW / "truth.json").read_text())["outcomes"]
    # self-efficacy has one shift (0.3 item units) for both arms: equal truths, near the shift
    # (a mean of items, slightly attenuated by rounding and clipping to 1-10)
    same = truth["self_efficacy"]["arm_minus_reference"]
    assert same["guided_self_help"] == same["self_help_plus_groups"]
    assert same["guided_self_help"] == pytest.approx(0.3, abs=0.03)
    # PHQ-9 has a shift per arm: each arm's truth is near 9 items x its shift, in order
    shifts = config["synthetic"]["instruments"]["phq9"]["arm_effect"]
    phq = truth["phq9"]["arm_minus_reference"]
    for arm, shift in shifts.items():
        assert phq[arm] == pytest.approx(9 * shift, rel=0.2)
    assert phq["self_help_plus_groups"] < phq["guided_self_help"] < 0
    arms = pd.read_csv(TRIO_RAW / "practices.csv")["allocation"].value_counts().to_dict()
    assert arms == {"usual_care": 11, "guided_self_help": 11, "self_help_plus_groups": 11}


def _large_cost_population(config, n_clusters: int, size: int, status: np.ndarray):
    """People and clusters for the cost generator alone: every cluster in the reference arm."""
    design = config["design"]
    clusters = pd.DataFrame(
        {
            design["cluster_id"]: [f"K{j}" for j in range(n_clusters)],
            design["arm"]: design["reference_arm"],
        }
    )
    index = np.repeat(np.arange(n_clusters), size)
    people = pd.DataFrame(
        {
            design["individual_id"]: [f"P{i}" for i in range(index.size)],
            design["cluster_id"]: clusters[design["cluster_id"]].to_numpy()[index],
            "_cluster_index": index,
            design["followup_status"]: status,
        }
    )
    return people, clusters


def _totals(config, tables) -> pd.DataFrame:
    spec = config["costs"]
    use = tables[spec["use_table"]].merge(tables[spec["unit_cost_table"]], on=spec["service"])
    use["cost"] = use[spec["quantity"]] * use[spec["unit_cost"]]
    design = config["design"]
    return use.groupby([design["individual_id"], design["timepoint"]])["cost"].sum().unstack()


def test_baseline_followup_cost_correlation_matches_its_closed_form(example_config):
    """Cost_t = sum_s u_s Poisson(m_s F_t C): with a = sum u m, b = sum u^2 m, E[F^2] = 1 + 1/k,
    E[F_0 F_1] = 1 + rho/k and E[C^2] = exp(sigma^2), the correlation of the two periods' costs
    is a^2 ((1 + rho/k) e^{s2} - 1) / (b + a^2 ((1 + 1/k) e^{s2} - 1))."""
    from trial.studies.synthetic import _service_use

    config = example_config
    syn = config["synthetic"]["costs"]
    k, rho, s2 = syn["frailty_shape"], syn["frailty_correlation"], syn["cluster_sd"] ** 2
    a = sum(s["mean"] * s["unit_cost"] for s in syn["services"].values())
    b = sum(s["mean"] * s["unit_cost"] ** 2 for s in syn["services"].values())
    truth = a**2 * ((1 + rho / k) * np.exp(s2) - 1) / (b + a**2 * ((1 + 1 / k) * np.exp(s2) - 1))
    assert 0.3 < truth < 0.6  # a realistic correlation, unlike one shared frailty (~0.99)
    n_clusters, size, batches = 400, 50, 20
    status = np.full(n_clusters * size, config["design"]["followup_completed"])
    people, clusters = _large_cost_population(config, n_clusters, size, status)
    totals = _totals(config, _service_use(config, people, clusters, np.random.default_rng(5)))
    totals = totals.loc[people[config["design"]["individual_id"]]]
    base = totals[config["design"]["baseline"]].to_numpy()
    follow = totals[config["design"]["followup"]].to_numpy()
    estimate = np.corrcoef(base, follow)[0, 1]
    # Monte Carlo SE from independent batches of whole clusters (costs are heavy-tailed)
    per_batch = [
        np.corrcoef(b_, f_)[0, 1]
        for b_, f_ in zip(np.split(base, batches), np.split(follow, batches), strict=True)
    ]
    mc_se = np.std(per_batch, ddof=1) / np.sqrt(batches)
    assert abs(estimate - truth) < 4 * mc_se, (estimate, truth, mc_se)
    # and the committed example's own correlation is in the realistic range
    example = _totals(
        config, {n: pd.read_csv(RAW / f"{n}.csv") for n in ("service_use", "unit_costs")}
    )
    assert 0.3 < example.dropna().corr().iloc[0, 1] < 0.6


def test_costs_after_death_cover_the_share_of_the_period_lived(example_config):
    """Deaths get follow-up use for a uniform share of the recall period: half the mean cost."""
    from trial.studies.synthetic import _service_use

    config = example_config
    design = config["design"]
    n_clusters, size = 200, 50
    status = np.tile(["died", design["followup_completed"]], n_clusters * size // 2)
    people, clusters = _large_cost_population(config, n_clusters, size, status)
    totals = _totals(config, _service_use(config, people, clusters, np.random.default_rng(6)))
    totals = totals.loc[people[design["individual_id"]]]
    follow = totals[design["followup"]].to_numpy()
    died = status == "died"
    assert not np.isnan(follow).any()  # recorded for the dead too
    # the ratio of means by the delta method, within clusters so that cluster effects cancel
    ratio = follow[died].mean() / follow[~died].mean()
    paired = pd.DataFrame({"c": people["_cluster_index"], "d": died, "y": follow})
    sums = paired.groupby(["c", "d"])["y"].mean().unstack()
    r = sums[True] / sums[False].mean() - ratio * sums[False] / sums[False].mean()
    mc_se = r.std(ddof=1) / np.sqrt(n_clusters)
    assert abs(ratio - 0.5) < 4 * mc_se, (ratio, mc_se)


def test_a_treatment_cluster_that_takes_no_part_gains_nothing(config):
    """The generator's exclusion restriction: with dose 0 a treated person's items are those of
    the reference arm; the shift is linear in the dose."""
    import numpy as np

    from trial.studies.synthetic import _draw_latent, _instrument_items

    frame = pd.DataFrame({"_cluster_index": np.repeat(np.arange(20), 10)})
    latent = _draw_latent(config, frame, np.random.default_rng(3))
    n = len(frame)

    def items(arm, dose):
        return _instrument_items(config, "individuals", latent, np.full(n, arm), np.full(n, dose))

    control, untouched = items("control", 1.0), items("refocus", 0.0)
    for item, values in control["followup"].items():
        np.testing.assert_array_equal(untouched["followup"][item], values, err_msg=item)
    # functioning is one item on 1-100 with no clipping here: the shift is arm_effect x dose
    shift = config["synthetic"]["instruments"]["functioning"]["arm_effect"]
    for dose in (0.5, 1.0, 1.5):
        diff = items("refocus", dose)["followup"]["gaf"] - control["followup"]["gaf"]
        assert abs(diff.mean() - shift * dose) < 0.1


def test_truth_has_complier_and_dose_effects(example_config):
    truth = json.loads((RAW / "truth.json").read_text())
    share = truth["participation"]["share_clusters_taking_part"]
    mean_score = truth["participation"]["mean_score"]
    assert share == 1.0  # every REFOCUS team took part
    for scale, t in truth["outcomes"].items():
        itt = t["arm_minus_reference"]["refocus"]
        # all take part: the complier-average effect is the effect of allocation
        assert t["complier_average_effect"] == pytest.approx(itt, abs=1e-9), scale
        # the dose effect is the effect of allocation per unit of mean score
        assert t["dose_effect"] == pytest.approx(itt / mean_score, rel=0.02), scale


def test_non_participating_clusters_make_the_complier_effect_exceed_the_itt(config):
    from trial.studies.synthetic import expected_participation_score, true_effects

    config["synthetic"]["participation"]["non_participating"] = 0.3
    config["synthetic"]["truth_population"] = 20_000
    config["analysis"]["outcomes"] = [
        o for o in config["analysis"]["outcomes"] if o["scale"] == "functioning"
    ]
    truth = true_effects(config)
    share = truth["participation"]["share_clusters_taking_part"]
    assert share == pytest.approx(0.7, abs=0.03)
    t = truth["outcomes"]["functioning"]
    itt = t["arm_minus_reference"]["refocus"]
    # effects are zero outside the participating clusters: CACE = ITT / share taking part
    assert t["complier_average_effect"] == pytest.approx(itt / share, rel=0.03)
    assert itt == pytest.approx(6.96, rel=0.05)  # arm_effect stays the average effect
    assert truth["participation"]["mean_score"] == pytest.approx(
        expected_participation_score(config), rel=0.02
    )
    # the generated trial has teams with no participation at all, and they are in the table
    teams = generate_trial(config)["participation"].groupby("team_id")["attendance"].sum()
    assert (teams == 0).any() and len(teams) == 14


def test_poisson_instrument_draws_counts_with_the_generating_rate_ratio():
    """A ``distribution: poisson`` instrument at trait 0: reference counts have mean
    ``item_mean`` and variance equal to the mean (Poisson), and the treated arm's mean is
    ``exp(arm_effect)`` times it, each within 4 Monte Carlo SEs of 60,000 draws; the truth file
    records ``arm_effect`` as the log rate ratio."""
    import copy

    from trial.config.load import load_config
    from trial.studies.synthetic import _instrument_items

    config = copy.deepcopy(load_config(PULSE_CONFIG))
    instruments = config["synthetic"]["instruments"]
    spec = instruments["consultations"]
    config["synthetic"]["instruments"] = {"consultations": spec}
    config["scales"]["consultations"]["item_range"] = [0, 10_000]  # no clipping here
    n = 60_000
    rng = np.random.default_rng(4)
    latent = {
        "consultations": {
            "baseline": np.zeros(n),
            "followup": np.zeros(n),
            "noise_baseline": rng.standard_normal((n, 1)),
            "noise_followup": rng.standard_normal((n, 1)),
            "gate_baseline": rng.random((n, 1)),
            "gate_followup": rng.random((n, 1)),
        }
    }
    item = config["scales"]["consultations"]["items"][0]
    arm = config["design"]["reference_arm"]
    treated = next(a for a in config["design"]["arm_labels"] if a != arm)
    reference = _instrument_items(config, "individuals", latent, np.full(n, arm), np.ones(n))
    active = _instrument_items(config, "individuals", latent, np.full(n, treated), np.ones(n))
    y0, y1 = reference["followup"][item], active["followup"][item]
    mu = spec["item_mean"]
    assert np.all(y0 == np.round(y0)) and y0.min() >= 0
    assert abs(y0.mean() - mu) < 4 * np.sqrt(mu / n)
    assert abs(y0.var() - mu) < 4 * np.sqrt((mu + 2 * mu**2) / n)
    mu1 = mu * np.exp(spec["arm_effect"])
    assert abs(y1.mean() - mu1) < 4 * np.sqrt(mu1 / n)
    assert abs(y1.var() - mu1) < 4 * np.sqrt((mu1 + 2 * mu1**2) / n)
    truth = json.loads((PULSE_RAW / "truth.json").read_text())["outcomes"]["consultations"]
    assert truth["log_rate_ratio"] == {treated: spec["arm_effect"]}
    # the population's ratio of mean counts (practice and patient effects, clipping at 40)
    # is that rate ratio too, the log link being collapsible: within 0.02, about 4 Monte Carlo
    # SEs of the log ratio of two means of 40,000 counts with CV about 0.7
    assert np.log(truth["arm_over_reference"][treated]) == pytest.approx(
        spec["arm_effect"], abs=0.02
    )


def test_committed_binary_example_recovers_the_count_truth():
    """The committed PULSE results (config/expected/pulse.json, m = 20): the pooled log rate
    ratio of the Poisson count lies within 2 of its SEs of the generating value, and that SE
    is small enough (under half the effect) for the check to tell a wrong sign or scale."""
    expected = json.loads((ROOT / "config" / "expected" / "pulse.json").read_text())
    row = next(r for r in expected["tables"]["outcomes.csv"] if r["outcome"] == "consultations")
    truth = json.loads((PULSE_RAW / "truth.json").read_text())["outcomes"]["consultations"]
    true_value = truth["log_rate_ratio"][row["arm"]]
    assert row["measure"] == "log rate ratio"
    assert row["se"] < abs(true_value) / 2
    assert abs(row["estimate"] - true_value) < 2 * row["se"]


TALLY_CONFIG = ROOT / "config" / "tally.yaml"
TALLY_RAW = ROOT / "data" / "raw" / "tally"


def test_post_only_example_regenerates_with_one_wave_and_no_loss(tmp_path):
    """A design without a baseline wave is generated with its follow-up wave only, and a loss
    rate of 0 loses nobody; the committed files are what the config generates."""
    from trial.config.load import load_config

    config = load_config(TALLY_CONFIG)
    written = write_example(config, tmp_path)
    for path in written:
        assert filecmp.cmp(path, TALLY_RAW / path.name, shallow=False), path.name
    tests = pd.read_csv(tmp_path / "maths_tests.csv")
    pupils = pd.read_csv(tmp_path / "pupils.csv")
    assert set(tests["sitting"]) == {"end_of_year"}
    assert sorted(tests["pupil_id"]) == sorted(pupils["pupil_id"])  # one test per pupil
    assert set(pupils["test_status"]) == {"sat_test"}
    assert not tests.isna().any().any()
    # each arm shifts 12 items by its shift: the truth is near 12 x shift, a little below it
    # where rounding and clipping to 0-4 absorb part of the shift
    truth = json.loads((TALLY_RAW / "truth.json").read_text())["outcomes"]["maths"]
    for arm, shift in config["synthetic"]["instruments"]["maths"]["arm_effect"].items():
        assert 0.9 * 12 * shift < truth["arm_minus_reference"][arm] <= 12 * shift
