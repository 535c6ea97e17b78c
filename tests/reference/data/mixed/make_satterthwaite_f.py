"""Make two small datasets for the branches of the multi-df Satterthwaite F test.

Run from anywhere: ``python tests/reference/data/mixed/make_satterthwaite_f.py``; the output is
committed and ``tests/reference/r/satterthwaite_f.R`` fits it with lmerTest.

* ``satt_few_clusters.csv``: 5 clusters of 4, two cluster-level terms (arm, z): their
  Satterthwaite df are below 2, where lmerTest's F test takes 2 as its denominator df.
* ``satt_balanced.csv``: 6 clusters observed at 3 times, balanced: the two time contrasts
  have equal df, which lmerTest averages; with the arm (fewer df) the F test combines them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def main() -> None:
    rng = np.random.default_rng(0)
    J, m = 5, 4
    cluster = np.repeat(np.arange(J), m)
    arm = np.repeat([0, 0, 1, 1, 1], m)
    z = np.repeat(rng.normal(size=J), m)
    x = rng.normal(size=J * m)
    u = np.repeat(rng.normal(size=J), m)
    y = 1 + 0.5 * arm + 0.3 * z + 0.5 * x + u + rng.normal(size=J * m)
    few = pd.DataFrame({"cluster": cluster, "arm": arm, "z": z, "x": x, "y": y})
    few.to_csv(HERE / "satt_few_clusters.csv", index=False, float_format="%.17g")

    rng = np.random.default_rng(1)
    J, T = 6, 3
    cluster = np.repeat(np.arange(J), T)
    time = np.tile(np.arange(T), J)
    arm = cluster % 2
    y = 1 + 0.3 * arm + 0.2 * time + np.repeat(rng.normal(size=J), T) + rng.normal(size=J * T)
    balanced = pd.DataFrame({"cluster": cluster, "time": time, "arm": arm, "y": y})
    balanced.to_csv(HERE / "satt_balanced.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
