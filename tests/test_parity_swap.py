"""Swap parity: the kernel and the live engine replayed against the simulator's perpetuals.

As tests/test_parity.py, but on the simulator's replayed ``BTC_USDT`` contract, long and
short: each built-in strategy runs on the bundled sample through ``run_backtest``
(``market="swap"``, both directions, leverage 2, exits off, the simulator's taker fee, no
funding) and through ``runtime.replay.replay`` with the same settings; entry and exit candles
and directions must be equal, fill prices within ``PRICE_TOLERANCE``.

One difference from the spot comparison: the kernel's entries before the replay's first
decision are masked (``starting_at``). Neither side reverses a position on its exit candle
(an exit and an entry never share one), so for a strategy whose exit signal is the opposite
entry (ema_cross, macd_trend) the side of the first trade decides every later one: a kernel
that went short during the replay's window and a replay that starts flat then never hold the
same side again, and no candle finds both flat. Starting both flat on the same candle is
what parity means here; ``compared`` then cuts nothing.

Accepted differences (the amounts are not compared): the kernel trades the settings'
leverage, while the live step takes leverage from the stop (``choose_leverage`` up to the
cap) and so trades 1x with exits off; the paper fill rounds to whole contracts
(0.0001 BTC); the sizes differ as on spot (the kernel's stake against the user's default
sizing). Liquidation never comes near at 2x on these candles (the kernel's exits are signal
and end only, asserted).
"""

from __future__ import annotations

import copy
import dataclasses
from functools import cache

import numpy as np
import pytest

from tests.support.parity import PRICE_TOLERANCE, SIM_TAKER_FEE, compared, sample, trips
from xraybot.backtest.engine import run_backtest
from xraybot.backtest.results import BacktestSettings, TradeRecords
from xraybot.matching.rules import EXIT_END, EXIT_SIGNAL
from xraybot.model.candles import Candles
from xraybot.risk.exits import ExitRules
from xraybot.runtime.replay import replay
from xraybot.strategy.base import FeatureCache, Params, Signals, Strategy
from xraybot.strategy.registry import builtin_names, load_strategy

SETTINGS = BacktestSettings(
    market="swap",
    directions="both",
    leverage=2,
    exits=ExitRules(),
    fee_rate=SIM_TAKER_FEE,
    funding_rate=0.0,
)


def starting_at(strategy: Strategy, first_ts_ms: int) -> Strategy:
    """``strategy`` with its entries before ``first_ts_ms`` masked (module docstring)."""

    class Late(type(strategy)):  # type: ignore[misc]
        def signals(
            self, candles: Candles, params: Params, cache: FeatureCache | None = None
        ) -> Signals:
            found = super().signals(candles, params, cache)
            late = np.asarray(candles.ts_ms) >= first_ts_ms
            short = found.entry_short
            return dataclasses.replace(
                found,
                entry_long=found.entry_long & late,
                entry_short=None if short is None else short & late,
            )

    late = copy.copy(strategy)
    late.__class__ = Late
    return late


@cache
def run(name: str) -> tuple[TradeRecords, TradeRecords, int]:
    """The kernel's and the replay's trades of ``name`` and the replay's first fill."""
    candles = sample("BTC")
    strategy = load_strategy(name)
    result = replay({candles.symbol: candles}, strategy, None, SETTINGS)
    assert result.errors == 0
    first_decision = result.first_decision_ts[candles.symbol]
    kernel = run_backtest(candles, starting_at(strategy, first_decision), None, SETTINGS).trades
    return kernel, result.trades[candles.symbol], first_decision + candles.timeframe_ms


@pytest.mark.parametrize("name", builtin_names())
def test_swap_replay_trades_as_the_kernel(name: str) -> None:
    kernel, replayed, first_fill = run(name)
    cut, k, r = compared(kernel, replayed, first_fill)
    assert cut == first_fill  # both start flat on the replay's first decision
    assert len(k) >= 3, f"{name} should trade on the replayed candles"
    assert set(kernel.exit_reason.tolist()) <= {EXIT_SIGNAL, EXIT_END}  # no liquidation
    kt, rt = trips(kernel), trips(replayed)
    assert [rt[i] for i in r] == [kt[i] for i in k]
    for i, j in zip(k, r, strict=True):
        assert replayed.entry_price[j] == pytest.approx(kernel.entry_price[i], rel=PRICE_TOLERANCE)
        if kernel.exit_reason[i] != EXIT_END:  # at the end both close at the last close
            assert replayed.exit_price[j] == pytest.approx(
                kernel.exit_price[i], rel=PRICE_TOLERANCE
            )


def test_the_builtins_short_on_both_sides() -> None:
    shorts = {}
    for name in builtin_names():
        kernel, replayed, _ = run(name)
        shorts[name] = (int((kernel.direction < 0).sum()), int((replayed.direction < 0).sum()))
    assert sum(k for k, _ in shorts.values()) > 0, shorts
    assert all(k == r for k, r in shorts.values()), shorts
