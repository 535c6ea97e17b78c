"""Write clustered_costs.csv: a small clustered cost data set for the bootstrap reference test.

Run from the repository root: python tests/reference/data/bootstrap/make_data.py
"""

from pathlib import Path

from trial.seeding import derive_rng
from trial.studies.bootstrap_coverage import simulate_cost_trial

data = simulate_cost_trial(derive_rng(20240601, "bootstrap-reference"), mean_size=8.0)
data["cluster"] = [f"K{c:02d}" for c in data["cluster"]]
out = Path(__file__).resolve().parent / "clustered_costs.csv"
data.to_csv(out, index=False, lineterminator="\n", float_format="%.10g")
print(f"wrote {out}: {len(data)} rows, {data['cluster'].nunique()} clusters")
