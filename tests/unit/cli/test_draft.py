"""Drafting a config from data files: tables, keys, links and column types come out right."""

import numpy as np
import pandas as pd
import yaml

from trial.cli.draft import draft_config

from ...conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"


def test_draft_of_the_example_files():
    draft = yaml.safe_load(draft_config(RAW))
    tables = draft["tables"]
    assert set(tables) == {p.stem for p in RAW.glob("*.csv")}
    assert tables["teams"]["key"] == ["team_id"]
    assert tables["consumer_measures"]["key"] == ["consumer_id", "timepoint"]
    assert tables["casenote_audit"]["key"] == ["audit_id", "audit_time"]
    assert tables["consumers"]["references"] == {"team_id": "teams"}
    columns = tables["consumers"]["columns"]
    assert columns["age"]["type"] == "integer" and columns["age"]["min"] >= 18
    assert columns["gender"] == {
        "type": "category",
        "values": ["female", "male"],
        "description": "TODO",
    }
    assert tables["unit_costs"]["columns"]["unit_cost"]["type"] in ("integer", "number")
    assert tables["consumer_measures"]["columns"]["qpr_01"]["missing"] == "allowed"
    gender = next(t for t in draft_config(RAW).splitlines() if t.strip().startswith("gender:"))
    assert gender.endswith(
        "# GUESSED: category: 2 text code(s), at most 12; every value is checked against the "
        "list, and each code gets its own term in a model"
    )
    assert draft["design"]["cluster_table"] == "TODO"
    assert draft["estimands"] == {
        "population": "TODO",
        "level": "individual",
        "intercurrent_events": [],
    }


def test_the_draft_says_a_post_only_design_leaves_the_baseline_out():
    """The baseline line says it may be removed, and the schema then accepts the design: a
    post-only trial's config needs no baseline key (nor a placeholder for one)."""
    from trial.config.load import schema_problems

    lines = draft_config(RAW).splitlines()
    (baseline,) = [t for t in lines if t.strip().startswith("baseline:")]
    assert baseline.endswith("# leave out if there is no baseline wave (post-only)")
    post_only = yaml.safe_load("\n".join(t for t in lines if t != baseline))
    assert "baseline" not in post_only["design"]
    design_problems = [p for p in schema_problems(post_only) if p.startswith("design")]
    assert not any("baseline" in p for p in design_problems), design_problems


def test_no_csv_files_is_a_clear_error(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="no .csv files"):
        draft_config(tmp_path)


def test_number_codes_are_drafted_as_categories_and_ids_as_text(tmp_path):
    # 40 schools' classes (the clusters) in 20 strata coded 1..20, arms coded 1/2; pupils with
    # an ethnicity code 1..4 and an age; questionnaire items 0..3 at two times
    rng = np.random.default_rng(1)
    classes = pd.DataFrame(
        {"class_id": range(101, 141), "stratum": np.repeat(range(1, 21), 2), "arm": [1, 2] * 20}
    )
    pupils = pd.DataFrame(
        {
            "pupil_id": range(1, 401),
            "class_id": np.repeat(classes["class_id"], 10),
            "ethnicity": rng.integers(1, 5, 400),
            "age": rng.integers(20, 70, 400),
        }
    )
    items = pd.DataFrame(
        {
            "pupil_id": np.repeat(range(1, 401), 2),
            "time": ["baseline", "followup"] * 400,
            "item_1": rng.integers(0, 4, 800),
        }
    )
    for name, frame in (("classes", classes), ("pupils", pupils), ("answers", items)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    text = draft_config(tmp_path)
    tables = yaml.safe_load(text)["tables"]
    codes = tables["classes"]["columns"]
    assert codes["stratum"]["type"] == "category"
    assert codes["stratum"]["values"] == [str(k) for k in range(1, 21)]
    assert codes["arm"] == {"type": "category", "values": ["1", "2"], "description": "TODO"}
    assert codes["class_id"]["type"] == "string"
    people = tables["pupils"]["columns"]
    assert people["pupil_id"]["type"] == "string" and people["class_id"]["type"] == "string"
    assert people["ethnicity"]["values"] == ["1", "2", "3", "4"]
    assert people["age"]["type"] == "integer"  # a measurement, many values
    assert tables["answers"]["columns"]["item_1"]["type"] == "integer"  # nothing refers to it
    stratum_line = next(line for line in text.splitlines() if line.strip().startswith("stratum:"))
    assert "category, not integer" in stratum_line and "own term" in stratum_line
    id_line = next(line for line in text.splitlines() if line.strip().startswith("class_id:"))
    assert "identifies rows" in id_line
