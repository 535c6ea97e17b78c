"""How the workflow imputes: config defaults, cluster variables, blocks, imputation by arm, and
the cluster means of the multilevel engine."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from trial.analyses.imputation import check_imputation_model
from trial.analyses.outcomes import (
    build_analysis_table,
    cluster_variables,
    combine_traces,
    fit_outcomes,
    impute_analysis_table,
)
from trial.config.load import ConfigError, validate_config
from trial.stats.impute.multilevel import impute_multilevel

from ...conftest import ROOT

# ---- config ----------------------------------------------------------------------------------


def test_a_config_that_names_no_engine_gets_the_multilevel_default(config):
    for key in ("engine", "by_arm", "blocks", "cluster_means"):
        config["imputation"].pop(key, None)
    validate_config(config)
    assert config["imputation"]["engine"] == "multilevel"
    assert config["imputation"]["by_arm"] is False
    assert config["imputation"]["blocks"] == "analysis"
    assert config["imputation"]["cluster_means"] is True


def test_a_named_engine_is_kept(config):
    config["imputation"]["engine"] = "forest"
    validate_config(config)
    assert config["imputation"]["engine"] == "forest"


def test_cluster_variables_are_checked_against_the_tables(config):
    config["imputation"]["cluster_variables"] = {
        "dose": {"table": "nowhere", "value": "attendance", "summary": "mean"},
        "part_code": {"table": "participation", "value": "part", "summary": "mean"},
        "age": {"table": "participation", "value": "attendance", "summary": "mean"},
    }
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    problems = "\n".join(caught.value.problems)
    assert "cluster_variables/dose/table: table 'nowhere' is not declared" in problems
    assert "cluster_variables/part_code/value: 'part' is not a number column" in problems
    assert "cluster_variables/age: the name 'age' is already a column" in problems


# ---- cluster variables -------------------------------------------------------------------------


def test_cluster_variables_by_hand(config, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for spec in config["tables"].values():
        source = ROOT / config["paths"]["raw"] / spec["file"]
        (raw / spec["file"]).write_bytes(source.read_bytes())
    part = pd.read_csv(raw / "participation.csv")
    team = part["team_id"].iloc[0]
    part.loc[part["team_id"] == team, "attendance"] = np.nan  # every part missing: imputed
    part.to_csv(raw / "participation.csv", index=False)
    config["imputation"]["cluster_variables"] = {
        "score": {"table": "participation", "value": "attendance", "summary": "mean", "absent": 0},
        "total": {"table": "participation", "value": "attendance", "summary": "sum"},
    }
    values = cluster_variables(config, raw).set_index("team_id")
    teams = pd.read_csv(raw / "teams.csv").set_index("team_id")
    other = part.loc[part["team_id"] != team].groupby("team_id")["attendance"]
    assert values.loc[other.mean().index, "score"].to_numpy() == pytest.approx(
        other.mean().to_numpy()
    )
    assert values.loc[other.sum().index, "total"].to_numpy() == pytest.approx(
        other.sum().to_numpy()
    )
    control = teams.index[teams["arm"] == "control"]
    assert (values.loc[control, "score"] == 0).all()  # absent: no rows -> 0
    assert values.loc[control, "total"].isna().all()  # no `absent`: missing
    assert np.isnan(values.loc[team, "score"]) and np.isnan(values.loc[team, "total"])


def test_the_example_puts_the_participation_score_in_the_imputation_model(example_config):
    config = copy.deepcopy(example_config)
    config["paths"]["raw"] = str(ROOT / config["paths"]["raw"])
    table = build_analysis_table(config)
    model = check_imputation_model(config, table)
    assert "participation_score" in model.predictors
    assert "participation_score" in model.cluster_level
    control = table["treatment"] == 0
    assert (table.loc[control, "participation_score"] == 0).all()
    assert table.loc[~control, "participation_score"].between(0, 1).all()
    assert table.loc[~control, "participation_score"].nunique() > 5


# ---- blocks, arms, traces ----------------------------------------------------------------------


@pytest.fixture()
def trial_table() -> pd.DataFrame:
    """12 clusters of 20, two outcomes, gaps at follow-up and baseline."""
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(12), 20)
    treated = (np.arange(12) % 2)[g]
    frame = pd.DataFrame(
        {
            "consumer_id": [f"C{i:03d}" for i in range(g.size)],
            "team_id": [f"T{j:02d}" for j in g],
            "treatment": treated,
            "arm": np.where(treated == 1, "refocus", "control"),
            "trust": np.where(g < 6, "SLaM", "2gether"),
            "age": rng.integers(18, 66, g.size),
            "gender": rng.choice(["female", "male"], g.size),
        }
    )
    for scale, effect in (("qpr_total", 3.0), ("functioning", 8.0)):
        base = rng.normal(40, 8, g.size) + rng.normal(0, 2, 12)[g]
        follow = 10 + effect * treated + 0.7 * base + rng.normal(0, 6, g.size)
        frame[f"{scale}__baseline"] = np.where(rng.random(g.size) < 0.05, np.nan, base)
        frame[f"{scale}__followup"] = np.where(rng.random(g.size) < 0.3, np.nan, follow)
    return frame


def test_a_block_is_imputed_from_its_own_variables_only(small_config, trial_table):
    small_config["imputation"].update(m=2, iterations=3)
    first = impute_analysis_table(small_config, trial_table, 1).completed
    changed = trial_table.copy()
    # another block's values, shuffled (a linear rescaling would leave every linear
    # imputation model's fitted values, and so its draws, unchanged)
    changed["functioning__baseline"] = np.random.default_rng(1).permutation(
        changed["functioning__baseline"].to_numpy()
    )
    second = impute_analysis_table(small_config, changed, 1).completed
    pd.testing.assert_series_equal(first["qpr_total__followup"], second["qpr_total__followup"])
    # with one block of everything the other outcome's values do enter
    small_config["imputation"]["blocks"] = "all"
    third = impute_analysis_table(small_config, trial_table, 1).completed
    fourth = impute_analysis_table(small_config, changed, 1).completed
    assert not np.allclose(third["qpr_total__followup"], fourth["qpr_total__followup"])


def test_imputing_by_arm_uses_each_arms_rows_only(small_config, trial_table):
    small_config["imputation"].update(m=2, iterations=3, by_arm=True)
    whole = impute_analysis_table(small_config, trial_table, 1).completed
    # the treatment arm's imputations do not change when the other arm's values change
    changed = trial_table.copy()
    control = changed["arm"] == "control"
    changed.loc[control, "qpr_total__followup"] += 50.0
    again = impute_analysis_table(small_config, changed, 1).completed
    treated = ~control
    pd.testing.assert_series_equal(
        whole.loc[treated, "qpr_total__followup"], again.loc[treated, "qpr_total__followup"]
    )
    lost = trial_table["qpr_total__followup"].isna() & control
    assert (
        again.loc[lost, "qpr_total__followup"] > whole.loc[lost, "qpr_total__followup"] + 20
    ).all()
    scores = [c for c in whole.columns if c.endswith(("__baseline", "__followup"))]
    assert whole[scores].notna().all().all()


def test_the_forest_imputes_each_arm_from_its_own_donors(small_config, trial_table):
    small_config["imputation"].update(engine="forest", m=2, iterations=2)
    completed = impute_analysis_table(small_config, trial_table, 1).completed
    for arm in ("refocus", "control"):
        rows = trial_table["arm"] == arm
        column = "functioning__followup"
        lost = rows & trial_table[column].isna()
        donors = set(trial_table.loc[rows, column].dropna())
        assert set(completed.loc[lost, column]) <= donors


def test_traces_of_parts_combine_as_pooled_values():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([10.0, 12.0])
    trace = combine_traces(
        [
            pd.DataFrame(
                {"iteration": [1], "variable": ["y"], "mean": [a.mean()], "sd": [a.std()]}
            ),
            pd.DataFrame(
                {"iteration": [1], "variable": ["y"], "mean": [b.mean()], "sd": [b.std()]}
            ),
        ],
        [{"y": 3}, {"y": 2}],
    ).iloc[0]
    pooled = np.concatenate([a, b])
    assert trace["mean"] == pytest.approx(pooled.mean())
    assert trace["sd"] == pytest.approx(pooled.std())  # divisor n, as documented


# ---- cluster means in the multilevel engine ---------------------------------------------------


def test_cluster_means_carry_a_contextual_effect_into_the_imputations():
    # y depends on x within clusters (slope 0.5) and on the cluster mean of x (a further 2.0):
    # the between-cluster slope is 2.5. In clusters where y was never observed the random
    # intercept has nothing to go on, so without the cluster mean in the model their imputed
    # values follow the within slope across clusters as well.
    rng = np.random.default_rng(11)
    n_clusters, size = 150, 20
    g = np.repeat(np.arange(n_clusters), size)
    x = rng.normal(0, 1, n_clusters)[g] + rng.normal(0, 1, g.size)
    xbar = pd.Series(x).groupby(g).transform("mean").to_numpy()
    y = 0.5 * x + 2.0 * xbar + rng.normal(0, 0.3, n_clusters)[g] + rng.normal(0, 1, g.size)
    unobserved = rng.random(n_clusters) < 0.3
    lost = unobserved[g] | (rng.random(g.size) < 0.2)
    data = pd.DataFrame({"c": g, "x": x, "y": np.where(lost, np.nan, y)})

    def between_slope_where_unobserved(cluster_means):
        out = impute_multilevel(
            data, cluster="c", impute=["y"], predictors=["x"], seed=3, iterations=5,
            cluster_means=cluster_means,
        ).completed  # fmt: skip
        means = out.loc[unobserved[g]].groupby("c")[["x", "y"]].mean()
        return np.polyfit(means["x"], means["y"], 1)[0]

    assert between_slope_where_unobserved({"y": ["x"]}) == pytest.approx(2.5, abs=0.3)
    assert between_slope_where_unobserved(None) == pytest.approx(0.5, abs=0.5)


def test_an_incomplete_cluster_variable_is_imputed_once_per_cluster(small_config, trial_table):
    small_config["imputation"].update(m=2, iterations=3)
    small_config["imputation"]["cluster_variables"] = {
        "dose": {"table": "participation", "value": "attendance", "summary": "mean"}
    }
    rng = np.random.default_rng(5)
    per_cluster = pd.Series(rng.uniform(0, 1, 12), index=[f"T{j:02d}" for j in range(12)])
    per_cluster.iloc[[2, 7]] = np.nan
    trial_table["dose"] = trial_table["team_id"].map(per_cluster)
    model = check_imputation_model(small_config, trial_table)
    assert "dose" in model.impute and "dose" in model.cluster_level
    assert model.cluster_means["dose"] == ["qpr_total__baseline", "qpr_total__followup"]
    assert any("dose" in block and "qpr_total__followup" in block for block in model.blocks)
    completed = impute_analysis_table(small_config, trial_table, 1, model).completed
    by_cluster = completed.groupby("team_id")["dose"]
    assert (by_cluster.nunique() == 1).all() and completed["dose"].notna().all()
    observed = per_cluster.dropna()
    assert by_cluster.first()[observed.index].to_numpy() == pytest.approx(observed.to_numpy())


# ---- independence of jobs ----------------------------------------------------------------------


def test_an_imputation_and_its_fit_do_not_depend_on_what_ran_before(example_config):
    """Each workflow job makes one completed dataset from the config's seed and its own number,
    so the job order (one core or several, a cluster) cannot change any result: imputation 2
    made in a fresh state equals imputation 2 made after imputation 1 and after the global random
    state was disturbed, and so do their fits."""
    config = copy.deepcopy(example_config)
    config["paths"]["raw"] = str(ROOT / config["paths"]["raw"])
    config["imputation"]["iterations"] = 2
    table = build_analysis_table(config)
    alone = impute_analysis_table(config, table, 2).completed
    first = impute_analysis_table(config, table, 1).completed
    # disturb the global state that code drawing without its own generator would use
    np.random.seed(12345)  # noqa: NPY002
    np.random.normal(size=7)  # noqa: NPY002
    after = impute_analysis_table(config, table, 2).completed
    pd.testing.assert_frame_equal(after, alone, check_exact=True)
    assert not first.equals(alone)  # the number changes the draws
    pd.testing.assert_frame_equal(fit_outcomes(config, after), fit_outcomes(config, alone))
