"""Every benchmark script imports against the current library.

Benchmarks run by hand, not in the test suite, so a renamed or moved function would otherwise go
unnoticed until someone next measures; importing each script (its ``main`` guarded) catches that.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from ..conftest import ROOT

BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_script_imports(path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(path.parent))  # scripts import their sibling benchmarks
    spec = importlib.util.spec_from_file_location(f"_benchmark_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert callable(getattr(module, "main", None)), f"{path.name} has no main()"
