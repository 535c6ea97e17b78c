"""Mutation testing of the statistical kernels: run mutmut on a scope and score the result.

Each mutant (one operator, constant or call changed at a time in one of the kernel modules
below) is checked by the fast unit and R-reference tests of these modules that reach the
mutated function (``[tool.mutmut]`` in ``pyproject.toml``). A mutant no test kills either
shows a gap in the tests or is *equivalent* (it cannot change any result);
``tests/mutation/equivalent.toml`` says why for each known equivalent survivor, and the score
counts only the others.

Scopes:

* ``pooling``: all of ``pooling.py``;
* ``bootstrap``: all of ``bootstrap.py``;
* ``inference``: the Kenward-Roger, Satterthwaite, between-within and contrast code of
  ``stats/mixed/`` (the functions listed in ``INFERENCE`` below);
* ``glmm``, ``gee``, ``cluster_level``, ``marginal``: all of ``stats/glmm.py``,
  ``stats/gee.py``, ``stats/cluster_level.py``, ``stats/marginal.py``;
* ``sandwich``: all of ``sandwich.py`` (the CR2 covariance);
* ``iv``: the instrumental-variable estimators of ``stats/iv.py``.

Run from the repository root (needs the ``mutation`` extra, ``pip install -e ".[mutation]"``);
not part of CI. Mutants are run niced, one at a time unless ``--max-children`` says otherwise::

    python tests/mutation/run_mutation.py                        # all three scopes, in full
    python tests/mutation/run_mutation.py --scope inference --sample 400 --seed 1
    python tests/mutation/run_mutation.py --report-only          # rescore the last run

The score and every surviving mutant (with its diff and, where known, why it is equivalent)
are written to ``tests/mutation/results.md``. Work files go to ``mutants/`` (ignored by git);
delete it to start afresh after the code or the tests change.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import functools
import json
import random
import re
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# mutmut's record of each mutated module of a scope
META = {
    "pooling": ("mutants/src/trial/stats/pooling.py.meta",),
    "bootstrap": ("mutants/src/trial/stats/bootstrap.py.meta",),
    "inference": tuple(
        f"mutants/src/trial/stats/mixed/{m}.py.meta"
        for m in ("results", "view", "ddf", "single", "nested", "checks")
    ),
    "glmm": ("mutants/src/trial/stats/glmm.py.meta",),
    "gee": ("mutants/src/trial/stats/gee.py.meta",),
    "cluster_level": ("mutants/src/trial/stats/cluster_level.py.meta",),
    "marginal": ("mutants/src/trial/stats/marginal.py.meta",),
    "sandwich": ("mutants/src/trial/stats/sandwich.py.meta",),
    "iv": ("mutants/src/trial/stats/iv.py.meta",),
}
# the Kenward-Roger / Satterthwaite / between-within / contrast code of stats/mixed/
INFERENCE = [
    "xǁMixedModelArrayFitǁcontrast",
    "xǁMixedModelArrayFitǁf_test",
    "xǁMixedModelArrayFitǁsummary",
    "xǁTermViewǁweights",
    "xǁTermViewǁcontrast",
    "xǁTermViewǁf_test",
    "xǁTermViewǁsummary_table",
    "xǁ_Inferenceǁcontrast_df",
    "xǁ_Inferenceǁf_test",
    "x__kr_ddf",
    "x__kr_df_from_a",
    "x__satt_df_1d",
    "x__satt_f",
    "x__inference",
    "x__inv_info",
    "x__inv_info_2",
    "x__single_kr",
    "x__single_blocks",
    "x__blocks_general",
    "x__bw_df",
    "x__column_levels",
]
# the instrumental-variable estimators of stats/iv.py
IV = [
    "xǁIVFitǁvariance",
    "x__t_inference",
    "x_two_stage_least_squares",
    "x_cluster_level_iv",
    "x_iv_bootstrap",
]
# scopes that cover only some functions of their module
FUNCTIONS = {"inference": INFERENCE, "iv": IV}
STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    33: "no tests",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
}


def _function(name: str) -> str:
    return name.split("__mutmut_")[0]


def _in_scope(scope: str, name: str) -> bool:
    if scope not in FUNCTIONS:
        return True
    return _function(name).rsplit(".", 1)[-1] in FUNCTIONS[scope]


def _results(scope: str) -> dict[str, str]:
    codes = {}
    for meta in META[scope]:
        path = ROOT / meta
        if path.exists():
            codes.update(json.loads(path.read_text())["exit_code_by_key"])
    return {
        k: STATUS.get(v, "not checked" if v is None else f"exit {v}")
        for k, v in codes.items()
        if _in_scope(scope, k)
    }


def _mutmut(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["nice", "-n", "15", "mutmut", *args], cwd=ROOT, text=True, capture_output=True, check=False
    )


@functools.cache
def _bodies(module: str) -> dict[str, list[str]]:
    """Body lines of every original and mutated function in mutmut's copy of a module."""
    text = (ROOT / "mutants" / "src" / f"{module.replace('.', '/')}.py").read_text()
    lines = text.splitlines()
    return {
        node.name: [ln.replace(node.name, "f") for ln in lines[node.lineno - 1 : node.end_lineno]]
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef) and "__mutmut_" in node.name
    }


