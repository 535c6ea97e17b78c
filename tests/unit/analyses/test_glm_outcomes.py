"""Binomial and poisson outcomes: the per-imputation model, marginal measures and their pooling."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from trial.analyses.glm_outcomes import proportion_icc
from trial.analyses.outcomes import fit_outcomes
from trial.analyses.pooled_outcomes import pool_marginal, pool_outcomes
from trial.config.load import load_config
from trial.config.vocabulary import design_matrix, followup_column
from trial.stats.glmm import fit_glmm
from trial.stats.marginal import standardise
from trial.stats.pooling import pool_rubin

from ...conftest import ROOT

FIXTURE = ROOT / "tests" / "reference" / "fixtures" / "binary" / "completed.csv"


@pytest.fixture(scope="module")
def pulse() -> dict:
    return load_config(ROOT / "config" / "pulse.yaml")


@pytest.fixture(scope="module")
def tables() -> list[pd.DataFrame]:
    data = pd.read_csv(FIXTURE, dtype={"region": str, "sex": str})
    return [part.drop(columns=".imp") for _, part in data.groupby(".imp", sort=True)][:3]


def test_the_fit_row_holds_the_glmm_and_its_standardised_risks(pulse, tables):
    table = tables[0]
    row = fit_outcomes(pulse, table).set_index("outcome").loc["bp_controlled"]
    X = design_matrix(pulse, table, "bp_controlled")
    y = table[followup_column("bp_controlled")]
    fit = fit_glmm(y, X, table["practice_id"], family="binomial", n_agq=10)
    term = "allocation[nurse_review]"
    assert row["estimate"] == pytest.approx(fit.params[term], rel=1e-12)
    assert row["df"] == 34 - 3  # intercept, arm and region are constant within practices
    assert row["var_cluster"] == pytest.approx(fit.arrays.variance, rel=1e-12)
    risks = standardise(fit, X.assign(**{term: 1.0}), X.assign(**{term: 0.0}))
    assert row["risk_difference"] == pytest.approx(risks.difference.estimate, rel=1e-12)
    assert row["risk_difference_variance"] == pytest.approx(risks.difference.se**2, rel=1e-12)
    assert row["log_risk_ratio"] == pytest.approx(math.log(risks.ratio.estimate), rel=1e-12)
    assert row["log_marginal_or"] == pytest.approx(math.log(risks.odds_ratio.estimate), rel=1e-12)


def test_marginal_measures_are_pooled_by_rubin_in_the_reported_direction(pulse, tables):
    fits = [fit_outcomes(pulse, t) for t in tables]
    pooled = pool_marginal(pulse, fits).set_index("measure")
    assert list(pooled.index) == ["marginal odds ratio", "risk difference", "risk ratio"]
    rows = [f.set_index("outcome").loc["bp_controlled"] for f in fits]
    by_hand = pool_rubin(
        [r["log_risk_ratio"] for r in rows],
        [r["log_risk_ratio_variance"] for r in rows],
        df_complete=31.0,
    )
    assert pooled.loc["risk ratio", "estimate"] == pytest.approx(math.exp(by_hand.estimate))
    assert pooled.loc["risk ratio", "ci_low"] == pytest.approx(math.exp(by_hand.ci_low))
    assert pooled.loc["risk ratio", "df"] == pytest.approx(by_hand.df)

    reverse = copy.deepcopy(pulse)
    reverse["analysis"]["outcomes"][0]["direction"] = "reference_minus_treatment"
    reverse["analysis"]["outcomes"][0]["measures"] = ["risk_difference", "risk_ratio"]
    flipped = pool_marginal(reverse, fits).set_index("measure")
    assert list(flipped.index) == ["risk difference", "risk ratio"]
    assert flipped.loc["risk difference", "estimate"] == pytest.approx(
        -pooled.loc["risk difference", "estimate"]
    )
    assert flipped.loc["risk ratio", "estimate"] == pytest.approx(
        1 / pooled.loc["risk ratio", "estimate"]
    )
    assert flipped.loc["risk difference", "contrast"] == "Usual care minus Nurse-led review"


def test_outcome_rows_carry_the_ratio_and_gaussian_rows_are_unchanged(pulse, tables):
    fits = [fit_outcomes(pulse, t) for t in tables]
    pooled = pool_outcomes(pulse, fits).set_index("outcome")
    for outcome, measure in (
        ("bp_controlled", "log odds ratio"),
        ("consultations", "log rate ratio"),
    ):
        row = pooled.loc[outcome]
        assert row["measure"] == measure
        assert row["ratio"] == pytest.approx(math.exp(row["estimate"]))
        assert row["ratio_ci_high"] == pytest.approx(math.exp(row["ci_high"]))
    gaussian = copy.deepcopy(pulse)
    for outcome in gaussian["analysis"]["outcomes"]:
        outcome["family"] = "gaussian"
        outcome.pop("measures", None)
    plain = pool_outcomes(gaussian, [fit_outcomes(gaussian, t) for t in tables])
    assert not {"family", "model", "measure", "ratio"} & set(plain.columns)
    assert pool_marginal(gaussian, []).empty


def test_proportion_icc_is_the_variance_of_cluster_risks_over_the_bernoulli_variance():
    assert proportion_icc(0.3, 0.0) == pytest.approx(0.0, abs=1e-15)
    rng = np.random.default_rng(5)
    risk = special.expit(-0.4 + 0.8 * rng.standard_normal(2_000_000))
    p = risk.mean()
    simulated = risk.var() / (p * (1 - p))
    # Monte Carlo SE of a variance ratio from 2e6 draws is below 1e-4 here
    assert proportion_icc(-0.4, 0.8) == pytest.approx(simulated, abs=5e-4)
