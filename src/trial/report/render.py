"""The self-contained HTML report: its sections assembled in order, the CONSORT checklist, the
provenance record and the rendering.

The report reads result tables and figures made by earlier steps; it computes no statistics.
It is a list of sections (:class:`trial.report.blocks.Section`), each built from the result files of
one stage by a builder of :mod:`trial.report.sections`; :mod:`trial.report.registry` lists
them in report order with the result files each reads and when the config switches it on.
Figures are embedded so the HTML file stands alone.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from trial import __version__
from trial.config.vocabulary import (
    Config,
    arms,
    plural,
    with_plural_labels,
)
from trial.report.blocks import (
    Section,
    display_name,
    fmt,
    p_text,
)
from trial.report.checklist import CONSORT_CLUSTER, checklist_rows
from trial.report.registry import active_sections
from trial.report.sections import Inputs
from trial.report.sections.outcomes import (
    adjusted_for,
    baseline_outcomes,
)
from trial.report.sections.stepped import SECTION_ID, scheduled_checklist


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def provenance(config: Config, config_path: str | Path, inputs: list[str | Path]) -> dict[str, Any]:
    """What produced the results: input and config hashes, seed, code and package versions,
    the platform and the run time (UTC). Only the report and this record carry the run time;
    result tables stay byte-identical across reruns."""
    packages = [
        "numpy",
        "scipy",
        "pandas",
        "statsmodels",
        "miceforest",
        "lightgbm",
        "linearmodels",
        "snakemake",
        "matplotlib",
        "jinja2",
        "pandera",
        "xhtml2pdf",
        "python-docx",
    ]
    return {
        "trial_version": __version__,
        "code_version": _code_version(),
        "run_at_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "config": str(config_path),
        "config_sha256": _sha256(config_path),
        "seed": config["seed"],
        "inputs": {str(Path(p).name): _sha256(p) for p in sorted(inputs, key=str)},
        "packages": {name: _version(name) for name in packages},
    }


def _code_version() -> str:
    """The git commit of the code (with ``+modified`` for uncommitted changes), if in a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src", "workflow", "Snakefile"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"trial {__version__} (not a git checkout)"
    return commit + ("+modified" if dirty else "")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance_section(config: Config, inputs: Inputs) -> Section | None:
    """The provenance record the render script adds (none: no provenance section)."""
    info = inputs.get("provenance_info")
    if info is None:
        return None
    context = {"provenance": info, "table_rules": sorted(inputs.get("table_rules", {}).items())}
    return Section("provenance", "Provenance", "provenance.html.j2", context)


#: Sections after the CONSORT checklist, in this order: the validation of this run against
#: published figures or the generating truth, then provenance.
CLOSING_SECTIONS = ("reproduction", "provenance")


def build_sections(config: Config, inputs: Inputs) -> list[Section]:
    """Every section the config switches on (:data:`trial.report.registry.SECTIONS`), in report
    order, then the CONSORT checklist, the check against published figures or the truth, and
    provenance.

    A builder may return ``None`` when its inputs hold nothing to show.
    """
    built = [section.builder(config, inputs) for section in active_sections(config)]
    built.append(provenance_section(config, inputs))
    sections = [section for section in built if section is not None]
    # The checklist follows the evidence and points at every section, the closing ones too.
    body = [s for s in sections if s.id not in CLOSING_SECTIONS]
    tail = [s for s in sections if s.id in CLOSING_SECTIONS]
    present = {s.id: (i + 1, s.title) for i, s in enumerate(body)}
    present.update({s.id: (len(body) + 2 + i, s.title) for i, s in enumerate(tail)})
    checklist = Section(
        "consort",
        "CONSORT-cluster checklist",
        "checklist.html.j2",
        {
            "rows": checklist_rows(
                scheduled_checklist(CONSORT_CLUSTER) if SECTION_ID in present else CONSORT_CLUSTER,
                present,
            ),
            "guideline": "CONSORT 2010 extension to cluster randomised trials "
            "(Campbell et al 2012, BMJ 345:e5661)",
        },
    )
    return [*body, checklist, *tail]


def render_report(
    config: Config,
    sections: list[Section],
    summary: list[str] | tuple[str, ...] = (),
    robustness: list[dict[str, str]] | tuple[dict[str, str], ...] = (),
    points: list[dict[str, str]] | tuple[dict[str, str], ...] = (),
) -> str:
    """Render the HTML report from its sections, with the summary sentences, the primary
    estimate's robustness (:func:`robustness_rows`) and the points for the reader
    (:func:`reader_points`) above them."""
    env = Environment(
        loader=PackageLoader("trial.report", "templates"),
        autoescape=select_autoescape(),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["name"] = lambda code: display_name(config, code)
    env.filters["plural"] = plural
    design = config["design"]
    arm_codes = arms(config)
    return env.get_template("report.html.j2").render(
        config=config,
        design=with_plural_labels(design),
        arms=arm_codes,
        arm_labels=design["arm_labels"],
        arm_columns=[design["arm_labels"][a] for a in arm_codes],
        m=config["imputation"]["m"],
        sections=sections,
        summary=summary,
        robustness=robustness,
        points=points,
        section_titles={s.id: f"{i}. {s.title}" for i, s in enumerate(sections, start=1)},
        fmt=fmt,
        p_text=p_text,
        baseline=baseline_outcomes(config),
        adjusted_for=adjusted_for(config),
    )
