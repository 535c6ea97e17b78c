"""The audit GEE coverage study's data and truth (the study itself is a slow reference test)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from trial.studies.audit_coverage import (
    CLUSTER_SD,
    EFFECT,
    INDIVIDUAL_SD,
    INTERCEPT,
    START_AFTER,
    TIMES,
    TREND,
    audit_design,
    simulate_audit,
    true_final_log_odds_ratio,
)


def test_truth_is_the_population_averaged_odds_ratio():
    """Against a Monte Carlo population of 2 million team-plus-individual effects (MC SE of
    the log odds ratio about 0.003), and attenuated from the conditional effect as a logit
    with random effects must be."""
    rng = np.random.default_rng(8)
    w = rng.normal(0, np.hypot(CLUSTER_SD, INDIVIDUAL_SD), 2_000_000)
    base = INTERCEPT + TREND * (TIMES - 1)
    risks = [special.expit(base + a * EFFECT + w).mean() for a in (1, 0)]
    mc = special.logit(risks[0]) - special.logit(risks[1])
    assert true_final_log_odds_ratio() == pytest.approx(mc, abs=0.01)
    assert 0.6 * EFFECT < true_final_log_odds_ratio() < EFFECT


def test_simulated_audit_has_the_repeated_structure():
    data = simulate_audit(20, np.random.default_rng(5), per_cluster=30)
    per_cluster = data.groupby("cluster")["treated"].agg(["min", "max"])
    assert (per_cluster["min"] == per_cluster["max"]).all()  # the arm is a team property
    assert per_cluster["min"].sum() == 10
    # the same individuals recur over time, each in one team, with about 10% of records missing
    assert data.groupby("individual")["cluster"].nunique().max() == 1
    assert data.groupby("individual")["time"].nunique().mean() > 5
    assert 0.85 < len(data) / (600 * TIMES) < 0.95
    X = audit_design(data)
    assert X.shape[1] == 2 + 2 * (TIMES - 1)
    assert np.linalg.matrix_rank(X) == X.shape[1]
    # arm x time columns are zero in control teams; no arm effect before the start
    assert np.all(X[data["treated"].to_numpy() == 0, 2 + TIMES - 1 :] == 0)
    before = data[data["time"] <= START_AFTER].groupby("treated")["y"].mean()
    after = data[data["time"] > START_AFTER].groupby("treated")["y"].mean()
    assert after[1.0] - after[0.0] > before[1.0] - before[0.0]
