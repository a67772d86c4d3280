"""Per-symbol measurements for the screener: volatility, RSI, trend, breakout, depth.

All from closed candles only, taken at the last one; the indicators are the causal ones of
:mod:`xraybot.indicators`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from xraybot import indicators
from xraybot.model.candles import Candles, FloatArray
from xraybot.xray.config import ScreenConfig
from xraybot.xray.ports import ScreenBook

DAY_MS = 86_400_000
RSI_OVERSOLD = 30.0
RSI_OVERBOUGHT = 70.0


@dataclass(frozen=True, slots=True)
class Features:
    """What one symbol's candles say at the last closed candle (None: not enough of them)."""

    last_close: float
    volatility_pct: float | None
    rsi: float | None
    trend: float | None  # EMA(fast) / EMA(slow) - 1, in percent
    breakout: bool | None

    @property
    def signals(self) -> tuple[str, ...]:
        """Return the signal labels these values raise, for people reading the shortlist."""
        out: list[str] = []
        if self.rsi is not None and self.rsi < RSI_OVERSOLD:
            out.append("rsi_oversold")
        if self.rsi is not None and self.rsi > RSI_OVERBOUGHT:
            out.append("rsi_overbought")
        if self.trend is not None and self.trend > 0:
            out.append("uptrend")
        if self.trend is not None and self.trend < 0:
            out.append("downtrend")
        if self.breakout:
            out.append("breakout")
        return tuple(out)


def _last(values: FloatArray) -> float | None:
    if values.size == 0:
        return None
    value = float(values[-1])
    return value if np.isfinite(value) else None


def measure(candles: Candles, config: ScreenConfig) -> Features:
    """Return the features of the last ``config.candles`` closed candles (all given are closed)."""
    c = candles.tail(config.candles)
    last_close = float(c.close[-1]) if len(c) else float("nan")
    if len(c) < config.warmup:
        return Features(last_close, None, None, None, None)
    if config.volatility == "natr":
        volatility = _last(indicators.natr(c.high, c.low, c.close, config.volatility_period))
    else:
        realized = _last(indicators.realized_volatility(c.close, config.volatility_period))
        volatility = None if realized is None else realized * 100.0
    fast = _last(indicators.ema(c.close, config.ema_fast))
    slow = _last(indicators.ema(c.close, config.ema_slow))
    trend = None if fast is None or not slow else (fast / slow - 1.0) * 100.0
    prior_high = float(np.max(c.high[-config.breakout_bars - 1 : -1]))
    return Features(
        last_close=last_close,
        volatility_pct=volatility,
        rsi=_last(indicators.rsi(c.close, config.rsi_period)),
        trend=trend,
        breakout=last_close > prior_high,
    )


def listed_days(candles: Candles, now_ms: int) -> float | None:
    """Return days since the first candle: the listing if the exchange had fewer than asked."""
    if len(candles) == 0:
        return None
    return (now_ms - int(candles.ts_ms[0])) / DAY_MS


def depth_within(book: ScreenBook, pct: float) -> float | None:
    """Return the quote resting within ``pct`` % of the mid on the thinner side of the book."""
    if not book.bids or not book.asks:
        return None
    mid = (book.bids[0][0] + book.asks[0][0]) / 2
    reach = mid * Decimal(repr(pct)) / 100
    bids = sum((p * a for p, a in book.bids if p >= mid - reach), Decimal(0))
    asks = sum((p * a for p, a in book.asks if p <= mid + reach), Decimal(0))
    return float(min(bids, asks))
