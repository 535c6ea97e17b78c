"""The audit against R (sandwich::vcovCL, clubSandwich, nlme, stats, geepack) on the committed
audit data.

Input: tests/reference/data/audit/audit_long.csv (made by make_data.py there from the bundled
synthetic audit). Fixtures: tests/reference/fixtures/audit/audit.csv, written by
tests/reference/r/audit.R (linear models), and tests/reference/fixtures/audit/audit_binary.csv,
written by tests/reference/r/audit_binary.R (the binary model of a 0/1 item: geepack::geeglm
with an exchangeable working correlation by team; Kauermann-Carroll and Mancl-DeRouen
covariances from their formulas with full per-team matrices; the standardised risk difference
with numDeriv's Jacobian). Their headers record the R and package versions. R is not needed to
run these tests.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trial.analyses.audit.binary import binary_design, fit_binary_model
from trial.analyses.audit.data import AuditMeasure, cluster_robust_mean
from trial.analyses.audit.models import fit_mixed_model, fit_panel_model
from trial.stats.gee import fit_gee

REF = Path(__file__).resolve().parent
DATA = REF / "data" / "audit" / "audit_long.csv"
FIXTURE = REF / "fixtures" / "audit" / "audit.csv"
BINARY_FIXTURE = REF / "fixtures" / "audit" / "audit_binary.csv"

RTOL = 1e-8  # closed-form quantities: means, least-squares coefficients, sandwich covariances
RTOL_GLS = 1e-5  # nlme::gls reaches the closed-form REML optimum by numerical optimisation

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
    """The reference data in the shape of :attr:`trial.analyses.audit.data.AuditData.long`."""
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
            assert got.estimate == pytest.approx(
                _value(ref, outcome, "by_time", "estimate", key), rel=RTOL
            )
            assert got.se == pytest.approx(_value(ref, outcome, "by_time", "se", key), rel=RTOL)
            assert got.df == _value(ref, outcome, "by_time", "n_clusters", key) - 1


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_panel_model_matches_clubsandwich_cr2(config, long, ref, outcome):
    """Least-squares dummies with CR2 (vcovCR), Satterthwaite df (coef_test), HTZ (Wald_test)."""
    names = _term_names(config)
    res = fit_panel_model(config, long, OUTCOMES[outcome])
    est = res.estimates.set_index("term")
    slopes = [f"a{t}" for t in range(2, 8)]
    for a in slopes:
        row = est.loc[names[a]]
        assert row["estimate"] == pytest.approx(
            _value(ref, outcome, "panel", "estimate", a), rel=RTOL
        )
        assert row["se"] == pytest.approx(
            np.sqrt(_value(ref, outcome, "panel", "cov_cr2", a, a)), rel=RTOL
        )
        assert row["df"] == pytest.approx(_value(ref, outcome, "panel", "df", a), rel=RTOL)
    assert res.test.F == pytest.approx(_value(ref, outcome, "panel", "F", "arm_x_time"), rel=RTOL)
    assert res.test.num_df == 6
    assert res.test.den_df == pytest.approx(
        _value(ref, outcome, "panel", "den_df", "arm_x_time"), rel=RTOL
    )
    # difference-in-differences a7 - a2 / 2: t^2 and Satterthwaite df of the one-row HTZ test
    did = res.estimates.set_index("quantity").loc["did_final_vs_pre"]
    assert (did["estimate"] / did["se"]) ** 2 == pytest.approx(
        _value(ref, outcome, "panel", "t_squared", "did_final_vs_pre"), rel=RTOL
    )
    assert did["df"] == pytest.approx(
        _value(ref, outcome, "panel", "df", "did_final_vs_pre"), rel=RTOL
    )


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_cluster_period_model_matches_gls_and_hotelling(config, long, ref, outcome):
    """Team-period means, unstructured covariance: nlme::gls (REML) estimates and SEs, and the
    Hotelling-Lawley F of stats::anova.mlm for the joint arm x time test."""
    names = _term_names(config)
    res = fit_mixed_model(config, long, OUTCOMES[outcome])
    nu = _value(ref, outcome, "mixed", "df")
    est = res.estimates.set_index("term")
    for a in [f"a{t}" for t in range(2, 8)]:
        row = est.loc[names[a]]
        assert row["estimate"] == pytest.approx(
            _value(ref, outcome, "mixed", "estimate", a), rel=RTOL
        )
        assert row["se"] == pytest.approx(_value(ref, outcome, "mixed", "se", a), rel=RTOL_GLS)
        assert row["df"] == nu
    by_q = res.estimates.set_index("quantity")
    for quantity in ("difference_at_final_time", "did_final_vs_pre"):
        row = by_q.loc[quantity]
        assert row["estimate"] == pytest.approx(
            _value(ref, outcome, "mixed", "estimate", quantity), rel=RTOL
        )
        assert row["se"] == pytest.approx(
            _value(ref, outcome, "mixed", "se", quantity), rel=RTOL_GLS
        )
        assert row["df"] == nu
    # the difference at the last time is the arm coefficient of the per-time regression
    assert by_q.loc["difference_at_final_time", "estimate"] == pytest.approx(
        _value(ref, outcome, "mixed", "arm_effect", "m7"), rel=RTOL
    )
    assert res.test.F == pytest.approx(_value(ref, outcome, "mixed", "F", "arm_x_time"), rel=RTOL)
    assert res.test.num_df == _value(ref, outcome, "mixed", "num_df", "arm_x_time")
    assert res.test.den_df == _value(ref, outcome, "mixed", "den_df", "arm_x_time")
    assert res.test.den_df < 60  # of the order of the number of teams (27), not of records


# ---------------------------------------------------------------------------------------------
# The binary model of a 0/1 item
# ---------------------------------------------------------------------------------------------

RTOL_GEE = 1e-5  # geepack stops its iterations at a relative change of 1e-12 or so; R's
# eigen-decomposition and numDeriv's Jacobian add their own rounding
ITEM = AuditMeasure("values_documented", "values documented", "proportion")


@pytest.fixture(scope="module")
def ref_binary() -> pd.DataFrame:
    return pd.read_csv(BINARY_FIXTURE, comment="#", keep_default_na=False)


def _binary(ref: pd.DataFrame, quantity: str, term: str = "") -> float:
    hit = ref[(ref["quantity"] == quantity) & (ref["term"] == term)]
    assert len(hit) == 1, (quantity, term)
    return float(hit["value"].iloc[0])


def _r_name(term: str) -> str:
    """The pipeline's term name -> the R script's (treatment, trust2gether, t2, a2, ...)."""
    if term.startswith("arm[refocus]:audit_time["):
        return "a" + term[-2]
    if term.startswith("audit_time["):
        return "t" + term[-2]
    return {"arm[refocus]": "treatment", "trust[2gether]": "trust2gether"}.get(term, term)


@pytest.mark.parametrize("covariance", ["kauermann-carroll", "mancl-derouen"])
def test_coefficients_and_corrected_covariance_match_r(config, long, ref_binary, covariance):
    times = sorted(long["audit_time"].unique())
    X = binary_design(config, long, times)
    fit = fit_gee(
        long["values_documented"].to_numpy(float),
        X,
        long["team_id"].to_numpy(),
        family="binomial",
        cov_type=covariance,
    )
    names = [_r_name(c) for c in X.columns]
    assert names[:3] == ["(Intercept)", "treatment", "trust2gether"]
    expected = np.array([_binary(ref_binary, "estimate", n) for n in names])
    np.testing.assert_allclose(fit.beta, expected, rtol=RTOL_GEE)
    assert fit.alpha == pytest.approx(_binary(ref_binary, "alpha"), rel=RTOL_GEE)
    key = "cov_" + covariance.replace("-", "_")
    cov = np.array([[_binary(ref_binary, key, f"{a}:{b}") for b in names] for a in names])
    np.testing.assert_allclose(fit.cov, cov, rtol=RTOL_GEE, atol=RTOL_GEE * np.abs(cov).max())


def test_reported_odds_ratios_risk_difference_and_joint_test_match_r(config, long, ref_binary):
    """The rows the workflow writes, with the default (Kauermann-Carroll) covariance."""
    res = fit_binary_model(config, long, ITEM)
    rows = res.estimates.set_index("quantity")
    df = _binary(ref_binary, "df")
    for quantity, name in [("odds_ratio_at_final_time", "or_final"), ("did_final_vs_pre", "did")]:
        row = rows.loc[quantity]
        assert row["scale"] == "odds ratio" and row["df"] == df
        assert row["estimate"] == pytest.approx(_binary(ref_binary, name, "estimate"), rel=RTOL_GEE)
        assert row["se"] == pytest.approx(_binary(ref_binary, name, "se_log"), rel=RTOL_GEE)
        assert row["p"] == pytest.approx(_binary(ref_binary, name, "p"), rel=RTOL_GEE)
        assert row["ci_low"] == pytest.approx(_binary(ref_binary, name, "ci_low"), rel=RTOL_GEE)
        assert row["ci_high"] == pytest.approx(_binary(ref_binary, name, "ci_high"), rel=RTOL_GEE)
    rd = rows.loc["risk_difference_at_final_time"]
    assert rd["scale"] == "risk difference" and rd["df"] == df
    for column in ("estimate", "se", "ci_low", "ci_high"):
        assert rd[column] == pytest.approx(_binary(ref_binary, "rd_final", column), rel=RTOL_GEE), (
            column
        )
    # per-time odds-ratio ratios: exp of the arm x time coefficients
    slopes = rows.loc["arm_x_time"].set_index("time")["estimate"]
    for t in range(2, 8):
        assert math.log(slopes[t]) == pytest.approx(
            _binary(ref_binary, "estimate", f"a{t}"), rel=RTOL_GEE
        )
    assert res.test.F == pytest.approx(_binary(ref_binary, "wald", "F"), rel=RTOL_GEE)
    assert res.test.p == pytest.approx(_binary(ref_binary, "wald", "p"), rel=RTOL_GEE)
    assert (res.test.num_df, res.test.den_df) == (6, df)
    assert res.test.n_clusters == 27 and res.test.n_obs == len(long)
