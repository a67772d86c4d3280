"""Ichimoku, VWAP and realized volatility against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib

from tests.indicators.series import HOUR_MS, from_columns, real_candles
from xraybot.indicators import (
    ichimoku,
    realized_volatility,
    typical_price,
    vwap_rolling,
    vwap_session,
)
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError

NAN = math.nan
JAN_1_2024_MS = 1_704_067_200_000  # a Monday, 00:00 UTC
DAY_MS = 24 * HOUR_MS


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


# -- Ichimoku --------------------------------------------------------------------------------

HIGH = arr(10, 12, 11, 13, 15)
LOW = arr(8, 9, 9, 10, 12)
CLOSE = arr(9, 11, 10, 12, 14)


def test_ichimoku_lines_by_hand() -> None:
    # Tenkan over 2 candles, kijun over 3, span B over 4: midpoints of the highest high and
    # lowest low, e.g. kijun[4] = (max(11, 13, 15) + min(9, 10, 12)) / 2 = 12.
    result = ichimoku(HIGH, LOW, CLOSE, tenkan=2, kijun=3, senkou_b=4, displacement=1)
    np.testing.assert_array_equal(result.tenkan, arr(NAN, 10, 10.5, 11, 12.5))
    np.testing.assert_array_equal(result.kijun, arr(NAN, NAN, 10, 11, 12))
    np.testing.assert_array_equal(result.span_a, arr(NAN, NAN, 10.25, 11, 12.25))
    np.testing.assert_array_equal(result.span_b, arr(NAN, NAN, NAN, 10.5, 12))
    np.testing.assert_array_equal(result.chikou, CLOSE)
    assert result.displacement == 1
    cloud_a, cloud_b = result.cloud()
    np.testing.assert_array_equal(cloud_a, arr(NAN, NAN, NAN, 10.25, 11))
    np.testing.assert_array_equal(cloud_b, arr(NAN, NAN, NAN, NAN, 10.5))


def test_ichimoku_one_candle_period_is_the_candle_midpoint() -> None:
    result = ichimoku(HIGH, LOW, CLOSE, tenkan=1, kijun=2, senkou_b=3, displacement=0)
    np.testing.assert_array_equal(result.tenkan, arr(9, 10.5, 10, 11.5, 13.5))
    np.testing.assert_array_equal(result.cloud()[0], result.span_a)


def test_ichimoku_defaults_on_real_candles_match_talib_midprice() -> None:
    c = real_candles()
    result = ichimoku(c.high, c.low, c.close)
    np.testing.assert_array_equal(result.kijun, talib.MIDPRICE(c.high, c.low, 26))
    assert np.isnan(result.span_b[50])
    assert not np.isnan(result.span_b[51])
    assert result.cloud()[1].shape == (len(c),)
    # The chikou is the close; the output must not alias the caller's array.
    assert result.chikou is not c.close
    np.testing.assert_array_equal(result.chikou, c.close)


def test_ichimoku_cloud_longer_than_the_series_is_all_nan() -> None:
    result = ichimoku(HIGH, LOW, CLOSE, tenkan=1, kijun=1, senkou_b=1, displacement=9)
    assert np.isnan(result.cloud()[0]).all()


# -- VWAP --------------------------------------------------------------------------------


def candles(
    ts_ms: list[int],
    rows: list[tuple[float, float, float, float]],
    timeframe: str = "1h",
) -> Candles:
    """Candles from (high, low, close, volume) rows, open = close."""
    h, lo, c, v = (np.array(col, dtype=np.float64) for col in zip(*rows, strict=True))
    return from_columns(np.array(ts_ms, dtype=np.int64), c, h, lo, c, v, timeframe)


# 12h candles over three days. Typical prices 10, 12 | 20, 30 | 99, 5.
HALF_DAYS = candles(
    [JAN_1_2024_MS + i * 12 * HOUR_MS for i in range(6)],
    [
        (12, 8, 10, 1),
        (14, 10, 12, 3),
        (21, 18, 21, 2),
        (33, 27, 30, 0),
        (99, 99, 99, 0),
        (6, 4, 5, 1),
    ],
    "12h",
)


def test_typical_price_is_hlc3() -> None:
    np.testing.assert_array_equal(typical_price(HALF_DAYS), arr(10, 12, 20, 30, 99, 5))


def test_session_vwap_resets_at_each_utc_day() -> None:
    # Day 1: (10·1 + 12·3) / 4 = 11.5. Day 2: 20, and a zero-volume candle leaves it there.
    # Day 3 opens on zero volume: undefined until something trades.
    np.testing.assert_array_equal(vwap_session(HALF_DAYS), arr(10, 11.5, 20, 20, NAN, 5))


def test_session_vwap_weekly_sessions_start_on_monday() -> None:
    # Friday 5th, Saturday, Sunday, then Monday 8th and Tuesday: a new week on the Monday.
    days = candles(
        [JAN_1_2024_MS + d * DAY_MS for d in range(4, 9)],
        [(3, 3, 3, 1), (6, 6, 6, 1), (9, 9, 9, 1), (30, 30, 30, 1), (60, 60, 60, 2)],
        "1d",
    )
    np.testing.assert_array_equal(vwap_session(days, "1w"), arr(3, 4.5, 6, 30, 50))
    # Daily sessions on daily candles: each candle is its own session.
    np.testing.assert_array_equal(vwap_session(days, "1d"), arr(3, 6, 9, 30, 60))


def test_session_vwap_on_real_hourly_candles_resets_at_midnight() -> None:
    c = real_candles()
    vwap = vwap_session(c)
    tp = typical_price(c)
    midnights = np.flatnonzero(c.ts_ms % DAY_MS == 0)
    assert midnights.size > 10
    # tp·v / v: equal up to the last bit of the division.
    np.testing.assert_allclose(vwap[midnights], tp[midnights], rtol=1e-15)
    assert np.all((vwap >= c.low.min()) & (vwap <= c.high.max()))


@pytest.mark.parametrize(
    ("session", "message"),
    [
        ("daily", r"session must be a timeframe such as '4h', '1d' or '1w'; found 'daily'"),
        ("0d", r"found '0d'"),
        (1, r"found 1"),
        ("90m", r"whole multiple of the candles' timeframe \(1h\) .* found '90m'"),
        ("30m", r"found '30m'"),
    ],
)
def test_session_must_be_a_multiple_of_the_timeframe(session: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        vwap_session(real_candles(), session)  # type: ignore[arg-type]


def test_rolling_vwap_by_hand() -> None:
    # Window 2: (10·1 + 12·3) / 4 = 11.5, then (12·3 + 20·2) / 5 = 15.2, then 20 (30 had no
    # volume), then nothing traded in the window, then 5.
    np.testing.assert_array_equal(vwap_rolling(HALF_DAYS, 2), arr(NAN, 11.5, 15.2, 20, NAN, 5))
    np.testing.assert_array_equal(vwap_rolling(HALF_DAYS, 1), arr(10, 12, 20, NAN, NAN, 5))


def test_rolling_vwap_over_real_candles_matches_numpy() -> None:
    c = real_candles()
    window = 24
    tp = typical_price(c)
    pv = np.convolve(tp * c.volume, np.ones(window), "valid")
    v = np.convolve(c.volume, np.ones(window), "valid")
    np.testing.assert_allclose(vwap_rolling(c, window)[window - 1 :], pv / v, rtol=1e-12)
    assert np.isnan(vwap_rolling(c, window)[: window - 1]).all()


def test_candle_inputs_are_checked() -> None:
    c = real_candles()
    with pytest.raises(InvalidInputError, match=r"window must be an integer from 1 .* found 0"):
        vwap_rolling(c, 0)
    with pytest.raises(InvalidInputError, match=r"candles must be xraybot.model.Candles"):
        vwap_session(c.close)  # type: ignore[arg-type]
    ts = c.ts_ms[:3]
    bad = from_columns(ts, arr(1, 1, 1), arr(2, 2, 2), arr(1, 1, 1), arr(1, NAN, 2), arr(1, 1, 1))
    with pytest.raises(
        InvalidInputError, match=r"candles.close must be finite; found nan at index 1"
    ):
        vwap_rolling(bad, 2)
    negative = from_columns(
        ts, arr(1, 1, 1), arr(2, 2, 2), arr(1, 1, 1), arr(1, 1, 1), arr(1, 0, -1)
    )
    with pytest.raises(
        InvalidInputError, match=r"candles.volume must be >= 0; found -1.0 at index 2"
    ):
        vwap_session(negative)


# -- realized volatility -------------------------------------------------------------------


def test_realized_volatility_by_hand() -> None:
    close = arr(100, 110, 99, 99, 99)
    up, down = math.log(1.1), math.log(0.9)
    # Window 2: sample std of two returns a, b is |a - b| / sqrt(2).
    expected = [NAN, NAN, abs(up - down) / math.sqrt(2), abs(down) / math.sqrt(2), 0.0]
    np.testing.assert_allclose(realized_volatility(close, 2), expected, rtol=1e-14)
    three = realized_volatility(close, 3)
    assert np.isnan(three[:3]).all()
    assert three[3] == pytest.approx(np.std([up, down, 0.0], ddof=1), rel=1e-14)


def test_realized_volatility_on_real_candles_matches_numpy() -> None:
    close = real_candles().close
    window = 24
    returns = np.diff(np.log(close))
    windows = np.lib.stride_tricks.sliding_window_view(returns, window)
    expected = windows.std(axis=1, ddof=1)
    np.testing.assert_allclose(realized_volatility(close, window)[window:], expected, rtol=1e-9)


def test_realized_volatility_needs_positive_closes_and_two_returns() -> None:
    with pytest.raises(InvalidInputError, match=r"close must be > 0; found 0.0 at index 1"):
        realized_volatility(arr(1, 0, 2), 2)
    with pytest.raises(InvalidInputError, match=r"window must be an integer from 2"):
        realized_volatility(arr(1, 2, 3), 1)
