"""`trial validate CONFIG`: one screen per failure (the problems, a one-line hint), exit code 2."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from trial.cli.main import main
from trial.data.validation import InputError, Problem

from ...conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"


# The checks a config that departs from the schema leaves unrun (its tables are still checked).
NOT_CHECKED_WITH_SCHEMA_PROBLEMS = [
    "not checked (3), until the problems above are corrected:",
    "  - the config's cross-checks (tables, scales, outcomes, covariates, sections): they need a "
    "config that matches the schema",
    "  - checks across tables: they need a config without problems",
    "  - the imputation model against the analysis models, and the cluster bootstraps' clusters "
    "per arm and stratum: they need a config without problems",
]


def not_checked_without_cluster_table(file: str) -> list[str]:
    """The checks a broken cluster table leaves unrun (the example configures a bootstrap)."""
    return [
        "not checked (3), until the problems above are corrected:",
        f"  - checks across tables for {file}: it has problems of its own",
        f"  - the cluster bootstraps' clusters per arm and stratum: they need a valid {file}",
        "  - the imputation model against the analysis models: it needs the analysis table, "
        "built only from valid data",
    ]


def validate(path, capsys) -> tuple[int, str, str]:
    code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "content, problem",
    [
        ("", "the file is empty; a config is a mapping of keys (trial, seed, paths, ...)"),
        ("- trial\n- seed\n", "the top level must be a mapping of keys to values, not a list"),
        (b"seed: 1\nname: caf\xe9\n", "line 2: not UTF-8 text (invalid continuation byte)"),
    ],
)
def test_a_config_file_that_cannot_be_read(tmp_path, capsys, content, problem):
    path = tmp_path / "trial.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    code, out, err = validate(path, capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"invalid configuration {path}: 1 problem(s)",
        f"  - {problem}",
        "hint: the config must be a readable YAML file holding one mapping of keys; correct it "
        "and rerun",
    ]


def test_an_invalid_config_lists_its_keys_and_a_hint(tmp_path, capsys):
    text = (ROOT / "config" / "trio.yaml").read_text().replace("\nseed:", "\nseeds:", 1)
    path = tmp_path / "trial.yaml"
    path.write_text(text)
    code, out, err = validate(path, capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"invalid configuration {path}: 2 problem(s)",
        "  - (top level): 'seed' is a required property",
        "  - (top level): Additional properties are not allowed ('seeds' was unexpected) (check "
        "the spelling against the documented keys)",
        *NOT_CHECKED_WITH_SCHEMA_PROBLEMS,
        f"hint: correct these keys in {path} (docs/configuring-a-trial.md explains every key) and "
        "rerun",
    ]


def test_a_config_path_that_does_not_exist(tmp_path, capsys):
    code, _, err = validate(tmp_path / "nowhere.yaml", capsys)
    assert code == 2
    assert err.splitlines()[:2] == [
        f"invalid configuration {tmp_path / 'nowhere.yaml'}: 1 problem(s)",
        "  - the config file does not exist",
    ]


def test_broken_data_give_the_problems_and_a_hint(tmp_path, config, capsys):
    for path in RAW.glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    lines = (tmp_path / "teams.csv").read_text().split("\n")
    lines[1] += ","
    (tmp_path / "teams.csv").write_text("\n".join(lines))
    config["paths"]["raw"] = str(tmp_path)
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(config))
    code, out, err = validate(path, capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.splitlines() == [
        "input validation failed with 1 problem(s); no analysis was run",
        "  - teams.csv, line 2: value 'T01,SLaM,control,'; expected 3 fields as in the header, "
        "found 4: a stray comma, or text with a comma that is not in quotes",
        *not_checked_without_cluster_table("teams.csv"),
        f"hint: correct the files in {tmp_path} (or the config, where it is wrong) and rerun; "
        f"`trial validate {path}` checks them without running anything",
    ]


@pytest.mark.parametrize("example", ["trio.yaml", "pulse.yaml", "stepped.yaml", "tally.yaml"])
def test_a_valid_config_and_its_data(example, capsys):
    """Every bundled design passes: a stepped-wedge trial (analysed without imputation) is not
    held to the imputation model's checks."""
    code, out, err = validate(ROOT / "config" / example, capsys)
    assert (code, err) == (0, "")
    assert "the config and every table it names are valid" in out


def test_many_problems_in_one_file_are_counted_after_the_first_ones():
    problems = [Problem("a.csv", line, "x", line, "at most 1") for line in range(2, 32)]
    problems.append(Problem("b.csv", 2, "y", "z", "one of ['w']"))
    text = str(InputError(problems)).splitlines()
    assert text[0] == "input validation failed with 31 problem(s); no analysis was run"
    assert text[1] == "  - a.csv, line 2, column 'x': value 2; expected at most 1"
    assert text[26] == "  ... and 5 more in a.csv"
    assert text[27] == "  - b.csv, line 2, column 'y': value 'z'; expected one of ['w']"
    assert len(text) == 28


