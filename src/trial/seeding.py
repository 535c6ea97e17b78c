"""Deriving every random stream from the config's single seed.

Each job asks for a generator by name (e.g. ``("impute", 7)``), so its draws do not depend on
which other jobs ran, in what order, or on which executor.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(seed: int, *keys: object) -> int:
    """A 32-bit seed determined by the trial seed and the names of the job that uses it."""
    text = "/".join([str(seed), *(str(k) for k in keys)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


def derive_rng(seed: int, *keys: object) -> np.random.Generator:
    """A numpy Generator seeded by :func:`derive_seed`."""
    return np.random.default_rng(derive_seed(seed, *keys))
