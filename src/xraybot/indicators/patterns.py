"""TA-Lib's 61 candlestick patterns behind one call.

Each pattern array holds, per candle, a signed strength: positive bullish, negative bearish,
0 none. That is ±100 for most patterns; TA-Lib also gives ±80 for a weaker Engulfing, Harami or
Harami Cross (equal rather than strictly beyond bodies) and ±200 for a confirmed Hikkake, so
test the sign, not equality with 100. A pattern is stamped on the candle that
completes it and looks only backwards (TA-Lib compares bodies and shadows with averages of
earlier candles), so appending candles never changes an earlier value. Patterns that take a
``penetration`` use TA-Lib's defaults.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from xraybot.indicators._checks import candles_of, talib
from xraybot.model.candles import Candles, IntArray
from xraybot.model.errors import InvalidInputError

# TA-Lib's "Pattern Recognition" group, spelled out so naming a pattern never imports TA-Lib.
PATTERN_NAMES: tuple[str, ...] = (
    "CDL2CROWS",
    "CDL3BLACKCROWS",
    "CDL3INSIDE",
    "CDL3LINESTRIKE",
    "CDL3OUTSIDE",
    "CDL3STARSINSOUTH",
    "CDL3WHITESOLDIERS",
    "CDLABANDONEDBABY",
    "CDLADVANCEBLOCK",
    "CDLBELTHOLD",
    "CDLBREAKAWAY",
    "CDLCLOSINGMARUBOZU",
    "CDLCONCEALBABYSWALL",
    "CDLCOUNTERATTACK",
    "CDLDARKCLOUDCOVER",
    "CDLDOJI",
    "CDLDOJISTAR",
    "CDLDRAGONFLYDOJI",
    "CDLENGULFING",
    "CDLEVENINGDOJISTAR",
    "CDLEVENINGSTAR",
    "CDLGAPSIDESIDEWHITE",
    "CDLGRAVESTONEDOJI",
    "CDLHAMMER",
    "CDLHANGINGMAN",
    "CDLHARAMI",
    "CDLHARAMICROSS",
    "CDLHIGHWAVE",
    "CDLHIKKAKE",
    "CDLHIKKAKEMOD",
    "CDLHOMINGPIGEON",
    "CDLIDENTICAL3CROWS",
    "CDLINNECK",
    "CDLINVERTEDHAMMER",
    "CDLKICKING",
    "CDLKICKINGBYLENGTH",
    "CDLLADDERBOTTOM",
    "CDLLONGLEGGEDDOJI",
    "CDLLONGLINE",
    "CDLMARUBOZU",
    "CDLMATCHINGLOW",
    "CDLMATHOLD",
    "CDLMORNINGDOJISTAR",
    "CDLMORNINGSTAR",
    "CDLONNECK",
    "CDLPIERCING",
    "CDLRICKSHAWMAN",
    "CDLRISEFALL3METHODS",
    "CDLSEPARATINGLINES",
    "CDLSHOOTINGSTAR",
    "CDLSHORTLINE",
    "CDLSPINNINGTOP",
    "CDLSTALLEDPATTERN",
    "CDLSTICKSANDWICH",
    "CDLTAKURI",
    "CDLTASUKIGAP",
    "CDLTHRUSTING",
    "CDLTRISTAR",
    "CDLUNIQUE3RIVER",
    "CDLUPSIDEGAP2CROWS",
    "CDLXSIDEGAP3METHODS",
)
_KNOWN = frozenset(PATTERN_NAMES)


def pattern_name(name: str) -> str:
    """Return TA-Lib's name for a pattern given as "CDLENGULFING", "engulfing" or "Engulfing"."""
    if not isinstance(name, str):
        raise InvalidInputError(
            f"a pattern name must be a string; found {name!r} ({type(name).__name__})."
        )
    upper = name.strip().upper()
    canonical = upper if upper.startswith("CDL") else f"CDL{upper}"
    if canonical not in _KNOWN:
        raise InvalidInputError(
            f"{name!r} is not a TA-Lib candlestick pattern; use one of "
            "xraybot.indicators.PATTERN_NAMES such as 'CDLENGULFING' or 'engulfing' "
            "(the CDL prefix and case are optional)."
        )
    return canonical


def candle_patterns(
    candles: Candles, names: str | Iterable[str] | None = None
) -> dict[str, IntArray]:
    """Return each requested pattern (all 61 by default) keyed by TA-Lib's name, as int64."""
    c = candles_of("candles", candles)
    wanted = PATTERN_NAMES if names is None else _resolve(names)
    lib = talib()
    result: dict[str, IntArray] = {}
    for name in wanted:
        raw = getattr(lib, name)(c.open, c.high, c.low, c.close)
        result[name] = np.asarray(raw, dtype=np.int64)
    return result


def _resolve(names: str | Iterable[str]) -> tuple[str, ...]:
    # A lone string is one name, not an iterable of one-letter names.
    given = (names,) if isinstance(names, str) else tuple(names)
    return tuple(dict.fromkeys(pattern_name(name) for name in given))


__all__ = ["PATTERN_NAMES", "candle_patterns", "pattern_name"]
