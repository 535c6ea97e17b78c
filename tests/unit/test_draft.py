"""Drafting a config from data files: tables, keys, links and column types come out right."""

import yaml

from trial.draft import draft_config

from ..conftest import ROOT

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
    assert draft["design"]["cluster_table"] == "TODO"
    assert draft["estimands"] == {
        "population": "TODO",
        "level": "individual",
        "intercurrent_events": [],
    }


def test_no_csv_files_is_a_clear_error(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="no .csv files"):
        draft_config(tmp_path)
