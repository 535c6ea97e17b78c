"""What every imputation engine returns."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class ImputationResult:
    """One completed dataset and the chain trace that produced it.

    Attributes
    ----------
    completed
        The input table with every missing value of the imputed variables filled.
    trace
        Long table with columns ``iteration``, ``variable``, ``mean``, ``sd``: the mean and SD
        of each imputed variable's imputed values after each iteration, for convergence plots.
    engine
        Name of the engine, as written in reports.
    """

    completed: pd.DataFrame
    trace: pd.DataFrame
    engine: str
