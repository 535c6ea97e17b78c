"""trial.report.figures.costs: the ellipse of the cost-effectiveness plane."""

from __future__ import annotations

import numpy as np
import pytest


def test_confidence_ellipse_by_hand_and_holding_its_level_of_normal_draws():
    from trial.report.figures.costs import confidence_ellipse

    # axis-aligned: variances 4 and 1, chi-square(2) 95% quantile 5.9915 -> full axes
    # 2 * sqrt(5.9915 * 4) and 2 * sqrt(5.9915)
    rng = np.random.default_rng(20260101)
    n = 40_000
    x, y = rng.multivariate_normal([0, 0], [[4, 0], [0, 1]], size=n).T
    width, height, angle = confidence_ellipse(x, y, 0.95)
    assert width == pytest.approx(2 * np.sqrt(5.991465 * 4), rel=0.02)  # sampling noise ~0.5%
    assert height == pytest.approx(2 * np.sqrt(5.991465), rel=0.02)
    assert min(abs(angle), abs(abs(angle) - 180)) < 2
    # correlated: the share of draws inside the drawn ellipse is its level within MC noise
    cov = [[1.0, 0.8 * 50], [0.8 * 50, 50.0**2]]  # correlation 0.8
    x, y = rng.multivariate_normal([0.1, -500], cov, size=n).T
    width, height, angle = confidence_ellipse(x, y, 0.9)
    t = np.radians(angle)
    u = (x - x.mean()) * np.cos(t) + (y - y.mean()) * np.sin(t)
    v = -(x - x.mean()) * np.sin(t) + (y - y.mean()) * np.cos(t)
    inside = np.mean((u / (width / 2)) ** 2 + (v / (height / 2)) ** 2 <= 1)
    assert abs(inside - 0.9) < 4 * np.sqrt(0.9 * 0.1 / n)
