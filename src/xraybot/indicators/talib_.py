"""Thin wrappers over TA-Lib with one calling convention.

Each function takes float64 1-D arrays of one length (``candles.close`` …) and TA-Lib's own
keyword parameters and defaults, checks them, and returns float64 arrays of the same length
with NaN during the warm-up (multi-output indicators return a small frozen dataclass). The
numbers are TA-Lib's, bit for bit. TA-Lib computes every value from the inputs up to its own
index only, so appending candles never changes an earlier value.

Periods TA-Lib refuses below 2 (RSI, ADX, CCI, MFI, Bollinger, MACD's fast and slow) are
refused with our message rather than TA-Lib's bare ``TA_BAD_PARAM``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from xraybot.indicators._checks import columns, ma_type, non_negative, period, real, series, talib
from xraybot.model.candles import FloatArray
from xraybot.model.errors import InvalidInputError


def _period2(name: str, value: object) -> int:
    return period(name, value, 2, why="TA-Lib refuses less")


def _out(result: Any) -> FloatArray:
    return cast(FloatArray, result)


@dataclass(frozen=True, slots=True)
class Macd:
    """MACD line (fast EMA − slow EMA), its signal EMA, and their difference."""

    macd: FloatArray
    signal: FloatArray
    hist: FloatArray


@dataclass(frozen=True, slots=True)
class Bands:
    """Bollinger Bands: middle moving average with upper and lower deviation bands."""

    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


@dataclass(frozen=True, slots=True)
class Stoch:
    """Slow stochastic: %K and its moving average %D, both 0..100."""

    k: FloatArray
    d: FloatArray


def sma(close: FloatArray, timeperiod: int = 30) -> FloatArray:
    """Return the simple moving average of ``close``."""
    c = series("close", close)
    return _out(talib().SMA(c, timeperiod=period("timeperiod", timeperiod)))


def ema(close: FloatArray, timeperiod: int = 30) -> FloatArray:
    """Return the exponential moving average of ``close``, seeded with the first SMA."""
    c = series("close", close)
    return _out(talib().EMA(c, timeperiod=period("timeperiod", timeperiod)))


def rsi(close: FloatArray, timeperiod: int = 14) -> FloatArray:
    """Return Wilder's Relative Strength Index (0..100)."""
    c = series("close", close)
    return _out(talib().RSI(c, timeperiod=_period2("timeperiod", timeperiod)))


def macd(
    close: FloatArray, fastperiod: int = 12, slowperiod: int = 26, signalperiod: int = 9
) -> Macd:
    """Return MACD, its signal line and histogram."""
    c = series("close", close)
    fast = _period2("fastperiod", fastperiod)
    slow = _period2("slowperiod", slowperiod)
    signal = period("signalperiod", signalperiod)
    if fast >= slow:
        # TA-Lib would silently swap them; a swapped config is a mistake worth hearing about.
        raise InvalidInputError(
            f"fastperiod must be < slowperiod; found fastperiod={fast}, slowperiod={slow}. "
            "Swap them."
        )
    line, sig, hist = talib().MACD(c, fastperiod=fast, slowperiod=slow, signalperiod=signal)
    return Macd(_out(line), _out(sig), _out(hist))


def bollinger(
    close: FloatArray,
    timeperiod: int = 20,
    nbdevup: float = 2.0,
    nbdevdn: float = 2.0,
    matype: int = 0,
) -> Bands:
    """Return Bollinger Bands: a moving average ± ``nbdev`` population standard deviations."""
    c = series("close", close)
    upper, middle, lower = talib().BBANDS(
        c,
        timeperiod=_period2("timeperiod", timeperiod),
        nbdevup=real("nbdevup", nbdevup, minimum=0.0),
        nbdevdn=real("nbdevdn", nbdevdn, minimum=0.0),
        matype=ma_type("matype", matype),
    )
    return Bands(_out(upper), _out(middle), _out(lower))


def atr(high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int = 14) -> FloatArray:
    """Return Wilder's Average True Range, in price units."""
    h, lo, c = columns("high", "low", "close", high=high, low=low, close=close)
    return _out(talib().ATR(h, lo, c, timeperiod=period("timeperiod", timeperiod)))


def natr(high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int = 14) -> FloatArray:
    """Return the Average True Range as a percentage of the close (100 · ATR / close)."""
    h, lo, c = columns("high", "low", "close", high=high, low=low, close=close)
    return _out(talib().NATR(h, lo, c, timeperiod=period("timeperiod", timeperiod)))


def adx(high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int = 14) -> FloatArray:
    """Return Wilder's Average Directional Index (trend strength, 0..100)."""
    h, lo, c = columns("high", "low", "close", high=high, low=low, close=close)
    return _out(talib().ADX(h, lo, c, timeperiod=_period2("timeperiod", timeperiod)))


def stochastic(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    fastk_period: int = 5,
    slowk_period: int = 3,
    slowk_matype: int = 0,
    slowd_period: int = 3,
    slowd_matype: int = 0,
) -> Stoch:
    """Return the slow stochastic oscillator (%K, %D)."""
    h, lo, c = columns("high", "low", "close", high=high, low=low, close=close)
    k, d = talib().STOCH(
        h,
        lo,
        c,
        fastk_period=period("fastk_period", fastk_period),
        slowk_period=period("slowk_period", slowk_period),
        slowk_matype=ma_type("slowk_matype", slowk_matype),
        slowd_period=period("slowd_period", slowd_period),
        slowd_matype=ma_type("slowd_matype", slowd_matype),
    )
    return Stoch(_out(k), _out(d))


def obv(close: FloatArray, volume: FloatArray) -> FloatArray:
    """Return On-Balance Volume (running sum of volume signed by the close's direction)."""
    c, v = columns("close", "volume", close=close, volume=volume)
    non_negative("volume", v)
    return _out(talib().OBV(c, v))


def mfi(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    timeperiod: int = 14,
) -> FloatArray:
    """Return the Money Flow Index (volume-weighted RSI of the typical price, 0..100)."""
    h, lo, c, v = columns(
        "high", "low", "close", "volume", high=high, low=low, close=close, volume=volume
    )
    non_negative("volume", v)
    return _out(talib().MFI(h, lo, c, v, timeperiod=_period2("timeperiod", timeperiod)))


def cci(high: FloatArray, low: FloatArray, close: FloatArray, timeperiod: int = 14) -> FloatArray:
    """Return the Commodity Channel Index of the typical price."""
    h, lo, c = columns("high", "low", "close", high=high, low=low, close=close)
    return _out(talib().CCI(h, lo, c, timeperiod=_period2("timeperiod", timeperiod)))


__all__ = [
    "Bands",
    "Macd",
    "Stoch",
    "adx",
    "atr",
    "bollinger",
    "cci",
    "ema",
    "macd",
    "mfi",
    "natr",
    "obv",
    "rsi",
    "sma",
    "stochastic",
]
