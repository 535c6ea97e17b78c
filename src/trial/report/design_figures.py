"""Figures of the design: the cluster x period schedule of a stepped-wedge or crossover trial.

The schedule diagram (Hemming et al 2018, BMJ 363:k1614, the CONSORT extension for
stepped-wedge trials) has one row per cluster and one column per period, each cell shaded by the
condition the cluster is in; the number of individuals analysed may be written in each cell.
Figures are drawn on a :class:`matplotlib.figure.Figure` of their own (no pyplot state), in the
report's arm colours.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from trial.config.schedule import Schedule
from trial.config.vocabulary import Config, single_treatment_arm
from trial.report.blocks import arm_colours, figure_dpi, save_figure

# shading of a cell in the reference condition (the treatment colour is the report's)
_REFERENCE_FILL = "#f2f2f2"


def schedule_figure(
    schedule: Schedule,
    *,
    treatment_label: str,
    reference_label: str,
    cluster_label: str = "cluster",
    treatment_colour: str = "#1f4e79",
    counts: pd.DataFrame | None = None,
    show_ids: bool = False,
) -> Figure:
    """The cluster x period schedule, treated cells shaded.

    Clusters are drawn in the order they switch (then by identifier), as the steps of the
    wedge. Each cell is a :class:`matplotlib.patches.Rectangle` whose ``gid`` is
    ``"<cluster>|<period>"``.

    Parameters
    ----------
    schedule : Schedule
        Each cluster's condition in each period.
    treatment_label, reference_label : str
        Legend labels of the two conditions.
    cluster_label : str, default "cluster"
        What a cluster is called (the y-axis label).
    treatment_colour : str
        Fill of the treated cells.
    counts : pandas.DataFrame, optional
        Individuals per cell (index clusters, columns periods), written in each cell.
    show_ids : bool, default False
        Label the rows with the cluster identifiers; by default they are numbered 1, 2, ...
        in drawing order, so that a report shows no identifier.

    Returns
    -------
    matplotlib.figure.Figure
    """
    order = np.lexsort((np.array(schedule.clusters), schedule.switch, ~schedule.starts_treated))
    treated = schedule.treated[order]
    clusters = [schedule.clusters[i] for i in order]
    n_rows, n_cols = treated.shape
    fig = Figure(figsize=(1.2 + 0.7 * n_cols, 0.9 + 0.28 * n_rows))
    ax = fig.add_subplot()
    for r, cluster in enumerate(clusters):
        for c, period in enumerate(schedule.periods):
            is_treated = bool(treated[r, c])
            ax.add_patch(
                Rectangle(
                    (c, r),
                    1,
                    1,
                    facecolor=treatment_colour if is_treated else _REFERENCE_FILL,
                    edgecolor="white",
                    linewidth=1.5,
                    gid=f"{cluster}|{period}",
                )
            )
            if counts is not None:
                ax.text(
                    c + 0.5,
                    r + 0.5,
                    f"{int(counts.loc[cluster, period])}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="#ffffff" if is_treated else "#000000",
                )
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_rows, 0)
    ax.set_xticks(np.arange(n_cols) + 0.5, list(schedule.periods))
    rows = clusters if show_ids else [str(r + 1) for r in range(n_rows)]
    ax.set_yticks(np.arange(n_rows) + 0.5, rows, fontsize=7)
    ax.set_xlabel("Period")
    ax.set_ylabel(cluster_label.capitalize())
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.legend(
        handles=[
            Patch(facecolor=_REFERENCE_FILL, label=reference_label),
            Patch(facecolor=treatment_colour, label=treatment_label),
        ],
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=2,
        frameon=False,
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def plot_schedule(
    config: Config,
    schedule: Schedule,
    path: str | Path,
    counts: pd.DataFrame | None = None,
) -> None:
    """Draw the schedule with the config's labels and arm colour and write it as a PNG."""
    design = config["design"]
    treatment = single_treatment_arm(config)
    colours: Mapping[str, Any] = arm_colours([treatment], design["reference_arm"])
    fig = schedule_figure(
        schedule,
        treatment_label=design["arm_labels"][treatment],
        reference_label=design["arm_labels"][design["reference_arm"]],
        cluster_label=design["cluster_label"],
        treatment_colour=colours[treatment],
        counts=counts,
    )
    save_figure(fig, path, figure_dpi(config))
