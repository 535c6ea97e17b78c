"""Compare trial.stats.mixed with lme4 / lmerTest / pbkrtest on committed data.

Fixtures are produced by ``tests/reference/r/mixed_models.R`` (versions recorded in the header
of each fixture file); R is not needed to run these tests.

Tolerances (stated once, used throughout):

* fixed effects, standard errors (unadjusted and Kenward-Roger adjusted), variance components,
  t statistics, F statistics: 1e-5 relative;
* denominator df (Kenward-Roger, Satterthwaite, F tests): 1e-3 relative;
* p-values: 1e-4 absolute;
* log-likelihood: 1e-6 absolute (it is a sum over hundreds or thousands of observations).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trial.stats.mixed import (
    MixedModelArrayFit,
    MixedModelFit,
    fit_random_intercept_arrays,
    fit_random_intercept_model,
)

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "mixed"
FIXTURES = HERE / "fixtures" / "mixed"

RTOL_EST = 1e-5
RTOL_DF = 1e-3
ATOL_P = 1e-4
ATOL_LOGLIK = 1e-6
# absolute floor for quantities whose reference value is exactly zero (boundary variance)
ATOL_ZERO = 1e-10


@dataclass(frozen=True)
class Case:
    y: pd.Series
    X: pd.DataFrame
    clusters: pd.Series
    nested: pd.Series | None
    ftests: dict[str, list[str]]


def _case(name: str) -> Case:
    if name == "refocus":
        d = pd.read_csv(DATA / "refocus.csv")
        X = pd.DataFrame(
            {"(Intercept)": 1.0, "arm": d.arm, "baseline": d.baseline, "stratum": d.stratum}
        )
        ft = {"arm_stratum": ["arm", "stratum"], "all_slopes": ["arm", "baseline", "stratum"]}
        return Case(d.y, X, d.cluster, None, ft)
    if name == "boundary":
        d = pd.read_csv(DATA / "boundary.csv")
        X = pd.DataFrame({"(Intercept)": 1.0, "arm": d.arm, "x": d.x})
        return Case(d.y, X, d.cluster, None, {"arm_x": ["arm", "x"]})
    if name == "unbalanced":
        d = pd.read_csv(DATA / "unbalanced.csv")
        X = pd.DataFrame({"(Intercept)": 1.0, "x1": d.x1, "x2": d.x2, "z": d.z})
        return Case(d.y, X, d.cluster, None, {"x1_x2": ["x1", "x2"]})
    if name == "nlschools":
        d = pd.read_csv(DATA / "nlschools.csv")
        X = pd.DataFrame({"(Intercept)": 1.0, "IQ": d.IQ, "SES": d.SES, "COMB": d.COMB, "GS": d.GS})
        return Case(d.lang, X, d["class"].astype(str), None, {"comb_gs": ["COMB", "GS"]})
    if name == "nested_large":
        d = pd.read_csv(DATA / "nested_large.csv")
        cols_l: dict[str, object] = {"(Intercept)": 1.0, "arm": d.arm.astype(float)}
        for t in range(1, 7):
            cols_l[f"time{t}"] = (d.time == t).astype(float)
        for t in range(1, 7):
            cols_l[f"arm:time{t}"] = d.arm * (d.time == t)
        ft = {"arm_time": [f"arm:time{t}" for t in range(1, 7)]}
        return Case(d.y, pd.DataFrame(cols_l), d.team, d.consumer, ft)
    if name in ("nested", "nested_covariate"):
        d = pd.read_csv(DATA / "nested.csv")
        cols: dict[str, object] = {"(Intercept)": 1.0, "arm": d.arm}
        for t in range(1, 5):
            cols[f"time{t}"] = (d.time == t).astype(float)
        for t in range(1, 5):
            cols[f"arm:time{t}"] = d.arm * (d.time == t)
        if name == "nested_covariate":  # consumer-level, as between_within.R makes it
            cols["cons"] = (d.consumer.str[1:3].astype(int) % 3).astype(float)
        X = pd.DataFrame(cols)
        ft = {"arm_time": [f"arm:time{t}" for t in range(1, 5)]}
        return Case(d.y, X, d.team, d.consumer, ft)
    if name == "refocus_example":
        d = pd.read_csv(DATA / "refocus_example.csv")
        X = pd.DataFrame(
            {
                "(Intercept)": 1.0,
                "treatment": d.treatment.astype(float),
                "qpr_total__baseline": d.qpr_total__baseline,
                "trust2gether": (d.trust == "2gether").astype(float),
            }
        )
        ft = {"treatment_trust": ["treatment", "trust2gether"]}
        return Case(d.qpr_total__followup, X, d.team_id, None, ft)
    raise KeyError(name)


DATASETS = [
    "refocus",
    "boundary",
    "unbalanced",
    "nlschools",
    "nested",
    "refocus_example",
    "nested_large",
]
# pbkrtest (dense n x n matrices) is not run on the audit-sized nested dataset
KR_DATASETS = [d for d in DATASETS if d != "nested_large"]


def _fixture(name: str) -> pd.DataFrame:
    fx = pd.read_csv(FIXTURES / f"{name}.csv", comment="#", keep_default_na=False)
    fx["value"] = fx["value"].astype(float)
    return fx


def _ref(fx: pd.DataFrame, fit: str, quantity: str) -> pd.Series:
    sel = fx[(fx.fit == fit) & (fx.quantity == quantity)]
    return pd.Series(sel.value.to_numpy(), index=sel.term.to_numpy())


_FITS: dict[tuple[str, bool, str], MixedModelFit] = {}


def _fit(name: str, reml: bool, method: str) -> MixedModelFit:
    key = (name, reml, method)
    if key not in _FITS:
        c = _case(name)
        _FITS[key] = fit_random_intercept_model(
            c.y, c.X, c.clusters, nested=c.nested, reml=reml, df_method=method
        )
    return _FITS[key]


def _assert_rel(actual: np.ndarray, desired: np.ndarray, rtol: float, what: str) -> None:
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=ATOL_ZERO, err_msg=what)


def _vc_ref(fx: pd.DataFrame, fit: str) -> pd.Series:
    v = _ref(fx, fit, "variance")
    out = {"residual": v["Residual"]}
    for k, val in v.items():
        if k == "Residual":
            continue
        out["nested" if ":" in k else "cluster"] = val
    return pd.Series(out)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("fit", ["REML", "ML"])
def test_estimates_se_variance_loglik(name: str, fit: str) -> None:
    fx = _fixture(name)
    m = _fit(name, fit == "REML", "satterthwaite")
    est = _ref(fx, fit, "estimate")
    _assert_rel(m.params[est.index].to_numpy(), est.to_numpy(), RTOL_EST, "estimate")
    se = _ref(fx, fit, "se")
    _assert_rel(
        np.sqrt(np.diag(m.cov_unadjusted.loc[se.index, se.index])), se.to_numpy(), RTOL_EST, "se"
    )
    vc = _vc_ref(fx, fit)
    _assert_rel(m.variance_components[vc.index].to_numpy(), vc.to_numpy(), RTOL_EST, "variance")
    ll = float(_ref(fx, fit, "loglik").iloc[0])
    assert abs(m.loglik - ll) < ATOL_LOGLIK, (m.loglik, ll)
    singular = bool(_ref(fx, fit, "singular").iloc[0])
    assert m.at_boundary == singular
    assert m.reml == (fit == "REML")


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("fit", ["REML", "ML"])
def test_satterthwaite(name: str, fit: str) -> None:
    fx = _fixture(name)
    m = _fit(name, fit == "REML", "satterthwaite")
    tab = m.summary_table().set_index("term")
    df = _ref(fx, fit, "df_satterthwaite")
    _assert_rel(tab.loc[df.index, "df"].to_numpy(), df.to_numpy(), RTOL_DF, "df")
    t = _ref(fx, fit, "t_satterthwaite")
    _assert_rel(tab.loc[t.index, "t"].to_numpy(), t.to_numpy(), RTOL_EST, "t")
    p = _ref(fx, fit, "p_satterthwaite")
    np.testing.assert_allclose(tab.loc[p.index, "p"].to_numpy(), p.to_numpy(), rtol=0, atol=ATOL_P)


@pytest.mark.parametrize("name", KR_DATASETS)
def test_kenward_roger(name: str) -> None:
    fx = _fixture(name)
    m = _fit(name, True, "kenward-roger")
    tab = m.summary_table().set_index("term")
    se_adj = _ref(fx, "REML", "se_vcovadj")
    _assert_rel(tab.loc[se_adj.index, "se"].to_numpy(), se_adj.to_numpy(), RTOL_EST, "se KR")
    se_kr = _ref(fx, "REML", "se_kenward_roger")
    _assert_rel(tab.loc[se_kr.index, "se"].to_numpy(), se_kr.to_numpy(), RTOL_EST, "se KR")
    df = _ref(fx, "REML", "df_kenward_roger")
    _assert_rel(tab.loc[df.index, "df"].to_numpy(), df.to_numpy(), RTOL_DF, "df KR")
    t = _ref(fx, "REML", "t_kenward_roger")
    _assert_rel(tab.loc[t.index, "t"].to_numpy(), t.to_numpy(), RTOL_EST, "t KR")
    p = _ref(fx, "REML", "p_kenward_roger")
    np.testing.assert_allclose(tab.loc[p.index, "p"].to_numpy(), p.to_numpy(), rtol=0, atol=ATOL_P)


def _L(m: MixedModelFit, terms: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        np.eye(len(m.params))[[list(m.params.index).index(t) for t in terms]],
        columns=m.params.index,
    )


@pytest.mark.parametrize(
    ("name", "fit", "method"),
    [(name, "REML", "kenward-roger") for name in KR_DATASETS]
    + [(name, fit, "satterthwaite") for name in DATASETS for fit in ("REML", "ML")],
)
def test_f_tests(name: str, fit: str, method: str) -> None:
    fx = _fixture(name)
    m = _fit(name, fit == "REML", method)
    tag = method.replace("-", "_")
    for label, terms in _case(name).ftests.items():
        ref = _ref(fx, fit, f"F_{label}_{tag}")
        res = m.f_test(_L(m, terms))
        assert res.num_df == ref["num_df"]
        assert res.df_method == method
        _assert_rel(res.F, ref["F"], RTOL_EST, f"F {label}")
        _assert_rel(res.den_df, ref["den_df"], RTOL_DF, f"den df {label}")
        assert abs(res.p - ref["p"]) < ATOL_P
        if method == "kenward-roger":
            _assert_rel(res.F_unscaled, ref["F_unscaled"], RTOL_EST, "F unscaled")
            _assert_rel(res.scale, ref["F_scaling"], RTOL_EST, "F scaling")
        else:
            # lmerTest's contestMD does not scale its F
            assert res.scale == 1.0 and res.F_unscaled == res.F


@pytest.mark.parametrize(
    ("name", "fit", "method"),
    [(name, "REML", "kenward-roger") for name in KR_DATASETS]
    + [(name, fit, "satterthwaite") for name in DATASETS for fit in ("REML", "ML")],
)
def test_single_contrasts_and_intervals(name: str, fit: str, method: str) -> None:
    """Each coefficient as a contrast: R's estimate, SE, df, t, p, and the t interval on R's df.

    The reference interval is estimate -/+ qt(0.975, df) SE from R's own estimate, SE and df.
    """
    from scipy import stats

    fx = _fixture(name)
    m = _fit(name, fit == "REML", method)
    tag = method.replace("-", "_")
    est = _ref(fx, fit, "estimate")
    se = _ref(fx, fit, "se_kenward_roger" if method == "kenward-roger" else "se")
    df = _ref(fx, fit, f"df_{tag}")
    t = _ref(fx, fit, f"t_{tag}")
    p = _ref(fx, fit, f"p_{tag}")
    tab = m.summary_table(alpha=0.1).set_index("term")
    for term in est.index:
        c = m.contrast(pd.Series({term: 1.0}), alpha=0.1)
        q = stats.t.ppf(0.95, df[term])
        _assert_rel(c.estimate, est[term], RTOL_EST, f"estimate {term}")
        _assert_rel(c.se, se[term], RTOL_EST, f"se {term}")
        _assert_rel(c.df, df[term], RTOL_DF, f"df {term}")
        _assert_rel(c.t, t[term], RTOL_EST, f"t {term}")
        assert abs(c.p - p[term]) < ATOL_P
        half = q * se[term]
        # the limits move with the df by about SE dq/ddf; 1e-3 of a half-width covers it
        assert c.ci_low == pytest.approx(est[term] - half, abs=1e-3 * half)
        assert c.ci_high == pytest.approx(est[term] + half, abs=1e-3 * half)
        assert (c.alpha, c.df_method) == (0.1, method)
        assert tab.loc[term, "ci_low"] == pytest.approx(c.ci_low, rel=1e-12)
        assert tab.loc[term, "ci_high"] == pytest.approx(c.ci_high, rel=1e-12)


# -- the REFOCUS example's primary model through the pipeline's own design matrix ---------------


def test_refocus_example_data_match_the_bundled_example() -> None:
    """The committed R input is the example's current complete-case primary-model data."""
    from tests.reference.data.mixed.export_refocus_example import primary_model_data

    committed = pd.read_csv(DATA / "refocus_example.csv")
    rebuilt = primary_model_data()
    pd.testing.assert_frame_equal(
        rebuilt.reset_index(drop=True), committed, check_dtype=False, check_exact=False, rtol=1e-15
    )


