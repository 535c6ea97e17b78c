"""The report's sections, declared once: each with its builder, the result files it reads (path
relative to the trial's ``reports`` or ``derived`` folder) and when the config switches it on.

The workflow's render rule takes its inputs from here (:func:`report_files`, called by
``report_inputs`` in ``workflow/rules/common.smk``) and :func:`trial.report.render.build_sections`
builds the report from the same list, in its order: the order of evidence (design, flow and
baseline; the randomised comparisons, primary and secondary, staff outcomes included; their
sensitivity analyses and missing data; clustering; the non-randomised participation analyses;
economics; process (audit); the check against published figures or the generating truth last
before provenance). ``tests/workflow/test_report_registry.py`` checks that some rule of the
workflow writes every file declared here for each bundled config, and that every input a
section reads by name is declared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trial.config.schedule import design_type
from trial.config.vocabulary import Config, treatment_arms
from trial.report.blocks import Section
from trial.report.sections import Inputs
from trial.report.sections.audit import audit_section
from trial.report.sections.costs import cost_section
from trial.report.sections.diagnostics import diagnostics_section
from trial.report.sections.estimands import estimands_section
from trial.report.sections.icc import icc_section
from trial.report.sections.outcomes import (
    baseline_section,
    design_section,
    flow_section,
    outcomes_section,
)
from trial.report.sections.participation import participation_section
from trial.report.sections.reproduction import reproduction_section
from trial.report.sections.sensitivity import sensitivity_section
from trial.report.sections.stepped import stepped_wedge_section

FOLDERS = ("reports", "derived")
#: Inputs the workflow hands the render rule besides the result files: the raw tables (their
#: hashes go into the provenance record) and a synthetic example's generating truth, if any.
WORKFLOW_INPUTS = ("raw", "truth")
#: Inputs the render script adds itself: the provenance record and the rule of each table.
SCRIPT_INPUTS = ("provenance_info", "table_rules")


def always(config: Config) -> bool:
    """Switched on for every config."""
    return True


def configured(section: str) -> Callable[[Config], bool]:
    """Switched on when the config has the top-level ``section``."""

    def has_section(config: Config) -> bool:
        return section in config

    has_section.__name__ = f"has_{section}"
    return has_section


def has_binomial_outcome(config: Config) -> bool:
    """Some analysed outcome is binary (its marginal effects are pooled)."""
    return any(o.get("family", "gaussian") == "binomial" for o in config["analysis"]["outcomes"])


def has_several_treatment_arms(config: Config) -> bool:
    """Several treatment arms face the reference arm (joint test and pairwise contrasts)."""
    return len(treatment_arms(config)) > 1


def has_staff_outcomes(config: Config) -> bool:
    """The config lists staff outcomes."""
    return bool(config.get("staff", {}).get("outcomes"))


def has_delta_adjustment(config: Config) -> bool:
    """The sensitivity section asks for a delta adjustment."""
    return "delta" in config.get("sensitivity", {})


@dataclass(frozen=True)
class ReportInput:
    """One result file the report reads.

    Attributes
    ----------
    key : str
        The name a section reads it by (``inputs[key]``).
    path : str
        Path relative to the trial's ``folder``; ``{i}`` in it stands for each imputation (the
        input is then the list of one file per imputation).
    folder : str
        ``reports`` or ``derived`` (the config's ``paths``).
    when : callable or None
        Read only when this is true of the config; None: whenever a section reading it is on.
    """

    key: str
    path: str
    folder: str = "reports"
    when: Callable[[Config], bool] | None = None

    def __post_init__(self) -> None:
        if self.folder not in FOLDERS:
            raise ValueError(f"{self.key}: folder {self.folder!r} is none of {FOLDERS}")

    def wanted(self, config: Config) -> bool:
        """Whether the config switches this input on (its section being on)."""
        return self.when is None or self.when(config)

    @property
    def per_imputation(self) -> bool:
        """One file per imputation."""
        return "{i}" in self.path


@dataclass(frozen=True)
class ReportSection:
    """One section of the report: its builder, what it reads and when it is on.

    Attributes
    ----------
    name : str
        The section's name (its builder returns a :class:`~trial.report.blocks.Section` whose id is
        usually the same).
    builder : callable
        ``builder(config, inputs)``: the section, or None when its inputs hold nothing to show.
    reads : tuple of ReportInput
        Every result file the builder reads.
    when : callable
        Whether the config switches the section on.
    scheduled : bool
        A section of a stepped-wedge or crossover design's report, whose results come from
        their own analysis; the other sections are those of a parallel design's report.
    """

    name: str
    builder: Callable[[Config, Inputs], Section | None]
    reads: tuple[ReportInput, ...]
    when: Callable[[Config], bool] = always
    scheduled: bool = False

    def on(self, config: Config) -> bool:
        """Whether the config's design and sections switch this section on."""
        return self.scheduled == (design_type(config) != "parallel") and self.when(config)


