"""Report section of the intracluster correlations and design effects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from trial.analyses.icc import ESTIMATORS
from trial.config.vocabulary import Config
from trial.report.blocks import Section


def icc_section(config: Config, inputs: Mapping[str, Any]) -> Section:
    """Report section: the ICC table with cluster sizes and design effects, and the analysis
    model's ICCs of the 0/1 outcomes (Table 2 keeps one ICC per outcome)."""
    table = pd.read_csv(inputs["icc"])
    wide = []
    for _, part in table.groupby(["population", "outcome", "timepoint"], sort=False):
        by = part.set_index("estimator")
        first = by.iloc[0]
        wide.append(
            {
                "label": first["label"],
                "population": first["population"],
                "timepoint": first["timepoint"],
                "n_clusters": int(first["n_clusters"]),
                "n_individuals": int(first["n_individuals"]),
                "size_mean": first["size_mean"],
                "size_sd": first["size_sd"],
                "size_cv": first["size_cv"],
                **{name: by.loc[name].to_dict() for name in ESTIMATORS if name in by.index},
            }
        )
    outcomes = pd.read_csv(inputs["outcomes"])
    # the analysis model's ICCs of the 0/1 outcomes (latent and proportion scale), one row each
    # (a trial with no binomial or poisson outcome writes no family column)
    family = outcomes["family"] if "family" in outcomes else pd.Series("gaussian", outcomes.index)
    binary = outcomes[family == "binomial"].drop_duplicates("outcome")
    return Section(
        "clustering",
        "Intraclass correlations, cluster sizes and design effects",
        "clustering.html.j2",
        {"rows": wide, "estimators": ESTIMATORS, "binary": binary.to_dict("records")},
    )
