"""Results cannot go stale: changing any config key reruns every job whose script reads it.

Snakemake reruns a job when its declared params change, not when some other part of the config
does, while every script is handed the whole config. So the small REFOCUS-shaped trial is run
once with ``config_reads/sitecustomize.py`` on the path, which records in each job the config
keys its library calls look up (a section and the key within it) beside the job's params. Then:

- every key a job reads must be in its params (the whole section, the key's value, or a copy of
  the section that keeps that key), and every section whose presence it tests (or that it reads
  for defaults when absent) must be named in them;
- on the finished run, one value of each section is changed at a time and a dry run (the
  default rerun triggers) must schedule every rule that read it, and must not schedule input
  validation unless that reads the section too (so a change does not rerun everything).

Params hold whole sections (``config_sections`` in ``workflow/rules/common.smk``), so a change
reruns every rule that reads some key of its section. The three-arm example is recorded too, for
the rules only a trial of several arms has, and the binary-outcome example for the rule only
binomial outcomes have.

``paths`` is left out: the files themselves are the jobs' inputs and outputs.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections import defaultdict

import pytest
import yaml

from trial.config.load import load_config

from ..conftest import ROOT
from .test_end_to_end import snakemake_command, write_trial
from .test_three_arm import small_three_arm_trial

pytestmark = pytest.mark.slow

RECORDER = ROOT / "tests" / "workflow" / "config_reads"
UNTRACKED = {"paths", "*"}


def snakemake(config_path, workdir, *options: str, env=None) -> subprocess.CompletedProcess:
    done = subprocess.run(
        snakemake_command(config_path, workdir, *options), capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def record_run(config_path, folder) -> dict[str, list[dict]]:
    """Run the workflow to the end, recording each job's config reads and params, by rule."""
    reads = folder / "reads"
    reads.mkdir()
    env = dict(os.environ, TRIAL_RECORD_CONFIG_READS=str(reads))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(RECORDER), env.get("PYTHONPATH")]))
    snakemake(config_path, folder, "--cores", "2", "-q", env=env)
    jobs = defaultdict(list)
    for path in reads.glob("*.json"):
        jobs[path.name.split(".")[0]].append(json.loads(path.read_text()))
    return jobs


@pytest.fixture(scope="module")
def recorded(example_config, tmp_path_factory):
    """The small two-arm trial (every optional section) run to the end, recorded."""
    folder = tmp_path_factory.mktemp("recorded")
    config, config_path = write_trial(example_config, folder)
    jobs = record_run(config_path, folder)
    assert "validate_inputs" in jobs and "render_report" in jobs and len(jobs) > 20
    return config, config_path, folder, jobs


@pytest.fixture(scope="module")
def recorded_three_arms(tmp_path_factory):
    """The three-arm example, with the rules only a trial of several arms has, recorded."""
    folder = tmp_path_factory.mktemp("recorded_trio")
    _, config_path = small_three_arm_trial(folder)
    jobs = record_run(config_path, folder)
    assert "pool_arm_tests" in jobs and "pool_pairwise" in jobs
    return jobs


@pytest.fixture(scope="module")
def recorded_binary(tmp_path_factory):
    """The binary-outcome example, with the rule only binomial outcomes have, recorded."""
    folder = tmp_path_factory.mktemp("recorded_pulse")
    config = load_config(ROOT / "config" / "pulse.yaml")
    config["imputation"].update(m=2, iterations=2)
    config["icc"]["bootstrap"] = 10
    config["paths"] = {
        "raw": str(ROOT / "data" / "raw" / "pulse"),
        "derived": str(folder / "derived"),
        "reports": str(folder / "reports"),
    }
    config_path = folder / "pulse.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = record_run(config_path, folder)
    assert "pool_marginal" in jobs and "render_report" in jobs
    return jobs


def covered(path: list[str], params: dict, config: dict) -> bool:
    """Whether the params hold the config value at ``path`` (a section, or a key in one)."""
    section = config.get(path[0])
    if section is None:
        # a section this config lacks is read for its defaults: its absence must be declared
        return path[0] in params and params[path[0]] is None
    if len(path) == 1:
        # a section tested for presence only: the params must name it
        if isinstance(section, dict):
            return path[0] in params
        return any(v == section for v in params.values())
    key = path[1]
    for value in params.values():
        if value == section:
            return True
        if key != "*" and key in section and value == section[key]:
            return True
        # a copy of the section without its explanatory keys (e.g. imputation_settings())
        if (
            isinstance(value, dict)
            and value
            and all(k in section and section[k] == v for k, v in value.items())
            and (key in value or key not in section)
        ):
            return True
    return False


