"""``ema_cross``: trend following on a fast/slow exponential moving average crossover.

Long when the fast EMA crosses above the slow one, out when it crosses back below; the short
side mirrors it. Signals are the crossing candles only (events), so a strategy that is flat
after a stop-loss waits for the next cross instead of re-entering mid-trend.
"""

from __future__ import annotations

from typing import ClassVar

from xraybot.indicators import talib_
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy, feature
from xraybot.strategy.builtin._common import cross_above, cross_below, ema_warmup


class EmaCross(Strategy):
    name: ClassVar[str] = "ema_cross"
    description: ClassVar[str] = "Trend following: fast EMA crossing the slow EMA."
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("fast_period", 12, 2, 100, 1, doc="fast EMA length, candles"),
        Param("slow_period", 26, 5, 400, 1, doc="slow EMA length, candles (> fast_period)"),
    )

    @classmethod
    def check_params(cls, params: Params) -> None:
        fast, slow = int(params["fast_period"]), int(params["slow_period"])
        if fast >= slow:
            raise InvalidInputError(
                f"strategy 'ema_cross': fast_period must be below slow_period; found "
                f"fast_period={fast}, slow_period={slow}."
            )

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        fast_n, slow_n = int(params["fast_period"]), int(params["slow_period"])
        fast = feature(cache, ("ema", fast_n), lambda: talib_.ema(candles.close, fast_n))
        slow = feature(cache, ("ema", slow_n), lambda: talib_.ema(candles.close, slow_n))
        up = cross_above(fast, slow)
        down = cross_below(fast, slow)
        return Signals(
            entry_long=up,
            exit_long=down,
            entry_short=down,
            exit_short=up,
            features={"ema_fast": fast, "ema_slow": slow},
        )

    def warmup(self, params: Params) -> int:
        # An EMA remembers its SMA seed with weight (1 - 2/(n+1))^k; the slow one decides.
        # +1: a cross at t also reads t-1.
        return ema_warmup(int(params["slow_period"])) + 1
