"""``macd_trend``: trend following on the MACD line crossing its signal line.

Long when the MACD histogram turns positive (MACD crosses above its signal), out when it
turns negative; the short side mirrors it. With ``zero_filter`` a long entry also needs the
MACD line above zero (the fast average above the slow one: an up-trend), a short entry
below zero, which skips counter-trend crosses.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from xraybot.indicators import talib_
from xraybot.model.candles import Candles, FloatArray
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy, feature
from xraybot.strategy.builtin._common import cross_above, cross_below, ema_warmup


def _macd(close: FloatArray, fast: int, slow: int, signal: int) -> FloatArray:
    lines = talib_.macd(close, fast, slow, signal)
    return np.stack([lines.macd, lines.signal, lines.hist])


class MacdTrend(Strategy):
    name: ClassVar[str] = "macd_trend"
    description: ClassVar[str] = "Trend following: MACD crossing its signal line."
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("fast_period", 12, 2, 50, 1, doc="fast EMA length, candles"),
        Param("slow_period", 26, 5, 100, 1, doc="slow EMA length, candles (> fast_period)"),
        Param("signal_period", 9, 2, 50, 1, doc="signal-line EMA length, candles"),
        Param("zero_filter", False, doc="enter only on the trend's side of the zero line"),
    )

    @classmethod
    def check_params(cls, params: Params) -> None:
        fast, slow = int(params["fast_period"]), int(params["slow_period"])
        if fast >= slow:
            raise InvalidInputError(
                f"strategy 'macd_trend': fast_period must be below slow_period; found "
                f"fast_period={fast}, slow_period={slow}."
            )

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        fast = int(params["fast_period"])
        slow = int(params["slow_period"])
        signal = int(params["signal_period"])
        close = candles.close
        # One cache entry holds the three lines as rows (the cache stores arrays).
        line, sig, hist = feature(
            cache, ("macd", fast, slow, signal), lambda: _macd(close, fast, slow, signal)
        )
        up = cross_above(line, sig)
        down = cross_below(line, sig)
        entry_long, entry_short = up, down
        if params["zero_filter"]:
            entry_long = up & (line > 0.0)
            entry_short = down & (line < 0.0)
        return Signals(
            entry_long=entry_long,
            exit_long=down,
            entry_short=entry_short,
            exit_short=up,
            features={"macd": line, "macd_signal": sig, "macd_hist": hist},
        )

    def warmup(self, params: Params) -> int:
        # The signal EMA runs on the MACD line, which is itself an EMA difference: their seed
        # weights decay one after the other, so the warm-ups add. +1: a cross reads t-1.
        slow = ema_warmup(int(params["slow_period"]))
        return slow + ema_warmup(int(params["signal_period"])) + 1
