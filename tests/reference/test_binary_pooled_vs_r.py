"""Binary and count outcomes analysed per imputation and pooled, against lme4/geepack + mitml.

The fixture (tests/reference/r/binary_pooled.R) holds five datasets completed by mice and the
arm coefficient of each outcome pooled by ``mitml::testEstimates`` over fits by
``lme4::glmer(nAGQ = 10)`` (complete-data df: between-within, counted in R) or
``geepack::geeglm`` (exchangeable, robust covariance; df clusters minus coefficients). The
pipeline's own fits of the same completed datasets (``fit_outcomes``) pooled by
``pool_outcomes`` must give the same pooled estimate, SE, df, interval and p. Tolerances: the
GLMM optimum agrees with lme4's to about 1e-5 relative in the estimate and its SE (lme4 stops
at its own tolerance), so 1e-4 relative for estimate, SE and interval, 1e-3 for the
Barnard-Rubin df, p, RIV and FMI, which amplify differences in the between/within ratio; GEE
1e-5 and 1e-4 (geepack stops at its default tolerance, 1e-6 on the estimates). Interval limits,
which may lie near 0, are compared to within the same fractions of the SE.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from trial.analyses.outcomes import fit_outcomes
from trial.analyses.pooled_outcomes import pool_outcomes
from trial.config.load import load_config

from ..conftest import ROOT

FIXTURES = ROOT / "tests" / "reference" / "fixtures" / "binary"
TOLERANCE = {"glmm": (1e-4, 1e-3), "gee": (1e-5, 1e-4)}


@pytest.fixture(scope="module")
def completed() -> list[pd.DataFrame]:
    data = pd.read_csv(FIXTURES / "completed.csv", dtype={"region": str, "sex": str})
    return [part.drop(columns=".imp") for _, part in data.groupby(".imp", sort=True)]


@pytest.mark.parametrize("method", ["glmm", "gee"])
def test_pooled_arm_effects_match_mitml(completed, method):
    config = copy.deepcopy(load_config(ROOT / "config" / "pulse.yaml"))
    config["analysis"]["non_gaussian"] |= {"method": method, "gee_covariance": "robust"}
    fits = [fit_outcomes(config, table) for table in completed]
    pooled = pool_outcomes(config, fits).set_index("outcome")
    reference = pd.read_csv(FIXTURES / "pooled.csv").set_index(["outcome", "method"])
    tight, loose = TOLERANCE[method]
    for outcome in ("bp_controlled", "consultations"):
        want, got = reference.loc[(outcome, method)], pooled.loc[outcome]
        assert got["df_complete"] == want["df_complete"]
        for column in ("estimate", "se"):
            np.testing.assert_allclose(got[column], want[column], rtol=tight, err_msg=column)
        for column in ("ci_low", "ci_high"):  # may lie near 0: relative to the SE
            assert abs(got[column] - want[column]) <= tight * want["se"], column
        for column in ("df", "p", "riv", "fmi"):
            np.testing.assert_allclose(got[column], want[column], rtol=loose, err_msg=column)
        np.testing.assert_allclose(got["ratio"], np.exp(want["estimate"]), rtol=tight)
