"""Each estimator the config chooses by name is looked up in one registry, and the schema offers
exactly that registry's names: an unknown name is refused before any analysis, naming the
allowed ones."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
import yaml

from trial.analyses.audit.fits import BINARY_MODELS
from trial.analyses.costs.pooling import MEAN_DIFFERENCE_METHODS
from trial.analyses.outcomes import IMPUTATION_ENGINES
from trial.config.load import SCHEMA_PATH, ConfigError, validate_config
from trial.stats.mixed import DF_METHODS

# (config keys down to the choice, the registry whose keys are its allowed names)
REGISTRIES: list[tuple[tuple[str, ...], Mapping[str, Any] | tuple[str, ...]]] = [
    (("costs", "headline"), MEAN_DIFFERENCE_METHODS),
    (("audit", "binary_model"), BINARY_MODELS),
    (("imputation", "engine"), IMPUTATION_ENGINES),
    (("analysis", "df_method"), DF_METHODS),  # the names the mixed-model kernel accepts
]


def _schema_enum(keys: tuple[str, ...]) -> list[str]:
    node = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    for key in keys:
        node = node["properties"][key]
    return node["enum"]


@pytest.mark.parametrize(("keys", "registry"), REGISTRIES, ids=lambda v: "/".join(v))
def test_the_schema_offers_exactly_the_registered_names(keys, registry):
    assert sorted(_schema_enum(keys)) == sorted(registry)


@pytest.mark.parametrize(("keys", "registry"), REGISTRIES, ids=lambda v: "/".join(v))
def test_an_unknown_name_is_refused_naming_every_registered_one(example_config, keys, registry):
    config = copy.deepcopy(example_config)
    section = config
    for key in keys[:-1]:
        section = section.setdefault(key, {})
    section[keys[-1]] = "no_such_method"
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    message = str(caught.value)
    assert f"{'/'.join(keys)}: 'no_such_method' is not one of" in message
    assert all(repr(name) in message for name in registry)
