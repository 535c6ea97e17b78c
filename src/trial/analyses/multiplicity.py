"""Adjusting p-values for multiple comparisons over families of hypotheses declared in config.

A family is a set of hypotheses, each the null of no difference for one outcome and one
comparison: a treatment arm against the reference arm (``comparisons: reference``), a pair of
treatment arms (``pairwise``; trials with several treatment arms), or both (``all``). Within a
family the pooled p-values (Rubin's rules, Barnard-Rubin df) are adjusted by Holm's step-down
procedure (Holm 1979), which controls the familywise error rate at ``alpha`` whatever the
dependence between the tests.

With ``gatekeeping: serial`` the families are tested in the order listed and a family is tested
only when every hypothesis of the families before it was rejected (serial gatekeeping:
Westfall and Krishen 2001; Dmitrienko, Offen and Westfall 2003): this controls the familywise
error rate over all families at ``alpha``. The adjusted p-value of a hypothesis is then the
larger of its Holm-adjusted p-value and every adjusted p-value of the earlier families, so a
hypothesis is rejected exactly when its adjusted p-value is at most ``alpha``. With
``gatekeeping: none`` each family is adjusted on its own (familywise control within families
only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trial.config.vocabulary import Config, family_hypotheses

__all__ = ["adjust_families", "holm"]

COMPARISONS = ("reference", "pairwise", "all")


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (capped at 1), in the order given."""
    # on use: statsmodels is slow to import, and checking a config imports this module
    from statsmodels.stats.multitest import multipletests

    values = np.asarray(p, float)
    if values.size == 0:
        return values
    return multipletests(values, method="holm")[1]


def adjust_families(
    config: Config, outcomes: pd.DataFrame, pairwise: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Holm-adjusted (and, optionally, serially gatekept) p-values of every declared family.

    Parameters
    ----------
    config : dict
        Trial configuration with a ``multiplicity`` section.
    outcomes : pandas.DataFrame
        Pooled arm effects against the reference arm (``outcomes.csv``).
    pairwise : pandas.DataFrame, optional
        Pooled active-vs-active contrasts (``pairwise.csv``), needed by ``pairwise`` families.

    Returns
    -------
    pandas.DataFrame
        One row per family and hypothesis, families in config order: the contrast, its pooled
        estimate, CI and p, the Holm-adjusted p within the family (``p_holm``), the adjusted p
        after gatekeeping (``p_adjusted``), whether it is rejected at ``alpha`` and the method.
    """
    spec = config["multiplicity"]
    alpha = config["analysis"]["alpha"]
    reference = config["design"]["reference_arm"]
    serial = spec.get("gatekeeping", "none") == "serial"
    table = outcomes.assign(versus=reference)
    if pairwise is not None and len(pairwise):
        table = pd.concat([table, pairwise], ignore_index=True)
    table = table.set_index(["outcome", "arm", "versus"])
    method = "Holm within family" + (", serial gatekeeping" if serial else "")
    rows = []
    gate = 0.0  # the largest adjusted p-value of the families tested so far
    for order, family in enumerate(spec["families"], start=1):
        hypotheses = family_hypotheses(config, family)
        found = table.loc[hypotheses]
        p_holm = holm(found["p"].to_numpy())
        p_adjusted = np.maximum(p_holm, gate) if serial else p_holm
        for (scale, arm, versus), r, ph, pa in zip(
            hypotheses, found.itertuples(), p_holm, p_adjusted, strict=True
        ):
            rows.append(
                {
                    "family": family["name"],
                    "family_label": family.get("label", family["name"]),
                    "family_order": order,
                    "outcome": scale,
                    "label": r.label,
                    "arm": arm,
                    "versus": versus,
                    "contrast": r.contrast,
                    "estimate": r.estimate,
                    "ci_low": r.ci_low,
                    "ci_high": r.ci_high,
                    "p": r.p,
                    "p_holm": float(ph),
                    "p_adjusted": float(pa),
                    "rejected": bool(pa <= alpha),
                    "alpha": alpha,
                    "method": method,
                }
            )
        if serial:
            gate = max(gate, float(p_adjusted.max()))
    return pd.DataFrame(rows)