def test_refocus_example_pipeline_design_matches_r() -> None:
    """trial.config.vocabulary.design_matrix + the engine reproduce lme4/pbkrtest on the example."""
    from trial.config.load import load_config
    from trial.config.vocabulary import arm_term, design_matrix

    config = load_config(HERE.parents[1] / "config" / "refocus.yaml")
    d = pd.read_csv(DATA / "refocus_example.csv")
    X = design_matrix(config, d, "qpr_total")
    rename = {arm_term(config): "treatment", "trust[2gether]": "trust2gether"}
    X = X.rename(columns=rename)
    fx = _fixture("refocus_example")
    fit = fit_random_intercept_model(
        d.qpr_total__followup, X, d.team_id, reml=True, df_method="kenward-roger"
    )
    tab = fit.summary_table().set_index("term")
    est = _ref(fx, "REML", "estimate")
    _assert_rel(tab.loc[est.index, "estimate"].to_numpy(), est.to_numpy(), RTOL_EST, "estimate")
    se = _ref(fx, "REML", "se_kenward_roger")
    _assert_rel(tab.loc[se.index, "se"].to_numpy(), se.to_numpy(), RTOL_EST, "se KR")
    df = _ref(fx, "REML", "df_kenward_roger")
    _assert_rel(tab.loc[df.index, "df"].to_numpy(), df.to_numpy(), RTOL_DF, "df KR")


