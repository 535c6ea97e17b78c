"""The library speaks of clusters, arms, outcomes and scales: no word of the example trials.

Every identifier of each bundled example's config (table, column, scale, item, arm and stratum
codes, instrument names) is looked for in src/trial; finding one means trial-specific logic
leaked into the library, and a new trial could not be analysed by config alone.
"""

import re

import pytest

from trial.config.load import load_config

from ..conftest import ROOT

GENERIC = {  # words that are both example identifiers and plain statistical vocabulary
    "arm", "timepoint", "baseline", "part", "service", "quantity", "unit", "category",
    "unit_cost", "unit_costs", "price_year", "source", "followup", "control", "value", "table",
    "id",
    "completed", "participation", "staff", "followup_status", "white", "available", "profession",
    "allocation", "questionnaires", "seen", "patients", "visit", "period",
}


def example_words(config):
    words = {config["trial"]["name"]}
    for name, table in config["tables"].items():
        words.add(name)
        words.update(table["columns"])
        for column in table["columns"].values():
            words.update(str(v) for v in column.get("values", []))
    for name, scale in config["scales"].items():
        words.add(name)
        words.update(scale["items"])
    words.update(config["synthetic"]["instruments"])
    words.update(config["synthetic"]["clusters"])
    return {w for w in words if len(w) > 3 and w.lower() not in GENERIC}


@pytest.mark.parametrize(
    "example", ["refocus.yaml", "trio.yaml", "pulse.yaml", "stepped.yaml", "tally.yaml"]
)
@pytest.mark.parametrize("suffix", ["*.py", "*.j2"])
def test_library_holds_no_example_identifiers(example, suffix):
    words = example_words(load_config(ROOT / "config" / example))
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words)) + r")\b", re.I)
    found = []
    for path in sorted((ROOT / "src" / "trial").rglob(suffix)):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in pattern.finditer(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    assert not found, "trial-specific names in the library:\n" + "\n".join(found)
