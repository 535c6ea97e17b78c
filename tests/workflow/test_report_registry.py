"""The report's single registry of sections (:mod:`trial.report.registry`) against the workflow:
some rule writes every result file a section declares, for each bundled config, and every input
the report's code reads by name is declared.

The first check is a dry run of Snakemake to the report, in an empty folder (so no declared file
can already exist): a declared path that no rule writes, a misspelt one for instance, stops the
dry run with the file it misses.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from trial.report import registry
from trial.report.registry import SECTIONS, active_inputs

from ..conftest import ROOT

BUNDLED = ("refocus", "trio", "pulse", "stepped", "tally")


def scratch_config(name: str, folder: Path) -> Path:
    """The bundled config ``name`` with its results pointed into ``folder``, written there."""
    config = yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text(encoding="utf-8"))
    config["paths"] = {
        "raw": str(ROOT / config["paths"]["raw"]),
        "derived": str(folder / "derived"),
        "reports": str(folder / "reports"),
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def dry_runs_to_report(names: list[str], folder: Path) -> dict[str, dict]:
    """Snakemake's dry run to the HTML report of each bundled config (the render rule reads every
    declared file), each in an empty folder of its own, in one process (``report_dag.py``)."""
    arguments = []
    for name in names:
        (folder / name).mkdir(parents=True)
        arguments += [str(scratch_config(name, folder / name)), str(folder / name)]
    command = [sys.executable, str(Path(__file__).with_name("report_dag.py")), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {name: result for name, result in zip(names, results, strict=True)}


def test_a_rule_writes_every_file_the_report_sections_declare(tmp_path):
    for name in BUNDLED:
        config = yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text(encoding="utf-8"))
        # a parallel design's report reads the pooled outcomes; a scheduled one its own results
        expected = (
            {"stepped_wedge", "schedule_figure"}
            if config["design"].get("type", "parallel") != "parallel"
            else {"outcomes", "baseline", "traces"}
        )
        assert expected <= set(active_inputs(config))
    for name, result in dry_runs_to_report(list(BUNDLED), tmp_path).items():
        assert result["ok"], f"{name}: {result.get('error', result.get('log'))}"


def test_a_misspelt_path_stops_the_dry_run(tmp_path, monkeypatch):
    """The check above can fail: the workflow run on a copy of the library whose registry
    declares ``tables/iccs.csv``, a file no rule writes."""
    library = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "trial", library / "trial")
    source = library / "trial" / "report" / "registry.py"
    text = source.read_text(encoding="utf-8")
    assert text.count('"tables/icc.csv"') == 1
    source.write_text(text.replace('"tables/icc.csv"', '"tables/iccs.csv"'), encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(library))
    result = dry_runs_to_report(["refocus"], tmp_path / "run")["refocus"]
    assert not result["ok"]
    assert "tables/iccs.csv" in result["error"]


def keys_read(path: Path) -> dict[str, set[str]]:
    """The input names each function of a module reads as ``inputs[...]`` or ``inputs.get(...)``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        keys = found.setdefault(function.name, set())
        for node in ast.walk(function):
            key = None
            if isinstance(node, ast.Subscript) and _is_inputs(node.value):
                key = node.slice
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and _is_inputs(node.func.value)
                and node.args
            ):
                key = node.args[0]
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                keys.add(key.value)
    return found


def _is_inputs(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "inputs"


def _reading_modules() -> list[Path]:
    src = ROOT / "src" / "trial"
    return sorted((src / "report").rglob("*.py"))


def test_every_input_the_report_reads_by_name_is_declared():
    declared = {each.key for section in SECTIONS for each in section.reads}
    declared |= set(registry.WORKFLOW_INPUTS) | set(registry.SCRIPT_INPUTS)
    script = ROOT / "workflow" / "scripts" / "render_report.py"
    problems = []
    for path in [*_reading_modules(), script]:
        tree_keys = keys_read(path) if path != script else {"<script>": _script_keys(script)}
        for function, keys in tree_keys.items():
            problems += [f"{path.name}:{function} reads {k!r}" for k in sorted(keys - declared)]
    assert not problems, "inputs read but declared by no section:\n" + "\n".join(problems)


def _script_keys(path: Path) -> set[str]:
    """The input names the render script reads (its module body as one function)."""
    body = "".join(f"    {line}" for line in path.read_text(encoding="utf-8").splitlines(True))
    tree = ast.parse("def script():\n" + body)
    return {
        node.slice.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript)
        and _is_inputs(node.value)
        and isinstance(node.slice, ast.Constant)
    }


def test_each_builder_reads_only_its_own_declared_inputs():
    problems = []
    modules = {p.stem: keys_read(p) for p in (ROOT / "src/trial/report/sections").glob("*.py")}
    for section in SECTIONS:
        module = section.builder.__module__.rsplit(".", 1)[-1]
        reads = modules[module][section.builder.__name__]
        own = {each.key for each in section.reads} | set(registry.WORKFLOW_INPUTS)
        problems += [f"{section.name} reads {k!r}" for k in sorted(reads - own)]
    assert not problems, "\n".join(problems)


def test_the_key_check_catches_a_misspelt_key(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f(config, inputs):\n    return inputs['cost'], inputs.get('icc')\n")
    assert keys_read(module) == {"f": {"cost", "icc"}}
    declared = {each.key for section in SECTIONS for each in section.reads}
    assert "cost" not in declared and "icc" in declared