# -- the lean array entry point on the same fixtures ------------------------------------------


def _fit_arrays(name: str, reml: bool, method: str) -> tuple[MixedModelArrayFit, list[str]]:
    """Fit through fit_random_intercept_arrays: numpy design, integer codes, no labels."""
    c = _case(name)
    codes = pd.factorize(c.clusters.to_numpy())[0]
    nested = None if c.nested is None else pd.factorize(c.nested.to_numpy())[0]
    fit = fit_random_intercept_arrays(
        c.y.to_numpy(dtype=float),
        c.X.to_numpy(dtype=float),
        codes,
        nested=nested,
        reml=reml,
        df_method=method,
    )
    return fit, [str(t) for t in c.X.columns]


@pytest.mark.parametrize(
    ("name", "fit", "method"),
    [(name, "REML", "kenward-roger") for name in KR_DATASETS]
    + [(name, fit, "satterthwaite") for name in DATASETS for fit in ("REML", "ML")],
)
def test_array_entry_point(name: str, fit: str, method: str) -> None:
    fx = _fixture(name)
    m, terms = _fit_arrays(name, fit == "REML", method)

    def pos(ref: pd.Series) -> list[int]:
        return [terms.index(t) for t in ref.index]

    est = _ref(fx, fit, "estimate")
    _assert_rel(m.beta[pos(est)], est.to_numpy(), RTOL_EST, "estimate")
    se = _ref(fx, fit, "se")
    _assert_rel(np.sqrt(np.diag(m.cov_unadjusted))[pos(se)], se.to_numpy(), RTOL_EST, "se")
    vc = _vc_ref(fx, fit)
    nested = m.n_groups_nested is not None
    order = ["cluster", "nested", "residual"] if nested else ["cluster", "residual"]
    _assert_rel(
        m.variance_components[[order.index(k) for k in vc.index]], vc.to_numpy(), RTOL_EST, "vc"
    )
    assert abs(m.loglik - float(_ref(fx, fit, "loglik").iloc[0])) < ATOL_LOGLIK
    assert m.at_boundary == bool(_ref(fx, fit, "singular").iloc[0])
    tab = m.summary()
    tag = "kenward_roger" if method == "kenward-roger" else "satterthwaite"
    if method == "kenward-roger":
        se_kr = _ref(fx, fit, "se_kenward_roger")
        _assert_rel(tab["se"][pos(se_kr)], se_kr.to_numpy(), RTOL_EST, "se KR")
    df = _ref(fx, fit, f"df_{tag}")
    _assert_rel(tab["df"][pos(df)], df.to_numpy(), RTOL_DF, "df")
    t = _ref(fx, fit, f"t_{tag}")
    _assert_rel(tab["t"][pos(t)], t.to_numpy(), RTOL_EST, "t")
    p = _ref(fx, fit, f"p_{tag}")
    np.testing.assert_allclose(tab["p"][pos(p)], p.to_numpy(), rtol=0, atol=ATOL_P)
    for label, ft_terms in _case(name).ftests.items():
        ref = _ref(fx, fit, f"F_{label}_{tag}")
        res = m.f_test(np.eye(len(terms))[[terms.index(k) for k in ft_terms]])
        assert res.num_df == ref["num_df"]
        _assert_rel(res.F, ref["F"], RTOL_EST, f"F {label}")
        _assert_rel(res.den_df, ref["den_df"], RTOL_DF, f"den df {label}")
        assert abs(res.p - ref["p"]) < ATOL_P


