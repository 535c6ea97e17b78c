"""Sensitivity analyses of a binary primary outcome against lme4 + mitml and R's t.test.

The fixture (tests/reference/r/binary_sensitivity.R) takes the five completed datasets of
``binary_pooled.R`` and one of them with follow-up values deleted at random given baseline, and
computes in R: the complete-case GLMM (``lme4::glmer``, nAGQ 10, all of the primary model's
terms) on the observed rows; the unadjusted GLMM (arm only) per completed dataset pooled by
``mitml::testEstimates``; and the two-stage cluster-level risk difference and log risk ratio
(stage 1 ``glm`` without arm, stage 2 ``t.test(var.equal = TRUE)`` of the cluster residuals, df
clusters - 3) pooled the same way. With ``analysis.non_gaussian.method: gee`` the complete-case
and unadjusted rows are ``geepack::geeglm`` (exchangeable) with the Kauermann-Carroll covariance
(the config's ``gee_covariance``, written out in ``gee_corrections.R``) and t on clusters minus
coefficients. Tolerances: the GLMM rows as in ``test_binary_pooled_vs_r.py`` (lme4 stops at its
own tolerance: 1e-4 relative for estimate and SE, 1e-3 for the Barnard-Rubin df and p, interval
limits within 1e-3 of the SE); the GEE rows 1e-5 (geepack run to its tightest tolerance, as in
``test_gee_vs_r.py``); the cluster-level rows involve no iterative fit other than an ordinary
logistic regression, 1e-8.
"""

from __future__ import annotations

import pandas as pd
import pytest

from trial.analyses.sensitivity import sensitivity_analyses
from trial.config.load import load_config

from ..conftest import ROOT

FIXTURES = ROOT / "tests" / "reference" / "fixtures"
MODEL_ROWS = ("complete_case", "unadjusted")
TOLERANCE = {"glmm": (1e-4, 1e-3), "gee": (1e-5, 1e-5), "any": (1e-8, 1e-8)}


def _sensitivity(method: str) -> pd.DataFrame:
    config = load_config(ROOT / "config" / "pulse.yaml")
    config["analysis"]["non_gaussian"]["method"] = method
    assert config["analysis"]["non_gaussian"]["gee_covariance"] == "kauermann-carroll"
    dtype = {"region": str, "sex": str}
    observed = pd.read_csv(FIXTURES / "binary_sensitivity" / "observed.csv", dtype=dtype)
    data = pd.read_csv(FIXTURES / "binary" / "completed.csv", dtype=dtype)
    completed = [part.drop(columns=".imp") for _, part in data.groupby(".imp", sort=True)]
    return sensitivity_analyses(config, observed, completed).set_index("analysis")


@pytest.fixture(scope="module")
def result() -> pd.DataFrame:
    return _sensitivity("glmm")


@pytest.fixture(scope="module")
def gee_result() -> pd.DataFrame:
    return _sensitivity("gee")


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    r = pd.read_csv(FIXTURES / "binary_sensitivity" / "results.csv")
    return r.replace({"cluster_level_log_risk_ratio": "cluster_level_risk_ratio"}).set_index(
        ["method", "analysis"]
    )


def test_rows_and_measures(result):
    assert list(result.index) == [
        "complete_case",
        "unadjusted",
        "cluster_level_risk_difference",
        "cluster_level_risk_ratio",
    ]
    assert list(result["measure"]) == [
        "log odds ratio",
        "log odds ratio",
        "risk difference",
        "log risk ratio",
    ]
    assert result.loc["complete_case", "n_imputations"] == 0
    assert (result.loc[result.index != "complete_case", "n_imputations"] == 5).all()


def _matches(ours: pd.Series, ref: pd.Series, method: str) -> None:
    rel, loose = TOLERANCE[method]
    assert ours["estimate"] == pytest.approx(ref["estimate"], rel=rel)
    assert ours["se"] == pytest.approx(ref["se"], rel=rel)
    assert ours["df"] == pytest.approx(ref["df"], rel=loose)
    assert ours["p"] == pytest.approx(ref["p"], rel=loose)
    for limit in ("ci_low", "ci_high"):
        assert ours[limit] == pytest.approx(ref[limit], abs=loose * ref["se"])
    assert ours["n_individuals"] == ref["n_individuals"]
    assert ours["n_clusters"] == 34


@pytest.mark.parametrize(
    "analysis",
    [
        "complete_case",
        "unadjusted",
        "cluster_level_risk_difference",
        "cluster_level_risk_ratio",
    ],
)
def test_each_analysis_matches_r(result, reference, analysis):
    method = "glmm" if analysis in MODEL_ROWS else "any"
    _matches(result.loc[analysis], reference.loc[(method, analysis)], method)


@pytest.mark.parametrize("analysis", MODEL_ROWS)
def test_gee_rows_match_geepack_with_the_kauermann_carroll_covariance(
    gee_result, reference, analysis
):
    ours = gee_result.loc[analysis]
    assert ours["df_method"] != "between-within"
    _matches(ours, reference.loc[("gee", analysis)], "gee")
    # the GEE rows are not the GLMM's: a test against the wrong model would fail
    glmm = reference.loc[("glmm", analysis)]
    assert abs(ours["estimate"] - glmm["estimate"]) > 100 * 1e-5 * abs(glmm["estimate"])


def test_cluster_level_rows_do_not_depend_on_the_model(result, gee_result):
    rows = ["cluster_level_risk_difference", "cluster_level_risk_ratio"]
    pd.testing.assert_frame_equal(result.loc[rows], gee_result.loc[rows])
