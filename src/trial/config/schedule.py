"""The schedule of a stepped-wedge or cluster-crossover design: who is treated in which period.

A parallel trial allocates each cluster to one arm for the whole trial. In a stepped-wedge
design every cluster starts in the reference condition and crosses over to the treatment at a
randomised period; in a two-sequence cluster-crossover design a cluster starts in either
condition and switches to the other at a given period. Both are described here the same way:
the ordered periods, each cluster's condition in the first period and the period at which it
switches. The config declares them (``design: type, periods, schedule``); this module turns the
declaration into a cluster x period matrix of conditions and lists what makes a schedule unfit
for analysis. It imports nothing else of the package, so that the config checks, the analyses
and the report all read the schedule the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# A problem of the data located as trial.data.validation.Problem locates it: file, line (the header
# being line 1, None for the whole file), column, value and what was expected.
Located = tuple[str, int | None, str | None, object, str]

DESIGN_TYPES = ("parallel", "stepped_wedge", "crossover")
# design types whose clusters change condition over the periods of the trial
SCHEDULED_TYPES = ("stepped_wedge", "crossover")


def design_type(config: Mapping[str, Any]) -> str:
    """The design's type (``design: type``); a config that does not say is parallel."""
    return str(config["design"].get("type", "parallel"))


@dataclass(frozen=True)
class Schedule:
    """Each cluster's condition in each period.

    Attributes
    ----------
    design_type : str
        ``"stepped_wedge"`` or ``"crossover"``.
    periods : tuple of str
        Period labels in time order.
    clusters : tuple of str
        Cluster identifiers, in the order of the rows of :attr:`treated`.
    starts_treated : numpy.ndarray of bool, shape (n_clusters,)
        Whether the cluster is in the treatment condition in the first period.
    switch : numpy.ndarray of int, shape (n_clusters,)
        Index in :attr:`periods` of the first period in the other condition.
    """

    design_type: str
    periods: tuple[str, ...]
    clusters: tuple[str, ...]
    starts_treated: np.ndarray
    switch: np.ndarray

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    @property
    def n_periods(self) -> int:
        return len(self.periods)

    @property
    def treated(self) -> np.ndarray:
        """Boolean matrix (clusters x periods): the cluster is in the treatment condition."""
        after = np.arange(self.n_periods)[None, :] >= self.switch[:, None]
        return after != self.starts_treated[:, None]

    @property
    def exposure(self) -> np.ndarray:
        """Integer matrix (clusters x periods): the period of treatment the cell is in.

        1 in the first treated period of a cluster, 2 in the next, and so on; 0 in the
        reference condition. A cluster treated from the first period counts from there.
        """
        treated = self.treated
        return np.where(treated, np.cumsum(treated, axis=1), 0)

    def condition(self, cluster: str, period: str) -> bool:
        """Whether ``cluster`` is in the treatment condition in ``period``."""
        return bool(self.treated[self.clusters.index(cluster), self.periods.index(period)])

    def cells(
        self, clusters: Sequence[Any], periods: Sequence[Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each (cluster, period) pair in :attr:`treated`, -1 when unknown."""
        rows = pd.Index(self.clusters).get_indexer([str(c) for c in clusters])
        cols = pd.Index(self.periods).get_indexer([str(p) for p in periods])
        return rows, cols

    def treated_at(self, clusters: Sequence[Any], periods: Sequence[Any]) -> np.ndarray:
        """Whether each (cluster, period) pair is in the treatment condition.

        Raises
        ------
        ValueError
            A cluster or period that is not in the schedule.
        """
        rows, cols = self.cells(clusters, periods)
        if (rows < 0).any() or (cols < 0).any():
            unknown = sorted(
                {str(c) for c, r in zip(clusters, rows, strict=True) if r < 0}
                | {str(p) for p, k in zip(periods, cols, strict=True) if k < 0}
            )
            raise ValueError(f"clusters or periods not in the schedule: {unknown}")
        return self.treated[rows, cols]


def build_schedule(
    kind: str,
    periods: Sequence[str],
    switch_period: Mapping[str, str],
    starts_treated: Mapping[str, bool] | None = None,
) -> Schedule:
    """A :class:`Schedule` from each cluster's switching period (and starting condition).

    Parameters
    ----------
    kind : {"stepped_wedge", "crossover"}
        The design type.
    periods : sequence of str
        Period labels in time order.
    switch_period : mapping of str to str
        Cluster identifier -> label of the first period in the other condition.
    starts_treated : mapping of str to bool, optional
        Cluster identifier -> treated in the first period (default: none is, as in a
        stepped-wedge design).

    Raises
    ------
    ValueError
        Every problem found by :func:`schedule_problems`, one per line.
    """
    problems = schedule_problems(kind, periods, switch_period, starts_treated)
    if problems:
        raise ValueError("the schedule cannot be analysed:\n" + "\n".join(problems))
    clusters = tuple(switch_period)
    starts = starts_treated or {}
    return Schedule(
        design_type=kind,
        periods=tuple(periods),
        clusters=clusters,
        starts_treated=np.array([bool(starts.get(c, False)) for c in clusters]),
        switch=np.array([list(periods).index(switch_period[c]) for c in clusters], dtype=int),
    )


def schedule_problems(
    kind: str,
    periods: Sequence[str],
    switch_period: Mapping[str, str],
    starts_treated: Mapping[str, bool] | None = None,
    *,
    where: str = "design/schedule",
) -> list[str]:
    """Every reason the schedule cannot define the design's model, one message each.

    A stepped-wedge cluster starts in the reference condition; every cluster switches at a
    listed period after the first (switching at the first period would leave it in one
    condition throughout); for the treatment effect to be told apart from the period effects
    some period must hold clusters in both conditions.
    """
    problems = []
    if kind not in SCHEDULED_TYPES:
        return [f"{where}: a schedule belongs to a {' or '.join(SCHEDULED_TYPES)} design"]
    labels = list(periods)
    if len(labels) < 2:
        problems.append(f"design/periods: at least two periods are needed, found {labels}")
    if len(switch_period) < 2:
        problems.append(f"{where}: at least two clusters are needed, found {len(switch_period)}")
    starts = starts_treated or {}
    switch = []
    for cluster, period in switch_period.items():
        if period not in labels:
            problems.append(
                f"{where}: cluster {cluster!r} switches at period {period!r}, which is not one "
                f"of design/periods {labels}"
            )
        elif labels.index(period) == 0:
            problems.append(
                f"{where}: cluster {cluster!r} switches at the first period {period!r} and would "
                "be in one condition throughout; give a later period"
            )
        else:
            switch.append(labels.index(period))
        if kind == "stepped_wedge" and starts.get(cluster, False):
            problems.append(
                f"{where}: cluster {cluster!r} starts in the treatment condition; in a "
                "stepped-wedge design every cluster starts in the reference condition"
            )
    if problems:
        return problems
    start = np.array([bool(starts.get(c, False)) for c in switch_period])
    after = np.arange(len(labels))[None, :] >= np.array(switch)[:, None]
    treated = after != start[:, None]
    mixed = [p for j, p in enumerate(labels) if treated[:, j].any() and not treated[:, j].all()]
    if not mixed:
        problems.append(
            f"{where}: no period has clusters in both conditions, so the treatment effect "
            "cannot be told apart from the period effects"
        )
    if kind == "crossover" and (start.all() or not start.any()):
        problems.append(
            f"{where}: every cluster starts in the same condition; a crossover design has "
            "clusters starting in each (otherwise declare design/type: stepped_wedge)"
        )
    return problems


def read_schedule(
    config: Mapping[str, Any], clusters: pd.DataFrame, lines: Sequence[int] | None = None
) -> tuple[Schedule | None, list[Located]]:
    """The schedule of a scheduled design, from the config and the cluster table.

    The switching period comes from ``design: schedule`` (a column of the cluster table, or a
    period per cluster in the config); the first condition is the cluster's arm (``design:
    arm``): the reference arm, or the treatment arm for a crossover cluster that starts treated.

    Parameters
    ----------
    config : mapping
        A schema-valid config of a stepped-wedge or crossover design.
    clusters : pandas.DataFrame
        The cluster table.
    lines : sequence of int, optional
        Line in the file of each row of ``clusters`` (default: the rows in order from line 2).

    Returns
    -------
    schedule : Schedule or None
        None when there is any problem.
    problems : list of tuple
        ``(file, line, column, value, expected)`` of each problem: a cluster with no schedule
        or listed in the config but not in the table, an arm that is neither condition, and the
        schedule's own problems (:func:`schedule_problems`).
    """
    design = config["design"]
    file = config["tables"][design["cluster_table"]]["file"]
    lines = list(range(2, len(clusters) + 2)) if lines is None else list(lines)
    ids = clusters[design["cluster_id"]].astype(str).tolist()
    reference = design["reference_arm"]
    (treated_arm,) = design["treatment_arms"]
    problems: list[Located] = []
    starts: dict[str, bool] = {}
    for line, cluster, arm in zip(lines, ids, clusters[design["arm"]], strict=True):
        if arm not in (reference, treated_arm):
            problems.append(
                (
                    file,
                    line,
                    design["arm"],
                    arm,
                    f"the reference arm {reference!r} or the treatment arm {treated_arm!r} (the "
                    "condition in the first period)",
                )
            )
        starts[cluster] = arm == treated_arm
    schedule = design["schedule"]
    column = schedule.get("column")
    if column is not None:
        values = clusters[column]
        listed = {c: str(v) for c, v in zip(ids, values, strict=True) if _given(v)}
    else:
        listed = {str(k): str(v) for k, v in schedule["clusters"].items()}
        problems += [
            (
                file,
                None,
                design["cluster_id"],
                c,
                "a cluster of this table for every cluster under design/schedule/clusters",
            )
            for c in listed
            if c not in set(ids)
        ]
    for line, cluster in zip(lines, ids, strict=True):
        if cluster not in listed:
            where = column or design["cluster_id"]
            source = "" if column else " under design/schedule/clusters"
            problems.append(
                (
                    file,
                    line,
                    where,
                    None if column else cluster,
                    f"the period at which cluster {cluster!r} switches{source}, one of "
                    f"design/periods {list(design['periods'])}",
                )
            )
    if problems:
        return None, problems
    switch = {c: listed[c] for c in ids}
    kind = design_type(config)
    found = schedule_problems(kind, design["periods"], switch, starts, where="design/schedule")
    if found:
        return None, [
            (file, None, column, None, "a schedule that can be analysed: " + p.split(": ", 1)[1])
            for p in found
        ]
    return build_schedule(kind, design["periods"], switch, starts), []


def _given(value: object) -> bool:
    return not (value is None or (isinstance(value, float) and np.isnan(value)) or value == "")
