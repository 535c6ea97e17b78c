"""The stepped-wedge models against lme4 / lmerTest / pbkrtest on the bundled example's data.

Fixture: ``tests/reference/r/stepped_wedge.R`` on ``tests/reference/data/stepped/
stepped_example.csv`` (exported from the example by ``export_stepped_example.py``); versions in
the fixture's header. The treatment effect, its Kenward-Roger SE and df, and the Satterthwaite
df must agree to 1e-6 relative (both optimisers stop far below that; measured: 6e-8 at most);
variance components to 1e-5.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

from trial.analyses.stepped_wedge import (
    EXPOSURE_TERM,
    PERIOD_TERM,
    TREATMENT_TERM,
    adjusted_for,
    analyse_design,
    design_data,
    fit_stepped_wedge,
    sensitivity_table,
)
from trial.config.load import load_config
from trial.config.vocabulary import cluster_covariates

from ..conftest import ROOT

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "stepped" / "stepped_example.csv"
FIXTURE = HERE / "fixtures" / "stepped" / "stepped_example.csv"
RTOL = 1e-6
RTOL_VARIANCE = 1e-5
# The exposure-time model with the baseline score, age and ward beds (three uncentred covariates)
# has a REML surface so flat near its optimum that the two fits' log-likelihoods agree to 1e-14
# relative while their variance ratios differ by 5e-6 and the mean exposure effect by 1.2e-6
# (the engine warns that it verified the optimum only to a scaled gradient of 1.5e-6): that
# model's exposure effects and their mean are compared to 1e-5.
RTOL_FLAT = 1e-5


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(FIXTURE, comment="#", keep_default_na=False)


@pytest.fixture(scope="module")
def example():
    config = load_config(ROOT / "config" / "stepped.yaml")
    return design_data(config, "readiness", ROOT / config["paths"]["raw"])


def _value(reference: pd.DataFrame, model: str, quantity: str, term: str) -> float:
    row = reference[
        (reference.model == model) & (reference.quantity == quantity) & (reference.term == term)
    ]
    assert len(row) == 1, (model, quantity, term)
    return float(row.value.iloc[0])


KR_QUANTITIES = ("estimate", "se_kenward_roger", "df_kenward_roger")


def _kr_triple(effect) -> list[float]:
    return [effect.estimate, effect.se, effect.df]


def _r_term(term: str) -> str:
    """lme4's name of one of this module's terms."""
    if term.startswith(PERIOD_TERM.format("")):
        return "period" + term.removeprefix(PERIOD_TERM.format(""))
    if term.startswith(EXPOSURE_TERM.format("")):
        return "exposure" + term.removeprefix(EXPOSURE_TERM.format(""))
    return term


def _assert_fit_matches(reference: pd.DataFrame, model: str, fit) -> None:
    """The treatment effect's estimate, KR SE and df, and every coefficient, as lme4 has them."""
    assert _kr_triple(fit.effect) == pytest.approx(
        [_value(reference, model, q, TREATMENT_TERM) for q in KR_QUANTITIES], rel=RTOL
    )
    for term, estimate in fit.fit.params.items():
        assert estimate == pytest.approx(
            _value(reference, model, "estimate", _r_term(term)), rel=RTOL
        ), term
    assert fit.n_obs == _value(reference, model, "n_obs", "")


