"""The stepped-wedge models against lme4 / lmerTest / pbkrtest on the bundled example's data.

Fixture: ``tests/reference/r/stepped_wedge.R`` on ``tests/reference/data/stepped/
stepped_example.csv`` (exported from the example by ``export_stepped_example.py``); versions in
the fixture's header. The treatment effect, its Kenward-Roger SE and df, and the Satterthwaite
df must agree to 1e-6 relative (both optimisers stop far below that; measured: 6e-8 at most);
variance components to 1e-5.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from trial.config import load_config
from trial.stepped_wedge import (
    EXPOSURE_TERM,
    PERIOD_TERM,
    TREATMENT_TERM,
    design_data,
    fit_stepped_wedge,
)

from ..conftest import ROOT

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "stepped" / "stepped_example.csv"
FIXTURE = HERE / "fixtures" / "stepped" / "stepped_example.csv"
RTOL = 1e-6
RTOL_VARIANCE = 1e-5


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
    assert _kr_triple(fit.effect) == pytest.approx(
        [_value(reference, model, q, TREATMENT_TERM) for q in KR_QUANTITIES], rel=RTOL
    )
    for term, estimate in fit.fit.params.items():
        assert estimate == pytest.approx(
            _value(reference, model, "estimate", _r_term(term)), rel=RTOL
        ), term
    assert fit.n_obs == _value(reference, model, "n_obs", "")
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


def test_the_designs_sensitivity_table_holds_the_other_models_fits(reference):
    """The workflow's sensitivity table (primary: nested exchangeable, one treatment effect) holds
    the Hussey & Hughes treatment effect and the exposure-time effects of lme4 / pbkrtest."""
    from trial.stepped_wedge import analyse_design, sensitivity_table

    config = load_config(ROOT / "config" / "stepped.yaml")
    table = sensitivity_table(config, analyse_design(config, ROOT / config["paths"]["raw"]))
    rows = table.set_index(["model", "effect"])
    expected = {
        ("hussey_hughes", "treatment"): ("hussey_hughes", TREATMENT_TERM, None),
        ("nested_exchangeable", "exposure mean"): ("exposure_time", None, "mean"),
        **{
            ("nested_exchangeable", f"exposure {k}"): ("exposure_time", f"exposure{k}", None)
            for k in range(1, 5)
        },
    }
    assert sorted(rows.index) == sorted(expected)
    for key, (model, term, mean) in expected.items():
        row = rows.loc[key]
        if mean:
            want = [_value(reference, model, "mean_exposure_effect", q) for q in KR_QUANTITIES]
        else:
            want = [_value(reference, model, q, term) for q in KR_QUANTITIES]
        assert [row["estimate"], row["se"], row["df"]] == pytest.approx(want, rel=RTOL), key
    hh = rows.loc[("hussey_hughes", "treatment")]
    assert hh["var_cluster"] == pytest.approx(
        _value(reference, "hussey_hughes", "variance", "cluster"), rel=RTOL_VARIANCE
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