# -- between-within df and multi-df F tests (tests/reference/r/between_within.R) ---------------

# the tests of between_within.R: coefficients set to zero by each
BW_TESTS = {
    "refocus": {"arm_stratum": ["arm", "stratum"], "all_slopes": ["arm", "baseline", "stratum"]},
    "boundary": {"arm_x": ["arm", "x"]},
    "unbalanced": {"x1_x2": ["x1", "x2"], "x1_z": ["x1", "z"]},
    "nlschools": {"comb_gs": ["COMB", "GS"], "iq_ses": ["IQ", "SES"], "iq_gs": ["IQ", "GS"]},
    "nested": {
        "arm_time": [f"arm:time{t}" for t in range(1, 5)],
        "arm_time1": ["arm", "time1"],
    },
    "nested_covariate": {"arm_cons": ["arm", "cons"], "cons_time1": ["cons", "time1"]},
}


@pytest.mark.parametrize("name", list(BW_TESTS))
@pytest.mark.parametrize("fit", ["REML", "ML"])
def test_between_within_against_r(name: str, fit: str) -> None:
    """Per-coefficient df (the rule computed in R from its definition) and Wald F tests.

    R's F is lmerTest's contestMD F value (the Wald statistic with lme4's covariance over q),
    its den df the smallest between-within df of the coefficients tested.
    """
    fx = _fixture("between_within")
    fx = fx[fx.dataset == name]
    m = _fit(name, fit == "REML", "between-within")
    df = _ref(fx, fit, "df_between_within")
    np.testing.assert_array_equal(m.df[df.index].to_numpy(), df.to_numpy())
    for label, terms in BW_TESTS[name].items():
        ref = _ref(fx, fit, f"F_{label}_between_within")
        res = m.f_test(_L(m, terms))
        assert res.num_df == ref["num_df"] >= 2
        assert res.den_df == ref["den_df"]
        _assert_rel(res.F, ref["F"], RTOL_EST, f"F {label}")
        assert res.F_unscaled == res.F and res.scale == 1.0
        assert res.df_method == "between-within"
        _assert_rel(res.p, ref["p"], 1e-4, f"p {label}")
        # a single contrast of the same coefficients has the same (smallest) df
        c = m.contrast(pd.Series(1.0, index=terms))
        assert c.df == ref["den_df"]


