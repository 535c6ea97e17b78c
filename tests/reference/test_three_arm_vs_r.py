"""A three-arm trial through the pipeline's own design matrix and analysis, against lme4/pbkrtest.

The fixture ``fixtures/mixed/trio_example.csv`` is made by ``tests/reference/r/mixed_models.R``
(section h) from ``data/mixed/trio_example.csv``, the complete cases of the bundled three-arm
example's primary model. Tolerances as in ``test_mixed_vs_r.py``: estimates and SEs 1e-5
relative, df 1e-3 relative, p-values 1e-4 absolute.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trial.analyses.outcomes import fit_outcomes
from trial.config.load import load_config
from trial.config.vocabulary import arm_terms, design_matrix, treatment_indicators

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = HERE / "data" / "mixed"
FIXTURE = HERE / "fixtures" / "mixed" / "trio_example.csv"

RTOL_EST = 1e-5
RTOL_DF = 1e-3
ATOL_P = 1e-4


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config(ROOT / "config" / "trio.yaml")


@pytest.fixture(scope="module")
def data(config) -> pd.DataFrame:
    d = pd.read_csv(DATA / "trio_example.csv")
    for arm, column in treatment_indicators(config).items():
        d[column] = (d["allocation"] == arm).astype(int)
    return d


def _reference(quantity: str) -> pd.Series:
    fx = pd.read_csv(FIXTURE, comment="#", keep_default_na=False)
    sel = fx[(fx.fit == "REML") & (fx.quantity == quantity)]
    return pd.Series(sel.value.astype(float).to_numpy(), index=sel.term.to_numpy())


def _r_name(column: str) -> str:
    """The pipeline's ``factor[level]`` column name as R spells the coefficient."""
    return column.replace("[", "").replace("]", "")


def test_committed_r_input_is_the_bundled_example() -> None:
    from tests.reference.data.mixed.export_trio_example import primary_model_data

    committed = pd.read_csv(DATA / "trio_example.csv")
    pd.testing.assert_frame_equal(
        primary_model_data().reset_index(drop=True), committed, check_dtype=False
    )


def test_design_has_one_arm_column_per_treatment_arm(config, data) -> None:
    X = design_matrix(config, data, "phq9")
    assert [c for c in X.columns if c.startswith("allocation[")] == [
        "allocation[guided_self_help]",
        "allocation[self_help_plus_groups]",
    ]
    # the reference arm is the all-zero row of the arm columns
    arm_columns = X[list(arm_terms(config).values())]
    usual = (data["allocation"] == "usual_care").to_numpy()
    assert (arm_columns[usual] == 0).all().all()
    assert (arm_columns[~usual].sum(axis=1) == 1).all()


def test_each_arm_effect_matches_r(config, data) -> None:
    fits = fit_outcomes(config, data.assign(**_other_outcomes(config, data)))
    primary = fits[fits["outcome"] == "phq9"].set_index("term")
    estimate = _reference("estimate")
    se = _reference("se_kenward_roger")
    df = _reference("df_kenward_roger")
    for term in arm_terms(config).values():
        r = _r_name(term)
        np.testing.assert_allclose(primary.loc[term, "estimate"], estimate[r], rtol=RTOL_EST)
        np.testing.assert_allclose(np.sqrt(primary.loc[term, "variance"]), se[r], rtol=RTOL_EST)
        np.testing.assert_allclose(primary.loc[term, "df"], df[r], rtol=RTOL_DF)


def test_joint_arm_test_matches_pbkrtest(config, data) -> None:
    fits = fit_outcomes(config, data.assign(**_other_outcomes(config, data)))
    primary = fits[fits["outcome"] == "phq9"]
    np.testing.assert_allclose(
        primary["arms_den_df"].iloc[0], _reference("F_arms_kenward_roger")["den_df"], rtol=RTOL_DF
    )


def test_joint_arm_f_statistic_matches_pbkrtest(config, data) -> None:
    from trial.stats.mixed import fit_random_intercept_model

    X = design_matrix(config, data, "phq9")
    fit = fit_random_intercept_model(
        data["phq9__followup"].to_numpy(),
        X,
        data["practice_id"].to_numpy(),
        reml=True,
        df_method="kenward-roger",
    )
    terms = list(arm_terms(config).values())
    test = fit.f_test(pd.DataFrame(np.eye(len(terms)), columns=terms))
    ref = _reference("F_arms_kenward_roger")
    np.testing.assert_allclose(test.F, ref["F"], rtol=RTOL_EST)
    assert test.num_df == ref["num_df"]
    np.testing.assert_allclose(test.den_df, ref["den_df"], rtol=RTOL_DF)
    assert abs(test.p - ref["p"]) < ATOL_P


def _other_outcomes(config: dict, data: pd.DataFrame) -> dict[str, pd.Series]:
    """The secondary outcomes' columns, copied from the primary so the table is complete.

    :func:`trial.analyses.outcomes.fit_outcomes` fits every configured outcome; only the primary
    outcome's rows are compared with R.
    """
    columns = {}
    for outcome in config["analysis"]["outcomes"]:
        for time in ("baseline", "followup"):
            columns[f"{outcome['scale']}__{time}"] = data[f"phq9__{time}"]
    columns.update({c: data[c] for c in ("age", "sex", "region")})
    return columns


PAIRWISE = (
    HERE / "fixtures" / "multiplicity" / "trio_pairwise.csv"
)  # tests/reference/r/multiplicity.R


@pytest.mark.parametrize(
    ("df_method", "ddf"), [("kenward-roger", "Kenward-Roger"), ("satterthwaite", "Satterthwaite")]
)
def test_active_vs_active_contrast_matches_lmertest_contest(config, data, df_method, ddf) -> None:
    """Self-help plus groups minus guided self-help, with the contrast's own df (contest1D)."""
    config["analysis"]["df_method"] = df_method
    fits = fit_outcomes(config, data.assign(**_other_outcomes(config, data)))
    pair = fits[(fits["outcome"] == "phq9") & (fits["versus"] == "guided_self_help")]
    assert len(pair) == 1 and pair["arm"].iloc[0] == "self_help_plus_groups"
    ref = pd.read_csv(PAIRWISE).set_index("ddf").loc[ddf]
    row = pair.iloc[0]
    np.testing.assert_allclose(row["estimate"], ref["estimate"], rtol=RTOL_EST)
    np.testing.assert_allclose(np.sqrt(row["variance"]), ref["se"], rtol=RTOL_EST)
    np.testing.assert_allclose(row["df"], ref["df"], rtol=RTOL_DF)
    # the contrast's df is its own, not either arm's
    arms = fits[(fits["outcome"] == "phq9") & (fits["versus"] == "usual_care")]
    assert not np.isclose(arms["df"], row["df"], rtol=1e-3).any()
