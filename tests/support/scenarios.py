"""Hand-built bar series and signal flags for backtest engine scenarios."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xraybot.backtest.results import TradeRecords
from xraybot.matching.rules import exit_reason_name
from xraybot.model.candles import Candles
from xraybot.strategy.base import BoolArray

HOUR = 3_600_000
FLAT = (100.0, 100.0, 100.0, 100.0)


def bars(
    rows: Sequence[tuple[float, float, float, float]], symbol: str = "TEST/USDT", start: int = 0
) -> Candles:
    """Candles from ``(open, high, low, close)`` rows, hourly from ``start`` ms."""
    table = np.array(rows, dtype=np.float64).reshape(-1, 4)
    n = table.shape[0]
    return Candles(
        symbol,
        "1h",
        start + np.arange(n, dtype=np.int64) * HOUR,
        table[:, 0].copy(),
        table[:, 1].copy(),
        table[:, 2].copy(),
        table[:, 3].copy(),
        np.ones(n),
    )


def flags(n: int, *at: int) -> BoolArray:
    out = np.zeros(n, dtype=np.bool_)
    out[list(at)] = True
    return out


def reasons(trades: TradeRecords) -> list[str]:
    return [exit_reason_name(int(code)) for code in trades.exit_reason]
