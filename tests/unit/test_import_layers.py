"""The library's modules import only from their own layer or the layers below it, in no cycle.

The layers, bottom first, are the package's folders (the README's layout section lists the same
order):

1. ``vocabulary``: ``config/vocabulary`` (what a config declares and the names the library gives
   it) and ``config/schedule``; the seed derivation, logging and progress display at the top of
   the package. Imports nothing else of the package.
2. ``config/``: loading, the schema and every cross-check of the config.
3. ``data/``: reading and validating raw tables, scoring scales, typed intermediate files.
4. ``stats/``: kernels that take arrays or tables and never read a config (mixed models,
   pooling, bootstrap, sandwich covariances, the imputation engines).
5. ``analyses/``: every analysis the workflow runs, each reading the config. They compute only:
   none draws a figure or builds a report section, so none imports matplotlib
   (:data:`PRESENTATION_LIBRARIES`) or the report's building blocks.
6. ``report blocks``: ``report/blocks`` (the section record, figure files, number formats),
   which the rest of ``report/`` builds on and which imports none of it.
7. ``report/``: ``registry``, ``render``, ``sections/`` and ``figures/`` (one module per stage),
   the checklists, the flow diagram, the Word and PDF exports.
8. ``studies/``: synthetic data and simulation studies, which run the analyses.
9. ``cli/``: the command line and what only it uses.

An import inside a function must not hide an upward import or a cycle: every import of a
package module inside a function is refused unless :data:`DEFERRED` lists it with its reason
(deferring a heavy third-party import). The graph is read with :mod:`ast` rather than a
dependency-graph library because this last rule needs to know whether an import sits in a
function, which such graphs do not record.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import ROOT

# Bottom first. A name ending in ".*" places a package and every module below it; the longest
# matching entry places a module.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "vocabulary",
        (
            "trial",
            "trial.seeding",
            "trial.runlog",
            "trial.progress",
            "trial.config.vocabulary",
            "trial.config.schedule",
        ),
    ),
    ("config", ("trial.config.*",)),
    ("data", ("trial.data.*",)),
    ("stats", ("trial.stats.*",)),
    ("analyses", ("trial.analyses.*",)),
    ("report blocks", ("trial.report.blocks",)),
    ("report", ("trial.report.*",)),
    ("studies", ("trial.studies.*",)),
    ("interface", ("trial.cli.*",)),
)

# Libraries that draw: only the layers from "report blocks" up may import them.
PRESENTATION_LIBRARIES = ("matplotlib",)
FIRST_DRAWING_LAYER = "report blocks"

# (importing module, imported module) -> why the import sits inside a function.
DEFERRED: dict[tuple[str, str], str] = {
    ("trial.analyses.outcomes", "trial.stats.impute.forest"): (
        "only the forest engine needs miceforest/lightgbm"
    ),
}


@dataclass(frozen=True)
class Import:
    """One import of a package module by another.

    Attributes
    ----------
    importer, imported : str
        Dotted module names.
    line : int
        Line of the import statement in the importer.
    in_function : bool
        The statement sits inside a function (runs when the function is called).
    """

    importer: str
    imported: str
    line: int
    in_function: bool


def module_names(src: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``src`` by dotted name (a package by its own name)."""
    names = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def package_imports(src: Path, package: str) -> list[Import]:
    """Every import of a module of ``package`` by another, with where it sits."""
    modules = module_names(src, package)
    found = []
    for importer, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node, in_function in _imports(tree):
            for target in _targets(node, importer, is_package, modules):
                if target != importer:
                    found.append(Import(importer, target, node.lineno, in_function))
    return found


def _imports(tree: ast.AST) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool]]:
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, in_function = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, in_function
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            stack.append((child, inside))


def _targets(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: Mapping[str, Path]
) -> list[str]:
    if isinstance(node, ast.Import):
        named = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: resolved against the importer's package
            anchor = importer.split(".")
            anchor = anchor if is_package else anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        # ``from pkg import sub`` imports the module pkg.sub; ``from mod import name`` imports mod
        named = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
            for alias in node.names
        ]
    return [t for t in dict.fromkeys(named) if t in modules]


