"""Candles as MEXC serves them: interval names, request windows, calendar months.

Spot ``klines``: ``startTime``/``endTime`` in ms (end exclusive), ``limit`` default 500 and
at most 1000; without a window, the latest ``limit`` candles including the open one.
Contract ``kline/{symbol}``: ``start``/``end`` in seconds (end inclusive), at most 2000
candles; only ``start`` reads forward to now, only ``end`` reads the 2000 before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from xraybot.model.candles import timeframe_to_ms
from xraybot.sim.market import MarketData

MONTH = "1M"
SPOT_INTERVALS = {
    "1m": "1m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "60m": "1h",
    "4h": "4h",
    "1d": "1d",
    "1W": "1w",
    "1M": MONTH,
}
SWAP_INTERVALS = {
    "Min1": "1m",
    "Min5": "5m",
    "Min15": "15m",
    "Min30": "30m",
    "Min60": "1h",
    "Hour4": "4h",
    "Hour8": "8h",
    "Day1": "1d",
    "Week1": "1w",
    "Month1": MONTH,
}
SPOT_DEFAULT_LIMIT = 500
SPOT_MAX_LIMIT = 1000
SWAP_MAX_CANDLES = 2000
_DAY_MS = 86_400_000
_MONTH_SPAN_MS = 31 * _DAY_MS  # windows over months are sized generously, then trimmed


@dataclass(frozen=True, slots=True)
class Kline:
    """One candle, stamped with its open time in ms."""

    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def span_ms(timeframe: str) -> int:
    """Return the window-sizing length of one candle (a month counts as 31 days)."""
    return _MONTH_SPAN_MS if timeframe == MONTH else timeframe_to_ms(timeframe)


def _month_start(ts_ms: int) -> int:
    day = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return int(datetime(day.year, day.month, 1, tzinfo=UTC).timestamp() * 1000)


def close_ms(open_ms: int, timeframe: str) -> int:
    """Return when the candle opened at ``open_ms`` closes (the next one's open time)."""
    if timeframe != MONTH:
        return open_ms + timeframe_to_ms(timeframe)
    return _month_start(_month_start(open_ms) + _MONTH_SPAN_MS)


def read(
    market: MarketData, symbol_id: str, timeframe: str, start_ms: int, end_ms: int
) -> list[Kline]:
    """Return candles opening in ``[start_ms, end_ms)``, months built from daily candles."""
    if end_ms <= start_ms:
        return []
    if timeframe != MONTH:
        c = market.candles(symbol_id, timeframe, start_ms, end_ms)
        return [
            Kline(*row)
            for row in zip(
                c.ts_ms.tolist(),
                c.open.tolist(),
                c.high.tolist(),
                c.low.tolist(),
                c.close.tolist(),
                c.volume.tolist(),
                strict=True,
            )
        ]
    months: dict[int, list[Kline]] = {}
    for day in read(market, symbol_id, "1d", _month_start(start_ms), end_ms):
        months.setdefault(_month_start(day.ts_ms), []).append(day)
    return [
        Kline(
            ts_ms=month,
            open=days[0].open,
            high=max(d.high for d in days),
            low=min(d.low for d in days),
            close=days[-1].close,
            volume=sum(d.volume for d in days),
        )
        for month, days in sorted(months.items())
        if start_ms <= month < end_ms
    ]


def spot_window(
    market: MarketData,
    symbol_id: str,
    timeframe: str,
    *,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
) -> list[Kline]:
    """Apply MEXC's spot window rules and return at most ``limit`` candles."""
    span = span_ms(timeframe)
    if start_ms is not None:
        end = end_ms if end_ms is not None else start_ms + limit * span
        return read(market, symbol_id, timeframe, start_ms, end)[:limit]
    if end_ms is not None:
        return read(market, symbol_id, timeframe, end_ms - limit * span, end_ms)[-limit:]
    now = market.clock.now_ms()
    return read(market, symbol_id, timeframe, now - limit * span, now + 1)[-limit:]


def swap_window(
    market: MarketData,
    symbol_id: str,
    timeframe: str,
    *,
    start_s: int | None,
    end_s: int | None,
) -> list[Kline]:
    """Apply MEXC's contract window rules (seconds, end inclusive, 2000 candles at most)."""
    span = span_ms(timeframe)
    now = market.clock.now_ms()
    if start_s is not None:
        end = end_s * 1000 + 1 if end_s is not None else now + 1
        return read(market, symbol_id, timeframe, start_s * 1000, end)[:SWAP_MAX_CANDLES]
    end = end_s * 1000 + 1 if end_s is not None else now + 1
    return read(market, symbol_id, timeframe, end - SWAP_MAX_CANDLES * span, end)[
        -SWAP_MAX_CANDLES:
    ]
