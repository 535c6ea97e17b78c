"""Compare trial.stats.cluster_level with the two-stage method written out in R.

Fixture: ``tests/reference/r/cluster_level.R`` (glm for stage 1, t.test for stage 2, df and the
zero correction by hand). Tolerance 1e-8 relative (both sides compute the same closed forms after
a logistic regression converged to ~1e-12); df exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.reference.binary_cases import case, fixture
from trial.stats.cluster_level import cluster_level_binary

RTOL = 1e-8
FX = fixture("cluster_level/cluster_level.csv")
CASES = {
    "trial_adjusted": ("trial", ["stratum", "x"]),
    "trial_unadjusted": ("trial", []),
    "unequal_adjusted": ("unequal", ["stratum", "x"]),
    "rare_adjusted": ("rare", ["x"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_two_stage_residual_method(name: str) -> None:
    data, covs = CASES[name]
    d = case(data).data
    res = cluster_level_binary(d.y, d.arm, d.cluster, covariates=d[covs] if covs else None)
    sel = FX[FX.case == name]
    ref = pd.Series(sel.value.to_numpy(), index=(sel.quantity + ":" + sel.term).to_numpy())
    for measure in ("difference", "ratio"):
        eff = getattr(res, measure)
        assert eff.df == ref[f"{measure}_df:"]
        for stat in ("estimate", "se", "t", "p", "ci_low", "ci_high"):
            np.testing.assert_allclose(
                getattr(eff, stat), ref[f"{measure}_{stat}:"], rtol=RTOL, err_msg=stat
            )
    assert res.zero_correction == ref["zero_correction:"]
    s = res.summaries.to_frame().set_index("clusters")
    exp = sel[sel.quantity == "expected"].set_index("term").value
    np.testing.assert_allclose(s.loc[exp.index, "expected"], exp, rtol=RTOL)
    ev = sel[sel.quantity == "events"].set_index("term").value
    np.testing.assert_array_equal(s.loc[ev.index, "events"], ev)
