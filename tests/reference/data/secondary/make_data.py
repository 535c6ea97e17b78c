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


def trial_case():
    """trial.csv: a stratified cluster trial with one-sided, partly zero participation.

    30 clusters in 3 strata (12, 10, 8), half of each stratum allocated to treatment; cluster
    sizes 4-20; a baseline value, an individual covariate (age) and a follow-up value missing
    for about 15% (more often with a low baseline). ``score`` is the cluster's participation
    (0 in control clusters and in 3 treatment clusters that took no part), ``received`` is 1
    where the score is above 0. The follow-up value gains 3 x score (no effect without
    participation) and depends on the cluster's propensity to take part (confounding).
    """
    gen = np.random.default_rng(20250301)
    rows = []
    strata = ["s1"] * 12 + ["s2"] * 10 + ["s3"] * 8
    arms = [c % 2 for c in range(30)]
    none = {1, 13, 23}  # treatment clusters that took no part
    for c in range(30):
        propensity = gen.normal()
        u = 0.6 * propensity + gen.normal(0, 0.8)
        score = 0.0
        if arms[c] and c not in none:
            score = round(float(1 / (1 + np.exp(-(0.3 + 0.8 * propensity)))), 3)
        size = int(gen.integers(4, 21))
        base = gen.normal(20 + u, 4, size)
        age = gen.integers(18, 66, size)
        shift = {"s1": 0.0, "s2": 1.0, "s3": -0.5}[strata[c]]
        y = 5 + 0.6 * base + 0.05 * age + shift + 3 * score + u + gen.normal(0, 3, size)
        lost = gen.random(size) < 1 / (1 + np.exp(-(-1.5 - 0.15 * (base - 20))))
        for b, a, v, gone in zip(base, age, y, lost, strict=True):
            rows.append(
                (
                    f"C{c:02d}", strata[c], arms[c], score, int(score > 0), round(b, 3), int(a),
                    np.nan if gone else round(v, 3),
                )
            )  # fmt: skip
    pd.DataFrame(
        rows,
        columns=["cluster", "stratum", "arm", "score", "received", "baseline", "age", "y"],
    ).to_csv("tests/reference/data/secondary/trial.csv", index=False, lineterminator="\n")


trial_case()
