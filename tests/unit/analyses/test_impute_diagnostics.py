"""Missing-data and imputation diagnostics: tables checked by hand, figures reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trial.analyses.imputation_diagnostics import (
    arm_difference_check,
    imputed_vs_observed_table,
    missingness_table,
)


def gapped_table() -> pd.DataFrame:
    """8 individuals, 4 per arm; known gaps."""
    return pd.DataFrame(
        {
            "consumer_id": [f"C{i}" for i in range(8)],
            "team_id": ["T1", "T1", "T2", "T2", "T3", "T3", "T4", "T4"],
            "arm": ["refocus"] * 4 + ["control"] * 4,
            "qpr_total__baseline": [30, 31, np.nan, 33, 40, 41, 42, 43],
            "qpr_total__followup": [np.nan, 35, np.nan, 37, 44, np.nan, 46, 47],
            "functioning__baseline": [50.0] * 8,
            "functioning__followup": [60, 61, 62, 63, 64, 65, 66, np.nan],
        }
    )


@pytest.fixture()
def table():
    return gapped_table()


def test_missingness_counts_by_outcome_time_and_arm(small_config, table):
    result = missingness_table(small_config, table).set_index(["outcome", "timepoint", "arm"])
    assert result.loc[("qpr_total", "12m", "refocus"), "n_missing"] == 2
    assert result.loc[("qpr_total", "12m", "refocus"), "pct_missing"] == 50.0
    assert result.loc[("qpr_total", "12m", "control"), "n_missing"] == 1
    assert result.loc[("qpr_total", "12m", "all"), "n_missing"] == 3
    assert result.loc[("qpr_total", "baseline", "refocus"), "n_missing"] == 1
    assert result.loc[("functioning", "12m", "control"), "pct_missing"] == 25.0
    assert result.loc[("functioning", "baseline", "all"), "n_missing"] == 0
    assert (result["n"].loc[:, :, "all"] == 8).all()


def test_observed_vs_imputed_by_arm(small_config, table):
    completed = []
    for fill in (100.0, 200.0):
        frame = table.copy()
        for column in ("qpr_total__baseline", "qpr_total__followup", "functioning__followup"):
            frame[column] = frame[column].fillna(fill)
        completed.append(frame)
    result = imputed_vs_observed_table(small_config, table, completed)
    follow = result[result["timepoint"] == "12m"].set_index(["outcome", "arm"])
    row = follow.loc[("qpr_total", "refocus")]
    assert row["n_observed"] == 2 and row["observed_mean"] == 36.0
    assert row["n_imputed"] == 2 and row["imputed_mean"] == 150.0
    # values 100, 100, 200, 200: sample SD = sqrt(4 * 2500 / 3)
    assert row["imputed_sd"] == pytest.approx(np.sqrt(10000 / 3))
    assert follow.loc[("functioning", "control"), "n_imputed"] == 1
    assert follow.loc[("functioning", "refocus"), "n_imputed"] == 0  # nothing missing there
    assert np.isnan(follow.loc[("functioning", "refocus"), "imputed_mean"])
    # no missing functioning baseline: no row
    assert not ((result["outcome"] == "functioning") & (result["timepoint"] == "baseline")).any()


# ---- the arm-difference check --------------------------------------------------------------


def _trial_with_gaps(seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """40 clusters of 15, effect 5 on qpr_total (SD 8), 30% of follow-ups lost at random given
    the baseline; returns the table with gaps and the full follow-up."""
    rng = np.random.default_rng(seed)
    n_clusters, size = 40, 15
    g = np.repeat(np.arange(n_clusters), size)
    treated = (np.arange(n_clusters) % 2)[g]
    base = 40 + rng.normal(0, 2, n_clusters)[g] + rng.normal(0, 8, g.size)
    follow = (
        10 + 5 * treated + 0.7 * base + rng.normal(0, 2, n_clusters)[g] + rng.normal(0, 6, g.size)
    )
    lost = rng.random(g.size) < 1 / (1 + np.exp(-(-0.85 - 0.05 * (base - 40))))
    table = pd.DataFrame(
        {
            "consumer_id": [f"C{i}" for i in range(g.size)],
            "team_id": [f"T{j:02d}" for j in g],
            "treatment": treated,
            "arm": np.where(treated == 1, "refocus", "control"),
            "trust": np.where(g < n_clusters // 2, "SLaM", "2gether"),
            "age": rng.integers(18, 66, g.size),
            "gender": rng.choice(["female", "male"], g.size),
            "qpr_total__baseline": base,
            "qpr_total__followup": np.where(lost, np.nan, follow),
        }
    )
    return table, follow


def _completed(table, fill, m=5):
    out = []
    for i in range(m):
        frame = table.copy()
        lost = frame["qpr_total__followup"].isna()
        frame.loc[lost, "qpr_total__followup"] = fill(frame.loc[lost], np.random.default_rng(i))
        out.append(frame)
    return out


@pytest.fixture()
def primary_only(small_config):
    small_config["analysis"]["outcomes"] = small_config["analysis"]["outcomes"][:1]
    return small_config


def test_arm_check_passes_proper_imputations_and_flags_diluted_ones(primary_only):
    table, follow = _trial_with_gaps()
    lost = table["qpr_total__followup"].isna().to_numpy()
    assert 0.2 < lost.mean() < 0.4
    # draws from the true model: what a proper imputation gives, up to parameter noise
    true_draw = _completed(
        table, lambda rows, rng: follow[rows.index] + rng.normal(0, 1, len(rows))
    )
    # the arm left out: the imputed rows get the average of both arms' effect
    diluted = _completed(
        table,
        lambda rows, rng: 12.5 + 0.7 * rows["qpr_total__baseline"] + rng.normal(0, 6.3, len(rows)),
    )
    good = arm_difference_check(primary_only, table, true_draw).iloc[0]
    bad = arm_difference_check(primary_only, table, diluted).iloc[0]
    assert good["n_imputed"] == lost.sum() and good["n_observed"] == (~lost).sum()
    assert good["observed_difference"] == pytest.approx(5.0, abs=3 * good["observed_se"])
    assert good["ratio"] == pytest.approx(1.0, abs=0.35) and not good["flag_difference"]
    assert bad["ratio"] < 0.4 and bad["flag_difference"]
    # the observed-row difference does not depend on what was imputed
    assert bad["observed_difference"] == pytest.approx(good["observed_difference"], rel=0.05)
    # its noise SE is at least the observed-row SE, the bound it is built on
    assert good["difference_se"] >= good["observed_se"] * 0.95


def test_arm_check_flags_under_dispersed_imputations(primary_only):
    table, follow = _trial_with_gaps()
    # the conditional mean without its residual: right on average, a third of the spread
    means = _completed(
        table,
        lambda rows, rng: 10 + 5 * rows["treatment"] + 0.7 * rows["qpr_total__baseline"]
        + rng.normal(0, 2, len(rows)),
    )  # fmt: skip
    row = arm_difference_check(primary_only, table, means).iloc[0]
    assert row["sd_ratio"] < 0.5 and row["sd_ratio_high"] < 1 and row["flag_sd"]
    assert not row["flag_difference"]  # the arm effect itself is carried


def test_arm_check_leaves_out_values_the_estimands_leave_undefined(primary_only):
    """Rows kept missing in every completed dataset (e.g. after death) are neither observed nor
    imputed; the check on the rest equals the check on a table without them."""
    table, follow = _trial_with_gaps()
    lost = table["qpr_total__followup"].isna().to_numpy()
    undefined = np.flatnonzero(lost)[::7]  # some of the lost follow-ups are undefined

    def fill(rows, rng):
        return follow[rows.index] + rng.normal(0, 1, len(rows))

    completed = _completed(table, fill)
    for frame in completed:
        frame.loc[undefined, "qpr_total__followup"] = np.nan
    row = arm_difference_check(primary_only, table, completed).iloc[0]
    assert row["n_imputed"] == lost.sum() - undefined.size
    kept = np.setdiff1d(np.arange(len(table)), undefined)
    without = arm_difference_check(
        primary_only,
        table.iloc[kept].reset_index(drop=True),
        [f.iloc[kept].reset_index(drop=True) for f in completed],
    ).iloc[0]
    assert row["imputed_difference"] == pytest.approx(without["imputed_difference"], rel=1e-10)
    assert row["sd_ratio"] == pytest.approx(without["sd_ratio"], rel=1e-10)


def test_independent_columns_skip_each_linear_combination_of_the_kept_ones() -> None:
    """Left to right: a column that is a combination of the columns kept before it is left
    out (as an interaction column that duplicates a stratum with no imputed rows)."""
    from trial.analyses.imputation_diagnostics import _independent_columns

    rng = np.random.default_rng(11)
    a, b, c = rng.normal(size=(3, 40))
    design = pd.DataFrame({"a": a, "b": b, "2a": 2 * a, "c": c, "a+c": a + c, "d": a * b})
    assert _independent_columns(design) == ["a", "b", "c", "d"]
    assert _independent_columns(design[["2a", "a", "c"]]) == ["2a", "c"]
