"""Numpy helpers both market sources share: bar rows, aggregation, intrabar prices, ticks.

A *bar* row is one OHLCV interval stamped with its open time. Aggregation buckets rows by
``(ts - offset) // tf`` (offset 0, or Monday for weekly candles as MEXC and Binance draw
them): open is the first row's open, high the max, low the min, close the last close,
volume the sum. Inside a row, price moves along a fixed four-point path
(open → first extreme → second extreme → close, at thirds of the interval; a rising bar
visits its low first), so the open candle and the quote are deterministic and end exactly
on the row's values when the interval closes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from xraybot.model.candles import Candles, FloatArray, IntArray, timeframe_to_ms
from xraybot.model.errors import InvalidInputError

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
_MONDAY_MS = 4 * DAY_MS  # 1970-01-01 was a Thursday; weeks open on Monday 00:00 UTC
PRICE_DIGITS = 5  # significant digits a price tick leaves at the symbol's price


class Bars:
    """Parallel OHLCV arrays (no validation: producers here are trusted)."""

    __slots__ = ("close", "high", "low", "open", "ts", "volume")

    def __init__(
        self,
        ts: IntArray,
        open_: FloatArray,
        high: FloatArray,
        low: FloatArray,
        close: FloatArray,
        volume: FloatArray,
    ) -> None:
        self.ts = ts
        self.open = open_
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def empty(cls) -> Bars:
        nothing = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, dtype=np.int64), nothing, nothing, nothing, nothing, nothing)

    @classmethod
    def one(cls, ts: int, o: float, h: float, low: float, c: float, v: float) -> Bars:
        def cell(x: float) -> FloatArray:
            return np.array([x], dtype=np.float64)

        return cls(np.array([ts], dtype=np.int64), cell(o), cell(h), cell(low), cell(c), cell(v))

    def slice(self, start: int, stop: int) -> Bars:
        return Bars(
            self.ts[start:stop],
            self.open[start:stop],
            self.high[start:stop],
            self.low[start:stop],
            self.close[start:stop],
            self.volume[start:stop],
        )

    def between(self, start_ms: int, end_ms: int) -> Bars:
        """Return the rows with ``start_ms <= ts < end_ms``."""
        lo = int(np.searchsorted(self.ts, start_ms, side="left"))
        hi = int(np.searchsorted(self.ts, end_ms, side="left"))
        return self.slice(lo, max(lo, hi))

    def quote_volume(self) -> float:
        """Return the quote volume, valuing each row's base volume at its mean OHLC price."""
        typical = (self.open + self.high + self.low + self.close) * 0.25
        return float(np.dot(self.volume, typical))


