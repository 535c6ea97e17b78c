"""What the config's ``costs`` section asks of the cost analysis: directions, the headline
method, the agreement tolerance, the willingness-to-pay grid and the bootstrap settings.

Every cost module reads these through the functions here, so that each default is stated once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trial.config.vocabulary import Config, contrast_sign

__all__ = [
    "CostConfigError",
    "agreement_tolerance",
    "bootstrap_spec",
    "cost_direction",
    "cost_sign",
    "effect_sign",
    "headline_method",
    "wtp_grid",
]


class CostConfigError(ValueError):
    """The costs section of the config does not fit the data; the message says what."""


def effect_sign(config: Config) -> float:
    """+1 when a higher effect score is better for the individual, else -1."""
    return 1.0 if config["costs"].get("effect_higher_is_better", True) else -1.0


def cost_sign(config: Config) -> float:
    """+1 to report treatment minus reference, -1 for the reverse."""
    return contrast_sign(cost_direction(config))


def cost_direction(config: Config) -> str:
    """The reported direction of the cost difference (``costs.direction``)."""
    return str(config["costs"].get("direction", "treatment_minus_reference"))


def wtp_grid(config: Config) -> np.ndarray:
    """Willingness-to-pay values of the acceptability curve (config ``willingness_to_pay``)."""
    spec = config["costs"].get("willingness_to_pay", {"from": 0, "to": 0, "step": 1})
    lo, hi, step = float(spec["from"]), float(spec["to"]), float(spec["step"])
    if step <= 0 or hi < lo:
        raise CostConfigError(f"costs/willingness_to_pay: need from <= to and step > 0, got {spec}")
    return lo + step * np.arange(int(math.floor((hi - lo) / step + 1e-9)) + 1)


def headline_method(config: Config) -> str:
    """The method whose estimate is the headline cost difference (``costs.headline``)."""
    return str(config["costs"].get("headline", "bootstrap_rubin"))


def agreement_tolerance(config: Config) -> dict[str, float]:
    """How far a mean difference may stray from the headline (``costs.agreement``):
    ``estimate_se`` headline SEs for the estimate, a factor ``se_ratio`` for the SE."""
    spec = {"estimate_se": 0.5, "se_ratio": 1.5}
    spec.update(config["costs"].get("agreement", {}))
    return spec


def bootstrap_spec(config: Config) -> dict[str, Any]:
    """``costs.bootstrap`` with its defaults: ``replicates``, ``chunks``, ``resampling``."""
    spec = {"replicates": 2000, "chunks": 1, "resampling": "two-stage"}
    spec.update(config["costs"].get("bootstrap", {}))
    return spec
