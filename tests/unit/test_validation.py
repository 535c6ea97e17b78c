"""Broken inputs stop before analysis with the file, line, column, value and what was expected."""

import shutil

import pytest

from trial.validation import InputError, validate_inputs

from ..conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"


@pytest.fixture()
def raw_copy(tmp_path, config):
    for path in RAW.glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    config["paths"]["raw"] = str(tmp_path)
    return tmp_path


def edit_line(path, line_number, old, new):
    lines = path.read_text(encoding="utf-8").split("\n")
    assert old in lines[line_number - 1]
    lines[line_number - 1] = lines[line_number - 1].replace(old, new, 1)
    path.write_text("\n".join(lines), encoding="utf-8")


def problems(config):
    with pytest.raises(InputError) as info:
        validate_inputs(config)
    return [str(p) for p in info.value.problems]


def test_the_bundled_example_is_valid(example_config):
    counts = validate_inputs(example_config)
    assert counts["consumers"] == 403 and counts["teams"] == 27


def test_item_out_of_range(config, raw_copy):
    # line 2 is consumer C0001 at baseline; its first item qpr_01 is the third field
    path = raw_copy / "consumer_measures.csv"
    fields = path.read_text().split("\n")[1].split(",")
    fields[2] = "7"
    lines = path.read_text().split("\n")
    lines[1] = ",".join(fields)
    path.write_text("\n".join(lines))
    assert problems(config) == [
        "consumer_measures.csv, line 2, column 'qpr_01': value 7; expected at most 4"
    ]


def test_unknown_category_and_non_number_reported_together(config, raw_copy):
    edit_line(raw_copy / "consumers.csv", 3, "male", "mael")
    edit_line(raw_copy / "consumers.csv", 4, ",64,", ",forty,")
    found = problems(config)
    assert (
        "consumers.csv, line 3, column 'gender': value 'mael'; expected one of ['female', 'male']"
        in found
    )
    assert any(
        p.startswith("consumers.csv, line 4, column 'age': value 'forty'") and "whole number" in p
        for p in found
    )


def test_duplicate_key(config, raw_copy):
    path = raw_copy / "teams.csv"
    lines = path.read_text().split("\n")
    lines.insert(3, lines[1])
    path.write_text("\n".join(lines))
    found = problems(config)
    assert any("teams.csv, line 4, column 'team_id'" in p and "more than once" in p for p in found)


def test_individual_in_a_cluster_that_does_not_exist(config, raw_copy):
    edit_line(raw_copy / "consumers.csv", 2, "T01", "T99")
    assert (
        "consumers.csv, line 2, column 'team_id': value 'T99'; "
        "expected a team_id listed in teams.csv" in problems(config)
    )


def test_missing_column_and_unexpected_column(config, raw_copy):
    path = raw_copy / "teams.csv"
    path.write_text(path.read_text().replace("team_id,trust,arm", "team_id,trust,allocation", 1))
    found = problems(config)
    assert "teams.csv, line 1, column 'arm'; expected this column in the header" in found
    assert any("column 'allocation'" in p and "not in the config" in p for p in found)


def test_empty_file(config, raw_copy):
    (raw_copy / "unit_costs.csv").write_text("")
    assert problems(config) == [
        "unit_costs.csv; expected a header line and data rows; the file is empty"
    ]


def test_wrong_delimiter(config, raw_copy):
    path = raw_copy / "teams.csv"
    path.write_text(path.read_text().replace(",", ";"))
    found = problems(config)
    assert found[0].startswith(
        "teams.csv, line 1: value 'team_id;trust;arm'; expected comma-separated columns"
    )


def test_not_utf8(config, raw_copy):
    path = raw_copy / "staff.csv"
    path.write_bytes(path.read_bytes().replace(b"nurse", b"nurs\xe9", 1))
    found = problems(config)
    assert len(found) == 1 and found[0].startswith("staff.csv, line 2") and "UTF-8" in found[0]


def test_arm_with_one_cluster(config, raw_copy):
    path = raw_copy / "teams.csv"
    text = path.read_text().replace(",control", ",refocus")
    text = text.replace(",refocus", ",control", 1)
    path.write_text(text)
    assert any(
        "column 'arm': value 'control'; expected at least 2 clusters in every arm; found 1" in p
        for p in problems(config)
    )
