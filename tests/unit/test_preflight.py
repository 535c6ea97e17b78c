"""`trial validate CONFIG`: one screen per failure (the problems, a one-line hint), exit code 2."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import yaml

from trial.cli import main
from trial.validation import InputError, Problem

from ..conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"


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
        f"hint: correct the files in {tmp_path} (or the config, where it is wrong) and rerun; "
        f"`trial validate {path}` checks them without running anything",
    ]


@pytest.mark.parametrize("example", ["trio.yaml", "pulse.yaml", "stepped.yaml"])
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