def _diff(name: str) -> str:
    """The lines a mutant changes (what ``mutmut show`` prints, without a process per mutant)."""
    module, function = name.rsplit(".", 1)
    bodies = _bodies(module)
    original = bodies[function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"]
    lines = difflib.unified_diff(original, bodies[function], lineterm="", n=0)
    return "\n".join(
        ln.strip() if ln[0] == " " else ln[0] + " " + ln[1:].strip()
        for ln in lines
        if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
    )


def _selected() -> dict[str, dict]:
    """Per scope: the mutants last run and the command that ran them."""
    path = ROOT / "mutants" / "selected.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _run(
    scopes: list[str], sample: int, seed: int, max_children: int, command: str, resume: bool
) -> None:
    names: list[str] = []
    selected = _selected()
    if resume:
        # bring the mutants up to date first: mutmut renumbers (and resets) the mutants of a
        # function whose code changed
        _mutmut(["run", "--max-children", str(max_children), "no-such-mutant"])
    for scope in scopes:
        if not all((ROOT / meta).exists() for meta in META[scope]):
            # generate the mutants (and the test-to-function map) without running any
            _mutmut(["run", "--max-children", str(max_children), "no-such-mutant"])
        results = _results(scope)
        if resume and scope in selected:
            # the same sample as before, so that the scores before and after compare
            chosen = [k for k in selected[scope]["names"] if k in results]
            made_by = f"{selected[scope]['command']}, then {command}"
        else:
            made_by = command
            chosen = sorted(results)
            if sample and sample < len(chosen):
                chosen = sorted(random.Random(seed).sample(chosen, sample))
        # tests only added since: a killed mutant stays killed, so --resume reruns the rest
        names += [k for k in chosen if not (resume and results[k] in ("killed", "timeout"))]
        selected[scope] = {**selected.get(scope, {}), "names": chosen, "command": made_by}
    (ROOT / "mutants").mkdir(exist_ok=True)
    (ROOT / "mutants" / "selected.json").write_text(json.dumps(selected))
    if not names:  # without names mutmut would run every mutant
        return
    proc = _mutmut(["run", "--max-children", str(max_children), *names])
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"mutmut run failed with exit code {proc.returncode}")
    for scope in scopes:
        # the first run of a sample is the "before" of later --resume runs
        if "before" not in selected[scope]:
            checked, killed, _ = _tally(scope, selected[scope]["names"])
            selected[scope]["before"] = [killed, len(checked)]
    (ROOT / "mutants" / "selected.json").write_text(json.dumps(selected))


def _tally(scope: str, names: list[str]) -> tuple[dict[str, str], int, list[str]]:
    """The checked mutants among ``names`` with their status, the number killed, the
    survivors."""
    res = {k: v for k, v in _results(scope).items() if k in set(names)}
    checked = {k: v for k, v in res.items() if v != "not checked"}
    killed = sum(v in ("killed", "timeout") for v in checked.values())
    alive = sorted(k for k, v in checked.items() if v not in ("killed", "timeout"))
    return checked, killed, alive


