"""Costs from service use: each service-use row costed at its unit cost, each individual's total
cost per assessment, the observed use and cost by arm, the unit-cost table, and the cost of
delivering the intervention.

:func:`cost_totals` is called by :func:`trial.analyses.outcomes.build_analysis_table`: each
individual's total cost in the recall period before baseline and before follow-up is the sum over
services of units used x unit cost. No service-use rows for an assessment = cost missing; the
missing costs are imputed together with the outcome scores (columns
:data:`~trial.config.vocabulary.COST_BASELINE`,
:data:`~trial.config.vocabulary.COST_FOLLOWUP`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trial.analyses.costs.spec import CostConfigError
from trial.config.vocabulary import (
    COST_BASELINE,
    COST_FOLLOWUP,
    TREATMENT,
    Config,
    single_treatment_arm,
)
from trial.data.validation import read_table

__all__ = [
    "cost_totals",
    "delivery_cost",
    "service_costs",
    "unit_cost_table",
    "use_and_cost_table",
]


def service_costs(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """Service-use rows with unit, unit cost, category and cost (= quantity x unit cost).

    Raises
    ------
    CostConfigError
        A service without a unit cost, or a unit-cost column named in the config that is absent.
    """
    spec = config["costs"]
    use = read_table(config, spec["use_table"], raw_dir)
    prices = read_table(config, spec["unit_cost_table"], raw_dir)
    wanted = [spec["service"], spec["unit_cost"], spec["category"]]
    wanted += [spec[k] for k in ("unit", "price_year", "source") if k in spec]
    absent = [c for c in wanted if c not in prices.columns]
    if absent:
        raise CostConfigError(
            f"costs: column(s) {absent} named in the config are not in table "
            f"{spec['unit_cost_table']!r}"
        )
    unknown = sorted(set(use[spec["service"]]) - set(prices[spec["service"]]))
    if unknown:
        raise CostConfigError(
            f"costs: service(s) {unknown} in table {spec['use_table']!r} have no unit cost in "
            f"table {spec['unit_cost_table']!r}"
        )
    rows = use.merge(prices[wanted], on=spec["service"], how="left", validate="many_to_one")
    unit_cost = rows[spec["unit_cost"]].astype(float)
    if spec.get("missing_unit_cost", "error") == "zero":  # the config's documented choice
        unit_cost = unit_cost.fillna(0.0)
    rows["cost"] = rows[spec["quantity"]].astype(float) * unit_cost
    if rows["cost"].isna().any():  # never summed away as 0 (validation stops this first)
        blank = sorted(set(rows.loc[rows["cost"].isna(), spec["service"]]))
        raise CostConfigError(
            f"costs: service-use rows of {blank} have no cost (a blank quantity or unit cost); "
            "give each, or set costs/missing_unit_cost: zero to cost a blank unit cost at 0"
        )
    return rows


def cost_totals(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """Total cost per individual at baseline and follow-up: ``id, cost__baseline, cost__followup``.

    An individual with no service-use rows for an assessment has a missing total there.
    """
    design = config["design"]
    rows = service_costs(config, raw_dir)
    idc, tp = design["individual_id"], design["timepoint"]
    totals = rows.groupby([idc, tp], observed=True)["cost"].sum().unstack(tp)
    out = pd.DataFrame(index=totals.index)
    for time, column in ((design["baseline"], COST_BASELINE), (design["followup"], COST_FOLLOWUP)):
        out[column] = totals[time] if time in totals.columns else np.nan
    return out.reset_index()


def use_and_cost_table(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """Observed service use and cost by arm and assessment, per service, category and in total.

    Only individuals whose service use was recorded at an assessment count there (``n``).
    Columns: ``timepoint, arm, level (service | category | total), item, unit, n, use_mean,
    use_sd, pct_using, cost_mean, cost_sd, pct_with_cost``. Use statistics are given for services
    only (units differ within a category).
    """
    design = config["design"]
    spec = config["costs"]
    rows = service_costs(config, raw_dir)
    people = read_table(config, design["individual_table"], raw_dir)
    clusters = read_table(config, design["cluster_table"], raw_dir)
    arm_of = people.merge(
        clusters[[design["cluster_id"], design["arm"]]], on=design["cluster_id"], how="left"
    ).set_index(design["individual_id"])[design["arm"]]
    idc, tp, service = design["individual_id"], design["timepoint"], spec["service"]
    rows["_arm"] = rows[idc].map(arm_of)
    services = list(dict.fromkeys(rows[service]))
    units = rows.drop_duplicates(service).set_index(service)
    categories = list(dict.fromkeys(units[spec["category"]]))
    out = []
    for time in (design["baseline"], design["followup"]):
        for arm in (single_treatment_arm(config), design["reference_arm"]):
            part = rows[(rows[tp] == time) & (rows["_arm"] == arm)]
            ids = pd.Index(part[idc].unique())
            qty = (
                part.pivot_table(index=idc, columns=service, values=spec["quantity"], aggfunc="sum")
                .reindex(index=ids, columns=services)
                .fillna(0)
            )
            cost = (
                part.pivot_table(index=idc, columns=service, values="cost", aggfunc="sum")
                .reindex(index=ids, columns=services)
                .fillna(0)
            )

            for s in services:
                unit = str(units.loc[s, spec["unit"]]) if "unit" in spec else ""
                out.append(_use_row(time, arm, "service", s, unit, qty[s], cost[s]))
            for cat in categories:
                members = [s for s in services if units.loc[s, spec["category"]] == cat]
                out.append(
                    _use_row(time, arm, "category", cat, "", None, cost[members].sum(axis=1))
                )
            out.append(_use_row(time, arm, "total", "total", "", None, cost.sum(axis=1)))
    return pd.DataFrame(out)


def _use_row(
    time: str, arm: str, level: str, item: str, unit: str, use: pd.Series | None, c: pd.Series
) -> dict[str, Any]:
    n = len(c)
    has_use = use is not None and n > 0
    return {
        "timepoint": time,
        "arm": arm,
        "level": level,
        "item": item,
        "unit": unit,
        "n": n,
        "use_mean": float(use.mean()) if has_use else np.nan,
        "use_sd": float(use.std()) if has_use and n > 1 else np.nan,
        "pct_using": 100.0 * float((use > 0).mean()) if has_use else np.nan,
        "cost_mean": float(c.mean()) if n else np.nan,
        "cost_sd": float(c.std()) if n > 1 else np.nan,
        "pct_with_cost": 100.0 * float((c > 0).mean()) if n else np.nan,
    }


def unit_cost_table(config: Config, raw_dir: str | Path | None = None) -> pd.DataFrame:
    """The unit costs used, with price year and source when the config names those columns."""
    spec = config["costs"]
    prices = read_table(config, spec["unit_cost_table"], raw_dir)
    keep = [spec["service"], spec["category"]]
    keep += [spec[k] for k in ("unit",) if k in spec] + [spec["unit_cost"]]
    keep += [spec[k] for k in ("price_year", "source") if k in spec]
    names = ["service", "category"] + (["unit"] if "unit" in spec else []) + ["unit_cost"]
    names += [k for k in ("price_year", "source") if k in spec]
    return prices[keep].set_axis(names, axis=1)


def delivery_cost(config: Config, table: pd.DataFrame) -> np.ndarray:
    """Each row's share of the cost of delivering the intervention (``costs.intervention_cost``).

    Rows of the treatment arm carry the declared cost per individual, or their cluster's declared
    cost shared equally among the cluster's rows in ``table``; rows of the reference arm, and
    every row when no cost is declared, carry zero. The share is added to the follow-up cost
    after imputation, so every imputed and bootstrapped data set carries it unchanged.
    """
    spec = config["costs"].get("intervention_cost") or {}
    treated = table[TREATMENT].to_numpy() == 1
    share = np.full(len(table), float(spec.get("per_individual", 0.0)))
    if "per_cluster" in spec:
        sizes = table.groupby(config["design"]["cluster_id"])[TREATMENT].transform("size")
        share = float(spec["per_cluster"]) / sizes.to_numpy(dtype=float)
    return np.where(treated, share, 0.0)
