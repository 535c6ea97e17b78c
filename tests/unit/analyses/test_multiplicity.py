"""Holm's adjustment against R's p.adjust and by hand; families, gatekeeping and config checks;
pairwise contrasts pooled like the arm effects."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from trial.analyses.multiplicity import adjust_families, holm
from trial.analyses.pooled_outcomes import pool_pairwise
from trial.config.load import ConfigError, load_config, validate_config
from trial.config.vocabulary import family_hypotheses, treatment_pairs

from ...conftest import ROOT

HOLM = ROOT / "tests" / "reference" / "fixtures" / "multiplicity" / "holm.csv"
TRIO = ROOT / "config" / "trio.yaml"


@pytest.mark.parametrize("case", ["mixed", "ties", "capped"])
def test_holm_matches_r_p_adjust(case: str) -> None:
    ref = pd.read_csv(HOLM)
    ref = ref[ref["case"] == case].sort_values("position")
    np.testing.assert_allclose(holm(ref["p"].to_numpy()), ref["p_holm"].to_numpy(), rtol=1e-12)


def test_holm_by_hand() -> None:
    # sorted 0.0021, 0.012, 0.04, 0.049, 0.30 times 5, 4, 3, 2, 1, running maximum, capped at 1
    p = [0.012, 0.04, 0.30, 0.0021, 0.049]
    expected = [0.048, 0.12, 0.30, 0.0105, 0.12]
    np.testing.assert_allclose(holm(p), expected, rtol=1e-12)


def _trio() -> dict:
    return load_config(TRIO)


def _pooled(config: dict, p: dict[tuple[str, str, str], float]) -> tuple[pd.DataFrame, ...]:
    """Minimal outcomes / pairwise tables carrying the given p-values."""
    rows = [
        {
            "outcome": s,
            "arm": a,
            "versus": v,
            "label": s,
            "contrast": f"{a} vs {v}",
            "estimate": 1.0,
            "ci_low": 0.0,
            "ci_high": 2.0,
            "p": value,
        }
        for (s, a, v), value in p.items()
    ]
    frame = pd.DataFrame(rows)
    reference = config["design"]["reference_arm"]
    return (
        frame[frame.versus == reference].drop(columns="versus"),
        frame[frame.versus != reference],
    )


def test_serial_gatekeeping_closes_later_families_when_one_hypothesis_survives() -> None:
    config = _trio()
    config["multiplicity"] = {
        "method": "holm",
        "gatekeeping": "serial",
        "families": [
            {"name": "primary", "outcomes": ["phq9"], "comparisons": "reference"},
            {"name": "pairwise", "outcomes": ["phq9"], "comparisons": "pairwise"},
            {"name": "secondary", "outcomes": ["gad7", "swemwbs"], "comparisons": "reference"},
        ],
    }
    validate_config(config)
    p = {
        ("phq9", "guided_self_help", "usual_care"): 0.01,
        ("phq9", "self_help_plus_groups", "usual_care"): 0.02,
        ("phq9", "self_help_plus_groups", "guided_self_help"): 0.03,
        ("gad7", "guided_self_help", "usual_care"): 0.001,
        ("gad7", "self_help_plus_groups", "usual_care"): 0.2,
        ("swemwbs", "guided_self_help", "usual_care"): 0.004,
        ("swemwbs", "self_help_plus_groups", "usual_care"): 0.01,
    }
    out = adjust_families(config, *_pooled(config, p)).set_index("family")
    # family 1: Holm 0.01 x 2 = 0.02, max(0.02 x 1, 0.02) = 0.02: both rejected
    assert list(out.loc["primary", "p_adjusted"]) == pytest.approx([0.02, 0.02])
    # family 2: one hypothesis, 0.03, above the gate 0.02: rejected
    assert out.loc["pairwise", "p_adjusted"] == pytest.approx(0.03)
    # family 3: Holm of (0.001, 0.2, 0.004, 0.01) = (0.004, 0.2, 0.012, 0.02); the gate is 0.03
    sec = out.loc["secondary"]
    np.testing.assert_allclose(sec["p_holm"], [0.004, 0.2, 0.012, 0.02])
    np.testing.assert_allclose(sec["p_adjusted"], [0.03, 0.2, 0.03, 0.03])
    assert list(sec["rejected"]) == [True, False, True, True]
    # a primary p of 0.06 closes every later family, whatever their own p-values
    p[("phq9", "self_help_plus_groups", "usual_care")] = 0.06
    out = adjust_families(config, *_pooled(config, p))
    later = out[out["family"] != "primary"]
    assert not later["rejected"].any() and (later["p_adjusted"] >= 0.06).all()
    # without gatekeeping each family stands alone
    config["multiplicity"]["gatekeeping"] = "none"
    alone = adjust_families(config, *_pooled(config, p)).set_index("family")
    np.testing.assert_allclose(alone.loc["secondary", "p_adjusted"], [0.004, 0.2, 0.012, 0.02])


def test_family_hypotheses_expand_outcomes_by_comparisons() -> None:
    config = _trio()
    assert treatment_pairs(config) == [("self_help_plus_groups", "guided_self_help")]
    family = {"name": "f", "outcomes": ["phq9", "gad7"], "comparisons": "all"}
    assert family_hypotheses(config, family) == [
        ("phq9", "guided_self_help", "usual_care"),
        ("phq9", "self_help_plus_groups", "usual_care"),
        ("phq9", "self_help_plus_groups", "guided_self_help"),
        ("gad7", "guided_self_help", "usual_care"),
        ("gad7", "self_help_plus_groups", "usual_care"),
        ("gad7", "self_help_plus_groups", "guided_self_help"),
    ]


def test_multiplicity_config_problems_are_named(config) -> None:
    config["multiplicity"] = {
        "method": "holm",
        "families": [
            {"name": "a", "outcomes": ["qpr_total", "nope"]},
            {"name": "a", "outcomes": ["qpr_total"], "comparisons": "pairwise"},
            {"name": "b", "outcomes": ["functioning", "qpr_total"]},
        ],
    }
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    text = str(err.value)
    assert "'nope' is not an analysed outcome" in text
    assert "the name 'a' is used more than once" in text
    assert "'pairwise' needs at least two treatment arms" in text
    assert "is already in family 'a'" in text


def test_pairwise_contrasts_pool_by_rubin_with_their_own_df() -> None:
    from trial.stats.pooling import pool_rubin

    config = _trio()
    config["analysis"]["outcomes"] = config["analysis"]["outcomes"][:1]
    base = {
        "outcome": "phq9",
        "df_method": "kenward-roger",
        "n_individuals": 600,
        "n_clusters": 33,
        "icc": 0.05,
        "sd_baseline": 5.0,
        "sd_standardise": 5.0,
        "converged": True,
        "at_boundary": False,
    }
    fits = []
    rng = np.random.default_rng(1)
    pair_est, pair_var, pair_df = (
        rng.normal(-1, 0.2, 5),
        rng.uniform(0.3, 0.4, 5),
        [25.0, 26, 24, 25, 25],
    )
    for i in range(5):
        rows = [
            {
                **base,
                "arm": a,
                "versus": "usual_care",
                "estimate": -1.0,
                "variance": 0.4,
                "df": 20.0,
            }
            for a in ("guided_self_help", "self_help_plus_groups")
        ]
        rows.append(
            {
                **base,
                "arm": "self_help_plus_groups",
                "versus": "guided_self_help",
                "estimate": pair_est[i],
                "variance": pair_var[i],
                "df": pair_df[i],
            }
        )
        fits.append(pd.DataFrame(rows))
    pooled = pool_pairwise(copy.deepcopy(config), fits)
    assert len(pooled) == 1
    row = pooled.iloc[0]
    expected = pool_rubin(pair_est, pair_var, df_complete=float(np.mean(pair_df)))
    assert row["estimate"] == pytest.approx(expected.estimate)
    assert row["df"] == pytest.approx(expected.df) and row["df_complete"] == pytest.approx(25.0)
    assert row["contrast"] == "Self-help plus groups minus Guided self-help"
    assert row["versus"] == "guided_self_help"
