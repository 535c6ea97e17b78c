"""Report section of the sensitivity analyses of the primary outcome."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from trial.analyses.sensitivity import tipping_points
from trial.config.vocabulary import Config, baseline_column, outcome_family, primary_outcome
from trial.report.blocks import Section, embed_png


def sensitivity_section(config: Config, inputs: Mapping[str, Any]) -> Section:
    """Report section: sensitivity analyses, re-randomisation test, delta adjustment."""
    outcomes = pd.read_csv(inputs["outcomes"])
    scale = primary_outcome(config)
    primary = outcomes.set_index("outcome").loc[scale]
    with_delta = bool(inputs.get("delta_adjustment"))
    delta = pd.read_csv(inputs["delta_adjustment"]) if with_delta else None
    figures = {"forest_all": embed_png(inputs["forest_all_figure"])}
    if with_delta:
        figures["tipping"] = embed_png(inputs["tipping_figure"])
    context = {
        "primary": primary.to_dict(),
        "rows": pd.read_csv(inputs["sensitivity"]).to_dict("records"),
        "perm": json.loads(Path(inputs["rerandomisation"]).read_text(encoding="utf-8")),
        "delta": delta.to_dict("records") if with_delta else [],
        "tipping": tipping_points(delta).to_dict("records") if with_delta else [],
        "label": config["scales"][scale]["label"],
        "family": outcome_family(config, scale),
        "figures": figures,
        "baseline_of": baseline_column(scale),
    }
    return Section(
        "sensitivity", "Sensitivity analyses of the primary outcome", "sensitivity.html.j2", context
    )
