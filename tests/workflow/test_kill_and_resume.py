"""A run killed mid-way and resumed with ``--rerun-incomplete`` gives byte-identical tables.

The three-arm example is run twice side by side: once uninterrupted, once killed (the whole
process group, with SIGKILL, as a lost node or a closed terminal would) as soon as the first
completed data set's fit is written, while its imputation job is still making the next one. The
killed job's outputs are then incomplete; after ``--unlock`` (the killed run leaves its lock),
the resumed run must redo that job and every job after it, and its result tables must be the
uninterrupted run's, byte for byte.
"""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import time

import pytest

from .test_end_to_end import finish, snakemake_command, start_workflow
from .test_three_arm import small_three_arm_trial

pytestmark = pytest.mark.slow


def kill_when(job: subprocess.Popen, path, timeout: float = 600) -> None:
    """SIGKILL the job's whole process group as soon as ``path`` exists."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert job.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    whole = tmp_path_factory.mktemp("uninterrupted")
    killed = tmp_path_factory.mktemp("killed")
    # two imputations to a job, so that a job is killed between the two
    reference = start_workflow(small_three_arm_trial(whole, imputations_per_job=2)[1], whole, 1)
    config_path = small_three_arm_trial(killed, imputations_per_job=2)[1]
    job = subprocess.Popen(
        snakemake_command(config_path, killed, "--cores", "1", "-q"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    kill_when(job, killed / "derived" / "fits" / "1.parquet")
    state = {
        "fit_2": (killed / "derived" / "fits" / "2.parquet").exists(),
        "tables": sorted(p.name for p in (killed / "reports" / "tables").glob("*")),
        "report": (killed / "reports" / "report.html").exists(),
    }
    # a killed run leaves its lock behind: it is released as the user would, then resumed
    for extra in (["--unlock"], ["--rerun-incomplete"]):
        resumed = subprocess.run(
            snakemake_command(config_path, killed, "--cores", "1", "-q", *extra),
            capture_output=True,
            text=True,
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    finish(reference)
    return whole, killed, state


def test_the_run_was_killed_inside_an_imputation_job(runs):
    _, _, state = runs
    # killed after imputation 1 was fitted and before imputation 2 of the same job was: the
    # job was running, its outputs half written, and no result table made yet
    assert not state["fit_2"]
    assert not state["report"]
    assert "outcomes.csv" not in state["tables"]


def test_resumed_tables_are_byte_identical_to_an_uninterrupted_run(runs):
    whole, killed, _ = runs
    names = sorted(p.name for p in (whole / "reports" / "tables").iterdir())
    assert "outcomes.csv" in names and "arm_tests.csv" in names and len(names) > 10
    assert names == sorted(p.name for p in (killed / "reports" / "tables").iterdir())
    match, mismatch, errors = filecmp.cmpfiles(
        whole / "reports" / "tables", killed / "reports" / "tables", names, shallow=False
    )
    assert mismatch == [] and errors == [], (mismatch, errors)
    assert match == names
