"""The kernel on small hand-checked series: one rule at a time, figures worked out by hand.

Candles are ``(open, high, low, close)`` rows one hour apart from ts 0; a signal on candle t
acts at the open of t+1. Fees are 0 unless a scenario is about them, so amounts stay round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from tests.support.scenarios import FLAT, HOUR, bars, flags, reasons
from xraybot.backtest.engine import run_backtest, simulate
from xraybot.backtest.results import BacktestSettings, TradeRecords
from xraybot.indicators import talib_
from xraybot.model.candles import Candles, FloatArray
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules
from xraybot.strategy.base import FeatureCache, Params, Signals, Strategy


def run(
    candles: Candles,
    *,
    entry: Sequence[int] = (),
    exit: Sequence[int] = (),
    entry_short: Sequence[int] | None = None,
    exit_short: Sequence[int] = (),
    exits: ExitRules | None = None,
    **settings: Any,
) -> tuple[FloatArray, FloatArray, TradeRecords]:
    n = len(candles)
    signals = Signals(
        flags(n, *entry),
        flags(n, *exit),
        None if entry_short is None else flags(n, *entry_short),
        None if entry_short is None else flags(n, *exit_short),
    )
    chosen = {"equity": 1000.0, "fee_rate": 0.0, **settings}
    return simulate(candles, signals, exits or ExitRules(), BacktestSettings(**chosen))


# -- the reference rules ------------------------------------------------------------------


def test_signal_entry_and_exit_fill_at_the_next_open_without_reentry() -> None:
    candles = bars([FLAT, (100, 101, 99, 100), (110, 111, 109, 110), (120, 121, 119, 120), FLAT])
    # Entry signals on 0 and 1, exit signal on 1: enter at open 1, exit at open 2; the entry
    # signal of candle 1 is not taken at the same open; the one of candle 2 enters at open 3.
    equity, exposure, trades = run(candles, entry=(0, 1, 2), exit=(1,))
    assert list(trades.entry_index) == [1, 3]
    assert list(trades.exit_index) == [2, 4]
    assert reasons(trades) == ["signal", "end"]
    assert list(trades.entry_price) == [100.0, 120.0]
    assert list(trades.exit_price) == [110.0, 100.0]
    assert trades.exit_ts[-1] == candles.ts_ms[-1]
    assert equity[-1] == pytest.approx(1000.0 * 1.1 * 100 / 120)
    assert exposure[0] == 0.0
    assert exposure[1] == pytest.approx(1.0)


def test_stop_is_checked_on_the_entry_candle_and_before_the_target() -> None:
    candles = bars([FLAT, (100, 107, 96, 100), FLAT])
    _, _, trades = run(candles, entry=(0,), exits=ExitRules(0.03, 0.06))
    assert reasons(trades) == ["stop_loss"]
    assert trades.exit_price[0] == pytest.approx(97.0)
    assert trades.exit_index[0] == 1


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    candles = bars([FLAT, FLAT, (90, 92, 89, 91)])
    _, _, trades = run(candles, entry=(0,), exits=ExitRules(0.03, 0.06))
    assert reasons(trades) == ["stop_loss"]
    assert trades.exit_price[0] == 90.0


def test_fees_follow_the_spec_arithmetic() -> None:
    candles = bars([FLAT, FLAT, (110, 110, 110, 110)])
    equity, _, trades = run(candles, entry=(0,), exit=(1,), fee_rate=0.001)
    qty = 1000.0 / (100.0 * (1 + 0.001))
    assert trades.amount[0] == pytest.approx(qty, rel=1e-15)
    assert equity[-1] == pytest.approx(qty * 110.0 * (1 - 0.001), rel=1e-15)
    assert trades.fee[0] == pytest.approx(qty * 100 * 0.001 + qty * 110 * 0.001)
    assert trades.pnl[0] == pytest.approx(equity[-1] - 1000.0)


# -- exit rules ---------------------------------------------------------------------------


def test_trailing_stop_follows_the_best_closed_candle() -> None:
    candles = bars([FLAT, (100, 110, 99, 108), (108, 109, 104, 105), FLAT])
    rules = ExitRules(stop_loss_pct=0.03, trailing_pct=0.05)
    _, _, trades = run(candles, entry=(0,), exits=rules)
    # Entry candle: best is the entry, trail at 95 (under the 97 stop); candle 2 trails 110.
    assert reasons(trades) == ["trailing"]
    assert trades.exit_index[0] == 2
    assert trades.exit_price[0] == pytest.approx(104.5)


def test_trailing_waits_for_its_activation() -> None:
    candles = bars([FLAT, (100, 110, 99, 108), (108, 109, 104, 105), FLAT])
    rules = ExitRules(trailing_pct=0.05, trailing_activation_pct=0.2)
    _, _, trades = run(candles, entry=(0,), exits=rules)
    assert reasons(trades) == ["end"]


def test_breakeven_moves_the_stop_to_cover_both_fees() -> None:
    candles = bars([FLAT, (100, 106, 99, 104), (104, 105, 100, 101), FLAT])
    rules = ExitRules(stop_loss_pct=0.03, breakeven_at_pct=0.05)
    equity, _, trades = run(candles, entry=(0,), exits=rules, fee_rate=0.001)
    assert reasons(trades) == ["stop_loss"]
    assert trades.exit_price[0] == pytest.approx(100 * 1.001 / 0.999)
    assert abs(trades.pnl[0]) < 1e-9
    assert equity[-1] == pytest.approx(1000.0, abs=1e-9)


def test_partial_targets_close_fractions_of_the_initial_amount() -> None:
    candles = bars([FLAT, (100, 103, 99, 102), (102, 106, 101, 105), FLAT])
    rules = ExitRules(take_profit_pct=0.05, partial_targets=((0.02, 0.5),))
    _, _, trades = run(candles, entry=(0,), exits=rules)
    assert reasons(trades) == ["take_profit", "take_profit"]
    assert list(trades.exit_index) == [1, 2]
    assert list(trades.exit_price) == pytest.approx([102.0, 105.0])
    assert list(trades.amount) == pytest.approx([5.0, 5.0])
    assert trades.pnl.sum() == pytest.approx(5 * 2.0 + 5 * 5.0)


def test_several_targets_in_one_candle_and_a_gap_above_them() -> None:
    candles = bars([FLAT, (100, 104, 99, 103), (107, 108, 106, 107)])
    rules = ExitRules(take_profit_pct=0.06, partial_targets=((0.01, 0.25), (0.03, 0.25)))
    _, _, trades = run(candles, entry=(0,), exits=rules)
    assert list(trades.exit_index) == [1, 1, 2]
    # Both partials within candle 1; the final target gapped: filled at the better open.
    assert list(trades.exit_price) == pytest.approx([101.0, 103.0, 107.0])
    assert list(trades.amount) == pytest.approx([2.5, 2.5, 5.0])


def test_partials_summing_to_one_leave_nothing_behind() -> None:
    candles = bars([FLAT, (100, 106, 99, 105), FLAT])
    rules = ExitRules(partial_targets=((0.02, 0.3), (0.04, 0.7)))
    equity, exposure, trades = run(candles, entry=(0,), exits=rules)
    assert list(trades.amount) == pytest.approx([3.0, 7.0])
    assert exposure[1] == 0.0
    assert equity[-1] == pytest.approx(1000 + 3 * 2.0 + 7 * 4.0)


def test_time_exit_closes_at_the_open() -> None:
    candles = bars([FLAT] * 7)
    _, _, trades = run(candles, entry=(0,), exits=ExitRules(time_exit_candles=3))
    assert reasons(trades) == ["time"]
    assert (trades.entry_index[0], trades.exit_index[0]) == (1, 4)
    assert trades.exit_ts[0] == 4 * HOUR


def test_a_signal_exit_wins_over_the_time_exit() -> None:
    candles = bars([FLAT] * 7)
    _, _, trades = run(candles, entry=(0,), exit=(3,), exits=ExitRules(time_exit_candles=3))
    assert reasons(trades) == ["signal"]


def test_atr_stop_and_the_nearer_level_binding() -> None:
    # A constant 2-point range: ATR is 2 once warmed up.
    rows = [(100.0, 101.0, 99.0, 100.0)] * 6 + [(100.0, 100.5, 95.5, 96.0)]
    candles = bars(rows)
    wide = ExitRules(stop_loss_pct=0.05, stop_loss_atr=2.0, atr_period=3)
    _, _, trades = run(candles, entry=(5,), exits=wide)
    assert trades.exit_price[0] == pytest.approx(96.0)  # 2 ATR (96) is nearer than 5 % (95)
    tight = ExitRules(stop_loss_pct=0.03, stop_loss_atr=2.0, atr_period=3)
    _, _, trades = run(candles, entry=(5,), exits=tight)
    assert trades.exit_price[0] == pytest.approx(97.0)


# -- short, leverage, funding, slippage -----------------------------------------------------


def test_short_stop_and_profit() -> None:
    candles = bars([FLAT, FLAT, (100, 104, 99, 103), FLAT, (100, 100, 90, 91)])
    rules = ExitRules(stop_loss_pct=0.03, take_profit_pct=0.06)
    settings = {"market": "swap", "directions": "short"}
    _, _, trades = run(candles, entry_short=(0, 2), exits=rules, **settings)
    assert reasons(trades) == ["stop_loss", "take_profit"]
    assert list(trades.direction) == [-1, -1]
    assert list(trades.exit_price) == pytest.approx([103.0, 94.0])
    assert trades.pnl[0] == pytest.approx(-30.0)  # 10 short at 100, bought back at 103
    assert trades.pnl[1] == pytest.approx((970 / 100) * 6.0)


def test_long_only_ignores_short_signals() -> None:
    candles = bars([FLAT] * 4)
    _, _, trades = run(candles, entry_short=(0,), market="swap", directions="long")
    assert len(trades) == 0


def test_leverage_liquidates_before_a_wider_stop() -> None:
    candles = bars([FLAT, FLAT, (100, 100, 90, 95)])
    settings = {"market": "swap", "leverage": 10.0, "maintenance_margin_rate": 0.005}
    _, _, trades = run(candles, entry=(0,), exits=ExitRules(stop_loss_pct=0.15), **settings)
    assert reasons(trades) == ["liquidation"]
    assert trades.amount[0] == pytest.approx(100.0)  # 1000 margin x 10 / 100
    assert trades.exit_price[0] == pytest.approx(100 * (1 - 0.1 + 0.005))
    assert trades.pnl[0] == pytest.approx(-950.0)
    _, _, trades = run(candles, entry=(0,), exits=ExitRules(stop_loss_pct=0.05), **settings)
    assert reasons(trades) == ["stop_loss"]
    assert trades.exit_price[0] == pytest.approx(95.0)


def test_a_gap_past_the_liquidation_price_liquidates_there() -> None:
    candles = bars([FLAT, FLAT, (80, 81, 79, 80)])
    settings = {"market": "swap", "leverage": 10.0}
    _, _, trades = run(candles, entry=(0,), exits=ExitRules(stop_loss_pct=0.05), **settings)
    assert reasons(trades) == ["liquidation"]
    assert trades.exit_price[0] == pytest.approx(90.5)
    assert trades.pnl[0] == pytest.approx(-950.0)


def test_a_signal_exit_slipping_past_the_liquidation_price_fills_there_as_a_signal() -> None:
    # Entry at 100 slipped 1 % to 101: liquidation at 101 x (1 - 1/10 + 0.005) = 91.405. The
    # exit at the open of candle 2 (92) slips to 91.08, past it: it fills at the liquidation
    # price, and stays a signal exit made at the open, before that candle's entries.
    candles = bars([FLAT, (100, 100, 92, 92), (92, 93, 92, 92), FLAT])
    settings = {"market": "swap", "leverage": 10.0, "slippage_bps": 100.0}
    _, _, trades = run(candles, entry=(0,), exit=(1,), **settings)
    assert reasons(trades) == ["signal"]
    assert trades.exit_price[0] == pytest.approx(101 * (1 - 0.1 + 0.005))
    assert trades.exit_index[0] == 2


def test_funding_is_paid_at_each_boundary_held_across() -> None:
    candles = bars([FLAT] * 20)  # ts 0..19 h; 8 h boundaries at 8 h and 16 h
    settings = {"market": "swap", "funding_rate": 0.0001}
    equity, _, trades = run(candles, entry=(0,), **settings)
    assert trades.funding[0] == pytest.approx(-2 * 10 * 100 * 0.0001)
    assert trades.pnl[0] == pytest.approx(-0.2)
    assert equity[-1] == pytest.approx(999.8)
    assert equity[7] == pytest.approx(1000.0)
    assert equity[8] == pytest.approx(999.9)
    settings["directions"] = "short"
    _, _, trades = run(candles, entry_short=(0,), **settings)
    assert trades.funding[0] == pytest.approx(0.2)


def test_funding_counts_every_boundary_inside_a_long_candle() -> None:
    daily = Candles(
        "TEST/USDT",
        "1d",
        np.arange(4, dtype=np.int64) * 86_400_000,
        *(np.full(4, 100.0) for _ in range(4)),
        np.ones(4),
    )
    signals = Signals(flags(4, 0), flags(4))
    settings = BacktestSettings(equity=1000.0, fee_rate=0.0, market="swap", funding_rate=0.001)
    _, _, trades = simulate(daily, signals, ExitRules(), settings)
    # Held from day 1 to the end of day 3: the opens of day 2 and 3 each cross 3 boundaries.
    assert trades.funding[0] == pytest.approx(-6 * 1000 * 0.001)


def test_fixed_slippage_moves_market_fills_but_not_targets() -> None:
    candles = bars([FLAT, FLAT, (110, 110, 110, 110), FLAT, (100, 106, 99, 100)])
    _, _, trades = run(
        candles, entry=(0, 2), exit=(1,), slippage_bps=10, exits=ExitRules(0.5, 0.05)
    )
    assert list(trades.entry_price) == pytest.approx([100.1, 100.1])
    assert trades.exit_price[0] == pytest.approx(110 * 0.999)  # signal exit: market
    assert trades.exit_price[1] == pytest.approx(100.1 * 1.05)  # target: at the level


def test_stop_fills_pay_slippage() -> None:
    candles = bars([FLAT, FLAT, (100, 100, 90, 95)])
    _, _, trades = run(candles, entry=(0,), slippage_bps=10, exits=ExitRules(0.03))
    assert trades.exit_price[0] == pytest.approx(100.1 * 0.97 * 0.999)


def test_volatility_slippage_scales_with_natr_of_the_signal_candle() -> None:
    rows = [(100.0 + i, 102.0 + i, 98.0 + i, 100.0 + i) for i in range(30)]
    candles = bars(rows)
    _, _, trades = run(candles, entry=(20,), slippage_bps=5, slippage_atr=0.5)
    natr = talib_.natr(candles.high, candles.low, candles.close, 14)
    rate = 5 / 10_000 + 0.5 * natr[20] / 100
    assert trades.entry_price[0] == pytest.approx(candles.open[21] * (1 + rate))
    end_rate = 5 / 10_000 + 0.5 * natr[29] / 100
    assert trades.exit_price[0] == pytest.approx(candles.close[29] * (1 - end_rate))


def test_stake_fraction_and_fixed() -> None:
    candles = bars([FLAT, FLAT, FLAT])
    _, exposure, trades = run(candles, entry=(0,), stake="fraction", stake_amount=0.25)
    assert trades.amount[0] == pytest.approx(2.5)
    assert exposure[1] == pytest.approx(0.25)
    _, _, trades = run(candles, entry=(0,), stake="fixed", stake_amount=300.0)
    assert trades.amount[0] == pytest.approx(3.0)
    _, _, trades = run(candles, entry=(0,), stake="fixed", stake_amount=5000.0)
    assert trades.amount[0] == pytest.approx(10.0)  # capped by the free cash


# -- run_backtest and refusals ------------------------------------------------------------


class Scripted(Strategy):
    """Enters on candles whose close ends in .5, leaves on .7; a 3 % stop."""

    name = "scripted"

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        cents = np.round(candles.close % 1, 1)
        return Signals(cents == 0.5, cents == 0.7)

    def exit_rules(self, params: Params) -> ExitRules:
        return ExitRules(stop_loss_pct=0.03)


def test_run_backtest_uses_the_strategy_and_its_exit_rules() -> None:
    candles = bars([(100, 100, 100, 100.5), FLAT, (100, 100, 96, 99.7), FLAT, (100, 101, 99, 100)])
    result = run_backtest(
        candles, Scripted(), settings=BacktestSettings(fee_rate=0.0), exchange="x"
    )
    assert (result.exchange, result.symbol, result.strategy) == ("x", "TEST/USDT", "scripted")
    assert reasons(result.trades) == ["stop_loss"]
    assert result.close is candles.close or np.array_equal(result.close, candles.close)
    override = BacktestSettings(fee_rate=0.0, exits=ExitRules())
    result = run_backtest(candles, Scripted(), settings=override)
    assert reasons(result.trades) == ["signal"]
    assert result.trades.exit_index[0] == 3


def test_signals_given_are_used_as_they_are() -> None:
    candles = bars([FLAT] * 4)
    given = Signals(flags(4, 1), flags(4))
    result = run_backtest(candles, Scripted(), signals=given)
    assert list(result.trades.entry_index) == [2]


def test_refusals_say_what_was_found() -> None:
    candles = bars([FLAT] * 4)
    with pytest.raises(InvalidInputError, match="one value per candle"):
        simulate(candles, Signals(flags(3), flags(3)), ExitRules(), BacktestSettings())
    short_only = BacktestSettings(market="swap", directions="short")
    with pytest.raises(InvalidInputError, match="no short signals"):
        simulate(candles, Signals(flags(4), flags(4)), ExitRules(), short_only)
    broken = bars([FLAT, (100, 100, float("nan"), 100), FLAT])
    with pytest.raises(InvalidInputError, match="low must be a finite price"):
        simulate(broken, Signals(flags(3), flags(3)), ExitRules(), BacktestSettings())
    wild = bars([(100, 300, 1, 100)] * 20)
    with pytest.raises(InvalidInputError, match="slippage reaches"):
        simulate(wild, Signals(flags(20), flags(20)), ExitRules(), BacktestSettings(slippage_atr=9))


def test_empty_series() -> None:
    candles = bars([])
    equity, exposure, trades = simulate(
        candles, Signals(flags(0), flags(0)), ExitRules(0.03, 0.06, 2.0), BacktestSettings()
    )
    assert equity.size == exposure.size == len(trades) == 0
