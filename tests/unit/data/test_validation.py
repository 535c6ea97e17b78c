"""Broken inputs stop before analysis with the file, line, column, value and what was expected.

On the whole bundled example; the corruption corpus (test_corruption_corpus.py) holds the
realistic damage cases, one line each.
"""

import shutil

import pytest

from trial.data.validation import InputError, validate_inputs

from ...conftest import ROOT

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


def test_missing_column_and_unexpected_column(config, raw_copy):
    path = raw_copy / "teams.csv"
    path.write_text(path.read_text().replace("team_id,trust,arm", "team_id,trust,allocation", 1))
    found = problems(config)
    assert "teams.csv, line 1, column 'arm'; expected this column in the header" in found
    assert any("column 'allocation'" in p and "not in the config" in p for p in found)


def replace_field(path, line_number, column, value):
    """Set one CSV field (by header name) on a given line (header = line 1)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split(",")
    fields = lines[line_number - 1].split(",")
    fields[header.index(column)] = value
    lines[line_number - 1] = ",".join(fields)
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize(
    "file,line,column,value,expected",
    [
        (
            "consumer_measures.csv",
            2,
            "qpr_05",
            "2.5",
            "column 'qpr_05': value '2.5'; expected a whole number",
        ),
        (
            "consumer_measures.csv",
            3,
            "inspire_imp_01",
            "2",
            "column 'inspire_imp_01': value 2; expected at most 1",
        ),
        (
            "consumer_measures.csv",
            2,
            "timepoint",
            "6m",
            "column 'timepoint': value '6m'; expected one of ['baseline', '12m']",
        ),
        (
            "consumer_measures.csv",
            2,
            "consumer_id",
            "C9999",
            "column 'consumer_id': value 'C9999'; expected a consumer_id listed in consumers.csv",
        ),
        ("consumers.csv", 2, "age", "17", "column 'age': value 17; expected at least 18"),
        (
            "consumers.csv",
            2,
            "followup_status",
            "",
            "column 'followup_status': value ''; expected a value (this column may not be blank)",
        ),
        (
            "consumers.csv",
            2,
            "consumer_id",
            "",
            "column 'consumer_id': value ''; expected a value (this column may not be blank)",
        ),
        (
            "service_use.csv",
            2,
            "quantity",
            "-1",
            "column 'quantity': value -1; expected at least 0",
        ),
        (
            "service_use.csv",
            2,
            "service",
            "helicopter",
            "column 'service': value 'helicopter'; expected a service listed in unit_costs.csv",
        ),
        (
            "staff.csv",
            2,
            "team_id",
            "T00",
            "column 'team_id': value 'T00'; expected a team_id listed in teams.csv",
        ),
        (
            "casenote_audit.csv",
            2,
            "audit_time",
            "8",
            "column 'audit_time': value 8; expected at most 7",
        ),
        (
            "casenote_audit.csv",
            2,
            "record_available",
            "maybe",
            "column 'record_available': value 'maybe'; expected one of ['yes', 'no']",
        ),
        (
            "unit_costs.csv",
            2,
            "unit_cost",
            "cheap",
            "column 'unit_cost': value 'cheap'; expected a number",
        ),
        (
            "participation.csv",
            2,
            "attendance",
            "1.5",
            "column 'attendance': value 1.5; expected at most 1",
        ),
    ],
)
def test_broken_field_is_reported_exactly(config, raw_copy, file, line, column, value, expected):
    replace_field(raw_copy / file, line, column, value)
    found = problems(config)
    assert f"{file}, line {line}, {expected}" in found, found


def test_every_problem_is_listed_not_only_the_first(config, raw_copy):
    replace_field(raw_copy / "consumers.csv", 2, "age", "10")
    replace_field(raw_copy / "consumers.csv", 3, "age", "99")
    replace_field(raw_copy / "teams.csv", 2, "trust", "Elsewhere")
    found = problems(config)
    assert len(found) == 3
    assert sorted(p.split(",")[0] for p in found) == ["consumers.csv", "consumers.csv", "teams.csv"]


def test_dates_out_of_order(config, raw_copy):
    path = raw_copy / "teams.csv"
    lines = path.read_text().strip().split("\n")
    lines[0] += ",randomised,started"
    for i in range(1, len(lines)):
        lines[i] += ",2011-04-01,2011-06-01"
    lines[3] = lines[3].replace("2011-06-01", "2011-03-31")
    lines[5] = lines[5].replace("2011-04-01", "1 April 2011")
    path.write_text("\n".join(lines) + "\n")
    columns = config["tables"]["teams"]["columns"]
    columns["randomised"] = {"type": "date", "description": "date randomised"}
    columns["started"] = {"type": "date", "description": "date the intervention started"}
    config["tables"]["teams"]["date_order"] = [["randomised", "started"]]
    found = problems(config)
    assert (
        "teams.csv, line 6, column 'randomised': value '1 April 2011'; expected a date YYYY-MM-DD"
        in found
    )
    assert (
        "teams.csv, line 4, column 'started': value '2011-03-31'; "
        "expected a date on or after randomised (2011-04-01)"
    ) in found
    assert len(found) == 2