def reads_of(jobs: dict) -> dict[str, set[tuple[str, ...]]]:
    """The config keys each rule's jobs read, tracked sections only."""
    return {
        rule: {tuple(p) for job in runs for p in job["reads"] if p[0] not in UNTRACKED}
        for rule, runs in jobs.items()
    }


def keys_missing_from_params(jobs: dict) -> dict[str, list[str]]:
    """The config keys each rule's jobs read that their params do not hold."""
    missing = {}
    for rule, runs in jobs.items():
        for job in runs:
            lacking = {
                "/".join(p)
                for p in job["reads"]
                if p[0] not in UNTRACKED and not covered(p, job["params"], job["config"])
            }
            if lacking:
                missing[rule] = sorted(set(missing.get(rule, [])) | lacking)
    return missing


def test_every_config_key_a_job_reads_is_in_its_params(recorded):
    assert keys_missing_from_params(recorded[-1]) == {}


def test_every_config_key_a_three_arm_job_reads_is_in_its_params(recorded_three_arms):
    assert keys_missing_from_params(recorded_three_arms) == {}


def test_every_config_key_a_binary_outcome_job_reads_is_in_its_params(recorded_binary):
    assert keys_missing_from_params(recorded_binary) == {}


def scheduled(done: subprocess.CompletedProcess) -> set[str]:
    """The rules a dry run would run, from its job-count table."""
    lines = done.stdout.splitlines()
    start = next(k for k, line in enumerate(lines) if line.split()[:2] == ["job", "count"])
    rules = set()
    for line in lines[start + 2 :]:
        if line.split()[0] == "total":
            break
        rules.add(line.split()[0])
    return rules


def changed(config: dict, path: tuple, value) -> dict:
    """A copy of the config with the value at ``path`` (keys and list positions) replaced."""
    config = copy.deepcopy(config)
    here = config
    for key in path[:-1]:
        here = here[key]
    here[path[-1]] = value
    return config


# One change per config section, each to a value that passes validation: (path, new value).
CHANGES = {
    "analysis": (("analysis", "alpha"), 0.1),
    "imputation": (("imputation", "iterations"), 3),
    "costs": (("costs", "willingness_to_pay", "step"), 100),
    "participation": (("participation", "bootstrap"), 11),
    "staff": (("staff", "outcomes", 0, "direction"), "reference_minus_treatment"),
    "sensitivity": (("sensitivity", "permutations"), 501),
    "icc": (("icc", "bootstrap"), 101),
    "audit": (("audit", "time_label"), "Period of the audit"),
    "estimands": (("estimands", "intercurrent_events", 0, "label"), "Died before follow-up"),
    "multiplicity": (("multiplicity", "families", 0, "name"), "other_outcomes"),
    "scales": (("scales", "functioning", "label"), "GAF"),
    "design": (("design", "arm_labels", "refocus"), "Intervention"),
    "tables": (("tables", "teams", "description"), "Teams."),
    "figures": (("figures", "dpi"), 101),
    "seed": (("seed",), 12345),
    "trial": (("trial", "title"), "Another title"),
    "covariates": (("covariates",), ["age"]),
    "consistency": (("consistency", "one_cluster_per"), ["consumer_id", "staff_id"]),
}


@pytest.mark.parametrize("section", sorted(CHANGES))
def test_changing_a_section_reruns_every_job_that_reads_it(recorded, section):
    config, _, folder, jobs = recorded
    path, value = CHANGES[section]
    key = tuple(str(p) for p in path[:2])
    readers = {
        rule
        for rule, reads in reads_of(jobs).items()
        if key in reads or (key[0],) in reads or (key[0], "*") in reads
    }
    assert readers, f"no job reads {key}"
    new = folder / f"changed_{section}.yaml"
    new.write_text(yaml.safe_dump(changed(config, path, value), sort_keys=False))
    done = snakemake(new, folder, "-n", "--quiet", "rules")
    rules = scheduled(done)
    assert readers <= rules, sorted(readers - rules)
    # the change reruns what depends on it, not everything: input validation (which every other
    # job follows) only when it reads the changed section
    validation_reads = any(p[0] == key[0] for p in reads_of(jobs)["validate_inputs"])
    assert ("validate_inputs" in rules) == validation_reads
