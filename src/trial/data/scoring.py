"""Scoring questionnaire scales from item responses.

Rules come from the config's ``scales`` section: which items, their range, reverse keying, the
share of items needed to score (``min_fraction``), prorating of sums, gating (an item is rated
only when its gate item says it applies, e.g. "is this important to you?") and
rescaling to another range such as 0-100. A scale that cannot be scored is missing and is imputed
later; it is never silently set to a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def score_scale(items: pd.DataFrame, scale: Mapping[str, Any]) -> pd.Series:
    """Score one scale for every row of ``items``.

    Parameters
    ----------
    items
        Table holding the scale's item (and gate) columns, one row per response.
    scale
        The scale's config: ``items``, ``item_range``, ``method`` (``sum``, ``mean`` or
        ``gated_mean``), ``min_fraction``, optional ``reverse``, ``gate`` and ``rescale``; or
        ``column`` alone.

    Returns
    -------
    pandas.Series
        The score per row (float), NaN where too few items were answered.

    Notes
    -----
    ``sum`` is prorated: the mean of the answered items times the number of items, computed when
    at least ``min_fraction`` of the items are answered. ``gated_mean`` averages the ratings of the
    items whose gate is 1; items gated 0 do not apply and are not missing data; an item whose gate
    is missing counts as applicable and unanswered. If no item applies the score is missing.

    A single-variable outcome (``column`` instead of items) is that column's value, as typed
    and range-checked by validation.
    """
    if "column" in scale:
        return items[scale["column"]].astype(float)
    names = list(scale["items"])
    lo, hi = (float(v) for v in scale["item_range"])
    values = items[names].astype(float).to_numpy(copy=True)
    for j, name in enumerate(names):
        if name in scale.get("reverse", []):
            values[:, j] = lo + hi - values[:, j]
    answered = ~np.isnan(values)

    if scale["method"] == "gated_mean":
        gate = items[list(scale["gate"])].astype(float).to_numpy()
        applies = ~(gate == 0)  # gate 1 or gate missing
        used = answered & (gate == 1)
        n_applicable = applies.sum(axis=1)
        n_used = used.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(used, values, 0.0).sum(axis=1) / n_used
            fraction = n_used / n_applicable
        ok = (n_applicable > 0) & (fraction >= scale["min_fraction"] - 1e-12)
    else:
        n_used = answered.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(answered, values, 0.0).sum(axis=1) / n_used
        ok = n_used / len(names) >= scale["min_fraction"] - 1e-12

    if "rescale" in scale:
        new_lo, new_hi = (float(v) for v in scale["rescale"])
        score = new_lo + (mean - lo) / (hi - lo) * (new_hi - new_lo)
    elif scale["method"] == "sum":
        score = mean * len(names)
    else:
        score = mean
    return pd.Series(np.where(ok, score, np.nan), index=items.index, dtype=float)


def score_table(
    table: pd.DataFrame, scales: Mapping[str, Mapping[str, Any]], keep: list[str]
) -> pd.DataFrame:
    """Score every scale in ``scales`` on ``table``; return the ``keep`` columns and the scores."""
    out = table[keep].copy()
    for name, scale in scales.items():
        out[name] = score_scale(table, scale)
    return out