def test_imputations_that_do_not_fit_the_data_are_refused_before_any_job(tmp_path, capsys):
    """m = 1 is allowed only without missing values: found from the data before any job runs,
    not in the imputation jobs."""
    config = yaml.safe_load((ROOT / "config" / "trio.yaml").read_text())
    config["imputation"]["m"] = 1
    config["paths"]["raw"] = str(ROOT / "data" / "raw" / "trio")
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(config))
    code, out, err = validate(path, capsys)
    lines = err.splitlines()
    assert code == 2 and out == "" and "Traceback" not in err
    assert lines[0].startswith("the imputation model is not compatible with the analysis models")
    assert lines[1].startswith(
        "  - imputation.m is 1, which is allowed only when no analysed value is missing; "
        "missing values: phq9__baseline ("
    )
    assert (
        lines[-1]
        == f"hint: correct the config {path} (or the data, where they are wrong) and rerun"
    )


def test_a_bootstrap_the_design_cannot_support_is_refused_before_any_job(tmp_path, capsys):
    """Classes randomised within schools, one class per arm in most schools: a cluster bootstrap
    within arm and stratum cannot resample them, which is found before any job runs."""
    data = ROOT / "tests" / "reference" / "data" / "post_only"
    config = yaml.safe_load((data / "post_only.yaml").read_text())
    config["paths"]["raw"] = str(data)
    config["icc"] = {"bootstrap": 20}
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(config))
    code, out, err = validate(path, capsys)
    classes = pd.read_csv(data / "classes.csv").groupby(["arm", "school"]).size()
    lines = err.splitlines()
    assert code == 2 and out == ""
    assert lines[0] == "the cluster bootstraps cannot resample this design (1 problem(s)):"
    assert lines[1].startswith(
        "  - icc/bootstrap: the cluster bootstrap resamples classes within each arm and stratum "
        f"and needs at least two in each; {(classes == 1).sum()} arm/stratum group(s) have one "
        "(control/S01, "
    )
    assert lines[1].endswith("; set icc/bootstrap to 0")  # the remedy the schema allows
    config["icc"] = {"bootstrap": 0}
    path.write_text(yaml.safe_dump(config))
    assert validate(path, capsys)[0] == 0


TALLY = ROOT / "data" / "raw" / "tally"


def broken_tally(tmp_path, edit_config, edits: dict[str, tuple[int, str, str]]):
    """The post-only example with its config changed by ``edit_config`` and, per file, one line
    whose ``old`` text is replaced by ``new``: the path of its config."""
    for path in TALLY.glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    for file, (line, old, new) in edits.items():
        lines = (tmp_path / file).read_text().split("\n")
        assert old in lines[line - 1]
        lines[line - 1] = lines[line - 1].replace(old, new, 1)
        (tmp_path / file).write_text("\n".join(lines))
    config = yaml.safe_load((ROOT / "config" / "tally.yaml").read_text())
    config["paths"]["raw"] = str(tmp_path)
    edit_config(config)
    path = tmp_path / "trial.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def cell(file: str, line: int, column: str) -> str:
    """The text of one cell of the example's raw file."""
    return str(pd.read_csv(TALLY / file, dtype=str).loc[line - 2, column])


def test_independent_problems_of_config_and_data_are_listed_in_one_run(tmp_path, capsys):
    """A covariate the tables lack, an age out of range and an item score out of range: three
    stages' problems on one screen, grouped by file, and the checks that need a valid config
    named as not run."""
    age, item = cell("pupils.csv", 5, "age_months"), cell("maths_tests.csv", 10, "m03")
    path = broken_tally(
        tmp_path,
        lambda c: c.update(covariates=["sex", "age_months", "ses"]),
        {
            "pupils.csv": (5, f",{age},sat_test", ",300,sat_test"),
            "maths_tests.csv": (10, f"end_of_year,{cell('maths_tests.csv', 10, 'm01')},"
                          f"{cell('maths_tests.csv', 10, 'm02')},{item},",
                          f"end_of_year,{cell('maths_tests.csv', 10, 'm01')},"
                          f"{cell('maths_tests.csv', 10, 'm02')},7,"),
        },
    )  # fmt: skip
    code, out, err = validate(path, capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"invalid configuration {path}: 1 problem(s)",
        "  - covariates: 'ses' is not a column of the individual table 'pupils' or the cluster "
        "table 'classrooms'",
        "input validation failed with 2 problem(s); no analysis was run",
        "  - pupils.csv, line 5, column 'age_months': value 300; expected at most 132",
        "  - maths_tests.csv, line 10, column 'm03': value 7; expected at most 4",
        "not checked (2), until the problems above are corrected:",
        "  - checks across tables: they need a config without problems",
        "  - the imputation model against the analysis models, and the cluster bootstraps' "
        "clusters per arm and stratum: they need a config without problems",
        f"hint: correct these keys in {path} (docs/configuring-a-trial.md explains every key); "
        f"correct the files in {tmp_path} (or the config, where it is wrong) and rerun; "
        f"`trial validate {path}` checks them without running anything",
    ]


