"""Outcome families with their (canonical) links, and the shared checks of the new kernels.

Each family is the exponential-family log-likelihood ``l(eta) = y eta - b(eta) + c(y)`` of one
observation with its canonical link, and the moments the estimators need:

========  ========  ==============  ======================  ================
family    link      mean ``b'``     variance ``b''``        ``c(y)``
========  ========  ==============  ======================  ================
binomial  logit     ``expit(eta)``  ``mu (1 - mu)``         0 (0/1 outcome)
poisson   log       ``exp(eta)``    ``mu``                  ``-log(y!)``
gaussian  identity  ``eta``         1 (times the scale)     (not used)
========  ========  ==============  ======================  ================
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from trial.stats.mixed.checks import _gram_rank

__all__ = [
    "FAMILIES",
    "Family",
    "ModelFitError",
    "ModelInputError",
    "get_family",
    "model_inputs",
]


class ModelInputError(ValueError):
    """The data cannot define the requested model (shapes, values, rank, clusters)."""


class ModelFitError(RuntimeError):
    """The estimating algorithm did not reach a verified solution."""


class Family:
    """An exponential family with its canonical link (see the module docstring).

    Attributes
    ----------
    name, link : str
        Family and link names as R spells them.
    """

    name = ""
    link = ""

    def mean(self, eta: np.ndarray) -> np.ndarray:
        """Inverse link: the mean ``mu`` at the linear predictor ``eta``."""
        raise NotImplementedError

    def variance(self, mu: np.ndarray) -> np.ndarray:
        """Variance function ``V(mu)`` (the variance up to the scale)."""
        raise NotImplementedError

    def mean_mu_eta(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mean and ``d mu / d eta`` together (for a canonical link the latter is
        ``V(mu)``, so one inverse-link evaluation serves both)."""
        mu = self.mean(eta)
        return mu, self.variance(mu)

    def cumulant(self, eta: np.ndarray) -> np.ndarray:
        """``b(eta)``: the log-likelihood is ``y eta - b(eta) + c(y)``."""
        raise NotImplementedError

    def moments(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``b'(eta)``, ``b''(eta)`` and ``b'''(eta)``: mean, variance, and its derivative."""
        raise NotImplementedError

    def cumulant_mean(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``b(eta)`` and the mean ``b'(eta)`` together."""
        return self.cumulant(eta), self.mean(eta)

    def log_c(self, y: np.ndarray) -> float:
        """``sum c(y)``, the part of the log-likelihood free of parameters."""
        raise NotImplementedError

    def check(self, y: np.ndarray) -> None:
        """Raise :class:`ModelInputError` when ``y`` is outside the family's support."""

    def start_mean(self, y: np.ndarray) -> np.ndarray:
        """Starting means for iteratively reweighted least squares (as R's ``mustart``)."""
        raise NotImplementedError

    def link_fun(self, mu: np.ndarray) -> np.ndarray:
        """The link ``eta = g(mu)``."""
        raise NotImplementedError


class Binomial(Family):
    name = "binomial"
    link = "logit"

    def mean(self, eta: np.ndarray) -> np.ndarray:
        return special.expit(eta)

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu * (1.0 - mu)

    def cumulant(self, eta: np.ndarray) -> np.ndarray:
        return np.logaddexp(0.0, eta)

    def moments(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = special.expit(eta)
        w = mu * (1.0 - mu)
        return mu, w, w * (1.0 - 2.0 * mu)

    def cumulant_mean(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # one exponential for both: log(1 + e^eta) and expit(eta) from e = exp(-|eta|)
        e = np.exp(-np.abs(eta))
        b = np.log1p(e) + np.maximum(eta, 0.0)
        mu = np.where(eta >= 0.0, 1.0, e) / (1.0 + e)
        return b, mu

    def log_c(self, y: np.ndarray) -> float:
        return 0.0

    def check(self, y: np.ndarray) -> None:
        bad = np.flatnonzero((y != 0.0) & (y != 1.0))
        if bad.size:
            raise ModelInputError(
                f"a binomial outcome must be 0 or 1; row {int(bad[0])} has {y[bad[0]]!r} "
                f"({bad.size} such rows)"
            )

    def start_mean(self, y: np.ndarray) -> np.ndarray:
        return (y + 0.5) / 2.0

    def link_fun(self, mu: np.ndarray) -> np.ndarray:
        return special.logit(mu)


class Poisson(Family):
    name = "poisson"
    link = "log"

    def mean(self, eta: np.ndarray) -> np.ndarray:
        return np.exp(eta)

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu

    def cumulant(self, eta: np.ndarray) -> np.ndarray:
        return np.exp(eta)

    def moments(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = np.exp(eta)
        return mu, mu, mu

    def cumulant_mean(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu = np.exp(eta)
        return mu, mu

    def log_c(self, y: np.ndarray) -> float:
        return -float(np.sum(special.gammaln(y + 1.0)))

    def check(self, y: np.ndarray) -> None:
        bad = np.flatnonzero((y < 0.0) | (y != np.floor(y)))
        if bad.size:
            raise ModelInputError(
                f"a Poisson outcome must be a non-negative integer count; row {int(bad[0])} "
                f"has {y[bad[0]]!r} ({bad.size} such rows)"
            )

    def start_mean(self, y: np.ndarray) -> np.ndarray:
        return y + 0.1

    def link_fun(self, mu: np.ndarray) -> np.ndarray:
        return np.log(mu)


class Gaussian(Family):
    name = "gaussian"
    link = "identity"

    def mean(self, eta: np.ndarray) -> np.ndarray:
        return eta

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return np.ones_like(mu)

    def mean_mu_eta(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return eta, np.ones_like(eta)

    def start_mean(self, y: np.ndarray) -> np.ndarray:
        return y.astype(float)

    def link_fun(self, mu: np.ndarray) -> np.ndarray:
        return mu


FAMILIES: dict[str, Family] = {f.name: f for f in (Binomial(), Poisson(), Gaussian())}


def get_family(name: str, allowed: tuple[str, ...]) -> Family:
    """The family called ``name``, which must be one of ``allowed``."""
    if name not in allowed:
        raise ModelInputError(f"family must be one of {allowed}, got {name!r}")
    return FAMILIES[name]


# ---------------------------------------------------------------------------------------------
# Shared input handling
# ---------------------------------------------------------------------------------------------


def cluster_codes(labels: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ``0..J-1`` of cluster labels of any hashable type, and the labels in code
    order (sorted for integer labels, in order of first appearance otherwise)."""
    if isinstance(labels, pd.Series | pd.Index):
        labels = labels.to_numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ModelInputError(f"clusters must have shape ({n},), got {arr.shape}")
    if arr.dtype.kind in "iu":
        uniq, codes = np.unique(arr, return_inverse=True)
        return codes.reshape(-1).astype(np.intp), uniq
    codes, uniq = pd.factorize(arr, sort=False, use_na_sentinel=True)
    if codes.size and codes.min() < 0:
        raise ModelInputError(f"clusters has a missing label in row {int(np.argmin(codes))}")
    return codes.astype(np.intp), np.asarray(uniq)


def check_arrays(
    y: Any, X: Any, offset: Any, names: tuple[str, ...] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float copies of the outcome, design and offset (zeros when ``None``)."""
    yv = np.asarray(y, dtype=float)
    if yv.ndim != 1:
        raise ModelInputError("y must be one-dimensional")
    n = yv.shape[0]
    Xv = np.asarray(X, dtype=float)
    if Xv.ndim != 2 or Xv.shape[0] != n:
        raise ModelInputError(f"X must have shape ({n}, p), got {Xv.shape}")
    if Xv.shape[1] == 0:
        raise ModelInputError("X has no columns")
    bad = np.flatnonzero(~np.isfinite(yv))
    if bad.size:
        raise ModelInputError(f"y has a missing or infinite value in row {int(bad[0])}")
    if not np.isfinite(Xv).all():
        row, col = np.argwhere(~np.isfinite(Xv))[0]
        label = names[col] if names is not None else f"column {col}"
        raise ModelInputError(f"X has a missing or infinite value in row {row}, {label}")
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    if off.shape != (n,):
        raise ModelInputError(f"offset must have shape ({n},), got {off.shape}")
    if not np.isfinite(off).all():
        row = int(np.argmin(np.isfinite(off)))
        raise ModelInputError(f"offset has a missing or infinite value in row {row}")
    return yv, Xv, off


def model_inputs(
    y: Any, X: Any, clusters: Any, offset: Any, *, labelled: bool
) -> tuple[tuple[str, ...] | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Validated inputs of a model fit: term names (labelled designs only), outcome, design,
    offset, cluster codes and the number of clusters."""
    names = None
    if labelled:
        if not isinstance(X, pd.DataFrame):
            raise ModelInputError("X must be a pandas DataFrame whose columns name the terms")
        names = tuple(str(c) for c in X.columns)
        if len(set(names)) != len(names):
            raise ModelInputError("X has duplicated column names")
        X = X.to_numpy(dtype=float)
    yv, Xv, off = check_arrays(y, X, offset, names)
    codes, uniq = cluster_codes(clusters, yv.shape[0])
    return names, yv, Xv, off, codes, uniq.size


def check_full_rank(X: np.ndarray) -> None:
    """Raise when ``X`` is rank deficient (lme4's tolerance, as the linear engine)."""
    rank = _gram_rank(X.T @ X)
    if rank < X.shape[1]:
        raise ModelInputError(f"X is rank deficient (rank {rank} < {X.shape[1]} columns)")
