"""Strategies with planted biases, and clean controls, for the bias checks.

Self-contained (xraybot, numpy and pandas only) so the CLI can load this file by path:
``xraybot check-bias --strategy tests/backtest/leaky_strategies.py:PeekAhead``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from xraybot.indicators.talib_ import ema, rsi, sma
from xraybot.model.candles import Candles
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy


def _period(params: Params, name: str) -> int:
    value = params[name]
    assert isinstance(value, int)
    return value


# -- lookahead ----------------------------------------------------------------------------


class PeekAhead(Strategy):
    """Buys when the *next* close is higher: np.roll(-1) reads candle t+1 at t."""

    name = "peek_ahead"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        close = np.asarray(candles.close)
        nxt = np.roll(close, -1)
        return Signals(nxt > close, nxt < close, features={"next_close": nxt})


class PeekAheadShift(Strategy):
    """The pandas spelling of the same leak: ``shift(-1)``, NaN at the last candle."""

    name = "peek_ahead_shift"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        close = pd.Series(candles.close)
        change = close.shift(-1) / close - 1.0
        return Signals(
            (change > 0.002).to_numpy(),
            (change < -0.002).to_numpy(),
            features={"next_change": change.to_numpy(dtype=np.float64)},
        )


class CenteredWindow(Strategy):
    """A centered rolling mean: the value at t averages candles up to t + window // 2."""

    name = "centered_window"
    parameters: ClassVar[tuple[Param, ...]] = (Param("window", 21, 3, 99),)

    def warmup(self, params: Params) -> int:
        return _period(params, "window")

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        window = _period(params, "window")
        close = pd.Series(candles.close)
        middle = close.rolling(window, center=True).mean().to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return Signals(
                candles.close < middle * 0.99,
                candles.close > middle * 1.01,
                features={"centered_mean": middle},
            )


class LeakyFeatureOnly(Strategy):
    """Decides causally but reports a feature scaled by the file's last close."""

    name = "leaky_feature_only"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def warmup(self, params: Params) -> int:
        return 20

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        average = sma(np.asarray(candles.close), 20)
        with np.errstate(invalid="ignore"):
            entry, leave = candles.close > average, candles.close < average
        scaled = np.asarray(candles.close) / candles.close[-1]
        return Signals(entry, leave, features={"sma": average, "scaled_close": scaled})


# -- unstable warm-up ---------------------------------------------------------------------


class ShortWarmupEma(Strategy):
    """TA-Lib EMA(200) while declaring a warm-up of 5 candles."""

    name = "short_warmup_ema"
    parameters: ClassVar[tuple[Param, ...]] = (Param("period", 200, 2, 500),)

    def warmup(self, params: Params) -> int:
        return 5

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        line = ema(np.asarray(candles.close), _period(params, "period"))
        with np.errstate(invalid="ignore"):
            return Signals(candles.close > line, candles.close < line, features={"ema": line})


class ExpandingMean(Strategy):
    """Compares the close with the mean of *all* earlier closes: no warm-up is enough."""

    name = "expanding_mean"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def warmup(self, params: Params) -> int:
        return 5

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        close = np.asarray(candles.close)
        mean = np.cumsum(close) / np.arange(1, close.size + 1)
        return Signals(close > mean * 1.02, close < mean, features={"expanding_mean": mean})


# -- clean controls -----------------------------------------------------------------------


class CleanSmaCross(Strategy):
    """Fast/slow SMA cross: finite windows, declared warm-up exactly the slow window."""

    name = "clean_sma_cross"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("fast", 10, 2, 100),
        Param("slow", 30, 3, 300),
    )

    def warmup(self, params: Params) -> int:
        return _period(params, "slow") - 1

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        close = np.asarray(candles.close)
        fast, slow = sma(close, _period(params, "fast")), sma(close, _period(params, "slow"))
        with np.errstate(invalid="ignore"):
            return Signals(fast > slow, fast < slow, features={"fast": fast, "slow": slow})


class CleanLongShort(Strategy):
    """Long and short on RSI with a strength, and an EMA given a generous warm-up."""

    name = "clean_long_short"
    parameters: ClassVar[tuple[Param, ...]] = (Param("period", 14, 2, 50),)

    def warmup(self, params: Params) -> int:
        # A seeded recursion forgets its start geometrically: ~25 periods reach 1e-8.
        return 25 * _period(params, "period")

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        close = np.asarray(candles.close)
        period = _period(params, "period")
        value, line = rsi(close, period), ema(close, period)
        strength = np.where(np.isnan(value), np.nan, np.abs(value - 50.0) / 50.0)
        with np.errstate(invalid="ignore"):
            return Signals(
                value < 30,
                value > 55,
                value > 70,
                value < 45,
                strength=strength,
                features={"rsi": value, "ema": line},
            )


class TieProne(Strategy):
    """Close against TA-Lib's SMA(4) on tick-sized prices: the two are often equal in exact
    arithmetic, and TA-Lib's running sum rounds differently depending on the start."""

    name = "tie_prone"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def warmup(self, params: Params) -> int:
        return 4

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        average = sma(np.asarray(candles.close), 4)
        with np.errstate(invalid="ignore"):
            return Signals(
                candles.close > average, candles.close < average, features={"sma": average}
            )


LEAKS_LOOKAHEAD = (PeekAhead, PeekAheadShift, CenteredWindow, LeakyFeatureOnly)
LEAKS_WARMUP = (ShortWarmupEma, ExpandingMean)
CLEAN = (CleanSmaCross, CleanLongShort)
