"""The selection tests' candles (tests/support/select_data.py) are what they claim: the
regime rules see a range, then an uptrend, where the data says so."""

from __future__ import annotations

import math

import numpy as np

from tests.support.select_data import HOUR, SWITCH, T0, range_then_trend
from xraybot.backtest.select_regime import regime_view

# -- the fixtures are what they claim ---------------------------------------------------------


def test_the_flat_part_ranges_and_the_trend_is_up() -> None:
    view = regime_view(range_then_trend(), "trend")
    assert view.current == "up"
    assert set(view.labels[150:SWITCH]) == {"range"}
    assert set(view.labels[SWITCH + 60 :]) == {"up"}
    entries = np.array([T0 + 321 * HOUR, T0 + 501 * HOUR, T0 + 541 * HOUR], dtype=np.int64)
    assert list(view.at_entries(entries)) == ["range", "up", "up"]


def test_the_trend_rises_and_the_flat_part_does_not() -> None:
    candles = range_then_trend()
    assert math.isclose(float(candles.close[SWITCH - 1]), 100.0, rel_tol=0.01)
    assert float(candles.close[-1]) > 2.5 * float(candles.close[SWITCH - 1])
