"""What TA-Lib lacks: Ichimoku, VWAP, volume profile, order-book imbalance, realized volatility.

Same convention as ``talib_``: float64 arrays (or a ``Candles`` series) in, float64 arrays of
the same length out, NaN where a value is not yet defined, every value computed from the
candles up to its own index only. The loops are numba kernels (``_kernels``), imported on
first use so that importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import numpy as np

from xraybot.indicators._checks import (
    candles_of,
    columns,
    period,
    positive,
    real,
    series,
    talib,
)
from xraybot.model.candles import Candles, FloatArray, IntArray, timeframe_to_ms
from xraybot.model.errors import InvalidInputError

_DAY_MS = 86_400_000
_WEEK_MS = 7 * _DAY_MS
# 1970-01-01 was a Thursday; weekly sessions start on Monday 00:00 UTC, four days later.
_MONDAY_OFFSET_MS = 4 * _DAY_MS


def _lag(values: FloatArray, bars: int) -> FloatArray:
    """Return ``values`` moved ``bars`` later in time: out[t] = values[t - bars], NaN before."""
    out = np.full(values.shape[0], np.nan)
    if bars == 0:
        out[:] = values
    elif bars < values.shape[0]:
        out[bars:] = values[:-bars]
    return out


@dataclass(frozen=True, slots=True)
class Ichimoku:
    """Ichimoku lines, each stamped at the candle whose close makes it known.

    ``span_a`` and ``span_b`` are *not* shifted forward: ``span_a[t]`` is the value a chart
    draws ``displacement`` bars to the right of candle ``t``. ``cloud()`` gives the cloud a
    chart shows under each candle (the spans computed ``displacement`` bars earlier), still
    causal. ``chikou[t]`` is ``close[t]``, which a chart draws ``displacement`` bars back;
    compare it with ``close[t - displacement]`` instead of looking into the future.
    """

    tenkan: FloatArray
    kijun: FloatArray
    span_a: FloatArray
    span_b: FloatArray
    chikou: FloatArray
    displacement: int = 26

    def cloud(self) -> tuple[FloatArray, FloatArray]:
        """Return (span A, span B) as drawn under each candle: computed displacement bars ago."""
        return _lag(self.span_a, self.displacement), _lag(self.span_b, self.displacement)


def _midpoint(high: FloatArray, low: FloatArray, bars: int) -> FloatArray:
    if bars == 1:
        # TA-Lib's MIDPRICE refuses a period of 1; the one-candle midpoint is this.
        return (high + low) / 2.0
    return cast(FloatArray, talib().MIDPRICE(high, low, timeperiod=bars))


def ichimoku(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    tenkan: int = 9,
    kijun: int = 26,
    senkou_b: int = 52,
    displacement: int = 26,
) -> Ichimoku:
    """Return Ichimoku Kinko Hyo, every line stamped where it becomes known (see ``Ichimoku``)."""
    h, lo, c = columns("high", "low", "close", high=high, low=low, close=close)
    tenkan_line = _midpoint(h, lo, period("tenkan", tenkan))
    kijun_line = _midpoint(h, lo, period("kijun", kijun))
    span_b = _midpoint(h, lo, period("senkou_b", senkou_b))
    span_a: FloatArray = (tenkan_line + kijun_line) / 2.0
    shift = period("displacement", displacement, minimum=0)
    return Ichimoku(tenkan_line, kijun_line, span_a, span_b, c.copy(), shift)


def typical_price(candles: Candles) -> FloatArray:
    """Return (high + low + close) / 3 per candle: the price VWAP weights by volume."""
    return (candles.high + candles.low + candles.close) / 3.0


def vwap_session(candles: Candles, session: str = "1d") -> FloatArray:
    """Return the VWAP of the typical price since the start of each UTC session; NaN at 0 volume.

    A candle belongs to the session containing its open time. Sessions are whole multiples of
    the candle timeframe aligned to the Unix epoch (so "1d" starts at 00:00 UTC), except that
    weekly sessions start on Monday 00:00 UTC.
    """
    c = candles_of("candles", candles)
    session_ms = _session_ms(session, c)
    offset = _MONDAY_OFFSET_MS if session_ms % _WEEK_MS == 0 else 0
    session_id: IntArray = (c.ts_ms - offset) // session_ms
    from xraybot.indicators import _kernels

    return _kernels.session_vwap(session_id, typical_price(c), c.volume)


def _session_ms(session: object, candles: Candles) -> int:
    try:
        session_ms = timeframe_to_ms(session) if isinstance(session, str) else 0
    except InvalidInputError:
        session_ms = 0
    if session_ms == 0:
        raise InvalidInputError(
            f"session must be a timeframe such as '4h', '1d' or '1w'; found {session!r}."
        )
    if session_ms % candles.timeframe_ms:
        raise InvalidInputError(
            f"session must be a whole multiple of the candles' timeframe "
            f"({candles.timeframe}) so no candle straddles two sessions; found {session!r}. "
            "Use a longer session or shorter candles."
        )
    return session_ms


def vwap_rolling(candles: Candles, window: int) -> FloatArray:
    """Return the VWAP of the typical price over the last ``window`` candles; NaN at 0 volume."""
    c = candles_of("candles", candles)
    bars = period("window", window)
    from xraybot.indicators import _kernels

    return _kernels.rolling_vwap(typical_price(c), c.volume, bars)


def realized_volatility(close: FloatArray, window: int) -> FloatArray:
    """Return the sample standard deviation of the last ``window`` log returns, per bar.

    Not annualized: multiply by sqrt(bars per year) for that. The first value is at index
    ``window`` (it needs ``window + 1`` closes).
    """
    c = series("close", close)
    positive("close", c)
    bars = period("window", window, minimum=2, why="a deviation needs two returns")
    from xraybot.indicators import _kernels

    return _kernels.realized_volatility(c, bars)


@dataclass(frozen=True, slots=True)
class VolumeProfile:
    """Volume by price: ``volumes[i]`` traded between ``bin_edges[i]`` and ``bin_edges[i + 1]``.

    ``poc`` is the centre of the highest-volume bin (the lowest such bin on a tie);
    ``value_area_low``/``value_area_high`` bound the smallest contiguous run of bins that
    contains the POC and holds the requested share of the volume. All three are NaN when
    the candles traded no volume.
    """

    poc: float
    value_area_low: float
    value_area_high: float
    bin_edges: FloatArray
    volumes: FloatArray


def volume_profile(candles: Candles, bins: int = 24, value_area: float = 0.70) -> VolumeProfile:
    """Return the volume profile of ``candles`` over equal-width price bins from low to high.

    Each candle's volume is spread uniformly over its own low-high range (a candle with
    high == low puts it all in the bin holding that price), which is closer to where trading
    happened than piling it on one typical price.
    """
    c = candles_of("candles", candles)
    count = period("bins", bins)
    share = real("value_area", value_area, minimum=0.0)
    if not 0.0 < share <= 1.0:
        raise InvalidInputError(f"value_area must be in (0, 1]; found {share}.")
    if len(c) == 0:
        raise InvalidInputError(
            "candles must hold at least one candle for a volume profile; found 0."
        )
    bottom, top = float(c.low.min()), float(c.high.max())
    if not top > bottom:
        # Every candle at one price: one bin of zero width holds everything.
        edges = np.full(count + 1, bottom)
        volumes = np.zeros(count)
        volumes[0] = float(c.volume.sum())
        price = bottom if volumes[0] > 0 else math.nan
        return VolumeProfile(price, price, price, edges, volumes)
    edges = np.linspace(bottom, top, count + 1)
    from xraybot.indicators import _kernels

    volumes = _kernels.spread_volume(c.low, c.high, c.volume, edges)
    total = float(volumes.sum())
    if not total > 0.0:
        return VolumeProfile(math.nan, math.nan, math.nan, edges, volumes)
    poc = int(np.argmax(volumes))
    first, last = _value_area(volumes, poc, share)
    centre = float((edges[poc] + edges[poc + 1]) / 2.0)
    return VolumeProfile(centre, float(edges[first]), float(edges[last + 1]), edges, volumes)


def _value_area(volumes: FloatArray, poc: int, share: float) -> tuple[int, int]:
    """Return (first, last) bins of the narrowest run holding ``poc`` and ``share`` of volume."""
    cumulative = np.concatenate(([0.0], np.cumsum(volumes)))
    # A hair of tolerance so that exactly 70 % is not lost to float rounding.
    need = share * float(cumulative[-1]) * (1.0 - 1e-12)
    starts = np.arange(poc + 1)
    # Smallest end index m with cumulative[m] - cumulative[start] >= need, at least past the POC.
    ends = np.searchsorted(cumulative, cumulative[starts] + need, side="left")
    ends = np.maximum(ends, poc + 1)
    feasible = ends <= volumes.shape[0]
    starts, ends = starts[feasible], ends[feasible]
    widths = ends - starts
    held = cumulative[ends] - cumulative[starts]
    # Narrowest first, then the one holding the most volume, then the lowest.
    best = np.lexsort((starts, -held, widths))[0]
    return int(starts[best]), int(ends[best]) - 1


Levels = Sequence[Sequence[Decimal | float]]


def orderbook_imbalance(bids: Levels, asks: Levels, depth: int = 10) -> float:
    """Return (bid − ask amount) / (bid + ask amount) over the best ``depth`` levels of each side.

    ``bids`` and ``asks`` are (price, amount) pairs, best first (``OrderBook.bids``/``asks``,
    ccxt's lists or an (n, 2) array); amounts are in base units. The result is in [-1, 1]:
    +1 only bids, -1 only asks. NaN when neither side has any amount within ``depth``.
    """
    levels = period("depth", depth)
    bid_amount = _side_amount("bids", bids, levels, descending=True)
    ask_amount = _side_amount("asks", asks, levels, descending=False)
    total = bid_amount + ask_amount
    if total == 0.0:
        return math.nan
    return (bid_amount - ask_amount) / total


def _side_amount(name: str, levels: Any, depth: int, *, descending: bool) -> float:
    if isinstance(levels, str | bytes) or not isinstance(levels, Sequence | np.ndarray):
        raise InvalidInputError(
            f"{name} must be a sequence of (price, amount) pairs, best first; "
            f"found {type(levels).__name__}."
        )
    amounts: list[float] = []
    previous = math.nan
    for i, level in enumerate(levels[:depth]):
        price, amount = _level(name, i, level)
        if i and (price > previous if descending else price < previous):
            order = "descending" if descending else "ascending"
            raise InvalidInputError(
                f"{name} must be best first ({order} prices); found {price} after "
                f"{previous} at level {i}. Sort the book before measuring it."
            )
        previous = price
        amounts.append(amount)
    return math.fsum(amounts)


def _level(name: str, i: int, level: object) -> tuple[float, float]:
    try:
        price, amount = float(level[0]), float(level[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError, KeyError):
        raise InvalidInputError(
            f"{name}[{i}] must be a (price, amount) pair; found {level!r}."
        ) from None
    if not (math.isfinite(price) and price > 0):
        raise InvalidInputError(f"{name}[{i}] price must be finite and > 0; found {price}.")
    if not (math.isfinite(amount) and amount >= 0):
        raise InvalidInputError(f"{name}[{i}] amount must be finite and >= 0; found {amount}.")
    return price, amount


__all__ = [
    "Ichimoku",
    "VolumeProfile",
    "ichimoku",
    "orderbook_imbalance",
    "realized_volatility",
    "typical_price",
    "volume_profile",
    "vwap_rolling",
    "vwap_session",
]
