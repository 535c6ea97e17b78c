"""What every imputation engine returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

#: Columns of :attr:`ImputationResult.latent`.
LATENT_COLUMNS = ("row", "variable", "eta", "e")


def no_latent_draws() -> pd.DataFrame:
    """An empty :attr:`ImputationResult.latent` table."""
    return pd.DataFrame(
        {"row": pd.Series(dtype="int64"), "variable": pd.Series(dtype=object)}
        | {c: pd.Series(dtype="float64") for c in LATENT_COLUMNS[2:]}
    )


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
    latent
        For each binary value imputed from a latent-normal model, its final draw: ``row``
        (position in the input), ``variable``, ``eta`` (latent linear predictor) and ``e``
        (latent residual), the value being ``1{eta + e > 0}``
        (:func:`trial.stats.impute.binary.shifted_draw` redraws it with its log odds shifted). Empty
        for engines without such a model.
    """

    completed: pd.DataFrame
    trace: pd.DataFrame
    engine: str
    latent: pd.DataFrame = field(default_factory=no_latent_draws)
