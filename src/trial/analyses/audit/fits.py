"""The audit's arm x time models for every measure (:func:`fit_audit_models`): the composite by
the linear models, the 0/1 items by the model ``audit.binary_model`` names
(:data:`BINARY_MODELS`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from trial.analyses.audit.binary import fit_binary_model
from trial.analyses.audit.data import AuditInputError, AuditMeasure, audit_measures
from trial.analyses.audit.models import ModelResult, fit_mixed_model, fit_panel_model
from trial.config.vocabulary import Config

__all__ = ["BINARY_MODELS", "DEFAULT_BINARY_MODEL", "fit_audit_models"]


def _linear_models(
    config: Config, long: pd.DataFrame, measure: AuditMeasure, mixed: bool
) -> list[ModelResult]:
    """The panel model, and the mixed model of the cluster-period means when ``mixed``."""
    fits = [fit_panel_model(config, long, measure)]
    if mixed:
        fits.append(fit_mixed_model(config, long, measure))
    return fits


def _gee_model(
    config: Config, long: pd.DataFrame, measure: AuditMeasure, mixed: bool
) -> list[ModelResult]:
    """The logistic GEE (``mixed`` does not apply)."""
    return [fit_binary_model(config, long, measure)]


ModelsOf = Callable[[Config, pd.DataFrame, AuditMeasure, bool], list[ModelResult]]

#: The models of the 0/1 items by the name ``audit.binary_model`` gives (the schema's enum lists
#: the same names): the logistic GEE, or the linear (probability) models.
BINARY_MODELS: dict[str, ModelsOf] = {"gee": _gee_model, "linear": _linear_models}
DEFAULT_BINARY_MODEL = "gee"


def fit_audit_models(
    config: Config, long: pd.DataFrame, *, mixed_measures: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both arm x time models for every measure.

    Parameters
    ----------
    config : dict
        Trial config.
    long : pandas.DataFrame
        :attr:`trial.analyses.audit.data.AuditData.long`.
    mixed_measures : sequence of str, optional
        Measures fitted by the linear models that also get the mixed model (default: all).

    The composite gets the linear models (panel and mixed). The 0/1 items get the models
    :data:`BINARY_MODELS` holds under ``audit.binary_model``: the binary model
    (:func:`trial.analyses.audit.binary.fit_binary_model`) for ``gee`` (the default), the linear
    (probability) models for ``linear``.

    Returns
    -------
    estimates, tests : pandas.DataFrame
        Tidy estimates (arm x time terms, difference at the final time point,
        difference-in-differences) and joint F tests, one row per model and measure.
    """
    binary_model = config["audit"].get("binary_model", DEFAULT_BINARY_MODEL)
    if binary_model not in BINARY_MODELS:
        raise AuditInputError(
            f"audit/binary_model must be one of {tuple(BINARY_MODELS)}, got {binary_model!r}"
        )
    estimates, tests = [], []
    for measure in audit_measures(config):
        models = BINARY_MODELS[binary_model] if measure.kind == "proportion" else _linear_models
        mixed = mixed_measures is None or measure.name in mixed_measures
        for res in models(config, long, measure, mixed):
            estimates.append(res.estimates)
            tests.append(res.test.as_row())
    return pd.concat(estimates, ignore_index=True), pd.DataFrame(tests)
