"""Imputations are made and analysed in chunks (``imputation.imputations_per_job``): every
per-imputation file is byte-identical whatever the chunking, so the chunk size is a matter of
speed only.

The bundled example is run to its per-imputation files (completed datasets, chain traces, outcome,
cost and participation fits with their bootstrap replicates) with 3 imputations, once with one
imputation per job and once with all three in one job, and every file is compared byte for byte.
"""

from __future__ import annotations

import filecmp

import pytest

from trial.config.load import load_config

from ..conftest import ROOT
from .test_end_to_end import finish, start_workflow, write_config

M = 3

# two runs of the example's imputation jobs (about 27 s); CI runs it in its slow step
pytestmark = pytest.mark.slow


def chunked_trial(folder, per_job: int) -> tuple[dict, list[str]]:
    """The example with 3 imputations of 2 iterations, ``per_job`` of them per job; its config
    and the per-imputation files, relative to ``folder``."""
    config = load_config(ROOT / "config" / "refocus.yaml")
    config["imputation"].update(m=M, iterations=2, imputations_per_job=per_job)
    config["participation"]["bootstrap"] = 10
    write_config(config, folder, ROOT / config["paths"]["raw"])
    files = [
        name.format(i=i)
        for i in range(1, M + 1)
        for name in (
            "imputed/{i}.parquet",
            "imputed/{i}.trace.parquet",
            "fits/{i}.parquet",
            "costs/fits/{i}.parquet",
            "participation/fits/{i}.parquet",
            "participation/bootstrap/{i}.parquet",
        )
    ]
    return config, files


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both chunkings run side by side (one core each); each run's derived folder and files."""
    made, jobs = {}, []
    for per_job in (1, M):
        folder = tmp_path_factory.mktemp(f"per_job{per_job}")
        config, files = chunked_trial(folder, per_job)
        made[per_job] = (folder / "derived", files)
        targets = [folder / "derived" / f for f in files]
        jobs.append(start_workflow(folder / "trial.yaml", folder, 1, targets))
    finish(*jobs)
    return made


def test_every_per_imputation_file_is_the_same_whatever_the_chunking(runs):
    (single, files), (chunked, _) = runs[1], runs[M]
    for name in files:
        assert (single / name).stat().st_size > 0, name
        assert filecmp.cmp(single / name, chunked / name, shallow=False), name


def test_the_chunking_makes_the_jobs_it_says(runs):
    """One log per job: M jobs of one imputation, or one job of all M."""
    single, chunked = runs[1][0], runs[M][0]
    assert sorted(p.name for p in (single / "logs" / "impute_and_fit").iterdir()) == [
        f"{k}.log" for k in range(1, M + 1)
    ]
    assert [p.name for p in (chunked / "logs" / "impute_and_fit").iterdir()] == ["1.log"]
    # the imputations differ from each other: the chunk does not reuse one seed
    data = [(chunked / f"imputed/{i}.parquet").read_bytes() for i in range(1, M + 1)]
    assert len(set(data)) == M
