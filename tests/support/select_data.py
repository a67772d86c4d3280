"""Candles with a known regime and scripted strategies for the selection tests.

``range_then_trend`` is flat for ``switch`` candles, then rises steadily: the regime is
``range`` on the flat part and ``up`` once the trend has run for a while (checked by
tests/backtest/test_select_fixtures.py, so a change to the regime rules shows up there
first). The scripted strategies enter at chosen candles and leave ``hold`` candles later, so
every trade's entry, and the regime it entered in, is known in advance.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from xraybot.model.candles import Candles
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy

HOUR = 3_600_000
T0 = 1_735_689_600_000  # 2025-01-01T00:00Z
N = 600
SWITCH = 350  # the first candle of the trend


def range_then_trend(n: int = N, switch: int = SWITCH, symbol: str = "TEST/USDT") -> Candles:
    """Flat with a small wiggle up to ``switch``, then +0.4 % a candle (with a wiggle)."""
    i = np.arange(n, dtype=np.float64)
    wiggle = 0.002 * np.sin(i * 0.9) + 0.0007 * np.cos(i * 2.3)
    drift = np.where(i >= switch, 0.004 * (i - switch + 1), 0.0)
    close = 100.0 * np.exp(drift + wiggle)
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * 1.0005
    low = np.minimum(open_, close) * 0.9995
    ts = T0 + np.arange(n, dtype=np.int64) * HOUR
    return Candles(symbol, "1h", ts, open_, high, low, close, np.full(n, 1000.0))


def at(*indices: int) -> frozenset[int]:
    """Open times of candles by index."""
    return frozenset(T0 + i * HOUR for i in indices)


class Scripted(Strategy):
    """Enters long at the candles in ``entries_ms``; exits ``hold`` candles after each entry.

    Every call records the slice it was given in ``seen`` (length, first open time).
    """

    name = "scripted"
    parameters = (Param("hold", 1, 1, 1000, 1),)
    entries_ms: ClassVar[frozenset[int]] = frozenset()
    warm: ClassVar[int] = 5
    seen: ClassVar[list[tuple[int, int]]] = []

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        type(self).seen.append((len(candles), int(candles.ts_ms[0])))
        ts = np.asarray(candles.ts_ms)
        hold = int(params["hold"])
        entries = np.array(sorted(self.entries_ms), dtype=np.int64)
        entry = np.isin(ts, entries)
        exit_ = np.isin(ts - hold * HOUR, entries)
        return Signals(entry, exit_)

    def warmup(self, params: Params) -> int:
        return self.warm


class EveryTenth(Scripted):
    """Enters on every candle whose index (counted from T0) is a multiple of 10."""

    name = "every_tenth"
    entries_ms = at(*range(0, 2000, 10))
    warm = 7


class RangeTrader(Scripted):
    """One OOS trade entered in the flat part, held into the trend: a big whole-OOS return."""

    name = "range_trader"
    entries_ms = at(320)
    parameters = (Param("hold", 260, 1, 1000, 1),)


class TrendTrader(Scripted):
    """Two short trades entered deep in the trend: little money, but in the current regime."""

    name = "trend_trader"
    entries_ms = at(500, 540)
    parameters = (Param("hold", 3, 1, 1000, 1),)


class Idle(Scripted):
    """Never trades."""

    name = "idle"


class LongWarmup(Scripted):
    """Needs 500 candles of warm-up: more than 600 candles at 30 % OOS leave in sample."""

    name = "long_warmup"
    warm = 500
    entries_ms = at(450)


class Broken(Scripted):
    """Raises on every series."""

    name = "broken"

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        raise ValueError("planted failure")


def spec(cls: type[Strategy]) -> str:
    return f"{__name__}:{cls.__name__}"