def layer_of(module: str, layers: Sequence[tuple[str, Sequence[str]]]) -> int | None:
    """Index of the layer that places ``module`` (longest matching entry), None if none does."""
    best: tuple[int, int] | None = None
    for index, (_, entries) in enumerate(layers):
        for entry in entries:
            prefix = entry.removesuffix(".*")
            matches = module == prefix or (entry.endswith(".*") and module.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


def layer_problems(
    modules: Iterable[str],
    imports: Sequence[Import],
    layers: Sequence[tuple[str, Sequence[str]]],
    deferred: Mapping[tuple[str, str], str],
) -> list[str]:
    """Unplaced modules, upward imports, unlisted imports inside functions and cycles."""
    problems = []
    level = {m: layer_of(m, layers) for m in modules}
    problems += [f"{m}: not placed in any layer" for m, i in sorted(level.items()) if i is None]
    for imp in imports:
        low, high = level.get(imp.importer), level.get(imp.imported)
        where = f"{imp.importer}:{imp.line}"
        if low is not None and high is not None and high > low:
            problems.append(
                f"{where}: imports {imp.imported} ({layers[high][0]}), a layer above its own "
                f"({layers[low][0]})"
            )
        if imp.in_function and (imp.importer, imp.imported) not in deferred:
            problems.append(
                f"{where}: imports {imp.imported} inside a function; import it at the top of "
                "the module (or list it, with its reason, among the deferred imports)"
            )
    for group, cycle in import_cycles(imports):
        more = set(group) - set(cycle)
        among = f" (through {', '.join(sorted(more))} too)" if more else ""
        problems.append(f"import cycle: {' -> '.join(cycle)}{among}")
    return problems


def import_cycles(imports: Sequence[Import]) -> list[tuple[list[str], list[str]]]:
    """Each group of modules that import one another, with one cycle through it as a path."""
    graph: dict[str, list[str]] = {}
    for imp in imports:
        graph.setdefault(imp.importer, []).append(imp.imported)
    cycles = []
    for group in _strongly_connected(graph):
        members = set(group)
        start = min(group)
        path, seen = [start], {start}
        while True:  # walk inside the group until a module repeats: that closes a cycle
            step = min(t for t in graph[path[-1]] if t in members)
            if step in seen:
                cycles.append((group, [*path[path.index(step) :], step]))
                break
            path.append(step)
            seen.add(step)
    return cycles


def _strongly_connected(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Groups of two or more modules that reach one another (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(set(graph.get(root, ())))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(set(graph.get(child, ()))))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def library_imports(src: Path, package: str, libraries: Sequence[str]) -> list[tuple[str, int]]:
    """Each (module, line) of ``package`` importing one of ``libraries`` (or a submodule), at
    the top of the module or inside a function."""
    found = []
    for importer, path in module_names(src, package).items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, _ in _imports(tree):
            if isinstance(node, ast.Import):
                named = [alias.name for alias in node.names]
            else:
                named = [node.module or ""] if not node.level else []
            if any(n.split(".")[0] in libraries for n in named):
                found.append((importer, node.lineno))
    return found


def drawing_below(
    src: Path, package: str, layers: Sequence[tuple[str, Sequence[str]]], first: str
) -> list[str]:
    """Modules below the layer ``first`` that import a drawing library."""
    lowest = [name for name, _ in layers].index(first)
    return [
        f"{module}:{line}: imports {', '.join(PRESENTATION_LIBRARIES)}, which only the report "
        f"layers (from {first} up) may use"
        for module, line in library_imports(src, package, PRESENTATION_LIBRARIES)
        if (level := layer_of(module, layers)) is not None and level < lowest
    ]


def test_the_analyses_and_the_layers_below_them_draw_nothing():
    problems = drawing_below(ROOT / "src", "trial", LAYERS, FIRST_DRAWING_LAYER)
    assert not problems, "\n".join(problems)


def test_the_library_imports_only_downwards_and_in_no_cycle():
    src = ROOT / "src"
    modules = module_names(src, "trial")
    problems = layer_problems(modules, package_imports(src, "trial"), LAYERS, DEFERRED)
    assert not problems, "import-layer problems:\n" + "\n".join(problems)


def test_every_deferred_import_still_exists():
    found = {(i.importer, i.imported) for i in package_imports(ROOT / "src", "trial")}
    assert set(DEFERRED) <= found, f"stale deferred imports: {sorted(set(DEFERRED) - found)}"


# The check itself, on a small package written for the purpose: each defect must be reported.

TOY_LAYERS = (("low", ("toy", "toy.low", "toy.sub.*")), ("high", ("toy.high", "toy.other")))


def _toy(tmp_path: Path, files: Mapping[str, str]) -> list[str]:
    for name, text in {"toy/__init__.py": "", "toy/sub/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    modules = module_names(tmp_path, "toy")
    return layer_problems(modules, package_imports(tmp_path, "toy"), TOY_LAYERS, {})


def test_a_clean_toy_package_has_no_problem(tmp_path):
    files = {
        "toy/low.py": "import json\n",
        "toy/sub/deep.py": "from toy.low import x\n",
        "toy/high.py": "from toy import low\nfrom .sub import deep\nfrom toy.other import y\n",
        "toy/other.py": "from toy.sub.deep import z\n",
    }
    assert _toy(tmp_path, files) == []


@pytest.mark.parametrize(
    "statement",
    ["from toy.high import x", "import toy.high", "from toy import high", "from .high import x"],
)
def test_an_upward_import_is_reported_in_every_spelling(tmp_path, statement):
    problems = _toy(tmp_path, {"toy/low.py": statement + "\n", "toy/high.py": ""})
    assert problems == ["toy.low:1: imports toy.high (high), a layer above its own (low)"]


def test_an_upward_import_from_a_subpackage_is_reported(tmp_path):
    problems = _toy(tmp_path, {"toy/sub/deep.py": "\nfrom ..high import x\n", "toy/high.py": ""})
    assert problems == ["toy.sub.deep:2: imports toy.high (high), a layer above its own (low)"]


def test_a_cycle_within_one_layer_is_reported(tmp_path):
    files = {"toy/high.py": "from toy.other import y\n", "toy/other.py": "import toy.high\n"}
    assert _toy(tmp_path, files) == ["import cycle: toy.high -> toy.other -> toy.high"]


def test_an_import_hidden_in_a_function_is_reported_and_still_makes_a_cycle(tmp_path):
    files = {
        "toy/high.py": "from toy.other import y\n",
        "toy/other.py": "def f():\n    from toy.high import x\n    return x\n",
    }
    assert _toy(tmp_path, files) == [
        "toy.other:2: imports toy.high inside a function; import it at the top of the module "
        "(or list it, with its reason, among the deferred imports)",
        "import cycle: toy.high -> toy.other -> toy.high",
    ]


def test_a_listed_deferred_import_passes(tmp_path):
    files = {"toy/high.py": "def f():\n    import toy.other\n", "toy/other.py": ""}
    for name, text in {"toy/__init__.py": "", "toy/sub/__init__.py": "", **files}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    imports = package_imports(tmp_path, "toy")
    modules = module_names(tmp_path, "toy")
    assert layer_problems(modules, imports, TOY_LAYERS, {("toy.high", "toy.other"): "why"}) == []
    assert len(layer_problems(modules, imports, TOY_LAYERS, {})) == 1


def test_a_module_in_no_layer_is_reported(tmp_path):
    assert _toy(tmp_path, {"toy/stray.py": ""}) == ["toy.stray: not placed in any layer"]


def test_a_drawing_import_below_the_report_is_reported_in_every_spelling(tmp_path):
    files = {
        "toy/__init__.py": "",
        "toy/sub/__init__.py": "",
        "toy/low.py": "import matplotlib\n",
        "toy/sub/deep.py": "def f():\n    from matplotlib.figure import Figure\n",
        "toy/high.py": "import matplotlib.pyplot as plt\n",
        "toy/other.py": "import json\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert drawing_below(tmp_path, "toy", TOY_LAYERS, "high") == [
        "toy.low:1: imports matplotlib, which only the report layers (from high up) may use",
        "toy.sub.deep:2: imports matplotlib, which only the report layers (from high up) may use",
    ]
