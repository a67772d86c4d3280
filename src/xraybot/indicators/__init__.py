"""Causal indicators: numpy float64 arrays in, arrays of the same length out.

One calling convention for all of them: plain functions taking 1-D float64 arrays of one
length (the ``Candles`` columns: ``rsi(candles.close)``) or, where the whole candle is needed,
a ``Candles`` series; keyword parameters with TA-Lib's names and defaults; NaN during the
warm-up; several outputs come back as a small frozen dataclass. Bad input raises
``InvalidInputError`` naming the argument and the value.

Causal means a value at index t is computed from inputs up to t only, so it never changes
when later candles are appended; ``tests/indicators/test_causality.py`` checks that for every
indicator here. TA-Lib and numba are imported on first use, not by importing this package.
"""

from xraybot.indicators.extra import (
    Ichimoku,
    VolumeProfile,
    ichimoku,
    orderbook_imbalance,
    realized_volatility,
    typical_price,
    volume_profile,
    vwap_rolling,
    vwap_session,
)
from xraybot.indicators.patterns import PATTERN_NAMES, candle_patterns, pattern_name
from xraybot.indicators.talib_ import (
    Bands,
    Macd,
    Stoch,
    adx,
    atr,
    bollinger,
    cci,
    ema,
    macd,
    mfi,
    natr,
    obv,
    rsi,
    sma,
    stochastic,
)

__all__ = [
    "PATTERN_NAMES",
    "Bands",
    "Ichimoku",
    "Macd",
    "Stoch",
    "VolumeProfile",
    "adx",
    "atr",
    "bollinger",
    "candle_patterns",
    "cci",
    "ema",
    "ichimoku",
    "macd",
    "mfi",
    "natr",
    "obv",
    "orderbook_imbalance",
    "pattern_name",
    "realized_volatility",
    "rsi",
    "sma",
    "stochastic",
    "typical_price",
    "volume_profile",
    "vwap_rolling",
    "vwap_session",
]
