"""The risk layer in the one-symbol kernel, on small hand-checked series.

Sizing, auto leverage, protections and limits run inside the backtest as the live bot runs
them (issue 7, point 8). Candles are ``(open, high, low, close)`` rows one hour apart from
ts 0 (a UTC midnight); a signal on candle t acts at the open of t+1. Fees are 0 unless a
scenario is about them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from tests.support.scenarios import FLAT, HOUR, bars, flags, reasons
from xraybot.backtest.engine import run_backtest, simulate, simulate_detailed
from xraybot.backtest.results import BacktestResult, BacktestSettings
from xraybot.backtest.risk_results import RiskReport, RiskSettings
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules
from xraybot.risk.leverage import leverage_for
from xraybot.risk.limits import LimitSettings
from xraybot.risk.protections_settings import ProtectionSettings
from xraybot.strategy.base import FeatureCache, Params, Signals, Strategy

DOWN = (100.0, 100.0, 90.0, 95.0)  # hits a 3 % stop (97) and a 10 % one (90)


def signals(n: int, entry: Sequence[int] = (), exit: Sequence[int] = ()) -> Signals:
    return Signals(flags(n, *entry), flags(n, *exit))


def risk_run(
    candles: Candles,
    *,
    entry: Sequence[int] = (),
    exit: Sequence[int] = (),
    exits: ExitRules | None = None,
    rules: bool = True,
    risk: RiskSettings | None = None,
    **settings: Any,
) -> tuple[Any, RiskReport]:
    account = BacktestSettings(
        **{"equity": 1000.0, "fee_rate": 0.0, "risk_rules": rules, "risk": risk, **settings}
    )
    n = len(candles)
    _, _, trades, report = simulate_detailed(
        candles, signals(n, entry, exit), exits or ExitRules(), account
    )
    assert report is not None
    return trades, report


def protect(**values: Any) -> RiskSettings:
    return RiskSettings(protections=ProtectionSettings(**values))


# -- the switch ---------------------------------------------------------------------------


def test_the_layer_off_leaves_the_kernel_alone() -> None:
    candles = bars([FLAT, DOWN, FLAT, FLAT])
    account = BacktestSettings(equity=1000.0, fee_rate=0.0)
    _, _, _, report = simulate_detailed(candles, signals(4, (0, 1, 2)), ExitRules(0.03), account)
    assert report is None
    assert not account.risk_rules
    assert account.risk_layer is None
    # Risk settings without the switch and without their own sizing stay dormant too.
    dormant = BacktestSettings(risk=protect(cooldown="4h"))
    assert dormant.risk_layer is None


def test_rules_with_nothing_set_give_the_same_run_bit_for_bit() -> None:
    candles = bars([FLAT, DOWN, (95, 99, 94, 98), (98, 104, 97, 103), FLAT, FLAT])
    exits = ExitRules(0.03, 0.05)
    n = len(candles)
    plain = simulate(candles, signals(n, (0, 1, 2, 3)), exits, BacktestSettings(fee_rate=0.001))
    ruled = simulate(
        candles, signals(n, (0, 1, 2, 3)), exits, BacktestSettings(fee_rate=0.001, risk_rules=True)
    )
    np.testing.assert_array_equal(plain[0], ruled[0])
    np.testing.assert_array_equal(plain[1], ruled[1])
    for name in ("entry_index", "exit_index", "amount", "entry_price", "exit_price", "pnl"):
        np.testing.assert_array_equal(getattr(plain[2], name), getattr(ruled[2], name))


# -- protections --------------------------------------------------------------------------


def test_cooldown_skips_the_reentries_after_a_stop() -> None:
    candles = bars([FLAT, DOWN] + [FLAT] * 6)
    every = range(7)
    free, _ = risk_run(candles, entry=every, exits=ExitRules(0.03))
    assert list(free.entry_index[:2]) == [1, 2]
    trades, report = risk_run(
        candles, entry=every, exits=ExitRules(0.03), risk=protect(cooldown="3h")
    )
    # The stop fills within candle 1, dated at its close (2h - 1 ms): 3 h later is 5h - 1 ms,
    # so the entries due at the opens of 2, 3 and 4 are skipped and the one at 5 goes.
    assert reasons(trades)[0] == "stop_loss"
    assert list(trades.entry_index) == [1, 5]
    assert report.blocked() == {"cooldown": 3}
    assert list(report.events.ts_ms) == [2 * HOUR, 3 * HOUR, 4 * HOUR]


def test_cooldown_follows_stops_only() -> None:
    candles = bars([FLAT] * 6)
    trades, report = risk_run(candles, entry=(0, 2), exit=(1,), risk=protect(cooldown="10h"))
    assert list(trades.entry_index) == [1, 3]
    assert report.blocked() == {}


def test_the_kill_switch_blocks_every_entry_from_its_time_on() -> None:
    candles = bars([FLAT] * 10)
    trades, report = risk_run(
        candles,
        entry=range(9),
        exit=(1, 3, 5, 7),
        risk=RiskSettings(kill_at_ms=4 * HOUR),
    )
    # Before 4h: entries at 1 (exit at 2) and 3 (exit at 4); from 4h on every one is refused,
    # while the open position still exits on its own signal.
    assert list(trades.entry_index) == [1, 3]
    assert list(trades.exit_index) == [2, 4]
    assert report.blocked() == {"kill_switch": 5}
    assert (report.events.ts_ms >= 4 * HOUR).all()


def test_a_daily_loss_blocks_until_the_next_utc_day() -> None:
    rows = [FLAT, FLAT, (100, 100, 85, 88)] + [FLAT] * 26
    candles = bars(rows)
    n = len(candles)
    trades, report = risk_run(
        candles, entry=[0, *range(2, n - 1)], exits=ExitRules(0.1), risk=protect(daily_loss=0.05)
    )
    # The stop loses 10 % in candle 2; entries due from 3:00 to 23:00 wait for midnight.
    assert reasons(trades)[0] == "stop_loss"
    assert trades.pnl[0] == pytest.approx(-100.0)
    assert list(trades.entry_index) == [1, 24]
    assert report.blocked() == {"daily_loss": 21}
    assert report.events.ts_ms.max() == 23 * HOUR


def test_the_drawdown_stop_ends_trading_for_good() -> None:
    candles = bars([FLAT, (100, 100, 70, 75)] + [FLAT] * 5)
    trades, report = risk_run(
        candles,
        entry=range(6),
        exits=ExitRules(0.25),
        risk=protect(max_drawdown={"max_drawdown": 0.2}),
    )
    assert list(trades.entry_index) == [1]
    assert report.blocked() == {"max_drawdown": 5}


def test_dynamic_risk_scales_the_next_entry_down() -> None:
    low = (90.0, 90.0, 90.0, 90.0)
    candles = bars([FLAT, (100, 100, 90, 90), low, low, low])
    risk = protect(dynamic_risk={"floor": 0.5, "drawdown": {"full_at": 0.0, "floor_at": 0.1}})
    trades, report = risk_run(candles, entry=(0, 2), exit=(1,), risk=risk)
    # 10 % below the peak, the floor point: the second entry commits half the stake.
    assert list(report.entries.scale) == pytest.approx([1.0, 0.5])
    assert trades.amount[1] == pytest.approx(0.5 * 900.0 / 90.0)


# -- limits -------------------------------------------------------------------------------


def test_an_entry_over_the_exposure_limit_shrinks_to_the_room() -> None:
    candles = bars([FLAT] * 3)
    limits = LimitSettings(max_total_exposure=0.4)
    trades, report = risk_run(candles, entry=(0,), risk=RiskSettings(limits=limits))
    assert trades.amount[0] == pytest.approx(4.0)
    assert report.shrunk() == {"max_total_exposure": 1}
    assert report.blocked() == {}


def test_without_shrinking_the_entry_is_skipped() -> None:
    candles = bars([FLAT] * 3)
    risk = RiskSettings(limits=LimitSettings(max_total_exposure=0.4), shrink_to_limits=False)
    trades, report = risk_run(candles, entry=(0, 1), risk=risk)
    assert len(trades) == 0
    assert report.blocked() == {"max_total_exposure": 2}


def test_leveraged_notional_counts_against_the_margin_reserve() -> None:
    candles = bars([FLAT] * 3)
    risk = RiskSettings(limits=LimitSettings(margin_multiplier=2.0))
    trades, report = risk_run(candles, entry=(0,), risk=risk, market="swap", leverage=4.0)
    # Stake all at 4x would open 4000; a reserve of twice the margin allows 1000 * 4 / 2.
    assert trades.amount[0] * 100.0 == pytest.approx(2000.0)
    assert report.shrunk() == {"margin_multiplier": 1}


# -- sizing -------------------------------------------------------------------------------


def test_risk_per_trade_loses_that_share_at_the_stop() -> None:
    candles = bars([FLAT, DOWN, FLAT])
    risk = RiskSettings(sizing="risk", risk_per_trade=0.01)
    trades, _ = risk_run(candles, entry=(0,), exits=ExitRules(0.03), rules=False, risk=risk)
    assert trades.amount[0] * 100.0 == pytest.approx(1000.0 * 0.01 / 0.03)
    assert trades.pnl[0] == pytest.approx(-10.0)


def test_volatility_target_divides_by_the_atr() -> None:
    rows = [(100.0, 102.0, 98.0, 100.0)] * 6
    candles = bars(rows)
    risk = RiskSettings(sizing="vol_target", target_volatility=0.01, volatility_period=2)
    trades, report = risk_run(candles, entry=(3,), rules=False, risk=risk)
    # ATR 4 on a close of 100: 4 % a candle; a 1 % target opens a quarter of equity.
    assert trades.amount[0] * 100.0 == pytest.approx(250.0)
    assert report.blocked() == {}


def test_kelly_sizes_from_the_closed_trades_once_there_are_enough() -> None:
    rising = [(100.0 + i, 101.0 + i, 100.0 + i, 101.0 + i) for i in range(8)]
    candles = bars(rising)
    risk = RiskSettings(sizing="kelly", kelly_min_trades=2, kelly_cap=0.25)
    trades, _ = risk_run(candles, entry=(0, 2, 4), exit=(1, 3, 5), rules=False, risk=risk)
    # Two winners (win rate 1, no loser): Kelly wants everything, the cap allows a quarter.
    equity = 1000.0 + float(trades.pnl[:2].sum())
    assert trades.amount[0] * trades.entry_price[0] == pytest.approx(1000.0)
    assert trades.amount[2] * trades.entry_price[2] == pytest.approx(0.25 * equity)


def test_auto_leverage_takes_the_rule_value_per_trade() -> None:
    candles = bars([FLAT, FLAT, FLAT])
    risk = RiskSettings(auto_leverage=True, leverage_safety=0.5)
    trades, report = risk_run(
        candles,
        entry=(0,),
        exits=ExitRules(0.03),
        rules=False,
        risk=risk,
        market="swap",
        leverage=50.0,
        maintenance_margin_rate=0.005,
    )
    expected = leverage_for(1, 100.0, 97.0, float("nan"), 0.005, 0.5, 50.0)
    assert expected == 20.0
    assert list(report.entries.leverage) == [expected]
    # Stake all at 20x: 1000 of margin carries 20000 of notional.
    assert trades.amount[0] * 100.0 == pytest.approx(20_000.0)


def test_below_the_minimum_notional_nothing_opens() -> None:
    candles = bars([FLAT] * 3)
    risk = RiskSettings(sizing="risk", risk_per_trade=0.001, min_notional=50.0)
    trades, report = risk_run(candles, entry=(0,), exits=ExitRules(0.03), rules=False, risk=risk)
    assert len(trades) == 0
    assert report.blocked() == {"below_min_notional": 1}
    # The stake's sizing is checked too: all of 1000 is below a minimum of 2000.
    trades, report = risk_run(
        candles, entry=(0,), rules=False, risk=RiskSettings(min_notional=2000.0)
    )
    assert len(trades) == 0
    assert report.blocked() == {"below_min_notional": 1}


# -- results and refusals -----------------------------------------------------------------


class Always(Strategy):
    name = "always"

    def signals(
        self, candles: Candles, params: Params, cache: FeatureCache | None = None
    ) -> Signals:
        n = len(candles)
        return Signals(np.ones(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_))

    def exit_rules(self, params: Params) -> ExitRules:
        return ExitRules(stop_loss_pct=0.03)


def test_run_backtest_reports_the_blocks() -> None:
    candles = bars([FLAT, DOWN] + [FLAT] * 4)
    settings = BacktestSettings(equity=1000.0, risk_rules=True, risk=protect(cooldown="2h"))
    result: BacktestResult = run_backtest(candles, Always(), None, settings)
    assert result.blocked == {"cooldown": 2}
    assert result.risk is not None
    assert result.risk.symbols == ("TEST/USDT",)
    document = result.risk.to_dict()
    assert document["blocked"] == {"cooldown": 2}
    assert [e["reason"] for e in document["events"]] == ["cooldown", "cooldown"]
    assert run_backtest(candles, Always(), None, BacktestSettings()).blocked == {}


def test_settings_that_can_never_work_are_refused() -> None:
    candles = bars([FLAT] * 3)
    with pytest.raises(InvalidInputError, match="no stop"):
        risk_run(candles, entry=(0,), risk=RiskSettings(sizing="risk"))
    with pytest.raises(InvalidInputError, match="auto_leverage"):
        BacktestSettings(risk=RiskSettings(auto_leverage=True))
    with pytest.raises(InvalidInputError, match="risk_per_trade"):
        RiskSettings(risk_per_trade=0.9)
    with pytest.raises(InvalidInputError, match="clusters"):
        RiskSettings(clusters=(("A/USDT", "B/USDT"), ("B/USDT",)))
