"""Generate the raw tables of a post-only three-arm cluster trial, the R reference data for
``tests/reference/test_post_only_vs_r.py``.

Run from anywhere: ``python tests/reference/data/post_only/make_data.py``. The CSVs are written
beside this script and committed; ``tests/reference/r/post_only.R`` fits lme4 + pbkrtest to
them, and ``post_only.yaml`` (beside them) is the trial config the pipeline analyses them with.

Design: 42 schools (the randomisation stratum), each with 3 or 4 classes (the clusters),
randomised within school to ``control``, ``tutoring`` or ``software``; 1 to 30 pupils per
class; one end-of-year mathematics score per pupil (a single-variable outcome, recorded with one
decimal) and no pre-test; covariates sex and age in months (some written with a decimal point,
e.g. ``131.0``, as exports from other software do). Nothing is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ARMS = ("control", "tutoring", "software")
SCHOOLS = 42


def make(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    classes, pupils, scores = [], [], []
    school_effect = rng.normal(0.0, 6.0, SCHOOLS)
    for s in range(SCHOOLS):
        school = f"S{s + 1:02d}"
        n_classes = 3 + int(rng.random() < 0.3)
        arms = list(ARMS) + list(rng.choice(ARMS, n_classes - 3))
        rng.shuffle(arms)
        for arm in arms:
            class_id = f"C{len(classes) + 1:03d}"
            classes.append({"class_id": class_id, "school": school, "arm": arm})
            u = rng.normal(0.0, 4.0)
            effect = {"control": 0.0, "tutoring": 3.0, "software": 1.5}[arm]
            for _ in range(int(rng.integers(1, 31))):
                pupil_id = f"P{len(pupils) + 1:05d}"
                sex = rng.choice(["girl", "boy"])
                age = int(rng.integers(120, 145))
                y = (
                    500.0
                    + school_effect[s]
                    + u
                    + effect
                    + (2.0 if sex == "girl" else 0.0)
                    + 0.4 * (age - 132)
                    + rng.normal(0.0, 12.0)
                )
                pupils.append(
                    {
                        "pupil_id": pupil_id,
                        "class_id": class_id,
                        "sex": sex,
                        "age_months": f"{age}.0" if rng.random() < 0.2 else str(age),
                        "test_status": "tested",
                    }
                )
                scores.append({"pupil_id": pupil_id, "wave": "end_of_year", "math": f"{y:.1f}"})
    return {
        "classes": pd.DataFrame(classes),
        "pupils": pd.DataFrame(pupils),
        "tests": pd.DataFrame(scores),
    }


def main() -> None:
    for name, frame in make(np.random.default_rng(20261201)).items():
        frame.to_csv(HERE / f"{name}.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
