"""``rsi_reversion``: the reference strategy of ``../shared/reference/rsi_reversion.md``.

Buy when Wilder's RSI (TA-Lib's ``RSI``) closes below the entry level, sell when it closes
above the exit level, with a fixed stop-loss and take-profit. Long only, as the spec says.
The defaults are the spec's, so a backtest with no parameters reproduces its golden trades.
"""

from __future__ import annotations

from typing import ClassVar

from xraybot.indicators import talib_
from xraybot.model.candles import Candles
from xraybot.risk.exits import ExitRules
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy, feature
from xraybot.strategy.builtin._common import wilder_warmup


class RsiReversion(Strategy):
    name: ClassVar[str] = "rsi_reversion"
    description: ClassVar[str] = (
        "Mean reversion on Wilder's RSI: enter long below entry_level, exit above exit_level."
    )
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("rsi_period", 14, 2, 50, 1, doc="RSI lookback (Wilder smoothing), candles"),
        Param("entry_level", 30.0, 5.0, 50.0, 1.0, doc="enter long when RSI closes below"),
        Param("exit_level", 70.0, 50.0, 95.0, 1.0, doc="exit long when RSI closes above"),
        Param("stop_loss", 0.03, 0.005, 0.2, 0.005, doc="stop-loss, fraction of entry price"),
        Param("take_profit", 0.06, 0.005, 0.5, 0.005, doc="take-profit, fraction of entry"),
    )

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        period = int(params["rsi_period"])
        # Keyed by period only: a sweep over levels computes each RSI once per series.
        rsi = feature(cache, ("rsi", period), lambda: talib_.rsi(candles.close, period))
        # NaN compares False, so the undefined first `period` candles signal nothing.
        entry = rsi < float(params["entry_level"])
        exit_ = rsi > float(params["exit_level"])
        return Signals(entry_long=entry, exit_long=exit_, features={"rsi": rsi})

    def warmup(self, params: Params) -> int:
        # Wilder's average never forgets its seed (the SMA of the first `period` changes); it
        # only decays as (1 - 1/period)^k. Declare enough candles for that weight to fall to
        # 1e-10, which keeps RSI within 1e-6 relative of a longer history (see _common):
        # 325 candles at period 14.
        return wilder_warmup(int(params["rsi_period"]))

    def exit_rules(self, params: Params) -> ExitRules:
        return ExitRules(
            stop_loss_pct=float(params["stop_loss"]),
            take_profit_pct=float(params["take_profit"]),
        )
