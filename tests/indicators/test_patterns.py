"""Candlestick patterns: TA-Lib's values for every pattern, names resolved leniently."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tests.indicators.series import real_candles
from xraybot.indicators import PATTERN_NAMES, candle_patterns, pattern_name
from xraybot.model.errors import InvalidInputError


def test_pattern_names_are_talibs_whole_group() -> None:
    assert list(PATTERN_NAMES) == talib.get_function_groups()["Pattern Recognition"]  # type: ignore[no-untyped-call]


def test_every_pattern_equals_talib_on_real_candles() -> None:
    c = real_candles()
    patterns = candle_patterns(c)
    assert list(patterns) == list(PATTERN_NAMES)
    for name, values in patterns.items():
        assert values.dtype == np.int64
        assert values.shape == (len(c),)
        np.testing.assert_array_equal(values, getattr(talib, name)(c.open, c.high, c.low, c.close))
    # Both signs show up, so the comparison is not of zeros.
    fired = np.concatenate(list(patterns.values()))
    assert (fired > 0).any()
    assert (fired < 0).any()


def test_names_take_either_spelling_and_keep_order_without_duplicates() -> None:
    c = real_candles()
    chosen = candle_patterns(c, ["engulfing", "CdlDoji", "CDLENGULFING", " hammer "])
    assert list(chosen) == ["CDLENGULFING", "CDLDOJI", "CDLHAMMER"]
    assert list(candle_patterns(c, "3blackcrows")) == ["CDL3BLACKCROWS"]
    assert candle_patterns(c, []) == {}


def test_unknown_pattern_is_refused_with_the_name() -> None:
    with pytest.raises(InvalidInputError, match=r"'engulf' is not a TA-Lib candlestick pattern"):
        candle_patterns(real_candles(), ["doji", "engulf"])
    with pytest.raises(InvalidInputError, match=r"must be a string; found 3 \(int\)"):
        pattern_name(3)  # type: ignore[arg-type]


def test_candles_argument_must_be_candles() -> None:
    c = real_candles()
    with pytest.raises(InvalidInputError, match=r"candles must be xraybot.model.Candles; found"):
        candle_patterns(c.close)  # type: ignore[arg-type]
