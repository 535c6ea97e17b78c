"""A broken config or broken data stop Snakemake before any job with one clean screen: the list of
problems and a one-line hint on stderr, exit code 2, no traceback (Snakemake's included)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from trial.cli.main import main
from trial.config.load import load_config

from ..conftest import ROOT
from ..unit.cli.test_preflight import not_checked_without_cluster_table
from ..unit.corruption import subset_example


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    """A small valid copy of the example: its folder and the text of its config file."""
    folder = tmp_path_factory.mktemp("screen")
    config = load_config(ROOT / "config" / "refocus.yaml")
    (folder / "raw").mkdir()
    subset_example(config, ROOT / config["paths"]["raw"], folder / "raw", 6)
    config["paths"] = {k: str(folder / k) for k in ("raw", "derived", "reports")}
    return folder, yaml.safe_dump(config, sort_keys=False)


def snakemake(folder, config_text: str) -> subprocess.CompletedProcess:
    path = folder / "trial.yaml"
    path.write_text(config_text, encoding="utf-8")
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(folder), "--configfile", str(path), "--cores", "1", "--dry-run",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_broken_data_stop_before_any_job(trial):
    folder, text = trial
    teams = folder / "raw" / "teams.csv"
    valid = teams.read_text()
    teams.write_text(valid.replace("T01,SLaM,control\n", "T01,SLaM,control,\n"))
    try:
        result = snakemake(folder, text)
    finally:
        teams.write_text(valid)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "input validation failed with 1 problem(s); no analysis was run",
        "  - teams.csv, line 2: value 'T01,SLaM,control,'; expected 3 fields as in the header, "
        "found 4: a stray comma, or text with a comma that is not in quotes",
        *not_checked_without_cluster_table("teams.csv"),
        f"hint: correct the files in {folder / 'raw'} (or the config, where it is wrong) and "
        f"rerun; `trial validate {folder / 'trial.yaml'}` checks them without running anything",
    ]


def test_a_key_given_twice_stops_with_its_line(trial):
    folder, text = trial
    line = text.splitlines().index(next(t for t in text.splitlines() if t.startswith("seed:")))
    result = snakemake(folder, text.replace("\nseed:", "\nseed: 1\nseed:", 1))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[1] == (
        f"  - line {line + 2}, column 1: key 'seed' is given a second time (first on line "
        f"{line + 1}); YAML would silently keep only the last value"
    )


def snakemake_says(result: subprocess.CompletedProcess) -> str:
    """What Snakemake printed (on stdout) when it stopped with exit code 1, on one line."""
    assert result.returncode == 1 and result.stderr == "", result.stderr
    return " ".join(result.stdout.split())


def seed_line(text: str) -> int:
    """The line number (from 1) of the top-level ``seed:`` key."""
    return next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("seed:"))


@pytest.mark.parametrize(
    "change, problem",
    [
        (
            ("\nseed:", "\n\tseed:"),
            "line {seed}, column 1: not valid YAML: while scanning for the next token found "
            "character '\\t' that cannot start any token (indent with spaces; YAML does not allow "
            "tabs)",
        ),
        (
            ("\nseed:", "\noops: [1, 2\nseed:"),
            "line {next}, column 5: not valid YAML: while parsing a flow sequence expected ',' or "
            "']', but got ':'",
        ),
    ],
    ids=["tab", "syntax"],
)
def test_a_yaml_error_in_a_configfile_is_named_by_trial_validate(trial, capsys, change, problem):
    """Snakemake parses a file named with --configfile before the workflow starts, and its message
    names neither file nor line (pinned here, as the docs quote it); `trial validate` names both."""
    folder, text = trial
    broken = text.replace(*change, 1)
    assert snakemake_says(snakemake(folder, broken)) == (
        "WorkflowError: Config file is not valid JSON or YAML. In case of YAML, make sure to not "
        "mix whitespace and tab indentation."
    )
    path = folder / "trial.yaml"
    assert main(["validate", str(path)]) == 2
    seed = seed_line(text)
    assert capsys.readouterr().err.splitlines() == [
        f"invalid configuration {path}: 1 problem(s)",
        "  - " + problem.format(seed=seed, next=seed + 1),
        "hint: the config must be a readable YAML file holding one mapping of keys; correct it "
        "and rerun",
    ]


def test_an_empty_configfile(trial, capsys):
    folder, _ = trial
    assert snakemake_says(snakemake(folder, "# nothing here yet\n")) == (
        "WorkflowError: Config file must be given as JSON or YAML with keys at top level."
    )
    assert main(["validate", str(folder / "trial.yaml")]) == 2
    assert capsys.readouterr().err.splitlines()[1] == (
        "  - the file is empty; a config is a mapping of keys (trial, seed, paths, ...)"
    )


def test_trial_run_names_a_yaml_error_before_snakemake_reads_the_file(trial, capsys, monkeypatch):
    """`trial run` checks the file first, so a tab gets file, line and column, not Snakemake's
    unnamed message; Snakemake is not started."""
    folder, text = trial
    path = folder / "trial.yaml"
    path.write_text(text.replace("\nseed:", "\n\tseed:", 1), encoding="utf-8")
    started = []
    monkeypatch.setattr("trial.cli.main.subprocess.call", lambda command: started.append(command))
    assert main(["run", str(path), "--cores", "1"]) == 2
    assert started == []
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"invalid configuration {path}: 1 problem(s)"
    assert err[1].startswith(f"  - line {seed_line(text)}, column 1: not valid YAML")


def test_trial_run_hands_a_valid_config_to_snakemake(trial, monkeypatch):
    """A valid config runs the workflow with that config and every other argument as given."""
    folder, text = trial
    config = yaml.safe_load(text)
    # six teams leave one per arm in a stratum, which no cluster bootstrap can resample
    config["icc"]["bootstrap"] = 0
    for section in ("costs", "participation"):
        config[section].pop("bootstrap")
    path = folder / "trial.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "trial.cli.main", "run", str(path), "--snakefile",
         str(ROOT / "Snakefile"), "--directory", str(folder), "--cores", "1", "--dry-run"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "impute_and_fit_1" in result.stdout + result.stderr