def concat(parts: list[Bars]) -> Bars:
    """Join bars given in time order."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return Bars.empty()
    if len(parts) == 1:
        return parts[0]
    return Bars(
        np.concatenate([p.ts for p in parts]),
        np.concatenate([p.open for p in parts]),
        np.concatenate([p.high for p in parts]),
        np.concatenate([p.low for p in parts]),
        np.concatenate([p.close for p in parts]),
        np.concatenate([p.volume for p in parts]),
    )


def bucket_offset(tf_ms: int) -> int:
    """Return where buckets of ``tf_ms`` start relative to the epoch (Mondays for weeks)."""
    return _MONDAY_MS if tf_ms % WEEK_MS == 0 else 0


def floor_to(ts_ms: int, tf_ms: int) -> int:
    """Return the open time of the ``tf_ms`` bucket holding ``ts_ms``."""
    offset = bucket_offset(tf_ms)
    return (ts_ms - offset) // tf_ms * tf_ms + offset


def ceil_to(ts_ms: int, tf_ms: int) -> int:
    """Return the first bucket open time at or after ``ts_ms``."""
    start = floor_to(ts_ms, tf_ms)
    return start if start == ts_ms else start + tf_ms


def aggregate(bars: Bars, tf_ms: int) -> Bars:
    """Aggregate rows (each inside one bucket) into ``tf_ms`` buckets."""
    if not len(bars):
        return bars
    offset = bucket_offset(tf_ms)
    buckets = (bars.ts - offset) // tf_ms * tf_ms + offset
    starts = np.flatnonzero(np.concatenate(([True], buckets[1:] != buckets[:-1])))
    ends = np.concatenate((starts[1:], [len(bars)])) - 1
    return Bars(
        buckets[starts],
        bars.open[starts],
        np.maximum.reduceat(bars.high, starts),
        np.minimum.reduceat(bars.low, starts),
        bars.close[ends],
        np.add.reduceat(bars.volume, starts),
    )


def merge_into_one(ts_ms: int, bars: Bars) -> Bars:
    """Fold all rows of ``bars`` into one row stamped ``ts_ms`` (empty stays empty)."""
    if not len(bars):
        return bars
    return Bars.one(
        ts_ms,
        float(bars.open[0]),
        float(bars.high.max()),
        float(bars.low.min()),
        float(bars.close[-1]),
        float(bars.volume.sum()),
    )


# -- ticks and rounding ------------------------------------------------------------------


def tick_exponent(price: float, digits: int = PRICE_DIGITS) -> int:
    """Return e such that a tick of 10**e leaves ``digits`` significant digits at ``price``."""
    if not price > 0 or not math.isfinite(price):
        raise InvalidInputError(f"a price must be finite and > 0 to pick a tick; found {price}.")
    return math.floor(math.log10(price)) - (digits - 1)


def power_of_ten(exponent: int) -> Decimal:
    """Return 10**exponent as a Decimal written the way MEXC writes ticks ("0.001", "1")."""
    return Decimal(1).scaleb(exponent) if exponent < 0 else Decimal(10**exponent)


def amount_exponent(price: float) -> int:
    """Return e of the amount step 10**e: a step worth a few cents, whole tokens at most."""
    return min(0, math.floor(math.log10(0.05 / price)))


def contract_size_for(price: float) -> Decimal:
    """Return a swap contract size worth a few USDT, like MEXC's 0.0001 BTC or 10 TRX."""
    return power_of_ten(round(math.log10(5.0 / price)))


def max_leverage_for(quote_volume_24h: float) -> int:
    """Return the swap leverage cap MEXC gives a market of this 24h quote volume."""
    if quote_volume_24h >= 5e7:
        return 200
    if quote_volume_24h >= 5e6:
        return 100
    if quote_volume_24h >= 5e5:
        return 50
    return 20


def round_prices(values: FloatArray, decimals: int) -> FloatArray:
    """Round to a 10**-decimals tick; equal inputs give equal outputs, so aggregates agree."""
    return np.round(values, decimals)


def round_price(value: float, decimals: int) -> float:
    # Python's round is exact on the decimal value; np.round scales first and can differ
    # from it in the last bit, so scalars go through np.round too, to match the arrays.
    return float(np.round(value, decimals))


# -- inside one row ----------------------------------------------------------------------


def _vertices(o: float, h: float, low: float, c: float) -> tuple[float, float, float, float]:
    return (o, low, h, c) if c >= o else (o, h, low, c)


def intrabar(
    o: float, h: float, low: float, c: float, frac: float, decimals: int
) -> tuple[float, float, float]:
    """Return (price, high so far, low so far) at ``frac`` of the way through a row.

    The price is rounded to the tick and kept inside [low, high].
    """
    frac = min(max(frac, 0.0), 1.0)
    points = _vertices(o, h, low, c)
    position = frac * 3.0
    leg = min(int(position), 2)
    a, b = points[leg], points[leg + 1]
    price = round_price(a + (b - a) * (position - leg), decimals)
    price = min(max(price, low), h)
    visited = (*points[: leg + 1], price)
    return price, max(visited), min(visited)


def partial_row(
    ts: int, o: float, h: float, low: float, c: float, v: float, frac: float, decimals: int
) -> Bars:
    """Return the still-open row as seen ``frac`` of the way through it."""
    price, high, lowest = intrabar(o, h, low, c, frac, decimals)
    return Bars.one(ts, o, high, lowest, price, v * min(max(frac, 0.0), 1.0))


