"""A blank unit cost is never summed away as 0: it stops the run, unless the config says to cost
it at 0, and then exactly that service's cost is 0 in every total."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from trial.analyses.costs.spec import CostConfigError
from trial.analyses.costs.use import cost_totals, service_costs
from trial.config.vocabulary import COST_BASELINE
from trial.data.validation import InputError, validate_inputs

from ...conftest import ROOT

RAW = ROOT / "data" / "raw" / "refocus"
SERVICE = "psychiatrist_contact"


@pytest.fixture()
def blank_cost(tmp_path, config):
    """The example with the unit cost of one used service left blank."""
    for path in RAW.glob("*.csv"):
        shutil.copy(path, tmp_path / path.name)
    prices = pd.read_csv(tmp_path / "unit_costs.csv")
    prices.loc[prices["service"] == SERVICE, "unit_cost"] = np.nan
    prices.to_csv(tmp_path / "unit_costs.csv", index=False)
    config["paths"]["raw"] = str(tmp_path)
    return config


def test_a_blank_unit_cost_of_a_used_service_stops_validation(blank_cost):
    with pytest.raises(InputError) as info:
        validate_inputs(blank_cost)
    [problem] = info.value.problems
    assert (problem.file, problem.line, problem.column) == ("unit_costs.csv", 4, "unit_cost")
    assert SERVICE in problem.expected and "missing_unit_cost: zero" in problem.expected


def test_costs_refuse_a_blank_unit_cost_even_without_validation(blank_cost):
    with pytest.raises(CostConfigError, match=SERVICE):
        cost_totals(blank_cost)


def test_costed_at_zero_when_the_config_says_so(blank_cost, example_config):
    blank_cost["costs"]["missing_unit_cost"] = "zero"
    assert validate_inputs(blank_cost)["unit_costs"] == 6
    rows = service_costs(blank_cost)
    assert rows["cost"].notna().all()
    assert (rows.loc[rows["service"] == SERVICE, "cost"] == 0).all()
    # every total is the full total less exactly that service's cost
    full = cost_totals(example_config).set_index("consumer_id")[COST_BASELINE]
    zeroed = cost_totals(blank_cost).set_index("consumer_id")[COST_BASELINE]
    priced = service_costs(example_config)
    base = priced[(priced["timepoint"] == "baseline") & (priced["service"] == SERVICE)]
    removed = base.groupby("consumer_id")["cost"].sum().reindex(full.index, fill_value=0.0)
    np.testing.assert_allclose(zeroed, full - removed)
    assert removed.sum() > 0
