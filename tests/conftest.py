"""Shared fixtures: the bundled config and a small synthetic trial made from it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from trial.config import load_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "config" / "refocus.yaml"


@pytest.fixture(scope="session")
def example_config() -> dict:
    """The REFOCUS example config (validated)."""
    return load_config(EXAMPLE_CONFIG)


@pytest.fixture()
def config(example_config) -> dict:
    """A deep copy of the example config that a test may change."""
    return copy.deepcopy(example_config)