# Result files read by more than one section (or by the summary above them).
OUTCOMES = ReportInput("outcomes", "tables/outcomes.csv")
OUTCOME_SUMMARY = ReportInput("outcome_summary", "tables/outcome_summary.csv")
TRACES = ReportInput("traces", "imputed/{i}.trace.parquet", folder="derived")
MARGINAL_EFFECTS = ReportInput(
    "marginal_effects", "tables/marginal_effects.csv", when=has_binomial_outcome
)
STAFF_OUTCOMES = ReportInput("staff_outcomes", "tables/staff_outcomes.csv", when=has_staff_outcomes)
# Table 2 shows each outcome's ICC from the ICC stage, when it ran
ICC = ReportInput("icc", "tables/icc.csv", when=configured("icc"))

# In report order; the CONSORT checklist is added just before provenance (render.build_sections)
SECTIONS: tuple[ReportSection, ...] = (
    ReportSection("design", design_section, (TRACES,)),
    ReportSection(
        "estimands",
        estimands_section,
        (ReportInput("intercurrent_events", "tables/intercurrent_events.csv"),),
    ),
    ReportSection(
        "flow",
        flow_section,
        (
            ReportInput("flow", "tables/flow.csv"),
            ReportInput("flow_figure", "figures/consort_flow.svg"),
        ),
    ),
    ReportSection(
        "stepped_wedge",
        stepped_wedge_section,
        (
            ReportInput("stepped_wedge", "tables/stepped_wedge.csv"),
            ReportInput("stepped_wedge_sensitivity", "tables/stepped_wedge_sensitivity.csv"),
            ReportInput("stepped_wedge_flow", "tables/stepped_wedge_flow.csv"),
            ReportInput("schedule_figure", "figures/schedule.png"),
        ),
        scheduled=True,
    ),
    ReportSection(
        "baseline",
        baseline_section,
        (
            ReportInput("baseline", "tables/baseline.csv"),
            ReportInput("primary_figure", "figures/primary_distribution.png"),
        ),
    ),
    ReportSection(
        "outcomes",
        outcomes_section,
        (
            OUTCOMES,
            OUTCOME_SUMMARY,
            ReportInput("forest_figure", "figures/forest.png"),
            MARGINAL_EFFECTS,
            ReportInput("arm_tests", "tables/arm_tests.csv", when=has_several_treatment_arms),
            ReportInput("pairwise", "tables/pairwise.csv", when=has_several_treatment_arms),
            ReportInput("multiplicity", "tables/multiplicity.csv", when=configured("multiplicity")),
            STAFF_OUTCOMES,
            ICC,
        ),
    ),
    ReportSection(
        "sensitivity",
        sensitivity_section,
        (
            OUTCOMES,
            ReportInput("sensitivity", "tables/sensitivity.csv"),
            ReportInput("rerandomisation", "tables/rerandomisation.json"),
            ReportInput("forest_all_figure", "figures/forest_all.png"),
            ReportInput(
                "delta_adjustment", "tables/delta_adjustment.csv", when=has_delta_adjustment
            ),
            ReportInput("tipping_figure", "figures/tipping_point.png", when=has_delta_adjustment),
        ),
        when=configured("sensitivity"),
    ),
    ReportSection(
        "imputation",
        diagnostics_section,
        (
            TRACES,
            ReportInput("imputation_model", "imputed/model.json", folder="derived"),
            ReportInput("missingness", "tables/missingness.csv"),
            ReportInput("imputed_vs_observed", "tables/imputed_vs_observed.csv"),
            ReportInput("trace_figure", "figures/imputation_traces.png"),
            ReportInput("imputed_figure", "figures/imputed_vs_observed.png"),
            ReportInput("arm_check", "tables/imputation_check.csv"),
            ReportInput("arm_check_figure", "figures/imputation_check.png"),
        ),
    ),
    ReportSection(
        "clustering",
        icc_section,
        (ICC, OUTCOMES),
        when=configured("icc"),
    ),
    ReportSection(
        "participation",
        participation_section,
        (
            ReportInput("participation", "tables/participation.csv"),
            ReportInput("participation_scores", "participation/scores.parquet", folder="derived"),
            STAFF_OUTCOMES,
        ),
        when=configured("participation"),
    ),
    ReportSection(
        "costs",
        cost_section,
        (
            ReportInput("cost_use", "tables/cost_use.csv"),
            ReportInput("cost_units", "tables/unit_costs.csv"),
            ReportInput("costs", "tables/costs.csv"),
            ReportInput("cost_effectiveness", "tables/cost_effectiveness.csv"),
            ReportInput("ceac", "tables/ceac.csv"),
            ReportInput("cheers", "tables/cheers.csv"),
            ReportInput("ce_plane_figure", "figures/ce_plane.png"),
            ReportInput("ceac_figure", "figures/ceac.png"),
        ),
        when=configured("costs"),
    ),
    ReportSection(
        "audit",
        audit_section,
        (
            ReportInput("audit_availability", "tables/audit_availability.csv"),
            ReportInput("audit_by_time", "tables/audit_by_time.csv"),
            ReportInput("audit_estimates", "tables/audit_estimates.csv"),
            ReportInput("audit_tests", "tables/audit_tests.csv"),
            ReportInput("audit_figure", "figures/audit_trajectories.png"),
        ),
        when=configured("audit"),
    ),
    ReportSection("reproduction", reproduction_section, (OUTCOMES, MARGINAL_EFFECTS)),
)


