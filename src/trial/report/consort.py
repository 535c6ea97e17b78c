"""The CONSORT flow diagram for a cluster trial, drawn from the flow counts.

Every number in the diagram is read from the flow table (itself counted from the raw files), so
the diagram can never disagree with the data. Matplotlib has no flow-chart layout, so the boxes
are placed on a fixed grid here: one column per arm, one row per CONSORT stage.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trial.analyses.describe import HIGH_PARTICIPATION, RECEIVED
from trial.config.vocabulary import Config, enrolment_stage, treatment_arms, unit_plural
from trial.config.vocabulary import arms as all_arms
from trial.report.blocks import figure_dpi, pyplot, save_figure

_BOX = {"boxstyle": "square,pad=0.5", "facecolor": "white", "edgecolor": "#1f4e79", "lw": 1.2}


def flow_diagram(
    config: Config, flow: pd.DataFrame, path: str | Path, sizes: pd.DataFrame | None = None
) -> None:
    """Draw the CONSORT-cluster flow diagram (enrolment, allocation, follow-up, analysis) to a
    PNG and, beside it, an SVG whose text stays text and a PDF
    (:func:`trial.report.blocks.save_figure`).

    Enrolment shows the clusters (and individuals) assessed for eligibility and excluded when
    the flow table holds them (arm ``all``, from ``design.enrolment``) and says they were not
    recorded otherwise; each allocation box gives the individuals per cluster (median and range)
    from ``sizes`` (:func:`trial.analyses.describe.cluster_sizes`).

    Receipt is stated only as far as the data show it: where the config declares a
    participation measure, the treatment arm's box counts the clusters that took part at all
    and those in the high participation class, by the definitions the participation analyses
    use; another treatment arm's box says that receipt was not recorded, and the reference
    arm's box says nothing of it."""
    plt = pyplot()
    design = config["design"]
    arms = all_arms(config)
    cls, inds = unit_plural(design, "cluster"), unit_plural(design, "individual")
    enrolled = enrolment_stage(config)
    # the analysed stage names how (trial.analyses.describe.analysed_stage); the loss stage is
    # absent from the flow of a design with no loss (trial.analyses.describe.loss_possible)
    (analysed,) = flow.loc[flow["stage"].str.startswith("analysed ("), "stage"].unique()
    lost = (flow["stage"] == "lost to follow-up").any()
    heading = analysed[0].upper() + analysed[1:].replace(", ", ",\n")

    def n(level: str, stage: str, arm: str) -> int:
        rows = flow[(flow["level"] == level) & (flow["stage"] == stage) & (flow["arm"] == arm)]
        return int(rows["n"].sum())

    def reasons(arm: str) -> str:
        rows = flow[(flow["arm"] == arm) & flow["stage"].str.startswith("lost: ")]
        return "\n".join(f"  {r.stage[6:].replace('_', ' ')}: {r.n}" for r in rows.itertuples())

    def loss(arm: str) -> str:
        if not lost:
            return ""
        return f"\n{n('individual', 'lost to follow-up', arm)} lost to follow-up:\n{reasons(arm)}"

    def excluded(arm: str) -> str:
        rows = flow[(flow["arm"] == arm) & flow["stage"].str.startswith("excluded from outcome")]
        parts = (r.stage.split(": ", 1) + [r.n] for r in rows.itertuples())
        return "".join(f"\n{head}:\n  {label}: {n}" for head, label, n in parts)

    def enrolment() -> str:
        before = flow[flow["arm"] == "all"]
        if before.empty:
            return (
                f"{cls.capitalize()} assessed for eligibility and excluded:\n"
                "not recorded in the data"
            )
        lines = []
        for level, unit in (("cluster", cls), ("individual", inds)):
            rows = before[before["level"] == level]
            if rows.empty:
                continue
            lines.append(
                f"{n(level, 'assessed for eligibility', 'all')} {unit} assessed for eligibility"
            )
            excluded = rows[rows["stage"].str.startswith("excluded: ")]
            lines.append(f"{int(excluded['n'].sum())} {unit} excluded")
            lines += [f"  {r.stage[10:]}: {r.n}" for r in excluded.itertuples()]
        return "\n".join(lines)

    def receipt(arm: str) -> str:
        if arm not in treatment_arms(config):
            return ""
        if "participation" not in config:
            return "\nreceipt of the intervention\nnot recorded in the data"
        rule = config["participation"]["high_rule"].replace("_", " ")
        return (
            f"\n{n('cluster', RECEIVED, arm)} {cls} took part"
            " (participation score above 0)"
            f"\n{n('cluster', HIGH_PARTICIPATION, arm)} {cls} with high participation"
            f" (score {rule})"
        )

    def size(arm: str) -> str:
        if sizes is None:
            return ""
        r = sizes.set_index("arm").loc[arm]
        return (
            f"\n{inds} per {design['cluster_label']}: median {r['median']:g} "
            f"(range {int(r['smallest'])}-{int(r['largest'])})"
        )

    total_clusters = sum(n("cluster", "randomised", a) for a in arms)
    # 7 inches per 0.82 of height, as before the enrolment row, so boxes keep their size
    fig, ax = plt.subplots(figsize=(4.5 * len(arms), 8.7))
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0.18, 1.2)
    ax.text(0.5, 1.12, enrolment(), ha="center", va="center", fontsize=9, bbox=_BOX)
    ax.annotate(
        "", xy=(0.5, 0.99), xytext=(0.5, 1.06), arrowprops={"arrowstyle": "->", "color": "#555"}
    )
    ax.text(
        0.5,
        0.96,
        f"{total_clusters} {cls} randomised",
        ha="center",
        va="center",
        fontsize=10,
        bbox=_BOX,
    )
    stages = [
        (
            0.80,
            "Allocation",
            lambda a: (
                f"Allocated to {design['arm_labels'][a]}\n"
                f"{n('cluster', 'randomised', a)} {cls}"
                f"{receipt(a)}\n"
                f"{n('individual', enrolled, a)} {inds} {enrolled}"
                f"{size(a)}"
            ),
        ),
        (
            0.55,
            "Follow-up",
            lambda a: (
                f"{n('individual', 'followed up', a)} {inds} followed up\n"
                f"in {n('cluster', 'with individuals followed up', a)} {cls}{loss(a)}"
            ),
        ),
        (
            0.30,
            "Analysis",
            lambda a: (
                f"{heading}:\n"
                f"{n('cluster', 'analysed', a)} {cls}, "
                f"{n('individual', analysed, a)} {inds}\n"
                f"primary outcome observed: {n('individual', 'primary outcome observed', a)}"
                f"{excluded(a)}"
            ),
        ),
    ]
    for column, arm in enumerate(arms):
        x = 0.075 + 0.9 / len(arms) * (column + 0.5)
        previous_y = 0.96
        for y, _, text in stages:
            ax.annotate(
                "",
                xy=(x, y + 0.07),
                xytext=(x if previous_y < 0.9 else 0.5, previous_y - 0.03),
                arrowprops={"arrowstyle": "->", "color": "#555"},
            )
            ax.text(x, y, text(arm), ha="center", va="center", fontsize=8.5, bbox=_BOX)
            previous_y = y - 0.06
    for y, label, _ in [(1.12, "Enrolment", None), *stages]:
        ax.text(
            0.02,
            y,
            label,
            rotation=90,
            ha="left",
            va="center",
            fontsize=10,
            weight="bold",
            color="#1f4e79",
        )
    fig.tight_layout()
    save_figure(fig, path, figure_dpi(config))
