"""A post-only three-arm trial analysed by config alone, against lme4 + pbkrtest.

The raw tables in ``data/post_only/`` (made by ``make_data.py`` there: 138 classes randomised
within 42 schools, 1 to 30 pupils per class, an end-of-year score declared as a single-variable
outcome with no baseline wave, covariates sex and age in months, nothing missing) are analysed
with ``data/post_only/post_only.yaml`` through the functions the workflow's jobs call
(validation, :func:`build_analysis_table`, :func:`fit_outcomes`). The fixture
``fixtures/post_only/lmer_kr.csv`` is made by ``tests/reference/r/post_only.R`` from the same
CSVs: ``lmer(math ~ arm + school + sex + age_months + (1 | class_id))``, REML, Kenward-Roger
df by pbkrtest (versions in ``fixtures/post_only/versions.csv``). Estimates, SEs, KR df and
variance components agree to 1e-6 relative; so do those of the same trial with a cluster-level
covariate and blank ages handled by the missing-indicator method
(``fixtures/post_only/lmer_kr_covariates.csv``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trial.analyses.outcomes import build_analysis_table, fit_outcomes
from trial.config.load import load_config, validate_config
from trial.config.vocabulary import design_matrix
from trial.data.validation import validate_inputs
from trial.stats.mixed import fit_random_intercept_model

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "post_only"
FIXTURE = HERE / "fixtures" / "post_only" / "lmer_kr.csv"
RTOL = 1e-6


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config(DATA / "post_only.yaml")


@pytest.fixture(scope="module")
def fits(config) -> pd.DataFrame:
    validate_inputs(config, DATA)  # the data pass validation ("131.0" is a whole number)
    table = build_analysis_table(config, DATA)
    return fit_outcomes(config, table)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(FIXTURE)


def test_the_model_is_post_only_with_every_stratum_level(config, fits):
    table = build_analysis_table(config, DATA)
    assert not any(c.endswith("__baseline") for c in table.columns)
    assert table["school"].nunique() == 42
    assert (fits["n_excluded"] == 0).all()


@pytest.mark.parametrize(
    ("arm", "versus"),
    [("tutoring", "control"), ("software", "control"), ("software", "tutoring")],
)
def test_estimate_se_and_kenward_roger_df_match_lme4_pbkrtest(fits, reference, arm, versus):
    got = fits[(fits["arm"] == arm) & (fits["versus"] == versus)].iloc[0]
    want = reference[(reference["arm"] == arm) & (reference["versus"] == versus)].iloc[0]
    assert got["estimate"] == pytest.approx(want["estimate"], rel=RTOL)
    assert np.sqrt(got["variance"]) == pytest.approx(want["se"], rel=RTOL)
    assert got["df"] == pytest.approx(want["df"], rel=RTOL)
    assert got["n_individuals"] == want["n_individuals"]
    assert got["n_clusters"] == want["n_clusters"]


def test_variance_components_match_lme4(fits, reference):
    assert fits["var_cluster"].iloc[0] == pytest.approx(reference["var_cluster"].iloc[0], rel=RTOL)
    assert fits["var_residual"].iloc[0] == pytest.approx(
        reference["var_residual"].iloc[0], rel=RTOL
    )


COVARIATES_FIXTURE = HERE / "fixtures" / "post_only" / "lmer_kr_covariates.csv"


@pytest.fixture(scope="module")
def with_covariates(config, tmp_path_factory):
    """The trial with teacher_years, (class number x 7) mod 31, as a cluster-level covariate, and
    blank ages (pupil numbers divisible by 97) handled by the missing-indicator method, as in
    post_only.R."""
    raw = tmp_path_factory.mktemp("post_only_covariates")
    classes = pd.read_csv(DATA / "classes.csv", dtype=str)
    classes["teacher_years"] = (classes["class_id"].str[1:].astype(int) * 7 % 31).astype(str)
    classes.to_csv(raw / "classes.csv", index=False)
    pupils = pd.read_csv(DATA / "pupils.csv", dtype=str)
    pupils.loc[pupils["pupil_id"].str[1:].astype(int) % 97 == 0, "age_months"] = ""
    pupils.to_csv(raw / "pupils.csv", index=False)
    pd.read_csv(DATA / "tests.csv", dtype=str).to_csv(raw / "tests.csv", index=False)
    changed = copy.deepcopy(config)
    changed["tables"]["classes"]["columns"]["teacher_years"] = {
        "type": "integer",
        "description": "Teacher's years of experience",
    }
    changed["covariates"] = [*changed["covariates"], "teacher_years"]
    changed["analysis"]["covariate_missing"] = {"age_months": "indicator"}
    validate_config(changed)
    validate_inputs(changed, raw)
    return changed, build_analysis_table(changed, raw)


def test_cluster_covariate_and_missing_indicator_match_lme4_pbkrtest(with_covariates):
    config, table = with_covariates
    reference = pd.read_csv(COVARIATES_FIXTURE, keep_default_na=False).set_index("arm")
    assert int(table["age_months"].isna().sum()) == reference["n_blank"].iloc[0]
    fits = fit_outcomes(config, table)
    fits = fits[fits["versus"] == "control"].set_index("arm")
    for arm in ("tutoring", "software"):
        got, want = fits.loc[arm], reference.loc[arm]
        assert got["estimate"] == pytest.approx(want["estimate"], rel=RTOL)
        assert np.sqrt(got["variance"]) == pytest.approx(want["se"], rel=RTOL)
        assert got["df"] == pytest.approx(want["df"], rel=RTOL)
    X = design_matrix(config, table, "math")
    fit = fit_random_intercept_model(
        table["math__followup"].to_numpy(float),
        X,
        table["class_id"].to_numpy(),
        reml=True,
        df_method="kenward-roger",
    )
    names = {"age_months[missing]": "age_missing", "teacher_years": "teacher_years"}
    for term, r_term in names.items():
        want = reference.loc[r_term]
        assert fit.params[term] == pytest.approx(want["estimate"], rel=RTOL)
        assert np.sqrt(fit.cov.loc[term, term]) == pytest.approx(want["se"], rel=RTOL)
        assert fit.df[term] == pytest.approx(want["df"], rel=RTOL)