def _previous(done: set[str]) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Commands, table rows and survivor sections of the scopes not run in this ``mutants/``
    directory, carried over from the last ``results.md``."""
    path = HERE / "results.md"
    if not path.exists():
        return [], [], []
    head, _, body = path.read_text().partition("## Surviving mutants")
    keep = [s for s in META if s not in done]
    commands = [
        (c, s)
        for c, scopes in re.findall(r"`([^`]*)` \(([\w, ]+)\)", head)
        for s in scopes.split(", ")
        if s in keep
    ]
    rows = [ln for ln in head.splitlines() if any(ln.startswith(f"| {s} |") for s in keep)]
    sections = [
        sec.rstrip() + "\n"
        for sec in re.split(r"(?m)^(?=### )", body)
        if sec.startswith("### ") and any(sec.split("\n", 1)[0].endswith(f"({s})") for s in keep)
    ]
    return commands, rows, sections


def _report() -> str:
    equivalent = tomllib.loads((HERE / "equivalent.toml").read_text())
    selected = _selected()
    commands, rows, kept = _previous(set(selected))
    survivors, before = [], []
    for scope in META:
        if scope not in selected:
            continue
        commands.append((selected[scope]["command"], scope))
        checked, killed, alive = _tally(scope, selected[scope]["names"])
        if "before" in selected[scope]:
            b_killed, b_checked = selected[scope]["before"]
            before.append(
                f"| {scope} | {b_killed} of {b_checked} ({100 * b_killed / b_checked:.1f}%) | "
                f"{killed} of {len(checked)} ({100 * killed / max(len(checked), 1):.1f}%) |"
            )
        equiv = [k for k in alive if equivalent.get(k, {}).get("kind") == "equivalent"]
        gaps = [k for k in alive if k not in equivalent]
        n_scored = len(checked) - len(equiv)
        score = killed / n_scored if n_scored else float("nan")
        se = (score * (1 - score) / n_scored) ** 0.5 if n_scored else float("nan")
        total = len(_results(scope))
        rows.append(
            f"| {scope} | {len(checked)} of {total} | {killed} | {len(alive)} | {len(equiv)} | "
            f"{100 * killed / max(len(checked), 1):.1f}% | {100 * score:.1f}% "
            f"(SE {100 * se:.1f}%) |"
        )
        for k in alive:
            survivors.append((scope, k, equivalent.get(k, {}), _diff(k)))
        if gaps:
            print(f"{scope}: {len(gaps)} surviving mutants not known to be equivalent")
    by_command: dict[str, list[str]] = {}
    for c, scope in commands:
        by_command.setdefault(c, []).append(scope)
    out = [
        "# Mutation score of the statistical kernels",
        "",
        f"Made on {date.today().isoformat()} with mutmut "
        f"{_mutmut(['--version']).stdout.split()[-1]} by "
        + "; ".join(f"`{c}` ({', '.join(by_command[c])})" for c in by_command)
        + ".",
        "Timeouts count as killed. The score excludes the survivors shown to be equivalent "
        '(`tests/mutation/equivalent.toml`, `kind = "equivalent"`); a sampled scope\'s score is '
        "an estimate with the binomial standard error shown.",
        "",
        "| scope | mutants run | killed | survived | of which equivalent | raw score | "
        "score of non-equivalent |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    if before:
        out += [
            "Killed in the first run of each sample and after the `--resume` runs since (the "
            "same mutant names; a function changed in between has its mutants made anew):",
            "",
            "| scope | killed in the first run | killed now |",
            "|---|---|---|",
            *before,
            "",
        ]
    out += ["## Surviving mutants", "", *kept]
    verdicts = {
        "equivalent": "Equivalent (excluded from the score)",
        "exact-value": "Not equivalent, but differs only at an exact floating-point value no "
        "input is known to reach (counted as surviving)",
        "gap": "Not equivalent: a test is missing (counted as surviving)",
    }
    for scope, k, entry, diff in survivors:
        verdict = verdicts.get(entry.get("kind", ""), "**Not known to be equivalent**")
        out += [f"### {k} ({scope})", "", "```diff", diff, "```", ""]
        out += [f"{verdict}: {entry['why']}" if entry else verdict + ".", ""]
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scope", choices=list(META), action="append")
    ap.add_argument("--sample", type=int, default=0, help="mutants per scope (0: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-children", type=int, default=1)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep earlier kills (valid while tests are only added) and run the other "
        "mutants of the earlier sample",
    )
    args = ap.parse_args()
    scopes = args.scope or list(META)
    command = " ".join(["python tests/mutation/run_mutation.py", *sys.argv[1:]])
    if not args.report_only:
        _run(scopes, args.sample, args.seed, args.max_children, command, args.resume)
    (HERE / "results.md").write_text(_report())
    print((HERE / "results.md").read_text().split("## Surviving")[0])


if __name__ == "__main__":
    main()
