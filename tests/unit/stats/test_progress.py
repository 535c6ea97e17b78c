"""Progress bars: drawn on a terminal only, and never a change to any result."""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd

from trial.progress import progress
from trial.stats.bootstrap import ClusterLayout, bootstrap_weights
from trial.stats.impute.multilevel import impute_multilevel


class Terminal(io.StringIO):
    """A standard error that says it is a terminal and keeps what was written."""

    def isatty(self) -> bool:
        return True


def test_nothing_is_drawn_when_stderr_is_not_a_terminal(monkeypatch):
    log = io.StringIO()  # a log file or a pipe
    monkeypatch.setattr(sys, "stderr", log)
    steps = range(5)
    assert progress(steps, "chain") is steps
    assert log.getvalue() == ""


def test_a_terminal_gets_a_bar_and_the_same_steps(monkeypatch):
    screen = Terminal()  # set in the test: pytest resets stderr after a fixture's setup
    monkeypatch.setattr(sys, "stderr", screen)
    assert list(progress(range(7), "imputation chain")) == list(range(7))
    drawn = screen.getvalue()
    assert "imputation chain" in drawn and "/7 " in drawn  # the bar counts the 7 steps


def small_trial() -> tuple[pd.DataFrame, list[str]]:
    rng = np.random.default_rng(3)
    cluster = np.repeat(np.arange(8), 15)
    frame = pd.DataFrame(
        {
            "cluster": cluster,
            "x": rng.normal(size=cluster.size),
            "y": rng.normal(size=cluster.size) + rng.normal(size=8)[cluster],
        }
    )
    frame.loc[rng.random(cluster.size) < 0.3, "y"] = np.nan
    return frame, ["y"]


def test_results_are_identical_with_and_without_bars(monkeypatch):
    """The bar wraps the loops without drawing from any random stream."""
    frame, columns = small_trial()
    layout = ClusterLayout.from_labels(frame["cluster"])

    def run():
        imputed = impute_multilevel(
            frame, cluster="cluster", impute=columns, predictors=["x"], seed=11, iterations=3
        )
        weights = bootstrap_weights(
            layout, range(1, 6), seed=11, keys=("test",), resampling="cluster"
        )
        return imputed.completed, weights

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    plain = run()
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    drawn = run()
    assert "imputation chain" in screen.getvalue() and "bootstrap draws" in screen.getvalue()
    pd.testing.assert_frame_equal(drawn[0], plain[0], check_exact=True)
    np.testing.assert_array_equal(drawn[1], plain[1])
