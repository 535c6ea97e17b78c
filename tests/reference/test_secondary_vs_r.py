"""Compare the secondary analyses with R on committed data.

Fixtures are produced by ``tests/reference/r/secondary.R`` (AER::ivreg with
sandwich::vcovCL(type = "HC1"); stats::aov mean squares with Searle's interval; lm and t.test
for the two-stage cluster-level analysis; lme4::lmer for the model-adjusted ICC); R is not
needed to run these tests.

Tolerances: closed forms (estimates, cluster-robust and model-based standard errors, ANOVA ICC
and its limits, two-stage t tests) 1e-8 relative, being the same formulas computed in a
different order; REML variance components and the ICC from them 1e-5 relative (two optimisers
converging to the same optimum).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from trial.analyses.icc import adjusted_icc, anova_icc, icc_table
from trial.analyses.sensitivity import cluster_mean_residuals
from trial.stats.iv import cluster_level_iv, two_stage_least_squares
from trial.stats.two_stage import cluster_level_fit

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "secondary"
FIXTURES = HERE / "fixtures" / "secondary"


def _iv_data() -> pd.DataFrame:
    return pd.read_csv(DATA / "iv.csv")


def test_iv_estimate_and_clustered_se_match_aer_ivreg_with_vcovcl() -> None:
    d = _iv_data()
    ref = pd.read_csv(FIXTURES / "iv.csv").set_index("term")
    exog = pd.DataFrame({"(Intercept)": 1.0, "baseline": d.baseline, "stratum": d.stratum})
    fit = two_stage_least_squares(
        d.y.to_numpy(), exog, d.received.to_numpy(), d.arm.to_numpy(), d.cluster.to_numpy()
    )
    np.testing.assert_allclose(fit.estimate, ref.loc["received", "estimate"], rtol=1e-9)
    np.testing.assert_allclose(fit.se, ref.loc["received", "se_cluster_hc1"], rtol=1e-8)
    # between-within df: 16 clusters - (intercept, stratum, instrument)
    assert fit.df == 16 - 3
    assert fit.n_clusters == 16 and fit.n_individuals == len(d)
    # t interval and p on 13 df; R: qt(0.975, 13) and 2 * pt(-|estimate / se|, 13) with the
    # fixture's estimate and se
    q = 2.1603686564627917
    assert fit.ci_low == pytest.approx(fit.estimate - q * fit.se, rel=1e-12)
    assert fit.ci_high == pytest.approx(fit.estimate + q * fit.se, rel=1e-12)
    assert fit.p == pytest.approx(0.0016197095632787483, rel=1e-6)
    assert fit.variance == pytest.approx(fit.se**2, rel=1e-15)
    assert fit.as_dict()["variance"] == fit.variance and fit.as_dict()["p"] == fit.p
    # a 90% interval: qt(0.95, 13)
    fit90 = two_stage_least_squares(
        d.y.to_numpy(),
        exog,
        d.received.to_numpy(),
        d.arm.to_numpy(),
        d.cluster.to_numpy(),
        alpha=0.1,
    )
    q90 = 1.7709333959868725
    assert (fit90.ci_low, fit90.ci_high) == pytest.approx(
        (fit.estimate - q90 * fit.se, fit.estimate + q90 * fit.se), rel=1e-12
    )


def test_iv_rows_are_matched_by_position_whatever_the_index() -> None:
    """A design indexed like a filtered table (labels not 0..n-1) gives ivreg's estimate and
    clustered SE: the arrays passed alongside are matched to the design's rows by position."""
    d = _iv_data()
    ref = pd.read_csv(FIXTURES / "iv.csv").set_index("term")
    exog = pd.DataFrame({"(Intercept)": 1.0, "baseline": d.baseline, "stratum": d.stratum})
    exog.index = 1000 + 3 * np.arange(len(d))
    fit = two_stage_least_squares(
        d.y.to_numpy(), exog, d.received.to_numpy(), d.arm.to_numpy(), d.cluster.to_numpy()
    )
    np.testing.assert_allclose(fit.estimate, ref.loc["received", "estimate"], rtol=1e-9)
    np.testing.assert_allclose(fit.se, ref.loc["received", "se_cluster_hc1"], rtol=1e-8)