def test_the_exported_data_are_the_examples():
    spec = importlib.util.spec_from_file_location(
        "export", DATA.parent / "export_stepped_example.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = pd.read_csv(DATA, dtype={"cluster": str, "period": str})
    pd.testing.assert_frame_equal(module.example_data(ROOT), committed, check_dtype=False)


@pytest.mark.parametrize("model", ["hussey_hughes", "nested_exchangeable"])
def test_treatment_effect_se_and_kr_df_match_pbkrtest(reference, example, model):
    schedule, data = example
    fit = fit_stepped_wedge(data, schedule, model=model)
    _assert_fit_matches(reference, model, fit)
    assert fit.n_obs + fit.n_excluded == len(data)


@pytest.mark.parametrize("model", ["hussey_hughes", "nested_exchangeable"])
def test_variance_components_and_satterthwaite_df_match_lmertest(reference, example, model):
    schedule, data = example
    fit = fit_stepped_wedge(data, schedule, model=model, df_method="satterthwaite")
    assert fit.effect.df == pytest.approx(
        _value(reference, model, "df_satterthwaite", TREATMENT_TERM), rel=RTOL
    )
    assert fit.effect.se == pytest.approx(_value(reference, model, "se", TREATMENT_TERM), rel=RTOL)
    names = {"cluster": "cluster", "cluster_period": "cluster:period", "residual": "Residual"}
    for name, variance in fit.variance_components.items():
        assert variance == pytest.approx(
            _value(reference, model, "variance", names[name]), rel=RTOL_VARIANCE
        ), name


def test_time_on_treatment_mean_effect_matches_pbkrtest(reference, example):
    schedule, data = example
    fit = fit_stepped_wedge(data, schedule, time_on_treatment=True)
    model = "exposure_time"
    for k, effect in enumerate(fit.exposure_effects, 1):
        assert _kr_triple(effect) == pytest.approx(
            [_value(reference, model, q, f"exposure{k}") for q in KR_QUANTITIES], rel=RTOL
        )
    assert len(fit.exposure_effects) == 4
    assert _kr_triple(fit.effect) == pytest.approx(
        [_value(reference, model, "mean_exposure_effect", q) for q in KR_QUANTITIES], rel=RTOL
    )


def test_the_examples_model_adjusted_for_baseline_and_age_matches_pbkrtest(reference):
    """The workflow's model of the example as its config declares it: the admission score (the
    outcome's baseline) and age, every coefficient and the treatment effect's KR triple."""
    config = load_config(ROOT / "config" / "stepped.yaml")
    assert adjusted_for(config, "readiness") == ["baseline", "age"]
    fit = analyse_design(config, ROOT / config["paths"]["raw"]).fits["readiness"]
    assert {"baseline", "age"} <= set(fit.fit.params.index)
    _assert_fit_matches(reference, "nested_exchangeable_baseline_age", fit)


@pytest.fixture(scope="module")
def with_cluster_covariate(tmp_path_factory):
    """The example with the invented ward-level covariate ``beds`` in its wards table, declared
    in config and adjusted for with the baseline score and age."""
    raw = tmp_path_factory.mktemp("stepped_beds")
    config = load_config(ROOT / "config" / "stepped.yaml")
    source = ROOT / config["paths"]["raw"]
    for spec in config["tables"].values():
        shutil.copy(source / spec["file"], raw / spec["file"])
    wards = pd.read_csv(raw / "wards.csv", dtype=str)
    beds = pd.read_csv(DATA.parent / "ward_beds.csv", dtype={"ward_id": str})
    wards.merge(beds, on="ward_id", validate="one_to_one").to_csv(raw / "wards.csv", index=False)
    config["tables"]["wards"]["columns"]["beds"] = {
        "type": "integer", "min": 1, "max": 100, "description": "Beds on the ward",
    }
    config["covariates"] = ["age", "beds"]
    return config, analyse_design(config, raw)


def test_a_cluster_level_covariate_is_joined_by_cluster_and_matches_pbkrtest(
    reference, with_cluster_covariate
):
    config, analysis = with_cluster_covariate
    assert cluster_covariates(config) == ["beds"]
    fit = analysis.fits["readiness"]
    assert "beds" in fit.fit.params.index
    _assert_fit_matches(reference, "nested_exchangeable_covariates", fit)


def test_the_designs_sensitivity_table_holds_the_other_models_fits(
    reference, with_cluster_covariate
):
    """The workflow's sensitivity table (primary: nested exchangeable, one treatment effect) holds
    the Hussey & Hughes treatment effect and the exposure-time effects of lme4 / pbkrtest, with
    the same adjustment as the primary model."""
    config, analysis = with_cluster_covariate
    rows = sensitivity_table(config, analysis).set_index(["model", "effect"])
    expected = {
        ("hussey_hughes", "treatment"): ("hussey_hughes_covariates", TREATMENT_TERM, None),
        ("nested_exchangeable", "exposure mean"): ("exposure_time_covariates", None, "mean"),
        **{
            ("nested_exchangeable", f"exposure {k}"): (
                "exposure_time_covariates",
                f"exposure{k}",
                None,
            )
            for k in range(1, 5)
        },
    }
    assert sorted(rows.index) == sorted(expected)
    assert set(rows["adjusted_for"]) == {"baseline; age; beds"}
    for key, (model, term, mean) in expected.items():
        row = rows.loc[key]
        rtol = RTOL_FLAT if model == "exposure_time_covariates" else RTOL
        if mean:
            want = [_value(reference, model, "mean_exposure_effect", q) for q in KR_QUANTITIES]
        else:
            want = [_value(reference, model, q, term) for q in KR_QUANTITIES]
        assert [row["estimate"], row["se"], row["df"]] == pytest.approx(want, rel=rtol), key
    hh = rows.loc[("hussey_hughes", "treatment")]
    assert hh["var_cluster"] == pytest.approx(
        _value(reference, "hussey_hughes_covariates", "variance", "cluster"), rel=RTOL_VARIANCE
    )
    assert hh["cac"] == 1.0 and hh["icc_within_period"] == hh["icc_between_period"]


def test_iccs_and_cac_of_the_nested_exchangeable_fit_follow_lme4s_variances(reference, example):
    schedule, data = example
    fit = fit_stepped_wedge(data, schedule, model="nested_exchangeable")
    c, cp, e = (
        _value(reference, "nested_exchangeable", "variance", name)
        for name in ("cluster", "cluster:period", "Residual")
    )
    assert fit.icc_within_period == pytest.approx((c + cp) / (c + cp + e), rel=RTOL_VARIANCE)
    assert fit.icc_between_period == pytest.approx(c / (c + cp + e), rel=RTOL_VARIANCE)
    assert fit.cluster_autocorrelation == pytest.approx(c / (c + cp), rel=RTOL_VARIANCE)
