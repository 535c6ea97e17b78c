"""The design of one model fit: outcome, fixed effects with their names and the clusters of the
analysed rows, built once from the config's terms (:func:`build_design`); and one term of a
fitted model as a result row (:func:`term_effect`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from trial.config.vocabulary import Config, design_matrix, followup_column

__all__ = ["Design", "TermEffect", "build_design", "term_effect"]


@dataclass(frozen=True)
class Design:
    """Outcome and fixed effects of one scale on its analysed rows.

    Attributes
    ----------
    y : numpy.ndarray, shape (n,)
        Follow-up value of the scale.
    X : numpy.ndarray, shape (n, p)
        Fixed effects (:func:`trial.config.vocabulary.design_matrix`) as floats.
    names : tuple of str
        Name of each column of ``X``.
    clusters : numpy.ndarray, shape (n,)
        Cluster label of each row.
    """

    y: np.ndarray
    X: np.ndarray
    names: tuple[str, ...]
    clusters: np.ndarray

    def column(self, name: str) -> int:
        """Position of the term ``name`` among the columns of ``X``."""
        return self.names.index(name)

    def frame(self) -> pd.DataFrame:
        """``X`` as a table whose columns are the term names."""
        return pd.DataFrame(self.X, columns=list(self.names))


def build_design(
    config: Config, table: pd.DataFrame, scale: str, rows: np.ndarray | None = None
) -> Design:
    """The :class:`Design` of ``scale`` on ``table`` (on its rows ``rows``, a boolean mask, if
    given)."""
    part = table if rows is None else table[rows]
    X = design_matrix(config, part, scale)
    return Design(
        y=part[followup_column(scale)].to_numpy(dtype=float),
        X=X.to_numpy(dtype=float),
        names=tuple(X.columns),
        clusters=part[config["design"]["cluster_id"]].to_numpy(),
    )


class FittedModel(Protocol):
    """A fit with named coefficients, their covariance and a df per coefficient (the mixed
    model's and the GLMM's or GEE's results alike)."""

    @property
    def params(self) -> pd.Series: ...

    @property
    def cov(self) -> pd.DataFrame: ...

    @property
    def df(self) -> pd.Series: ...


@dataclass(frozen=True)
class TermEffect:
    """One coefficient of a fitted model.

    Attributes
    ----------
    estimate, variance, df : float
        The coefficient, its variance and the df of its t reference.
    """

    estimate: float
    variance: float
    df: float

    def as_row(self) -> dict[str, float]:
        """``estimate, variance, df`` as the columns of a result row."""
        return {"estimate": self.estimate, "variance": self.variance, "df": self.df}


def term_effect(fit: FittedModel, term: str) -> TermEffect:
    """The coefficient ``term`` of ``fit`` with its variance and df."""
    return TermEffect(float(fit.params[term]), float(fit.cov.loc[term, term]), float(fit.df[term]))
