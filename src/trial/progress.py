"""Progress display for long steps (imputation chains, bootstraps, simulation chunks).

A bar is drawn on standard error only when it is a terminal: a person watching a run sees each
job's long steps advance, while log files, pipes, cluster jobs and the tests get nothing (a
progress bar in a log file is noise). The display never touches the data or the random
streams, so results are the same with or without it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

Item = TypeVar("Item")


def progress(items: Iterable[Item], description: str, total: int | None = None) -> Iterable[Item]:
    """``items``, counted on a progress bar when standard error is a terminal.

    Parameters
    ----------
    items : iterable
        The steps.
    description : str
        What is being counted, shown before the bar (e.g. ``"imputation chain"``).
    total : int, optional
        Number of steps, when ``items`` has no length.

    Returns
    -------
    iterable
        ``items`` itself when standard error is not a terminal; otherwise the same items,
        drawn on a bar that disappears when the step ends.
    """
    if not sys.stderr.isatty():
        return items
    from tqdm import tqdm  # on use: only a run watched on a terminal draws bars

    return tqdm(items, desc=description, total=total, leave=False, file=sys.stderr)
