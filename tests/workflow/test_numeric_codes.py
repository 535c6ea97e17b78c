"""Category codes that look like numbers survive every rule: a stratum coded "01".."11" gives
exactly the estimates of the same stratum coded as words.

The bundled three-arm example's 33 practices are given an 11-level stratum (three practices per
code) written once as zero-padded numbers and once as text, and the workflow is run on each to
the mixed-model fit of the first completed data set (scored table, imputation model, imputation,
fit: every rule that passes the codes on). A reader that guessed the codes' type between rules
would read "01" back as 1, which is not a declared code: every stratum dummy would be 0 and the
models rank deficient.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trial.config.load import load_config

from ..conftest import ROOT
from .test_end_to_end import finish, start_workflow, write_config

LEVELS = 11

# two workflow runs (about 14 s); CI runs it in its slow step
pytestmark = pytest.mark.slow


def numbered_trial(folder, codes: list[str]) -> dict:
    """The three-arm example with its region replaced by an 11-level stratum coded ``codes``."""
    config = load_config(ROOT / "config" / "trio.yaml")
    raw = folder / "raw"
    shutil.copytree(ROOT / config["paths"]["raw"], raw)
    practices = pd.read_csv(raw / "practices.csv", dtype=str)
    practices["region"] = [codes[i % LEVELS] for i in range(len(practices))]
    practices.to_csv(raw / "practices.csv", index=False)
    region = config["tables"]["practices"]["columns"]["region"]
    region.update(values=list(codes), description="stratum of three practices")
    config.pop("synthetic")  # the generator's strata are the original regions
    config.pop("icc")
    config.pop("multiplicity")  # its families name the outcomes dropped below
    config["analysis"]["outcomes"] = [
        o for o in config["analysis"]["outcomes"] if o["scale"] == "phq9"
    ]
    # the fewest imputations for which three arms' joint test can be pooled; one per job, as
    # only the first is made
    config["imputation"].update(m=4, iterations=2, imputations_per_job=1)
    write_config(config, folder, raw)
    return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both codings run to the fit of completed data set 1, side by side (one core each)."""
    made, jobs = {}, []
    for name, codes in (
        ("numbers", [f"{k:02d}" for k in range(1, LEVELS + 1)]),
        ("words", [f"stratum_{chr(ord('a') + k)}" for k in range(LEVELS)]),
    ):
        folder = tmp_path_factory.mktemp(name)
        made[name] = (numbered_trial(folder, codes), folder)
        target = folder / "derived" / "fits" / "1.parquet"
        jobs.append(start_workflow(folder / "trial.yaml", folder, 1, [target]))
    finish(*jobs)
    return made


def test_numeric_looking_stratum_codes_give_the_estimates_of_text_codes(runs):
    fits = {
        name: pd.read_parquet(f / "derived" / "fits" / "1.parquet") for name, (_, f) in runs.items()
    }
    numbers, words = fits["numbers"], fits["words"]
    # two arms against the reference and the pairwise contrast between them
    assert numbers["arm"].tolist() == words["arm"].tolist() and len(numbers) == 3
    for column in ("estimate", "variance", "df", "var_cluster", "var_residual", "arms_den_df"):
        np.testing.assert_allclose(numbers[column], words[column], rtol=1e-9, err_msg=column)
    assert numbers["converged"].all()


def test_the_codes_are_written_and_read_between_rules_as_declared(runs):
    config, folder = runs["numbers"]
    for name in ("scored/analysis_table.parquet", "imputed/1.parquet"):
        path = folder / "derived" / name
        assert pq.read_schema(path).field("region").type == pa.string(), name
        assert set(pd.read_parquet(path)["region"]) == set(
            config["tables"]["practices"]["columns"]["region"]["values"]
        ), name
