"""Coverage of the cluster bootstraps of an adjusted cost difference, by simulation.

The committed result tests/reference/fixtures/bootstrap/coverage.csv was made with

    python -m trial.studies.bootstrap_coverage --sims 300 --replicates 500 \
        --out tests/reference/fixtures/bootstrap/coverage.csv

(300 simulated 27-cluster trials with skewed costs and a known difference of -1000; see
trial.studies.bootstrap_coverage). The slow test reruns it and must reproduce the file; both tests
check that the two-stage bootstrap with shrinkage covers near 95%.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from trial.studies.bootstrap_coverage import coverage_study

COMMITTED = (
    Path(__file__).resolve().parents[2] / "reference" / "fixtures" / "bootstrap" / "coverage.csv"
)


def _check_two_stage(summary: pd.DataFrame) -> None:
    row = summary[(summary["method"] == "two_stage_shrunk") & (summary["interval"] == "t")]
    row = row.iloc[0]
    # within 3 Monte Carlo SEs (about 0.025 with 300 trials) of the nominal 95%
    assert abs(row["coverage"] - 0.95) <= 3 * max(row["coverage_mc_se"], 0.0126)
    # the shrinkage correction: its SEs are closer to the empirical SE than without it
    raw = summary[(summary["method"] == "two_stage_raw")].iloc[0]
    assert abs(row["mean_se"] / row["empirical_se"] - 1) < abs(
        raw["mean_se"] / raw["empirical_se"] - 1
    )


def test_committed_coverage_is_near_nominal():
    _check_two_stage(pd.read_csv(COMMITTED))


@pytest.mark.slow
def test_coverage_study_reproduces_committed_result():
    _, summary = coverage_study(300, 500, seed=20120401)
    committed = pd.read_csv(COMMITTED)
    numeric = committed.select_dtypes("number").columns
    pd.testing.assert_frame_equal(
        summary[numeric].reset_index(drop=True), committed[numeric], rtol=1e-5, check_dtype=False
    )
    _check_two_stage(summary)
