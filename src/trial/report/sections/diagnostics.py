"""Report section of the imputation diagnostics."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from trial.config.vocabulary import (
    Config,
    arms,
    outcome_scales,
    outcome_score_columns,
    primary_outcome,
    treatment_arms,
)
from trial.data.intermediate import read_intermediate
from trial.report.blocks import Section, embed_png


def diagnostics_section(config: Config, inputs: Mapping[str, Any]) -> Section | None:
    """Report section 'Missing data and imputation diagnostics' from the diagnostics files;
    none when nothing was imputed (``imputation.m: 1``, the design section says why)."""
    if config["imputation"]["m"] == 1:
        return None
    design = config["design"]
    missingness = pd.read_csv(inputs["missingness"])
    wide = (
        missingness.assign(
            cell=[
                f"{k} ({p:.1f}%)"
                for k, p in zip(missingness["n_missing"], missingness["pct_missing"], strict=True)
            ]
        )
        .pivot_table(
            index=["label", "timepoint"], columns="arm", values="cell", aggfunc="first", sort=False
        )
        .reindex(columns=[*arms(config), "all"])
        .reset_index()
    )
    totals = missingness[missingness["arm"] != "all"].drop_duplicates(["arm"]).set_index("arm")["n"]
    engine = read_intermediate(config, inputs["traces"][0])["engine"].iloc[0]
    check = pd.read_csv(inputs["arm_check"])
    model = json.loads(Path(inputs["imputation_model"]).read_text(encoding="utf-8"))
    context = {
        "engine": engine,
        "engine_setting": config["imputation"]["engine"],
        "reason": config["imputation"].get("default_reason", ""),
        "iterations": config["imputation"]["iterations"],
        "by_arm": config["imputation"]["engine"] == "forest" or config["imputation"].get("by_arm"),
        "model": model,
        "missingness": wide.to_dict("records"),
        "arm_n": {arm: int(totals.get(arm, 0)) for arm in arms(config)},
        "total_n": int(missingness.loc[missingness["arm"] == "all", "n"].iloc[0]),
        "comparison": pd.read_csv(inputs["imputed_vs_observed"]).to_dict("records"),
        "arm_check": check.to_dict("records"),
        "arm_check_flagged": check.loc[
            check["flag_difference"] | check["flag_sd"], "label"
        ].tolist(),
        "several_arms": len(treatment_arms(config)) > 1,
        "figures": {
            "traces": embed_png(inputs["trace_figure"]),
            "imputed": embed_png(inputs["imputed_figure"]),
            "arm_check": embed_png(inputs["arm_check_figure"]),
        },
        "primary_label": config["scales"][primary_outcome(config)]["label"],
        "arm_codes": arms(config),
        "n_outcomes": len(outcome_scales(config)),
        "extra_imputed": [
            c for c in model["impute"] if c not in set(outcome_score_columns(config))
        ],
        "cluster_id": design["cluster_id"],
    }
    return Section(
        "imputation", "Missing data and imputation diagnostics", "imputation.html.j2", context
    )
