"""Coverage of the casenote audit's logistic GEE intervals (Kauermann-Carroll covariance, t on
clusters minus coefficients) for the population-averaged odds ratio at the last time point, on
the audit's repeated structure (:mod:`trial.audit_coverage`), with 20, 27 and 40 teams.

Each check allows 3 Monte Carlo SEs (200 replicates per cell: the MC SE of a 95% coverage is
1.5 points), so that a correct method fails one of the three coverage checks by chance with
probability under 1%. The committed study (1000 replicates per cell,
``python -m trial.audit_coverage 1000 tests/reference/simulation/audit_coverage.csv``) is in
tests/reference/simulation/audit_coverage.csv and is checked by the same rule with its own
Monte Carlo SEs, except that with 20 teams (t on 20 - 14 = 6 df) it over-covers: 97.6% (MC SE
0.5), which is checked as such (never below nominal beyond noise, above it by more than noise).
"""

from __future__ import annotations

import pandas as pd
import pytest

from trial.audit_coverage import run_study

from ..conftest import ROOT

COMMITTED = ROOT / "tests" / "reference" / "simulation" / "audit_coverage.csv"


def _check(summary: pd.DataFrame, over_covered: tuple[int, ...] = ()) -> None:
    for row in summary.to_dict("records"):
        noise = 3 * row["coverage_mc_se"]
        if row["clusters"] in over_covered:
            assert row["coverage"] > 0.95 + noise, row
        else:
            assert abs(row["coverage"] - 0.95) <= noise, row
        assert abs(row["bias"]) <= 3 * row["bias_mc_se"], row
        # the model SE tracks the spread of the estimates (0.15: 3 Monte Carlo SEs of an
        # empirical SE from 200 replicates)
        assert 0.85 < row["model_se"] / row["empirical_se"] < 1.15, row


def test_committed_study_is_nominal_within_monte_carlo_error():
    summary = pd.read_csv(COMMITTED)
    assert list(summary["clusters"]) == [20, 27, 40]
    assert (summary["replicates"] == 1000).all()
    _check(summary, over_covered=(20,))


@pytest.mark.slow  # about a minute on one core
def test_coverage_is_nominal_within_monte_carlo_error():
    _, summary = run_study(replicates=200, seed=7)
    _check(summary)
