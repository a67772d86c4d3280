"""``ensemble``: a weighted vote of other built-in strategies (``xraybot.strategy.ensemble``).

The default holds three trend followers that rarely fire on the same candle; a vote lasts
``memory`` candles, and an entry needs half the weight to agree.
"""

from __future__ import annotations

from typing import ClassVar

from xraybot.model.candles import Candles
from xraybot.strategy.base import FeatureCache, Param, Params, Signals, Strategy
from xraybot.strategy.ensemble import aggregate, member_signals, parse_members


class Ensemble(Strategy):
    name: ClassVar[str] = "ensemble"
    description: ClassVar[str] = "Weighted vote of built-in strategies with entry/exit thresholds."
    parameters: ClassVar[tuple[Param, ...]] = (
        Param(
            "members",
            "ema_cross:1,macd_trend:1,bollinger_breakout:1",
            doc="built-ins and weights, 'name:weight,…'; 'name(k=v;…)' overrides params",
        ),
        Param("entry_threshold", 0.5, 0.05, 1.0, 0.05, doc="weighted vote needed to enter"),
        Param("exit_threshold", 0.3, 0.05, 1.0, 0.05, doc="weighted vote against, to exit"),
        Param("memory", 6, 1, 48, 1, doc="candles a member's signal keeps its vote"),
    )

    @classmethod
    def check_params(cls, params: Params) -> None:
        parse_members(str(params["members"]))

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        members = parse_members(str(params["members"]))
        return aggregate(
            member_signals(members, candles, cache),
            [m.weight for m in members],
            entry_threshold=float(params["entry_threshold"]),
            exit_threshold=float(params["exit_threshold"]),
            memory=int(params["memory"]),
        )

    def warmup(self, params: Params) -> int:
        members = parse_members(str(params["members"]))
        # A vote reads up to `memory` candles back from each member's trusted signals.
        return max(m.strategy.warmup(m.params) for m in members) + int(params["memory"]) - 1
