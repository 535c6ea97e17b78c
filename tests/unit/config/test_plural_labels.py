"""Plurals of the cluster and individual labels: one helper, used by every template."""

import re
from importlib.resources import files

import pytest

from trial.config.vocabulary import plural, unit_plural, with_plural_labels


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("class", "classes"),
        ("practice", "practices"),
        ("school", "schools"),
        ("box", "boxes"),
        ("church", "churches"),
        ("parish", "parishes"),
        ("family", "families"),
        ("day", "days"),
        ("Class", "Classes"),
    ],
)
def test_regular_plurals(word: str, expected: str) -> None:
    assert plural(word) == expected


def test_declared_plural_wins_over_the_rule() -> None:
    design = {"cluster_label": "class", "individual_label": "person"}
    assert unit_plural(design, "cluster") == "classes"
    assert unit_plural(design, "individual") == "persons"
    design["individual_label_plural"] = "people"
    filled = with_plural_labels(design)
    assert filled["individual_label_plural"] == "people"
    assert filled["cluster_label_plural"] == "classes"
    assert "cluster_label_plural" not in design  # the config itself is left as it was


def test_no_template_appends_s_to_a_label() -> None:
    pattern = re.compile(r"\{\{\s*design\.\w+_label\s*(\|[^}]*)?\}\}s")
    offenders = []
    for path in (files("trial.report") / "templates").rglob("*.j2"):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line):
                offenders.append(f"{path.name}:{n}")
    assert offenders == []
