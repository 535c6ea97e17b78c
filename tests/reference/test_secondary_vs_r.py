"""Compare the complier-average (2SLS) and ICC estimators with R on committed data.

Fixtures are produced by ``tests/reference/r/secondary.R`` (AER::ivreg with
sandwich::vcovCL(type = "HC1"), and stats::aov mean squares with Searle's interval); R is not
needed to run these tests.

Tolerances: estimates 1e-9 relative; cluster-robust standard errors 1e-8 relative (the same
closed form computed in a different order); ICC and its limits 1e-9 relative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trial.icc import anova_icc
from trial.participation import cace_fit

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "secondary"
FIXTURES = HERE / "fixtures" / "secondary"


def _iv_data() -> pd.DataFrame:
    return pd.read_csv(DATA / "iv.csv")


def test_iv_estimate_and_clustered_se_match_aer_ivreg_with_vcovcl() -> None:
    d = _iv_data()
    ref = pd.read_csv(FIXTURES / "iv.csv").set_index("term")
    exog = pd.DataFrame({"(Intercept)": 1.0, "baseline": d.baseline, "stratum": d.stratum})
    fit = cace_fit(
        d.y.to_numpy(), exog, d.received.to_numpy(), d.arm.to_numpy(), d.cluster.to_numpy()
    )
    np.testing.assert_allclose(fit["estimate"], ref.loc["received", "estimate"], rtol=1e-9)
    np.testing.assert_allclose(fit["se"], ref.loc["received", "se_cluster_hc1"], rtol=1e-8)
    # between-within df: 16 clusters - (intercept, stratum, instrument)
    assert fit["df"] == 16 - 3
    assert fit["n_clusters"] == 16 and fit["n_individuals"] == len(d)


def test_iv_without_covariates_is_the_wald_ratio() -> None:
    d = _iv_data()
    ref = pd.read_csv(FIXTURES / "iv.csv").set_index("term")
    exog = pd.DataFrame({"(Intercept)": np.ones(len(d))})
    fit = cace_fit(
        d.y.to_numpy(), exog, d.received.to_numpy(), d.arm.to_numpy(), d.cluster.to_numpy()
    )
    # hand calculation: ITT difference in means / difference in the share receiving treatment
    arm = d.arm == 1
    by_hand = (d.y[arm].mean() - d.y[~arm].mean()) / (
        d.received[arm].mean() - d.received[~arm].mean()
    )
    np.testing.assert_allclose(fit["estimate"], by_hand, rtol=1e-10)
    np.testing.assert_allclose(
        fit["estimate"], ref.loc["wald_ratio_no_covariates", "estimate"], rtol=1e-9
    )
    np.testing.assert_allclose(fit["itt"], d.y[arm].mean() - d.y[~arm].mean(), rtol=1e-10)
    np.testing.assert_allclose(fit["first_stage"], d.received[arm].mean(), rtol=1e-10)


@pytest.mark.parametrize("case", ["unequal", "equal", "small"])
def test_anova_icc_and_searle_interval_match_r(case: str) -> None:
    d = pd.read_csv(DATA / f"icc_{case}.csv")
    ref = pd.read_csv(FIXTURES / "icc.csv").set_index("case").loc[case]
    res = anova_icc(d.y.to_numpy(), d.cluster.to_numpy(), alpha=0.05)
    assert res["k"] == ref["k"] and res["N"] == ref["N"]
    for key in ("msb", "msw", "n0", "icc", "ci_low", "ci_high"):
        np.testing.assert_allclose(res[key], ref[key], rtol=1e-9, err_msg=key)
