"""A module of the library over the size guide says in its docstring why it is one module."""

from __future__ import annotations

import ast
from pathlib import Path

from ..conftest import ROOT

#: Lines above which a module must state why it is not split.
GUIDE = 600
#: How a module's docstring states it.
REASON = "Kept as one module"


def oversized_without_reason(src: Path, guide: int = GUIDE) -> list[str]:
    """Modules under ``src`` longer than ``guide`` lines whose docstring gives no reason."""
    found = []
    for path in sorted(src.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        n_lines = text.count("\n")
        if n_lines <= guide:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if REASON not in doc:
            found.append(f"{path.relative_to(src)}: {n_lines} lines, no '{REASON}' paragraph")
    return found


def test_every_module_over_the_guide_says_why_it_is_one_module():
    problems = oversized_without_reason(ROOT / "src" / "trial")
    assert not problems, "\n".join(problems)


def test_the_check_reports_a_long_module_without_a_reason_and_accepts_one_with(tmp_path):
    body = "x = 1\n" * 20
    (tmp_path / "short.py").write_text('"""Short."""\n' + "x = 1\n" * 5)
    (tmp_path / "long.py").write_text('"""Long."""\n' + body)
    (tmp_path / "kept.py").write_text(f'"""Long.\n\n{REASON}: one algorithm."""\n' + body)
    assert oversized_without_reason(tmp_path, guide=10) == [
        f"long.py: 21 lines, no '{REASON}' paragraph"
    ]
