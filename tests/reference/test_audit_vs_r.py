"""trial.audit against R (sandwich::vcovCL, lme4/lmerTest) on the committed audit data.

Input: tests/reference/data/audit/audit_long.csv (made by make_data.py there from the bundled
synthetic audit). Fixture: tests/reference/fixtures/audit/audit.csv, written by
tests/reference/r/audit.R (its header records the R and package versions). R is not needed to
run these tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trial.audit import (
    AuditMeasure,
    cluster_robust_mean,
    fit_mixed_model,
    fit_panel_model,
)

REF = Path(__file__).resolve().parent
DATA = REF / "data" / "audit" / "audit_long.csv"
FIXTURE = REF / "fixtures" / "audit" / "audit.csv"

RTOL = 1e-8  # closed-form quantities: means, least-squares coefficients, sandwich covariances
RTOL_EST = 1e-5  # REML fits (different optimisers)
RTOL_DF = 1e-3  # Satterthwaite df (R differentiates numerically)

OUTCOMES = {
    "items_documented": AuditMeasure("items_documented", "items documented", "mean"),
    "values_documented": AuditMeasure("values_documented", "values documented", "proportion"),
}


def _ref() -> pd.DataFrame:
    return pd.read_csv(FIXTURE, comment="#", keep_default_na=False)


def _value(
    ref: pd.DataFrame, outcome: str, block: str, quantity: str, term: str = "", term2: str = ""
) -> float:
    hit = ref[
        (ref["outcome"] == outcome)
        & (ref["block"] == block)
        & (ref["quantity"] == quantity)
        & (ref["term"] == term)
        & (ref["term2"] == term2)
    ]
    assert len(hit) == 1, (outcome, block, quantity, term, term2)
    return float(hit["value"].iloc[0])


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    return _ref()


@pytest.fixture(scope="module")
def long() -> pd.DataFrame:
    """The reference data in the shape of :attr:`trial.audit.AuditData.long`."""
    d = pd.read_csv(DATA)
    d["arm"] = np.where(d["treatment"] == 1, "refocus", "control")
    d["available"] = True
    return d


def _term_names(config: dict) -> dict[str, str]:
    """R's dummy names (t2, a2, ...) -> the pipeline's term names."""
    names = {
        "treatment": "arm[refocus]",
        "trust2gether": "trust[2gether]",
        "(Intercept)": "(Intercept)",
    }
    for t in range(2, 8):
        names[f"t{t}"] = f"audit_time[{t}]"
        names[f"a{t}"] = f"arm[refocus]:audit_time[{t}]"
    return names


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_per_time_cluster_robust_means_match_vcovcl(long, ref, outcome):
    for t in range(1, 8):
        for arm in (0, 1):
            part = long[(long["audit_time"] == t) & (long["treatment"] == arm)]
            got = cluster_robust_mean(part[outcome], part["team_id"])
            key = f"time{t}_arm{arm}"
            assert got["estimate"] == pytest.approx(
                _value(ref, outcome, "by_time", "estimate", key), rel=RTOL
            )
            assert got["se"] == pytest.approx(_value(ref, outcome, "by_time", "se", key), rel=RTOL)
            assert got["df"] == _value(ref, outcome, "by_time", "n_clusters", key) - 1


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_panel_model_matches_least_squares_dummies_and_vcovcl(config, long, ref, outcome):
    names = _term_names(config)
    res = fit_panel_model(config, long, OUTCOMES[outcome])
    est = res.estimates.set_index("term")
    slopes = [f"a{t}" for t in range(2, 8)]
    G = _value(ref, outcome, "panel", "n_clusters")
    for a in slopes:
        row = est.loc[names[a]]
        assert row["estimate"] == pytest.approx(
            _value(ref, outcome, "panel", "estimate", a), rel=RTOL
        )
        assert row["se"] == pytest.approx(
            np.sqrt(_value(ref, outcome, "panel", "cov_cr1", a, a)), rel=RTOL
        )
        assert row["df"] == G - 1
    # the joint Wald test, from R's coefficients and covariance
    b = np.array([_value(ref, outcome, "panel", "estimate", a) for a in slopes])
    V = np.array([[_value(ref, outcome, "panel", "cov_cr1", a, c) for c in slopes] for a in slopes])
    F = float(b @ np.linalg.solve(V, b)) / len(slopes)
    assert res.test["F"] == pytest.approx(F, rel=1e-7)
    assert (res.test["num_df"], res.test["den_df"]) == (6, G - 1)
    # difference-in-differences a7 - a2 / 2 and its SE from R's covariance
    w = np.array([-0.5, 0, 0, 0, 0, 1.0])
    did = res.estimates.set_index("quantity").loc["did_final_vs_pre"]
    assert did["estimate"] == pytest.approx(float(w @ b), rel=RTOL)
    assert did["se"] == pytest.approx(float(np.sqrt(w @ V @ w)), rel=RTOL)


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_nested_mixed_model_matches_lmer(config, long, ref, outcome):
    config["analysis"]["df_method"] = "satterthwaite"
    names = _term_names(config)
    res = fit_mixed_model(config, long, OUTCOMES[outcome])
    est = res.estimates.set_index("term")
    for a in [f"a{t}" for t in range(2, 8)]:
        # relative to the SE: an estimate near zero has no meaningful relative error
        assert est.loc[names[a], "estimate"] == pytest.approx(
            _value(ref, outcome, "mixed", "estimate", a), abs=RTOL_EST * est.loc[names[a], "se"]
        )
    for component, key in (
        ("cluster", "var_cluster"),
        ("nested", "var_individual"),
        ("residual", "var_residual"),
    ):
        assert res.test[key] == pytest.approx(
            _value(ref, outcome, "mixed", "variance", component), rel=RTOL_EST
        )
    assert res.test["F"] == pytest.approx(
        _value(ref, outcome, "mixed", "F", "arm_x_time"), rel=RTOL_EST
    )
    assert res.test["num_df"] == _value(ref, outcome, "mixed", "num_df", "arm_x_time")
    assert res.test["den_df"] == pytest.approx(
        _value(ref, outcome, "mixed", "den_df", "arm_x_time"), rel=RTOL_DF
    )
    by_q = res.estimates.set_index("quantity")
    for quantity in ("difference_at_final_time", "did_final_vs_pre"):
        row = by_q.loc[quantity]
        assert row["estimate"] == pytest.approx(
            _value(ref, outcome, "mixed", "estimate", quantity), rel=RTOL_EST
        )
        assert row["se"] == pytest.approx(
            _value(ref, outcome, "mixed", "se", quantity), rel=RTOL_EST
        )
        assert row["df"] == pytest.approx(
            _value(ref, outcome, "mixed", "df", quantity), rel=RTOL_DF
        )
