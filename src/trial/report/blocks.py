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
import pandas as pd

# Colours of the arms in figures: treatment arms in config order, then the reference arm.
TREATMENT_COLOURS = ("#1f4e79", "#548235", "#7030a0", "#2e75b6", "#bf9000")
REFERENCE_COLOUR = "#c55a11"

# Fixed PNG metadata so that the same inputs give byte-identical figure files.
PNG_METADATA = {"Software": None}

# Resolution of figures when the config does not set ``figures: dpi``.
DEFAULT_DPI = 150


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


def figure_dpi(config: Mapping[str, Any]) -> int:
    """The resolution of every figure (config ``figures: dpi``)."""
    return int(config.get("figures", {}).get("dpi", DEFAULT_DPI))


def vector_paths(path: str | Path) -> tuple[Path, Path]:
    """The SVG and PDF written beside a figure's PNG (:func:`save_figure`)."""
    path = Path(path)
    return path.with_suffix(".svg"), path.with_suffix(".pdf")


def save_figure(fig: Any, path: str | Path, dpi: int) -> None:
    """Write a matplotlib figure as a PNG at ``dpi`` and, beside it, as SVG and PDF (vector, for
    a journal), then close it.

    Every file is reproducible (no dates, fixed IDs); the SVG keeps its text as text and the PDF
    embeds TrueType fonts, so labels stay editable in a drawing program.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=dpi, metadata=PNG_METADATA)
    svg, pdf = vector_paths(path)
    save_svg(fig, svg)
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        fig.savefig(pdf, format="pdf", metadata={"CreationDate": None, "Creator": None})
    plt.close(fig)


# How the small-sample df methods are named in text (config codes are lower case).
DF_METHOD_NAMES = {
    "kenward-roger": "Kenward-Roger",
    "satterthwaite": "Satterthwaite",
    "between-within": "between-within",
}
# GEE sandwich covariances (trial.stats.gee.COVARIANCES) as the report names them
COVARIANCE_NAMES = {
    "kauermann-carroll": "Kauermann-Carroll bias-corrected",
    "mancl-derouen": "Mancl-DeRouen bias-corrected",
    "fay-graubard": "Fay-Graubard bias-corrected",
    "robust": "uncorrected (Liang-Zeger)",
}


def display_name(config: Mapping[str, Any], code: Any) -> str:
    """How a code from the config or a model formula is named in the report.

    Scales take their label (``<scale>__followup`` becomes "<label> at follow-up"), ID columns
    the word for a cluster or an individual, model terms ``<column>[<level>]`` read
    "<column>: <level>" (an arm level its arm label), df methods and GEE covariances their
    proper name; any other
    code has its underscores spaced.
    """
    if code is None or (isinstance(code, float) and np.isnan(code)):
        return ""
    code = str(code)
    design = config["design"]
    scales = config["scales"]
    for method, name in DF_METHOD_NAMES.items():
        if code == method or code.startswith(f"{method},"):
            return name + code[len(method) :]
    if code in COVARIANCE_NAMES:
        return COVARIANCE_NAMES[code]
    if code in scales:
        return scales[code]["label"]
    stem, _, time = code.partition("__")
    if time in ("baseline", "followup"):
        when = "baseline" if time == "baseline" else "follow-up"
        return f"{display_name(config, stem)} at {when}"
    names = {
        design["cluster_id"]: design["cluster_label"],
        design["individual_id"]: design["individual_label"],
        design["arm"]: "arm",
    }
    if code in names:
        return names[code]
    if code.endswith("]") and "[" in code:
        term, _, level = code[:-1].partition("[")
        level = level.removeprefix("T.")
        if level in design["arm_labels"]:
            return f"arm: {design['arm_labels'][level]}"
        return f"{display_name(config, term)}: {level}"
    return code.replace("_", " ")


def save_svg(fig: Any, path: str | Path) -> None:
    """Write a matplotlib figure as SVG with its text kept as text (searchable, selectable,
    editable) and no date or random IDs, so the same inputs give the same file."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "trial"}):
        fig.savefig(path, format="svg", metadata={"Date": None})


def inline_svg(path: str | Path, label: str) -> str:
    """An SVG file as markup to place in the HTML, scaled to the page, its text searchable."""
    import re

    markup = Path(path).read_text(encoding="utf-8")
    markup = markup[markup.index("<svg") :]
    return re.sub(
        r'<svg([^>]*?) width="[^"]+" height="[^"]+"',
        rf'<svg\1 role="img" aria-label="{label}" style="width: 100%; '
        'height: auto"',
        markup,
        count=1,
    )


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


def standardised_by(rows: pd.DataFrame) -> str:
    """What the effects in ``rows`` were divided by, for an axis label: the one kind of SD
    (``standardised_by``, e.g. ``baseline SD``) when all rows share it, else each kind listed."""
    kinds = list(dict.fromkeys(rows["standardised_by"].dropna()))
    return kinds[0] if len(kinds) == 1 else "SD (" + "; ".join(kinds) + ", by outcome)"