def test_iv_df_count_only_cluster_level_columns() -> None:
    """A 0/1 covariate that varies within clusters costs no between-cluster df: 16 clusters
    minus the intercept, the (cluster-level) stratum and the treatment received."""
    d = _iv_data()
    alternate = (d.groupby("cluster").cumcount() % 2).astype(float)
    exog = pd.DataFrame({"(Intercept)": 1.0, "alternate": alternate, "stratum": d.stratum})
    fit = two_stage_least_squares(
        d.y.to_numpy(), exog, d.received.to_numpy(), d.arm.to_numpy(), d.cluster.to_numpy()
    )
    assert fit.df == 16 - 3


def test_iv_without_covariates_is_the_wald_ratio() -> None:
    d = _iv_data()
    ref = pd.read_csv(FIXTURES / "iv.csv").set_index("term")
    exog = pd.DataFrame({"(Intercept)": np.ones(len(d))})
    fit = two_stage_least_squares(
        d.y.to_numpy(), exog, d.received.to_numpy(), d.arm.to_numpy(), d.cluster.to_numpy()
    )
    # hand calculation: ITT difference in means / difference in the share receiving treatment
    arm = d.arm == 1
    by_hand = (d.y[arm].mean() - d.y[~arm].mean()) / (
        d.received[arm].mean() - d.received[~arm].mean()
    )
    np.testing.assert_allclose(fit.estimate, by_hand, rtol=1e-10)
    np.testing.assert_allclose(
        fit.estimate, ref.loc["wald_ratio_no_covariates", "estimate"], rtol=1e-9
    )
    np.testing.assert_allclose(fit.itt, d.y[arm].mean() - d.y[~arm].mean(), rtol=1e-10)
    np.testing.assert_allclose(fit.first_stage, d.received[arm].mean(), rtol=1e-10)


@pytest.mark.parametrize("case", ["unequal", "equal", "small"])
def test_anova_icc_and_searle_interval_match_r(case: str) -> None:
    d = pd.read_csv(DATA / f"icc_{case}.csv")
    ref = pd.read_csv(FIXTURES / "icc.csv").set_index("case").loc[case]
    res = anova_icc(d.y.to_numpy(), d.cluster.to_numpy(), alpha=0.05)
    assert res.k == ref["k"] and res.N == ref["N"]
    for key in ("msb", "msw", "n0", "icc", "ci_low", "ci_high"):
        np.testing.assert_allclose(getattr(res, key), ref[key], rtol=1e-9, err_msg=key)


# ---- trial.csv: a stratified trial with partial participation ------------------------------


def _trial_config() -> dict:
    """A minimal config naming trial.csv's columns (scale ``y``: baseline and follow-up)."""
    return {
        "seed": 1,
        "design": {
            "cluster_table": "clusters",
            "cluster_id": "cluster",
            "arm": "arm_code",
            "reference_arm": "control",
            "treatment_arms": ["active"],
            "strata": ["stratum"],
            "individual_table": "people",
            "baseline": "baseline",  # a baseline wave: the models hold y's baseline value
        },
        "tables": {
            "clusters": {
                "columns": {"stratum": {"type": "category", "values": ["s1", "s2", "s3"]}}
            },
            "people": {"columns": {"age": {"type": "integer"}}},
        },
        "covariates": ["age"],
        "scales": {"y": {"label": "y"}},
        "analysis": {
            "alpha": 0.05,
            "outcomes": [
                {"scale": "y", "role": "primary", "direction": "treatment_minus_reference"}
            ],
        },
        "icc": {"bootstrap": 0},
    }


