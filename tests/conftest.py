"""Shared fixtures: the bundled config and a small synthetic trial made from it."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from trial.config.load import load_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "config" / "refocus.yaml"


@pytest.fixture(autouse=True)
def _uncached_fits_for_mutation_stats(request) -> None:
    """Empty a test module's ``_CACHE`` of fits before each test while mutmut records which
    kernel functions each test calls (``tests/mutation/run_mutation.py``): a fit reused from an
    earlier test would hide the kernel from every later test, and mutmut would not run those
    tests against the kernel's mutants."""
    if os.environ.get("MUTANT_UNDER_TEST") == "stats":
        cache = getattr(request.module, "_CACHE", None)
        if isinstance(cache, dict):
            cache.clear()


@pytest.fixture(scope="session")
def example_config() -> dict:
    """The REFOCUS example config (validated)."""
    return load_config(EXAMPLE_CONFIG)


@pytest.fixture()
def config(example_config) -> dict:
    """A deep copy of the example config that a test may change."""
    return copy.deepcopy(example_config)


@pytest.fixture()
def small_config(config) -> dict:
    """The example config cut to two outcomes, no costs and no cluster variables, for small
    hand-made tables."""
    config.pop("costs", None)  # costs are imputed only when the table has cost columns
    config["imputation"].pop("cluster_variables", None)
    config["analysis"]["outcomes"] = [
        o for o in config["analysis"]["outcomes"] if o["scale"] in ("qpr_total", "functioning")
    ]
    return config