# -- the Kenward-Roger df and F scaling from A1, A2 and q (tests/reference/r/kr_ddf.R) --------


KR_DDF = pd.read_csv(FIXTURES / "kr_ddf.csv", comment="#")


@pytest.mark.parametrize("row", KR_DDF.to_dict("records"), ids=list(KR_DDF["case"]))
def test_kr_df_and_scaling_match_pbkrtest(row: dict) -> None:
    """pbkrtest's .KR_adjust on inputs built to give chosen A1 and A2: ordinary cases, a df
    within 0.01 of 2 (scaling set to 1), V0 = 0 (|V0| < 1e-10 set to 0) and V0 < 0."""
    from trial.stats.mixed.ddf import _kr_df_from_a

    ddf, scale, q = _kr_df_from_a(row["A1"], row["A2"], int(row["q"]))
    assert q == row["q"]
    assert ddf == pytest.approx(row["ddf"], rel=1e-10, abs=1e-12)
    assert scale == pytest.approx(row["F_scaling"], rel=1e-10, abs=1e-12)


# -- branches of the multi-df Satterthwaite F test (tests/reference/r/satterthwaite_f.R) --------

SATT_F = pd.read_csv(FIXTURES / "satterthwaite_f.csv", comment="#")
SATT_F_TERMS = {
    "arm_z": ["arm", "z"],
    "time": ["time1", "time2"],
    "arm_time": ["arm", "time1", "time2"],
}


