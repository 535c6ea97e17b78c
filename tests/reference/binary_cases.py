"""The datasets of ``tests/reference/data/glmm`` as model inputs, shared by the reference tests
of the GLMM, GEE, marginal and cluster-level kernels (same terms as the R scripts)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data" / "glmm"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

TERMS = {
    "trial": ["arm", "stratum", "x"],
    "boundary": ["arm", "x"],
    "unequal": ["arm", "stratum", "x"],
    "rare": ["arm", "x"],
    "counts": ["arm", "stratum", "x"],
}
DATASETS = list(TERMS)


@dataclass(frozen=True)
class Case:
    data: pd.DataFrame
    y: pd.Series
    X: pd.DataFrame
    clusters: pd.Series
    family: str
    offset: np.ndarray | None


def case(name: str) -> Case:
    d = pd.read_csv(DATA / f"{name}.csv")
    X = pd.DataFrame({"(Intercept)": 1.0, **{t: d[t].astype(float) for t in TERMS[name]}})
    counts = name == "counts"
    offset = np.log(d["exposure"].to_numpy()) if counts else None
    return Case(d, d["y"], X, d["cluster"], "poisson" if counts else "binomial", offset)


def fixture(path: str) -> pd.DataFrame:
    """A long-format fixture (``#`` comment lines first) with a float ``value`` column."""
    fx = pd.read_csv(FIXTURES / path, comment="#", keep_default_na=False)
    fx["value"] = fx["value"].astype(float)
    return fx
