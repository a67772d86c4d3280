"""Money-path properties of the single-symbol kernel, and its parity with plain Python.

Random candle walks (with gaps), random signals, random exit rules and account settings; the
invariants must hold for every draw. The parity test runs the kernel's own source through
``kernel.as_python`` (every compiled rule swapped for its plain form) and demands the same
arrays bit for bit.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.engine_strategies import accounts, exit_rules, signal_sets, walks
from xraybot.backtest import kernel
from xraybot.backtest.engine import prepare, simulate, volatility
from xraybot.backtest.results import BacktestSettings
from xraybot.matching.costs import liquidation_price
from xraybot.matching.rules import (
    EXIT_LIQUIDATION,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING,
    LONG,
)
from xraybot.model.candles import Candles
from xraybot.risk.exits import ExitRules, stop_level
from xraybot.strategy.base import Signals

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cases(draw: st.DrawFn) -> tuple[Candles, Signals, ExitRules, BacktestSettings]:
    candles = draw(walks())
    account = draw(accounts())
    signals = draw(signal_sets(len(candles), short=account.market == "swap"))
    return candles, signals, draw(exit_rules()), account


def positions(trades: Any) -> list[tuple[int, int]]:
    """(entry index, last exit index) per position; partial closes share their entry."""
    spans: dict[int, int] = {}
    for entry, exit_ in zip(trades.entry_index, trades.exit_index, strict=True):
        spans[int(entry)] = max(spans.get(int(entry), -1), int(exit_))
    return sorted(spans.items())


@PROPERTY
@given(case=cases())
def test_money_is_conserved_and_trades_are_well_formed(
    case: tuple[Candles, Signals, ExitRules, BacktestSettings],
) -> None:
    candles, signals, exits, account = case
    equity, exposure, trades = simulate(candles, signals, exits, account)
    # Flat at the end (the end close), so the final equity is the start plus every trade.
    total = account.equity + float(trades.pnl.sum())
    assert abs(equity[-1] - total) <= 1e-9 * max(account.equity, abs(total)) + 1e-9
    assert np.isfinite(equity).all()
    assert (exposure >= 0).all()
    assert (trades.amount > 0).all()
    assert (trades.fee >= 0).all()
    assert (trades.exit_ts >= trades.entry_ts).all()
    spans = positions(trades)
    for (_, exit_), (entry, _) in itertools.pairwise(spans):
        assert entry > exit_, "a position opened before the previous one closed"
    if account.market == "spot":
        assert (trades.direction == LONG).all()


@PROPERTY
@given(case=cases())
def test_exit_prices_respect_the_candle(
    case: tuple[Candles, Signals, ExitRules, BacktestSettings],
) -> None:
    candles, signals, exits, account = case
    _, _, trades = simulate(candles, signals, exits, account)
    _, rates = volatility(candles, exits, account)
    for i in range(len(trades)):
        reason, e, side = int(trades.exit_reason[i]), int(trades.exit_index[i]), trades.direction[i]
        price = float(trades.exit_price[i])
        low, high, open_ = candles.low[e], candles.high[e], candles.open[e]
        tolerance = 1e-9 * high
        if reason == EXIT_TAKE_PROFIT:
            assert low - tolerance <= price <= high + tolerance
        if reason in (EXIT_STOP_LOSS, EXIT_TRAILING):
            # Undo the slippage the stop fill paid; what is left lies in the candle, and on
            # the far side of the open (a gap fills at the open).
            raw = price / (1.0 - rates[e - 1]) if side == LONG else price / (1.0 + rates[e - 1])
            assert low - tolerance <= raw <= high + tolerance
            assert side * raw <= side * open_ + tolerance


@PROPERTY
@given(case=cases())
def test_liquidation_never_comes_before_a_tighter_stop(
    case: tuple[Candles, Signals, ExitRules, BacktestSettings],
) -> None:
    candles, signals, exits, account = case
    _, _, trades = simulate(candles, signals, exits, account)
    atr, rates = volatility(candles, exits, account)
    nan = float("nan")

    def level(value: float | None) -> float:
        return nan if value is None else value

    for i in np.flatnonzero(trades.exit_reason == EXIT_LIQUIDATION):
        side, entry = int(trades.direction[i]), float(trades.entry_price[i])
        e, start = int(trades.exit_index[i]), int(trades.entry_index[i])
        liq = liquidation_price(side, entry, account.leverage, account.maintenance_margin_rate)
        assert trades.exit_price[i] == liq
        stop = stop_level(
            side, entry, level(exits.stop_loss_pct), atr[start - 1], level(exits.stop_loss_atr)
        )
        if np.isnan(stop) or side * stop <= side * liq:
            continue
        # The stop was tighter: only a fill through the liquidation price (a gap, or the
        # slippage of the stop's own fill) may end as a liquidation.
        rate = max(rates[e - 1], rates[e])
        reach = candles.open[e] if side * candles.open[e] < side * stop else stop
        slipped = reach * (1.0 - side * rate)
        assert side * slipped <= side * liq * (1 + 1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_the_kernel_decides_as_plain_python_does(
    case: tuple[Candles, Signals, ExitRules, BacktestSettings],
) -> None:
    candles, signals, exits, account = case
    inputs = prepare(candles, signals, exits, account)
    arguments = (
        candles.ts_ms,
        candles.open,
        candles.high,
        candles.low,
        candles.close,
        inputs.entry_long,
        inputs.exit_long,
        inputs.entry_short,
        inputs.exit_short,
        inputs.atr,
        inputs.rates,
        inputs.rules,
        inputs.partials,
        account.equity,
    )
    compiled = kernel.simulate_symbol(*arguments)
    plain = kernel.as_python(kernel.simulate_symbol)(*arguments)
    count = compiled[4]
    assert plain[4] == count
    np.testing.assert_array_equal(plain[0], compiled[0])
    np.testing.assert_array_equal(plain[1], compiled[1])
    np.testing.assert_array_equal(plain[2][:count], compiled[2][:count])
    np.testing.assert_array_equal(plain[3][:count], compiled[3][:count])


def test_as_python_reaches_only_plain_functions() -> None:
    from numba.core.dispatcher import Dispatcher

    plain = kernel.as_python(kernel.simulate_symbol)
    assert not isinstance(plain, Dispatcher)
    reached = [v for v in plain.__globals__.values() if callable(v) and hasattr(v, "__code__")]
    assert reached
    assert not [v for v in plain.__globals__.values() if isinstance(v, Dispatcher)]
    bar_exits = plain.__globals__["bar_exits"]
    assert not [v for v in bar_exits.__globals__.values() if isinstance(v, Dispatcher)]
    assert bar_exits.__globals__["intrabar_exit_nb"].__module__ == "xraybot.matching.rules"
