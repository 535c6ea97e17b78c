"""Logging for workflow jobs: each job logs to its own file."""

from __future__ import annotations

import logging


def start_log(path: str, name: str = "trial") -> logging.Logger:
    """Send log records of this process to ``path`` (errors still reach the console)."""
    logging.basicConfig(
        filename=path,
        level=logging.INFO,
        force=True,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    return logging.getLogger(name)
