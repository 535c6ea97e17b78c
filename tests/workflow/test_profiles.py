"""Execution profiles and declared job resources: what a scheduler needs to place every job."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from ..conftest import ROOT

PROFILES = ROOT / "workflow" / "profiles"
RULES = ROOT / "workflow" / "rules"

# Rules whose jobs are many (one per chunk of imputations, a rule each, named in a loop) or read
# every raw table of a large trial.
HEAVY_RULES = {
    "ingest.smk": ["validate_inputs", "build_analysis_table"],
    "impute.smk": ["impute_and_fit_{chunk}"],
    "analyse.smk": ["pool_outcomes", "describe_trial"],
    "report.smk": ["make_figures", "render_report"],
}


def load_profile(name: str) -> dict:
    with (PROFILES / name / "config.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("name", ["local", "slurm"])
def test_every_profile_key_is_commented(name):
    lines = (PROFILES / name / "config.yaml").read_text(encoding="utf-8").splitlines()
    uncommented = [
        line
        for line in lines
        if line.strip() and not line.lstrip().startswith("#") and "#" not in line
    ]
    assert not uncommented, f"profile {name} has keys without a comment: {uncommented}"


def test_local_profile_defaults():
    profile = load_profile("local")
    assert profile["cores"] == 2
    assert profile["printshellcmds"] is True
    assert profile["rerun-incomplete"] is True
    assert profile["keep-going"] is False


def test_slurm_profile_uses_the_slurm_executor_with_default_resources():
    profile = load_profile("slurm")
    assert profile["executor"] == "slurm"
    resources = dict(item.split("=", 1) for item in profile["default-resources"])
    assert {"slurm_partition", "runtime", "mem_mb"} <= set(resources)
    assert int(resources["runtime"]) > 0 and int(resources["mem_mb"]) > 0
    assert profile["jobs"] >= 1 and profile["latency-wait"] >= 1


def _rule_block(text: str, rule: str) -> str:
    """The text of a rule, named on its ``rule`` line or by its ``name:`` directive."""
    name = re.escape(rule)
    named = rf"rule {name}:|rule:\n\s*(?:\"\"\".*?\"\"\"\s*)?name:\s*f?\"{name}\""
    match = re.search(rf"^\s*(?:{named})\n(.*?)(?=^\s*rule \w*:|\Z)", text, re.S | re.M)
    assert match, f"rule {rule} not found"
    return match.group(1)


@pytest.mark.parametrize(
    ("rule_file", "rule"), [(f, r) for f, rules in HEAVY_RULES.items() for r in rules]
)
def test_heavy_rules_declare_threads_and_memory(rule_file, rule):
    block = _rule_block((RULES / rule_file).read_text(encoding="utf-8"), rule)
    assert re.search(r"^\s*threads: \d+", block, re.M), f"{rule} declares no threads"
    assert re.search(r"^\s*mem_mb=\d+", block, re.M), f"{rule} declares no mem_mb resource"


def test_snakemake_accepts_the_local_profile():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", str(PROFILES / "local"), "-n", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
