"""A trial with nothing missing: no imputation, each model fitted once to the data (its own SE
and df, no pooling), and a report without an imputation diagnostics section."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
import yaml
from scipy import stats

from trial.config.load import load_config
from trial.config.vocabulary import arm_terms, design_matrix, followup_column
from trial.data.intermediate import read_intermediate
from trial.stats.mixed import fit_random_intercept_model

from ..conftest import ROOT
from .test_end_to_end import run_workflow

CONFIG = ROOT / "config" / "trio.yaml"
RAW = ROOT / "data" / "raw" / "trio"

pytestmark = pytest.mark.slow  # about 30 s on 2 cores


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The three-arm example made complete: patients followed up with both questionnaires, each
    blank item filled with its column's median; clusters called 'class' (plural 'classes')."""
    folder = tmp_path_factory.mktemp("complete")
    raw = folder / "raw"
    raw.mkdir()
    practices = pd.read_csv(RAW / "practices.csv", dtype=str)
    patients = pd.read_csv(RAW / "patients.csv", dtype=str)
    answers = pd.read_csv(RAW / "questionnaires.csv", dtype=str)
    rows = answers.groupby("patient_id").size()
    kept = set(patients.loc[patients["week26_status"] == "seen", "patient_id"])
    kept &= set(rows[rows == 2].index)
    patients = patients[patients["patient_id"].isin(kept)]
    answers = answers[answers["patient_id"].isin(kept)]
    items = answers.columns[2:]
    medians = answers[items].astype(float).median().round().astype(int).astype(str)
    answers = answers.fillna(medians.to_dict())
    practices.to_csv(raw / "practices.csv", index=False)
    patients.to_csv(raw / "patients.csv", index=False)
    answers.to_csv(raw / "questionnaires.csv", index=False)

    config = load_config(CONFIG)
    config["design"]["cluster_label"] = "class"
    config["imputation"].update(m=1, imputations_per_job=1)
    config["icc"]["bootstrap"] = 20
    config["paths"] = {
        "raw": str(raw),
        "derived": str(folder / "derived"),
        "reports": str(folder / "reports"),
    }
    config.pop("synthetic", None)  # the data are no longer the generator's
    config["trial"]["synthetic"] = False
    path = folder / "complete.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    run_workflow(path, folder, 2)
    return config, folder


def test_estimates_are_one_direct_fit_of_the_analysis_model(run):
    config, folder = run
    table = read_intermediate(config, folder / "derived" / "scored" / "analysis_table.parquet")
    outcomes = pd.read_csv(folder / "reports" / "tables" / "outcomes.csv")
    assert len(outcomes) == 2 * len(config["analysis"]["outcomes"])
    for scale in (o["scale"] for o in config["analysis"]["outcomes"]):
        y = table[followup_column(scale)].astype(float)
        X = design_matrix(config, table, scale)
        assert y.notna().all() and X.notna().all().all()  # nothing analysed is missing
        fit = fit_random_intercept_model(
            y, X, table[config["design"]["cluster_id"]], df_method="kenward-roger"
        )
        rows = outcomes[outcomes["outcome"] == scale].set_index("arm")
        for arm, term in arm_terms(config).items():
            row = rows.loc[arm]
            sign = 1.0 if row["direction"] == "treatment_minus_reference" else -1.0
            se = math.sqrt(fit.cov.loc[term, term])
            crit = stats.t.ppf(0.975, fit.df[term])
            assert row["estimate"] == pytest.approx(sign * fit.params[term], rel=1e-9)
            assert row["se"] == pytest.approx(se, rel=1e-9)
            assert row["df"] == pytest.approx(fit.df[term], rel=1e-9)  # the model's own KR df
            assert row["ci_high"] - row["ci_low"] == pytest.approx(2 * crit * se, rel=1e-9)
            assert (row["m"], row["between"], row["fmi"]) == (1, 0, 0)
            assert row["n_individuals"] == len(table)


def test_report_has_no_imputation_section_and_says_why(run):
    _, folder = run
    html = (folder / "reports" / "report.html").read_text()
    text = re.sub(r"<[^>]+>", " ", html)
    assert 'id="imputation"' not in html
    assert "imputation diagnostics" not in text.lower()
    assert "No analysed value was missing, so nothing was imputed" in text
    assert "pooled over" not in text and "Barnard-Rubin" not in text
    # the cluster label's plural, not label + "s"
    assert "classs" not in text and "Classs" not in text
    assert "classes" in text