def test_the_bootstrap_check_runs_beside_problems_of_other_tables(tmp_path, capsys):
    """The cluster table is valid, so the bootstrap's clusters per arm and school are checked
    although another table has a problem; the imputation model, which needs every table, is
    named as not checked."""
    classes = pd.read_csv(TALLY / "classrooms.csv")
    # one class per arm in school S1: drop one class of each arm there (and its pupils' rows)
    dropped = classes[classes["school_id"] == "S1"].groupby("arm").head(1)["class_id"]
    path = broken_tally(tmp_path, lambda c: None, {})
    kept = classes[~classes["class_id"].isin(dropped)]
    kept.to_csv(tmp_path / "classrooms.csv", index=False)
    pupils = pd.read_csv(tmp_path / "pupils.csv", dtype=str)
    pupils = pupils[~pupils["class_id"].isin(dropped)]
    pupils.to_csv(tmp_path / "pupils.csv", index=False)
    tests = pd.read_csv(tmp_path / "maths_tests.csv", dtype=str)
    tests = tests[tests["pupil_id"].isin(pupils["pupil_id"])]
    tests.iloc[0, tests.columns.get_loc("sitting")] = "end_of_term"
    tests.to_csv(tmp_path / "maths_tests.csv", index=False)
    code, out, err = validate(path, capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "input validation failed with 1 problem(s); no analysis was run",
        "  - maths_tests.csv, line 2, column 'sitting': value 'end_of_term'; expected one of "
        "['end_of_year']",
        "the cluster bootstraps cannot resample this design (1 problem(s)):",
        "  - icc/bootstrap: the cluster bootstrap resamples classes within each arm and stratum "
        "and needs at least two in each; 3 arm/stratum group(s) have one (adaptive_app/S1, "
        "tutoring/S1, usual_teaching/S1); set icc/bootstrap to 0",
        "not checked (2), until the problems above are corrected:",
        "  - checks across tables for maths_tests.csv: it has problems of its own",
        "  - the imputation model against the analysis models: it needs the analysis table, "
        "built only from valid data",
        f"hint: correct the files in {tmp_path} (or the config, where it is wrong); correct the "
        f"config {path} (or the data, where they are wrong) and rerun; `trial validate {path}` "
        "checks them without running anything",
    ]


def test_a_table_whose_declaration_is_broken_is_not_read_but_the_others_are(tmp_path, capsys):
    """A key naming an undeclared column stops that table being read (its rows would be checked
    against a wrong key); the other tables are still checked."""
    age = cell("pupils.csv", 3, "age_months")

    def edit(config):
        config["tables"]["maths_tests"]["key"] = ["pupil_id", "visit"]

    path = broken_tally(tmp_path, edit, {"pupils.csv": (3, f",{age},", ",90,")})
    code, _, err = validate(path, capsys)
    lines = err.splitlines()
    assert code == 2
    assert lines[:5] == [
        f"invalid configuration {path}: 1 problem(s)",
        "  - tables/maths_tests/key: column 'visit' is not declared in table 'maths_tests'",
        "input validation failed with 1 problem(s); no analysis was run",
        "  - pupils.csv, line 3, column 'age_months': value 90; expected at least 96",
        "not checked (3), until the problems above are corrected:",
    ]
    assert "  - maths_tests.csv: its declaration (tables/maths_tests) has problems" in lines


def test_a_schema_problem_in_the_tables_stops_the_data_checks_and_says_so(tmp_path, capsys):
    def edit(config):
        config["tables"]["pupils"]["columns"]["age_months"]["type"] = "whole"

    path = broken_tally(tmp_path, edit, {})
    code, _, err = validate(path, capsys)
    lines = err.splitlines()
    assert code == 2
    assert lines[0] == f"invalid configuration {path}: 1 problem(s)"
    assert lines[1].startswith("  - tables/pupils/columns/age_months/type: 'whole' is not one of")
    assert lines[2:5] == [
        "not checked (2), until the problems above are corrected:",
        "  - the config's cross-checks (tables, scales, outcomes, covariates, sections): they "
        "need a config that matches the schema",
        "  - every raw table: reading one needs the config's paths, tables, design, scales to "
        "match the schema; tables does not",
    ]