def _trial_table() -> pd.DataFrame:
    d = pd.read_csv(DATA / "trial.csv")
    return d.assign(
        treatment=d.arm,
        arm_code=np.where(d.arm == 1, "active", "control"),
        y__baseline=d.baseline,
        y__followup=d.y,
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_two_stage_cluster_level_analysis_matches_r(weighted: bool) -> None:
    ref = pd.read_csv(FIXTURES / "trial_two_stage.csv").set_index("analysis")
    ref = ref.loc["weighted" if weighted else "unweighted"]
    stage1 = cluster_mean_residuals(_trial_config(), _trial_table(), "y")
    cm = stage1.clusters
    # 30 clusters - 3 strata - 2 arms + 1: intercept and two stratum dummies are cluster-level
    assert stage1.cluster_level_parameters == 3 and stage1.df == ref["df"] == 26
    fit = cluster_level_fit(
        cm["residual"].to_numpy(),
        cm["treated"].to_numpy(),
        cm["n"].to_numpy() if weighted else None,
        df=stage1.df,
    )
    np.testing.assert_allclose(fit.estimate, ref["estimate"], rtol=1e-8)
    np.testing.assert_allclose(np.sqrt(fit.variance), ref["se"], rtol=1e-8)
    t = fit.estimate / np.sqrt(fit.variance)
    np.testing.assert_allclose(2 * stats.t.sf(abs(t), fit.df), ref["p"], rtol=1e-8)
    assert len(cm) == ref["n_clusters"] and cm["n"].sum() == ref["n_individuals"]


def test_within_arm_anova_icc_matches_r() -> None:
    d = _trial_table()
    ref = pd.read_csv(FIXTURES / "trial_icc.csv").set_index(["timepoint", "estimator"])
    for time, column in (("followup", "y"), ("baseline", "baseline")):
        r = ref.loc[(time, "within_arm_anova")]
        used = d[column].notna()
        res = anova_icc(d.loc[used, column], d.loc[used, "cluster"], groups=d.loc[used, "arm"])
        assert res.N == r["N"] and res.A == 2
        for key in ("msb", "msw", "n0", "icc", "ci_low", "ci_high"):
            np.testing.assert_allclose(getattr(res, key), r[key], rtol=1e-8, err_msg=(time, key))


def test_model_adjusted_icc_matches_lme4() -> None:
    ref = pd.read_csv(FIXTURES / "trial_icc.csv").set_index(["timepoint", "estimator"])
    table = icc_table(_trial_config(), _trial_table()).set_index(["timepoint", "estimator"])
    for time in ("followup", "baseline"):
        r, got = ref.loc[(time, "model_adjusted")], table.loc[(time, "model_adjusted")]
        assert got["n_individuals"] == r["N"]
        for key in ("icc", "var_cluster", "var_residual"):
            np.testing.assert_allclose(got[key], r[key], rtol=1e-5, err_msg=(time, key))
        # the within-arm row of the table is the ANOVA estimator checked above
        np.testing.assert_allclose(
            table.loc[(time, "within_arm_anova"), "icc"],
            ref.loc[(time, "within_arm_anova"), "icc"],
            rtol=1e-8,
        )
    # the model-based ICC of the fixture, through the array entry point as well
    d = _trial_table().dropna(subset=["y"])
    X = np.column_stack(
        [np.ones(len(d)), d.arm, d.baseline, d.stratum == "s2", d.stratum == "s3", d.age]
    )
    np.testing.assert_allclose(
        adjusted_icc(d.y.to_numpy(), X, d.cluster.to_numpy()).icc,
        ref.loc[("followup", "model_adjusted"), "icc"],
        rtol=1e-5,
    )


@pytest.mark.parametrize("received", ["received", "score"])
def test_instrumental_variable_estimates_match_ivreg(received: str) -> None:
    """Any participation (complier-average) and the score (dose), on individuals with a
    cluster-robust SE and on the clusters' stage-1 mean residuals."""
    ref = pd.read_csv(FIXTURES / "trial_iv.csv").set_index(["received", "level"])
    d = _trial_table().dropna(subset=["y"])
    exog = pd.DataFrame(
        {
            "(Intercept)": 1.0,
            "baseline": d.baseline,
            "s2": (d.stratum == "s2").astype(float),
            "s3": (d.stratum == "s3").astype(float),
            "age": d.age.astype(float),
        }
    )
    fit = two_stage_least_squares(
        d.y.to_numpy(), exog, d[received].to_numpy(float), d.arm.to_numpy(), d.cluster.to_numpy()
    )
    r = ref.loc[(received, "individual")]
    np.testing.assert_allclose(fit.estimate, r["estimate"], rtol=1e-8)
    np.testing.assert_allclose(fit.se, r["se"], rtol=1e-8)
    assert fit.df == 30 - 3 - 1  # clusters - (intercept, two stratum dummies) - received

    stage1 = cluster_mean_residuals(_trial_config(), _trial_table(), "y")
    cm = stage1.clusters
    per_cluster = d.groupby("cluster")[received].first().loc[cm.index]
    fit = cluster_level_iv(
        cm["residual"].to_numpy(),
        per_cluster.to_numpy(float),
        cm["treated"].to_numpy(float),
        df=stage1.df,
        n_individuals=int(cm["n"].sum()),
    )
    r = ref.loc[(received, "cluster")]
    np.testing.assert_allclose(fit.estimate, r["estimate"], rtol=1e-8)
    np.testing.assert_allclose(fit.se, r["se"], rtol=1e-8)
    assert fit.df == 26 and fit.n_clusters == 30
