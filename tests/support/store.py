"""Candles for the Parquet store tests: steps, constants and bit-exact comparison."""

from __future__ import annotations

from typing import Any

import numpy as np

from xraybot.model import Candles

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00Z, a Monday
COLUMNS = ("ts_ms", "open", "high", "low", "close", "volume")


def make_candles(
    ts_ms: Any,
    *,
    symbol: str = "BTC/USDT",
    timeframe: str = "1m",
    seed: int = 0,
    scale: float = 1.0,
) -> Candles:
    """Return valid, realistic-looking candles at the given open times."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    n = ts.shape[0]
    rng = np.random.default_rng(seed)
    close = 100.0 * scale * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate([close[:1], close[:-1]]) * (1 + rng.normal(0.0, 0.0005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0.0, 0.003, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.0, 0.003, n))
    volume = rng.lognormal(3.0, 1.0, n)
    return Candles(symbol, timeframe, ts, open_, high, low, close, volume)


def steps(start_ms: int, count: int, step_ms: int = MINUTE) -> np.ndarray:
    return start_ms + np.arange(count, dtype=np.int64) * step_ms


def same_bits(a: Candles, b: Candles) -> bool:
    """Tell whether two series are equal bit for bit (floats compared as their int64 bits)."""
    return (
        a.symbol == b.symbol
        and a.timeframe == b.timeframe
        and all(
            np.array_equal(getattr(a, c).view(np.int64), getattr(b, c).view(np.int64))
            for c in COLUMNS
        )
    )
