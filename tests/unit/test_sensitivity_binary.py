"""Re-randomisation test and delta adjustment of a binary primary outcome."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from trial.config import load_config
from trial.sensitivity import delta_adjustment, rerandomisation_test

from ..conftest import ROOT
from .test_sensitivity import _brute_force_null

OBSERVED = ROOT / "tests" / "reference" / "fixtures" / "binary_sensitivity" / "observed.csv"


@pytest.fixture(scope="module")
def pulse() -> dict:
    config = load_config(ROOT / "config" / "pulse.yaml")
    config["sensitivity"] = {"permutations": 2000, "max_enumerated": 10_000_000}
    return config


@pytest.fixture(scope="module")
def observed() -> pd.DataFrame:
    table = pd.read_csv(OBSERVED, dtype={"region": str, "sex": str})
    # 12 practices (6 per region) keep every allocation enumerable by brute force
    keep = table.groupby("region")["practice_id"].unique().map(lambda ids: sorted(ids)[:6])
    return table[table["practice_id"].isin(np.concatenate(keep.to_list()))].reset_index(drop=True)


def _difference_residuals(table: pd.DataFrame) -> pd.DataFrame:
    """Stage 1 by statsmodels' Logit (arm left out), residuals per practice by groupby."""
    rows = table.dropna(subset=["bp_controlled__followup"])
    Z = pd.DataFrame(
        {
            "const": 1.0,
            "baseline": rows["bp_controlled__baseline"],
            "west": (rows["region"] == "west").astype(float),
            "age": rows["age"],
            "male": (rows["sex"] == "male").astype(float),
        }
    )
    expected = sm.Logit(rows["bp_controlled__followup"], Z).fit(disp=0, tol=1e-12).predict(Z)
    per = rows.assign(e=expected).groupby("practice_id")
    return pd.DataFrame(
        {
            "residual": (per["bp_controlled__followup"].sum() - per["e"].sum()) / per.size(),
            "treated": per["treatment"].first(),
            "region": per["region"].first(),
        }
    )


def test_statistic_is_the_cluster_level_risk_difference_and_p_is_exact(pulse, observed):
    summary, null = rerandomisation_test(pulse, observed)
    by_hand = _difference_residuals(observed)
    treated = by_hand["treated"] == 1
    statistic = by_hand.loc[treated, "residual"].mean() - by_hand.loc[~treated, "residual"].mean()
    assert summary["statistic"] == pytest.approx(statistic, rel=1e-8)
    assert summary["n_individuals"] == observed["bp_controlled__followup"].notna().sum()
    assert summary["n_clusters"] == 12
    brute = _brute_force_null(by_hand["residual"], by_hand["region"], by_hand["treated"])
    assert summary["method"] == "exact" and summary["n_allocations"] == len(brute)
    np.testing.assert_allclose(np.sort(null), np.sort(brute), rtol=1e-8, atol=1e-12)
    p = np.mean(np.abs(brute) >= abs(statistic) - 1e-12)
    assert summary["p"] == pytest.approx(p)
    assert "risk difference" in summary["description"]


def test_reversed_direction_flips_the_statistic_not_the_p(pulse, observed):
    summary, null = rerandomisation_test(pulse, observed)
    reverse = copy.deepcopy(pulse)
    reverse["analysis"]["outcomes"][0]["direction"] = "reference_minus_treatment"
    flipped, flipped_null = rerandomisation_test(reverse, observed)
    assert flipped["statistic"] == pytest.approx(-summary["statistic"])
    assert flipped["p"] == summary["p"]
    np.testing.assert_allclose(np.sort(flipped_null), np.sort(-null))


def test_delta_adjustment_of_a_binary_outcome_is_refused(pulse, observed):
    with pytest.raises(ValueError, match="delta adjustment of a binomial primary outcome"):
        delta_adjustment(pulse, observed, [observed])
