"""Write the audit reference dataset that tests/reference/r/audit.R reads.

Run from the repository root: ``python tests/reference/data/audit/make_data.py``. It copies the
available records of the bundled synthetic audit (data/raw/refocus/casenote_audit.csv) with the
arm and stratum of each team joined on, using plain pandas (not the library), so that the R
reference and the pipeline start from the same committed numbers by independent routes.

Columns: audit_id, team_id, trust, treatment (1 = REFOCUS), audit_time, values_documented,
items_documented (number of the four items documented).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
RAW = HERE.parents[3] / "data" / "raw" / "refocus"
ITEMS = ["values_documented", "strengths_documented", "goals_documented", "actions_documented"]


def main() -> None:
    audit = pd.read_csv(RAW / "casenote_audit.csv")
    teams = pd.read_csv(RAW / "teams.csv").set_index("team_id")
    audit = audit[audit["record_available"] == "yes"].copy()
    audit["trust"] = audit["team_id"].map(teams["trust"])
    audit["treatment"] = (audit["team_id"].map(teams["arm"]) == "refocus").astype(int)
    audit["items_documented"] = audit[ITEMS].sum(axis=1).astype(int)
    audit["values_documented"] = audit["values_documented"].astype(int)
    columns = [
        "audit_id",
        "team_id",
        "trust",
        "treatment",
        "audit_time",
        "values_documented",
        "items_documented",
    ]
    audit[columns].to_csv(HERE / "audit_long.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
