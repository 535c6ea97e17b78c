"""Coverage of the default analysis of a binary primary outcome (GLMM, AGHQ 10 nodes,
between-within df) with 20 and 40 clusters, on complete data and after multiple imputation by
the multilevel engine's binary step (:mod:`trial.studies.binary_coverage`).

Each check allows 3 Monte Carlo SEs (200 replicates per cell: the MC SE of a 95% coverage is
1.5 points), so that a correct method fails one of the four coverage checks by chance with
probability about 1%; a z reference or a df from the individuals instead of the clusters
under-covers by more than that with 20 clusters. The committed study (300 replicates per cell,
``python -m trial.studies.binary_coverage 300 tests/reference/simulation/binary_coverage.csv``) is
in tests/reference/simulation/binary_coverage.csv.
"""

from __future__ import annotations

import pytest

from trial.studies.binary_coverage import EFFECT, run_study

pytestmark = pytest.mark.slow  # about 3 minutes on one core


def test_coverage_is_nominal_within_monte_carlo_error():
    _, summary = run_study(replicates=200, seed=7)
    for row in summary.to_dict("records"):
        assert abs(row["coverage"] - 0.95) <= 3 * row["coverage_mc_se"], row
        # unbiased within noise, or within 10% of the effect (the probit imputation model
        # only approximates the logistic outcome model)
        assert abs(row["bias"]) <= 3 * row["bias_mc_se"] + 0.1 * EFFECT, row
        # the model SE tracks the spread of the estimates
        assert 0.8 < row["model_se"] / row["empirical_se"] < 1.25, row
