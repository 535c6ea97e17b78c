"""Generate ``nested_large.csv``: a repeated-measures dataset of audit size for the nested model.

27 clusters ("team"), 950 nested groups ("consumer") and 7 time points with 15% of the rows
missing at random, so that subgroup sizes differ within clusters (5609 rows). The same simulation
as the audit-shaped benchmark in ``benchmarks/bench_mixed.py``. The R script
``tests/reference/r/mixed_models.R`` fits ``y ~ arm * time + (1 | team) + (1 | team:consumer)``
to it (Satterthwaite df only: pbkrtest's Kenward-Roger works with dense ``n x n`` matrices).

Run from anywhere: ``python tests/reference/data/mixed/make_nested_large.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "nested_large.csv"


def make_nested_large(seed: int = 20240601, missing: float = 0.15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_teams, n_consumers, n_times = 27, 950, 7
    sizes = rng.multinomial(n_consumers - 10 * n_teams, np.full(n_teams, 1 / n_teams)) + 10
    team_of = np.repeat(np.arange(n_teams), sizes)
    arm_of = (np.arange(n_teams) % 2)[team_of]
    team = np.repeat(team_of, n_times)
    consumer = np.repeat(np.arange(n_consumers), n_times)
    t = np.tile(np.arange(n_times), n_consumers)
    arm = np.repeat(arm_of, n_times)
    y = (
        0.3 * arm
        + 0.1 * t
        + 0.05 * arm * t
        + rng.normal(0, 0.5, n_teams)[team]
        + rng.normal(0, 1.0, n_consumers)[consumer]
        + rng.normal(0, 1.5, team.size)
    )
    keep = rng.random(team.size) >= missing
    return pd.DataFrame(
        {
            "team": [f"t{j:02d}" for j in team[keep]],
            "consumer": [f"c{k:03d}" for k in consumer[keep]],
            "arm": arm[keep],
            "time": t[keep],
            "y": np.round(y[keep], 6),
        }
    )


if __name__ == "__main__":
    d = make_nested_large()
    d.to_csv(OUT, index=False)
    print(f"wrote {len(d)} rows to {OUT}")
