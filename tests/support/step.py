"""Scripted strategies, candles and step configs for the live trading step tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from tests.support.markets import SYMBOL, market
from xraybot.model.candles import Candles
from xraybot.model.market import Market, MarketKind
from xraybot.risk.exits import ExitRules
from xraybot.risk.profile import RiskProfile
from xraybot.strategy.base import FeatureCache, Params, Signals, Strategy
from xraybot.trading.step import AccountView, StepConfig

HOUR = 3_600_000
START = 1_735_689_600_000
N = 50
NO_EXITS = ExitRules()


def candles(symbol: str = SYMBOL, n: int = N) -> Candles:
    ts = START + HOUR * np.arange(n, dtype=np.int64)
    close = 100.0 + np.sin(np.arange(n) / 3.0)
    return Candles(
        symbol=symbol,
        timeframe="1h",
        ts_ms=ts,
        open=close - 0.1,
        high=close + 1.0,
        low=close - 1.0,
        close=close,
        volume=np.full(n, 10.0),
    )


class Scripted(Strategy):
    """Signals set by candle open time: ``{ts: "entry_long exit_short"}``."""

    name: ClassVar[str] = "scripted"

    def __init__(self, script: Mapping[int, str] | None = None, *, shorts: bool = True) -> None:
        self.script = dict(script or {})
        self.shorts = shorts

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        flags = {
            key: np.array([key in self.script.get(int(t), "").split() for t in candles.ts_ms])
            for key in ("entry_long", "exit_long", "entry_short", "exit_short")
        }
        return Signals(
            entry_long=flags["entry_long"],
            exit_long=flags["exit_long"],
            entry_short=flags["entry_short"] if self.shorts else None,
            exit_short=flags["exit_short"] if self.shorts else None,
        )


def config(
    script: Mapping[int, str] | None = None,
    *,
    kind: MarketKind = MarketKind.SWAP,
    profile: RiskProfile | None = None,
    exits: ExitRules | None = NO_EXITS,
    user: str = "alice",
    mkt: Market | None = None,
    **more: object,
) -> StepConfig:
    return StepConfig(
        user_id=user,
        strategy=Scripted(script),
        params={},
        market=mkt or market(kind),
        profile=profile or RiskProfile(market=kind.value),
        directions="both" if kind is MarketKind.SWAP else "long",
        exits=exits,
        window=30,
        **more,  # type: ignore[arg-type]
    )


LAST = START + HOUR * (N - 1)  # the last candle's open
NOW = LAST + HOUR  # when it has closed
FLAT = AccountView(equity=10_000.0, free_cash=10_000.0)
