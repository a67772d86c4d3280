"""Shared-capital portfolios: entry order, slots, cash, and agreement with one-symbol runs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from tests.support.portfolio import Given, books, open_at_entries
from tests.support.scenarios import FLAT, HOUR, bars, flags
from xraybot.backtest import kernel, portfolio
from xraybot.backtest.engine import prepare, run_backtest
from xraybot.backtest.portfolio import run_portfolio
from xraybot.backtest.results import BacktestSettings
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import Signals


def account(**overrides: Any) -> BacktestSettings:
    return BacktestSettings(**{"equity": 1000.0, "fee_rate": 0.0, **overrides})


# -- scenarios ----------------------------------------------------------------------------


def test_strongest_signals_enter_first_and_all_splits_the_cash() -> None:
    series = [bars([FLAT] * 4, symbol=s) for s in ("A/USDT", "B/USDT", "C/USDT")]
    strength = {"A/USDT": 0.2, "B/USDT": 0.9, "C/USDT": 0.9}
    signals = {
        s.symbol: Signals(flags(4, 0), flags(4), strength=np.full(4, strength[s.symbol]))
        for s in series
    }
    result = run_portfolio(series, Given(signals), None, account(max_open_trades=2))
    trades = result.trades
    assert len(trades["A/USDT"]) == 0
    # B then C (a tie, kept in series order): 1000 / 2 slots, then the 500 left / 1 slot.
    assert list(trades["B/USDT"].amount) == pytest.approx([5.0])
    assert list(trades["C/USDT"].amount) == pytest.approx([5.0])
    assert result.cash[1] == pytest.approx(0.0)
    assert result.equity[-1] == pytest.approx(1000.0)


def test_series_order_breaks_ties_without_strength() -> None:
    series = [bars([FLAT] * 3, symbol=s) for s in ("X/USDT", "A/USDT")]
    signals = {s.symbol: Signals(flags(3, 0), flags(3)) for s in series}
    result = run_portfolio(series, Given(signals), None, account())
    assert len(result.trades["X/USDT"]) == 1
    assert len(result.trades["A/USDT"]) == 0


def test_a_freed_slot_is_taken_at_the_next_open() -> None:
    series = [bars([FLAT] * 5, symbol=s) for s in ("A/USDT", "B/USDT")]
    signals = {
        "A/USDT": Signals(flags(5, 0), flags(5, 1)),
        "B/USDT": Signals(flags(5, 0, 1, 2), flags(5)),
    }
    result = run_portfolio(series, Given(signals), None, account())
    a, b = result.trades["A/USDT"], result.trades["B/USDT"]
    assert (list(a.entry_index), list(a.exit_index)) == ([1], [2])
    # B waits: the slot frees at the open of 2 and B enters there on its signal of candle 1.
    assert list(b.entry_index) == [2]


def test_unaligned_series_share_the_union_timeline() -> None:
    early = bars([FLAT] * 4, symbol="E/USDT")
    late = bars([(100, 100, 100, 100), (120, 120, 120, 120), FLAT], symbol="L/USDT", start=3 * HOUR)
    signals = {"E/USDT": Signals(flags(4), flags(4)), "L/USDT": Signals(flags(3, 0), flags(3))}
    result = run_portfolio([early, late], Given(signals), None, account(max_open_trades=2))
    assert list(result.ts_ms) == [i * HOUR for i in range(6)]
    late_view = result.results[1]
    assert late_view.symbol == "L/USDT"
    assert list(late_view.ts_ms) == [3 * HOUR, 4 * HOUR, 5 * HOUR]
    trades = late_view.trades
    assert (list(trades.entry_index), list(trades.exit_index)) == ([1], [2])
    assert trades.exit_reason[0] == 5  # end
    assert late_view.equity[-1] == pytest.approx(1000.0 + float(trades.pnl.sum()))
    # Two slots: 'all' committed half the cash, bought at 120 and closed at 100.
    assert result.equity[-1] == pytest.approx(500.0 + 500.0 * 100 / 120)


def test_fraction_stake_uses_the_marked_equity() -> None:
    series = [bars([FLAT] * 4, symbol=s) for s in ("A/USDT", "B/USDT")]
    signals = {
        "A/USDT": Signals(flags(4, 0), flags(4)),
        "B/USDT": Signals(flags(4, 1), flags(4)),
    }
    settings = account(stake="fraction", stake_amount=0.4, max_open_trades=3)
    result = run_portfolio(series, Given(signals), None, settings)
    assert result.trades["A/USDT"].amount[0] == pytest.approx(4.0)
    assert result.trades["B/USDT"].amount[0] == pytest.approx(4.0)


def test_summary_and_combined_result() -> None:
    series = [bars([FLAT, FLAT, (110, 110, 110, 110)], symbol=s) for s in ("A/USDT", "B/USDT")]
    signals = {s.symbol: Signals(flags(3, 0), flags(3)) for s in series}
    result = run_portfolio(series, Given(signals), None, account(max_open_trades=2))
    combined = result.combined()
    assert combined.symbol == "portfolio"
    assert len(combined.trades) == 2
    assert list(combined.trades.entry_index) == [1, 1]
    summary = result.summary()
    assert summary["trades"] == {"A/USDT": 1, "B/USDT": 1}
    assert summary["final_equity"] == pytest.approx(1100.0)
    assert summary["metrics"]["total_return"] == pytest.approx(0.1)


def test_refusals() -> None:
    a = bars([FLAT] * 3, symbol="A/USDT")
    with pytest.raises(InvalidInputError, match="at least one"):
        run_portfolio([], Given({}), None, account())
    with pytest.raises(InvalidInputError, match="more than once"):
        run_portfolio([a, a], Given({}), None, account())
    daily = Candles("D/USDT", "1d", a.ts_ms, a.open, a.high, a.low, a.close, a.volume)
    with pytest.raises(InvalidInputError, match="one timeframe"):
        run_portfolio([a, daily], Given({}), None, account())


# -- properties ---------------------------------------------------------------------------


PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(book=books())
def test_portfolio_money_slots_and_cash(
    book: tuple[list[Candles], Given, BacktestSettings],
) -> None:
    series, strategy, settings_ = book
    result = run_portfolio(series, strategy, None, settings_)
    pnl = sum(float(t.pnl.sum()) for t in result.trades.values())
    total = settings_.equity + pnl
    assert abs(result.equity[-1] - total) <= 1e-9 * max(settings_.equity, abs(total)) + 1e-9
    assert open_at_entries(result) <= settings_.max_open_trades
    assert result.cash.min() >= -1e-9 * settings_.equity
    for view in result.results:
        trades = view.trades
        assert (trades.amount > 0).all()
        assert (trades.fee >= 0).all()
        assert (trades.exit_ts >= trades.entry_ts).all()
        assert view.equity[-1] == pytest.approx(
            settings_.equity + float(trades.pnl.sum()), rel=1e-9, abs=1e-6
        )


@PROPERTY
@given(book=books())
def test_one_symbol_portfolio_is_the_single_symbol_run(
    book: tuple[list[Candles], Given, BacktestSettings],
) -> None:
    series, strategy, settings_ = book
    one = replace(settings_, max_open_trades=1)
    candles = series[0]
    single = run_backtest(candles, strategy, settings=one)
    shared = run_portfolio([candles], strategy, None, one)
    np.testing.assert_array_equal(shared.equity, single.equity)
    np.testing.assert_array_equal(shared.exposure, single.exposure)
    for name in (
        "entry_index",
        "exit_index",
        "exit_reason",
        "entry_price",
        "exit_price",
        "amount",
        "pnl",
    ):
        np.testing.assert_array_equal(
            getattr(shared.results[0].trades, name), getattr(single.trades, name)
        )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books())
def test_the_portfolio_kernel_decides_as_plain_python_does(
    book: tuple[list[Candles], Given, BacktestSettings],
) -> None:
    series, strategy, settings_ = book
    prepared = [prepare(c, strategy.by_symbol[c.symbol], strategy.exits, settings_) for c in series]
    strength = [
        np.ones(len(c)) if strategy.by_symbol[c.symbol].strength is None
        else strategy.by_symbol[c.symbol].strength
        for c in series
    ]  # fmt: skip
    starts = np.concatenate(([0], np.cumsum([len(c) for c in series]))).astype(np.int64)
    ts = np.concatenate([c.ts_ms for c in series])

    def prices(name: str) -> Any:
        return np.concatenate([getattr(c, name) for c in series])

    def inputs(name: str) -> Any:
        return np.concatenate([getattr(p, name) for p in prepared])

    arguments = (
        np.unique(ts),
        starts,
        ts,
        *(prices(name) for name in ("open", "high", "low", "close")),
        *(inputs(name) for name in ("entry_long", "exit_long", "entry_short", "exit_short")),
        np.concatenate(strength),
        inputs("atr"),
        inputs("rates"),
        prepared[0].rules,
        prepared[0].partials,
        settings_.equity,
    )
    compiled = portfolio.simulate_portfolio(*arguments)
    plain = kernel.as_python(portfolio.simulate_portfolio)(*arguments)
    count = compiled[-1]
    assert plain[-1] == count
    for found, expected in zip(plain[:5], compiled[:5], strict=True):
        np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(plain[5][:count], compiled[5][:count])
    np.testing.assert_array_equal(plain[6][:count], compiled[6][:count])
