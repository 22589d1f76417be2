"""A small version of benchmarks/stats_calibration.py: the regression gate's false-alarm and detection rates."""

from __future__ import annotations

import math

import pytest

from benchmarks.stats_calibration import gate_firing_rates

# simulations of many paired runs: about a second each
pytestmark = pytest.mark.slow


def test_gate_fires_no_more_often_than_alpha_when_nothing_changed() -> None:
    pairs = 60
    rates = gate_firing_rates(pairs=pairs, cases=100, drop=0.0, seed=3)
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / pairs)  # alpha plus three standard errors of the simulation
    assert rates["significant_regression"] <= bound
    assert rates["category_regression"] <= bound


def test_a_true_ten_point_drop_on_500_cases_is_detected_almost_always() -> None:
    rates = gate_firing_rates(pairs=10, cases=500, drop=0.10, seed=4)
    assert rates["significant_regression"] >= 0.9