def active_sections(
    config: Config, sections: Sequence[ReportSection] = SECTIONS
) -> list[ReportSection]:
    """The sections the config switches on, in report order."""
    return [section for section in sections if section.on(config)]


def active_inputs(
    config: Config, sections: Sequence[ReportSection] = SECTIONS
) -> dict[str, ReportInput]:
    """Every result file the switched-on sections read under the config, by key.

    Raises
    ------
    ValueError
        When two declarations of one key name different files.
    """
    found: dict[str, ReportInput] = {}
    for section in active_sections(config, sections):
        for each in section.reads:
            if not each.wanted(config):
                continue
            seen = found.setdefault(each.key, each)
            if (seen.path, seen.folder) != (each.path, each.folder):
                raise ValueError(
                    f"report input {each.key!r} is declared as {seen.folder}/{seen.path} and as "
                    f"{each.folder}/{each.path} (section {section.name})"
                )
    return found


def report_files(
    config: Config,
    folders: Mapping[str, str],
    imputations: Sequence[int],
    sections: Sequence[ReportSection] = SECTIONS,
) -> dict[str, Any]:
    """The path of every result file the report reads under the config, by key: one path, or
    one per imputation (``{i}`` filled in) for a per-imputation input.

    Parameters
    ----------
    folders : mapping
        The trial's ``reports`` and ``derived`` folders (the config's ``paths``).
    imputations : sequence of int
        The imputation numbers (``1..m``).
    """
    files: dict[str, Any] = {}
    for key, each in active_inputs(config, sections).items():
        path = f"{folders[each.folder]}/{each.path}"
        files[key] = [path.format(i=i) for i in imputations] if each.per_imputation else path
    return files