# -- what a market reports ---------------------------------------------------------------


def to_candles(symbol_id: str, timeframe: str, bars: Bars) -> Candles:
    """Wrap rows as model Candles (copies, so callers never share the caches' arrays)."""
    return Candles(
        symbol_id,
        timeframe,
        np.array(bars.ts, dtype=np.int64),
        np.array(bars.open, dtype=np.float64),
        np.array(bars.high, dtype=np.float64),
        np.array(bars.low, dtype=np.float64),
        np.array(bars.close, dtype=np.float64),
        np.array(bars.volume, dtype=np.float64),
    )


def parse_timeframe(timeframe: str) -> int:
    """Return the timeframe in ms (``1m``…``1w``); raise InvalidInputError otherwise."""
    tf_ms = timeframe_to_ms(timeframe)
    if tf_ms % MINUTE_MS:
        raise InvalidInputError(f"timeframe must be whole minutes; found {timeframe!r}.")
    return tf_ms


def spread_bps_for_volume(quote_volume_24h: float) -> float:
    """Return a typical quoted spread for a 24h quote volume: ~1 bp at 1e9, ~250 bp at 5e3."""
    volume = max(quote_volume_24h, 1.0)
    return float(min(max((volume / 1e9) ** -0.45, 0.5), 400.0))


def quote_sides(last: float, spread_bps: float, decimals: int) -> tuple[float, float]:
    """Return (bid, ask) on the tick around ``last``: bid < ask always, both > 0."""
    tick = 10.0**-decimals
    half = last * spread_bps / 20_000.0
    bid = max(round_price(last - half, decimals), round_price(tick, decimals))
    ask = max(round_price(last + half, decimals), round_price(bid + tick, decimals))
    return bid, ask


@dataclass(frozen=True, slots=True, kw_only=True)
class DepthSnapshot:
    """Price levels around the quote, best first, as (price, base amount)."""

    ts_ms: int
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]


def depth_ladder(
    *,
    ts_ms: int,
    bid: float,
    ask: float,
    spread_bps: float,
    quote_volume_24h: float,
    price_decimals: int,
    amount_decimals: int,
    levels: int,
    rng: np.random.Generator,
) -> DepthSnapshot:
    """Build a deterministic book: steps of half the spread, sizes growing with distance.

    The best level holds about a third of a minute's typical volume, so thin symbols get
    thin books.
    """
    if isinstance(levels, bool) or not isinstance(levels, int) or not 1 <= levels <= 5000:
        raise InvalidInputError(f"depth must be an int from 1 to 5000; found {levels!r}.")
    tick = 10.0**-price_decimals
    mid = (bid + ask) / 2
    step = max(tick, round_price(mid * max(spread_bps, 1.0) / 20_000.0, price_decimals))
    ladder = np.arange(levels, dtype=np.float64)
    notional = max(quote_volume_24h, 1_000.0) / 1440.0 / 3.0
    scale = notional * (1.0 + 0.25 * ladder)
    noise = np.exp(0.5 * rng.standard_normal((2, levels)))
    amount_tick = 10.0**-amount_decimals
    bid_prices = round_prices(bid - step * ladder, price_decimals)
    ask_prices = round_prices(ask + step * ladder, price_decimals)

    def sizes(prices: FloatArray, row: int) -> FloatArray:
        raw = scale * noise[row] / np.maximum(prices, tick)
        floored = np.floor(raw / amount_tick) * amount_tick
        return round_prices(np.maximum(floored, amount_tick), amount_decimals)

    bid_sizes, ask_sizes = sizes(bid_prices, 0), sizes(ask_prices, 1)
    keep = bid_prices > 0
    return DepthSnapshot(
        ts_ms=ts_ms,
        bids=tuple(zip(bid_prices[keep].tolist(), bid_sizes[keep].tolist(), strict=True)),
        asks=tuple(zip(ask_prices.tolist(), ask_sizes.tolist(), strict=True)),
    )
