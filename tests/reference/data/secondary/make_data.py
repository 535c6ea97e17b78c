"""Make the committed inputs of tests/reference/r/secondary.R (run once from the repo root).

iv.csv: a small cluster trial with one-sided non-compliance (16 clusters in 2 strata, unequal
sizes): cluster, stratum, arm (instrument), received (1 in complying treatment clusters),
baseline, y.
icc_<name>.csv: cluster and y for the ICC cases (unequal sizes; equal sizes; near-zero ICC).
"""

import numpy as np
import pandas as pd

rng = np.random.default_rng(20240605)
rows = []
for c in range(16):
    stratum = c % 2
    arm = int(c < 8)
    complier = int(arm and c % 4 != 3)
    size = int(rng.integers(5, 16))
    u = rng.normal(0, 1.0)
    base = rng.normal(10 + u, 2, size)
    y = 5 + 0.5 * base + 1.5 * complier + 0.8 * stratum + u + rng.normal(0, 2, size)
    for b, v in zip(base, y, strict=True):
        rows.append((f"K{c:02d}", stratum, arm, complier, round(b, 4), round(v, 4)))
pd.DataFrame(rows, columns=["cluster", "stratum", "arm", "received", "baseline", "y"]).to_csv(
    "tests/reference/data/secondary/iv.csv", index=False, lineterminator="\n"
)


def icc_case(name, k, sizes, sd_cluster):
    out = []
    for c in range(k):
        u = rng.normal(0, sd_cluster)
        for v in u + rng.normal(0, 1, sizes[c]):
            out.append((f"G{c:02d}", round(float(v), 5)))
    pd.DataFrame(out, columns=["cluster", "y"]).to_csv(
        f"tests/reference/data/secondary/icc_{name}.csv", index=False, lineterminator="\n"
    )


icc_case("unequal", 20, rng.integers(3, 25, 20), 0.4)
icc_case("equal", 12, [8] * 12, 0.6)
icc_case("small", 30, rng.integers(5, 12, 30), 0.05)
