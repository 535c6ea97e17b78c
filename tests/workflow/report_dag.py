"""Snakemake's dry run to the HTML report for several configs in one process (the imports, most
of a dry run's time, paid once): ``python report_dag.py CONFIG FOLDER [CONFIG FOLDER ...]``.

Prints one JSON line per config: ``{"config": ..., "ok": true}`` or, when the DAG cannot be
built (a file the report reads that no rule writes, say), ``"ok": false`` and the error.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings,
    DAGSettings,
    OutputSettings,
    ResourceSettings,
    StorageSettings,
)

SNAKEFILE = Path(__file__).resolve().parents[2] / "Snakefile"


def dry_run(config: Path, folder: Path) -> dict:
    """The dry run of ``config`` to ``folder/reports/report.html``, run in ``folder``."""
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            with SnakemakeApi(OutputSettings()) as api:
                workflow = api.workflow(
                    resource_settings=ResourceSettings(cores=1),
                    config_settings=ConfigSettings(configfiles=[config]),
                    storage_settings=StorageSettings(),
                    snakefile=SNAKEFILE,
                    workdir=folder,
                )
                dag = workflow.dag(DAGSettings(targets={str(folder / "reports" / "report.html")}))
                dag.execute_workflow(executor="dryrun")
    except Exception as error:  # any failure to build the DAG is the answer
        text = log.getvalue()[-3000:]
        return {"config": str(config), "ok": False, "error": f"{error}\n{text}"}
    return {
        "config": str(config),
        "ok": "render_report" in log.getvalue(),
        "log": log.getvalue()[-500:],
    }


if __name__ == "__main__":
    pairs = sys.argv[1:]
    for config, folder in zip(pairs[::2], pairs[1::2], strict=True):
        print(json.dumps(dry_run(Path(config).resolve(), Path(folder).resolve())), flush=True)