def _satt_f_case(dataset: str) -> tuple[pd.Series, pd.DataFrame, pd.Series]:
    d = pd.read_csv(DATA / f"{dataset}.csv")
    if dataset == "satt_few_clusters":
        X = pd.DataFrame({"(Intercept)": 1.0, "arm": d.arm, "z": d.z, "x": d.x})
    else:
        X = pd.DataFrame(
            {
                "(Intercept)": 1.0,
                "arm": d.arm,
                "time1": (d.time == 1) * 1.0,
                "time2": (d.time == 2) * 1.0,
            }
        )
    return d.y, X.astype(float), d.cluster


@pytest.mark.parametrize(
    "row",
    SATT_F.to_dict("records"),
    ids=[f"{r.dataset}-{r.fit}-{r.test}" for r in SATT_F.itertuples()],
)
def test_satterthwaite_f_branches(row: dict) -> None:
    """A direction with df <= 2 (den df 2), equal df (their mean), equal and unequal (combined)."""
    y, X, cl = _satt_f_case(row["dataset"])
    fit = fit_random_intercept_model(y, X, cl, reml=row["fit"] == "REML", df_method="satterthwaite")
    terms = SATT_F_TERMS[row["test"]]
    coef_df = [float(v) for v in row["coefficient_df"].split(";")]
    _assert_rel(fit.df[terms].to_numpy(), coef_df, RTOL_DF, "coefficient df")
    res = fit.f_test(_L(fit, terms))
    assert res.num_df == row["num_df"]
    _assert_rel(res.F, row["F"], RTOL_EST, "F")
    _assert_rel(res.den_df, row["den_df"], RTOL_DF, "den df")
    assert abs(res.p - row["p"]) < ATOL_P
