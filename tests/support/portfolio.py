"""Portfolio backtest inputs: a strategy replaying prepared signals per symbol, drawn books of
symbols (hypothesis), and the most positions a result held open at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from tests.support.engine_strategies import accounts, exit_rules, signal_sets, walks
from tests.support.scenarios import HOUR
from xraybot.backtest.portfolio import PortfolioResult
from xraybot.backtest.results import BacktestSettings
from xraybot.matching.rules import EXIT_SIGNAL, EXIT_TIME
from xraybot.model.candles import Candles
from xraybot.risk.exits import ExitRules
from xraybot.strategy.base import FeatureCache, Params, Signals, Strategy


class Given(Strategy):
    """Replays prepared signals per symbol, with the exit rules it was built with."""

    name = "given"

    def __init__(self, by_symbol: Mapping[str, Signals], exits: ExitRules | None = None) -> None:
        self.by_symbol = by_symbol
        self.exits = exits or ExitRules()

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        return self.by_symbol[candles.symbol]

    def exit_rules(self, params: Params) -> ExitRules:
        return self.exits


@st.composite
def books(draw: st.DrawFn) -> tuple[list[Candles], Given, BacktestSettings]:
    count = draw(st.integers(1, 4))
    account_ = draw(accounts(funding=False))
    account_ = replace(account_, max_open_trades=draw(st.integers(1, 3)))
    series, signals = [], {}
    for index in range(count):
        walk = draw(walks(max_size=40))
        start = draw(st.integers(0, 10)) * HOUR
        candles = Candles(
            f"S{index}/USDT", "1h", walk.ts_ms - walk.ts_ms[0] + start,
            walk.open, walk.high, walk.low, walk.close, walk.volume,
        )  # fmt: skip
        drawn = draw(signal_sets(len(candles), short=account_.market == "swap"))
        if draw(st.booleans()):
            strength = np.array(
                draw(st.lists(st.floats(0, 1), min_size=len(candles), max_size=len(candles)))
            )
            drawn = Signals(
                drawn.entry_long, drawn.exit_long, drawn.entry_short, drawn.exit_short, strength
            )
        series.append(candles)
        signals[candles.symbol] = drawn
    return series, Given(signals, draw(exit_rules())), account_


def open_at_entries(result: PortfolioResult) -> int:
    """The most positions open while entries were made at one open."""
    spans = []
    for trades in result.trades.values():
        last: dict[int, tuple[int, int]] = {}
        for entry, exit_, reason in zip(
            trades.entry_ts, trades.exit_ts, trades.exit_reason, strict=True
        ):
            if int(entry) not in last or int(exit_) >= last[int(entry)][0]:
                last[int(entry)] = (int(exit_), int(reason))
        spans += [(entry, exit_, reason) for entry, (exit_, reason) in last.items()]
    most = 0
    for now, _, _ in spans:
        held = sum(
            1
            for entry, exit_, reason in spans
            if entry <= now
            and (exit_ > now or (exit_ == now and reason not in (EXIT_SIGNAL, EXIT_TIME)))
        )
        most = max(most, held)
    return most
