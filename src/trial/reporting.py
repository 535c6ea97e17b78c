"""Building blocks of the HTML report shared by every stage's report section.

A stage contributes a :class:`Section`: a template under ``templates/sections/`` and the values
it shows, read from that stage's result files. Sections compute no statistics.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Colours of the arms in figures: treatment arms in config order, then the reference arm.
TREATMENT_COLOURS = ("#1f4e79", "#548235", "#7030a0", "#2e75b6", "#bf9000")
REFERENCE_COLOUR = "#c55a11"

# Fixed PNG metadata so that the same inputs give byte-identical figure files.
PNG_METADATA = {"Software": None}


@dataclass(frozen=True)
class Section:
    """One numbered section of the report."""

    id: str  # HTML anchor
    title: str  # heading and table-of-contents entry
    template: str  # file name under templates/sections/
    context: Mapping[str, Any] = field(default_factory=dict)


def pyplot() -> Any:
    """Matplotlib's pyplot on the non-interactive Agg backend, imported on first use so that
    only the jobs that draw a figure pay for importing it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def arm_colours(treatment_arms: list[str], reference_arm: str) -> dict[str, str]:
    """A figure colour for every arm (treatment colours repeat beyond five arms)."""
    colours = {
        arm: TREATMENT_COLOURS[i % len(TREATMENT_COLOURS)] for i, arm in enumerate(treatment_arms)
    }
    return {**colours, reference_arm: REFERENCE_COLOUR}


def embed_png(path: str | Path) -> str:
    """A PNG file as a data URI, so the report is one self-contained file."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def fmt(value: float | None, digits: int = 2) -> str:
    """A number rounded for a table; blank when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def p_text(p: float | None, bound: str = "=") -> str:
    """A p-value as reported: three decimals, ``<0.001`` below that, blank when missing."""
    if p is None or (isinstance(p, float) and np.isnan(p)):
        return ""
    if bound == "<":
        return f"<{p:g}"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
