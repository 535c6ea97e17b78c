"""trial.stats.impute.multilevel against R's multilevel imputation on committed trial-like data.

The fixtures hold each R method twice: as is, and with the cluster mean of baseline as a
further predictor of ``y`` (``_means``), which the Python side matches with
``cluster_means={"y": ["baseline"]}``.

Input: tests/reference/data/impute/trial_like.csv (made by make_trial_like.py there): 27
clusters (14 intervention / 13 control), 2 strata, 400 individuals, follow-up ``y`` missing
for 27% at random given baseline and arm. Fixtures: tests/reference/fixtures/impute/, written
by tests/reference/r/impute_multilevel.R (mice ``2l.pan`` and jomo ``jomo1rancon``, m = 50,
analysis model lme4 ``lmer(y ~ arm + baseline + stratum + (1 | cluster))`` pooled by Rubin);
trial_like_versions.csv there records the versions. R is not needed to run these tests.

The Python side imputes m = 50 datasets with the same imputation model (y on arm, baseline,
stratum and a random cluster intercept), fits the same analysis model by REML with a small
exact random-intercept fitter (checked against R's complete-case lmer fit and statsmodels
below) and pools with Rubin's rules in plain numpy.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from trial.stats.impute.multilevel import impute_multilevel

REF = Path(__file__).resolve().parent
DATA = REF / "data" / "impute" / "trial_like.csv"
FIXTURES = REF / "fixtures" / "impute"
M = 50
BASE_SEED = 20240527
FIXED = ["arm", "baseline", "stratum"]


def _reml_random_intercept(
    y: np.ndarray, X: np.ndarray, codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """REML fit of y = X b + u_cluster + e from per-cluster sufficient statistics.

    Profiles the residual variance out and searches the variance ratio lambda = s2u / s2e in
    one dimension (including the boundary lambda = 0). Returns the fixed effects and their
    model-based covariance s2e (X' W X)^-1, as lme4's vcov().
    """
    n, p = X.shape
    n_j = np.bincount(codes).astype(float)
    Sx = np.stack([np.bincount(codes, weights=X[:, k]) for k in range(p)], axis=1)
    Sy = np.bincount(codes, weights=y)
    XtX, Xty, yty = X.T @ X, X.T @ y, y @ y

    def parts(lam: float) -> tuple[float, np.ndarray, np.ndarray, float]:
        c = lam / (1.0 + n_j * lam)
        XWX = XtX - (Sx * c[:, None]).T @ Sx
        XWy = Xty - (Sx * c[:, None]).T @ Sy
        yWy = yty - np.sum(c * Sy**2)
        beta = np.linalg.solve(XWX, XWy)
        rss = yWy - beta @ XWy
        crit = np.sum(np.log1p(n_j * lam)) + np.linalg.slogdet(XWX)[1] + (n - p) * math.log(rss)
        return crit, beta, XWX, rss

    res = optimize.minimize_scalar(
        lambda t: parts(math.exp(t))[0],
        bounds=(-15.0, 5.0),
        method="bounded",
        options={"xatol": 1e-10},
    )
    lam = math.exp(res.x) if res.fun < parts(0.0)[0] else 0.0
    _, beta, XWX, rss = parts(lam)
    return beta, rss / (n - p) * np.linalg.inv(XWX)


def _fit_arm(df: pd.DataFrame) -> tuple[float, float]:
    codes = pd.factorize(df["cluster"], sort=True)[0]
    X = np.column_stack([np.ones(len(df)), df[FIXED].to_numpy(dtype=float)])
    beta, cov = _reml_random_intercept(df["y"].to_numpy(dtype=float), X, codes)
    return float(beta[1]), float(cov[1, 1])


def _rubin(est: np.ndarray, var: np.ndarray) -> dict[str, float]:
    m = est.size
    qbar, ubar, b = float(est.mean()), float(var.mean()), float(est.var(ddof=1))
    return {"m": m, "qbar": qbar, "ubar": ubar, "b": b, "t": ubar + (1 + 1 / m) * b}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def r_pooled() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "trial_like_pooled.csv").set_index("method")


def _python_per_imputation(data: pd.DataFrame, cluster_means: dict | None) -> pd.DataFrame:
    rows = []
    for i in range(M):
        result = impute_multilevel(
            data,
            cluster="cluster",
            impute=["y"],
            predictors=FIXED,
            cluster_means=cluster_means,
            seed=BASE_SEED + i,
        )
        est, var = _fit_arm(result.completed)
        rows.append((est, var))
    return pd.DataFrame(rows, columns=["est", "var"])


@pytest.fixture(scope="module")
def python_per_imputation(data: pd.DataFrame) -> dict[bool, pd.DataFrame]:
    # without and with the cluster mean of baseline in the imputation model (the pipeline
    # adds the cluster means of a score's level-1 predictors)
    return {
        False: _python_per_imputation(data, None),
        True: _python_per_imputation(data, {"y": ["baseline"]}),
    }


def test_analysis_fitter_matches_lme4_on_complete_cases(
    data: pd.DataFrame, r_pooled: pd.DataFrame
) -> None:
    # The per-imputation fitter must reproduce lme4 before pooled numbers can be compared.
    est, var = _fit_arm(data.dropna(subset=["y"]))
    cc = r_pooled.loc["complete_case"]
    assert est == pytest.approx(cc["qbar"], rel=1e-6)
    assert var == pytest.approx(cc["ubar"], rel=1e-5)


def test_analysis_fitter_matches_statsmodels(data: pd.DataFrame) -> None:
    import statsmodels.formula.api as smf

    cc = data.dropna(subset=["y"])
    # The default optimiser fails on these data (statsmodels falls back to lbfgs, which hits a
    # singular matrix); Powell converges.
    fit = smf.mixedlm("y ~ arm + baseline + stratum", cc, groups=cc["cluster"]).fit(
        reml=True, method="powell"
    )
    assert fit.converged
    est, var = _fit_arm(cc)
    assert est == pytest.approx(fit.params["arm"], rel=1e-4)
    assert var == pytest.approx(fit.cov_params().loc["arm", "arm"], rel=1e-3)


@pytest.mark.parametrize(
    "method", ["mice_2l.pan", "jomo1rancon", "mice_2l.pan_means", "jomo1rancon_means"]
)
def test_pooled_arm_effect_agrees_with_r(
    python_per_imputation: dict[bool, pd.DataFrame], r_pooled: pd.DataFrame, method: str
) -> None:
    ours = python_per_imputation[method.endswith("_means")]
    py = _rubin(ours["est"].to_numpy(), ours["var"].to_numpy())
    r = r_pooled.loc[method]
    # Both pooled estimates are means of m = 50 draws from (if the imputation models agree)
    # the same posterior predictive distribution, so each has Monte Carlo variance B / m,
    # with B the between-imputation variance. Their difference then has SE
    # sqrt(B_py / m + B_R / m); 3 SE allows a false alarm rate of 0.3% while catching any
    # systematic disagreement larger than about a quarter of the arm effect's total SE.
    mc_se = math.sqrt(py["b"] / M + r["b"] / r["m"])
    tolerance = 3.0 * mc_se
    print(
        f"\n{method}: python qbar={py['qbar']:.4f} (B={py['b']:.4f}, T={py['t']:.4f}); "
        f"R qbar={r['qbar']:.4f} (B={r['b']:.4f}, T={r['t']:.4f}); "
        f"|diff|={abs(py['qbar'] - r['qbar']):.4f}, tolerance={tolerance:.4f}"
    )
    assert abs(py["qbar"] - r["qbar"]) < tolerance

    # The between-imputation variances, each with m - 1 = 49 df, have a ratio ~ F(49, 49) if
    # the imputation models agree; accept the central 99.8%.
    lo, hi = stats.f.ppf([0.001, 0.999], M - 1, int(r["m"]) - 1)
    assert lo < py["b"] / r["b"] < hi

    # The within-imputation variance reflects the residual variance of the completed data;
    # its Monte Carlo SE is sd(U_i) / sqrt(m) on each side; allow 4 SE.
    r_per = pd.read_csv(FIXTURES / "trial_like_per_imputation.csv")
    r_var = r_per.loc[r_per["method"] == method, "var"].to_numpy()
    u_se = math.sqrt(ours["var"].var(ddof=1) / M + r_var.var(ddof=1) / r_var.size)
    assert abs(py["ubar"] - r["ubar"]) < 4.0 * u_se
