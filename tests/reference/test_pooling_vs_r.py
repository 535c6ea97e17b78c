"""trial.stats.pooling against mitml and mice on committed inputs.

Inputs: tests/reference/data/pooling/ (made by make_data.py there). Fixtures:
tests/reference/fixtures/pooling/, written by tests/reference/r/pooling.R; versions.csv there
records the R, mitml and mice versions. R is not needed to run these tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trial.stats.pooling import pool_d1, pool_rubin

REF = Path(__file__).resolve().parent
DATA = REF / "data" / "pooling"
FIXTURES = REF / "fixtures" / "pooling"

RTOL = 1e-8  # estimate, SE, df and the other continuous quantities
RTOL_P = 1e-6  # p-values
# mitml::testConstraints differentiates the (identity) constraints numerically, which
# perturbs its covariance matrices at about the 1e-9 level; mitml's own D1 routine does not.
RTOL_CONSTRAINTS = 1e-7


def _fixture(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / name)


def _scalar_input(case: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"scalar_{case}.csv")


def _d1_input(case: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    est = pd.read_csv(DATA / f"d1_{case}_estimates.csv")
    cov = pd.read_csv(DATA / f"d1_{case}_covariances.csv")
    m = len(est)
    q = est[[f"b{j + 1}" for j in range(k)]].to_numpy()
    u = np.full((m, k, k), np.nan)
    u[cov["imputation"] - 1, cov["row"] - 1, cov["col"] - 1] = cov["value"]
    assert not np.isnan(u).any()
    return q, u


def _close(actual: float, expected: float, rtol: float) -> None:
    if math.isinf(expected):
        assert math.isinf(actual)
    else:
        assert actual == pytest.approx(expected, rel=rtol, abs=0.0 if expected else 1e-15)


MITML = _fixture("rubin_mitml.csv")
MICE = _fixture("rubin_mice.csv")
D1 = _fixture("d1_mitml.csv")


def test_versions_recorded() -> None:
    versions = _fixture("versions.csv").set_index("software")["version"]
    assert {"R", "mitml", "mice"} <= set(versions.index)


def test_fixtures_cover_brief() -> None:
    # a small complete-data df, a large between-imputation variance, B = 0, df_complete = inf
    assert (MITML["df_complete"] <= 25).any()
    assert (MICE["between"] > 3 * MICE["within"]).any()
    assert (MICE["between"] == 0).any()
    assert np.isinf(MITML["df_complete"]).any()
    assert set(D1["k"]) >= {2, 3}
    # every branch of the D1 df: Reiter's (finite df_complete), Li et al's for k (m - 1) > 4 and
    # <= 4, no between-imputation variance, m = 2, and the two cases where Reiter's df is
    # undefined (k (m - 1) = 4) or not positive
    large = np.isinf(D1["df_complete"])
    t = D1["k"] * (D1["m"] - 1)
    assert (large & (t > 4)).any() and (large & (t <= 4)).any()
    assert (large & (D1["riv"] == 0)).any()
    assert (D1["m"] == 2).any()
    assert (~large & (t <= 4)).any() and (~large & (D1["den_df"] <= 0)).any()
    assert (~large & (D1["den_df"] > 0) & (D1["den_df"] < 1)).any()  # returned, not refused


@pytest.mark.parametrize("row", MITML.to_dict("records"), ids=list(MITML["case"]))
def test_rubin_matches_mitml(row: dict) -> None:
    d = _scalar_input(row["case"])
    res = pool_rubin(d["estimate"], d["variance"], df_complete=row["df_complete"])
    assert res.m == row["m"]
    for ours, theirs in [
        (res.estimate, "estimate"),
        (res.se, "se"),
        (res.t, "t"),
        (res.df, "df"),
        (res.riv, "riv"),
        (res.fmi, "fmi"),
    ]:
        _close(ours, row[theirs], RTOL)
    # mitml computes 2 * (1 - pt(|t|, df)); p_accurate is the same with the upper tail
    _close(res.p, row["p_accurate"], RTOL_P)
    _close(res.p, row["p"], RTOL_P)
    # mitml's confint: estimate -/+ qt(0.975, df) se (qnorm when df is infinite)
    _close(res.ci_low, row["ci_low"], RTOL)
    _close(res.ci_high, row["ci_high"], RTOL)


@pytest.mark.parametrize("row", MICE.to_dict("records"), ids=list(MICE["case"]))
def test_rubin_matches_mice(row: dict) -> None:
    d = _scalar_input(row["case"])
    res = pool_rubin(d["estimate"], d["variance"], df_complete=row["df_complete"])
    for ours, theirs in [
        (res.estimate, "estimate"),
        (res.within, "within"),
        (res.between, "between"),
        (res.total, "total"),
        (res.se, "se"),
        (res.riv, "riv"),
        (res.lambda_, "lambda"),
    ]:
        _close(ours, row[theirs], RTOL)
    if row["lambda_floored"]:
        # mice floors lambda at 1e-4 in its df; we use the exact B = 0 limit, as mitml does
        assert res.df == pytest.approx(row["df"], rel=1e-3)
        assert res.df > row["df"]
    else:
        _close(res.df, row["df"], RTOL)
        _close(res.fmi, row["fmi"], RTOL)


# Reiter's df is undefined for k (m - 1) <= 4 (a division by k (m - 1) - 4) and meaningless
# when not positive; mitml still returns a number there, pool_d1 raises
_REITER_UNDEFINED = np.isfinite(D1["df_complete"]) & (
    (D1["k"] * (D1["m"] - 1) <= 4) | ~(D1["den_df"] > 0)
)
D1_DEFINED = D1[~_REITER_UNDEFINED]
D1_UNDEFINED = D1[_REITER_UNDEFINED]


@pytest.mark.parametrize("row", D1_UNDEFINED.to_dict("records"), ids=list(D1_UNDEFINED["case"]))
def test_d1_refuses_where_reiter_df_is_undefined(row: dict) -> None:
    q, u = _d1_input(row["case"], int(row["k"]))
    if row["k"] * (row["m"] - 1) <= 4:
        # mitml divides by k (m - 1) - 4 = 0 and returns the degenerate limit 4
        assert row["k"] * (row["m"] - 1) == 4 and row["den_df"] == 4
        with pytest.raises(ValueError, match=r"k \(m - 1\) > 4"):
            pool_d1(q, u, df_complete=row["df_complete"])
    else:
        assert row["den_df"] <= 0  # what mitml returns for a complete-data df this small
        with pytest.raises(ValueError, match="too small"):
            pool_d1(q, u, df_complete=row["df_complete"])
    # the test statistic itself is defined: the large-sample df gives it as mitml does
    res = pool_d1(q, u, df_complete=math.inf)
    _close(res.F, row["F"], RTOL)
    _close(res.riv, row["riv"], RTOL)


@pytest.mark.parametrize("row", D1_DEFINED.to_dict("records"), ids=list(D1_DEFINED["case"]))
def test_d1_matches_mitml(row: dict) -> None:
    q, u = _d1_input(row["case"], int(row["k"]))
    res = pool_d1(q, u, df_complete=row["df_complete"])
    assert res.num_df == row["num_df"]
    _close(res.F, row["F"], RTOL)
    _close(res.den_df, row["den_df"], RTOL)
    _close(res.riv, row["riv"], RTOL)
    _close(res.p, row["p"], RTOL_P)
    # the exported raw-input interface, testConstraints(method = "D1")
    _close(res.F, row["tc_F"], RTOL_CONSTRAINTS)
    _close(res.den_df, row["tc_den_df"], RTOL_CONSTRAINTS)
    _close(res.riv, row["tc_riv"], RTOL_CONSTRAINTS)
    _close(res.p, row["tc_p"], RTOL_CONSTRAINTS)
