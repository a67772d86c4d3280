"""The risk layer in a shared-account portfolio, on small hand-checked books.

Candles are ``(open, high, low, close)`` rows one hour apart from ts 0; a signal on candle t
acts at the open of t+1; fees are 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.support.portfolio import Given, open_at_entries
from tests.support.scenarios import FLAT, HOUR, bars, flags
from xraybot.backtest.portfolio import PortfolioResult, run_portfolio
from xraybot.backtest.results import BacktestSettings
from xraybot.backtest.risk_results import RiskSettings
from xraybot.risk.exits import ExitRules
from xraybot.risk.limits import LimitSettings
from xraybot.risk.protections_settings import ProtectionSettings
from xraybot.strategy.base import Signals

DOWN = (100.0, 100.0, 90.0, 95.0)


def book(
    rows: dict[str, list[tuple[float, float, float, float]]],
    entries: dict[str, tuple[int, ...]],
    exits_at: dict[str, tuple[int, ...]] | None = None,
    *,
    rules: ExitRules | None = None,
    risk: RiskSettings | None = None,
    **settings: Any,
) -> PortfolioResult:
    series = [bars(r, symbol=s) for s, r in rows.items()]
    signals = {
        c.symbol: Signals(
            flags(len(c), *entries.get(c.symbol, ())),
            flags(len(c), *(exits_at or {}).get(c.symbol, ())),
        )
        for c in series
    }
    account = BacktestSettings(
        **{"equity": 1000.0, "fee_rate": 0.0, "risk_rules": True, "risk": risk, **settings}
    )
    return run_portfolio(series, Given(signals, rules), None, account)


def test_max_open_trades_is_never_exceeded_and_refusals_are_counted() -> None:
    names = ("A/USDT", "B/USDT", "C/USDT", "D/USDT")
    result = book(
        {s: [FLAT] * 6 for s in names},
        {s: (0, 1, 2, 3) for s in names},
        max_open_trades=2,
    )
    assert open_at_entries(result) == 2
    assert sum(len(t) for t in result.trades.values()) == 2
    # C and D are refused at each of the opens 1 to 4.
    assert result.blocked == {"max_open_positions": 8}
    assert result.results[2].blocked == {"max_open_positions": 4}
    assert result.results[0].blocked == {}


def test_the_tighter_of_slots_and_limit_binds() -> None:
    names = ("A/USDT", "B/USDT", "C/USDT")
    risk = RiskSettings(limits=LimitSettings(max_open_positions=1))
    result = book({s: [FLAT] * 4 for s in names}, {s: (0,) for s in names}, risk=risk,
                  max_open_trades=3)  # fmt: skip
    assert open_at_entries(result) == 1
    assert result.blocked == {"max_open_positions": 2}


def test_the_kill_switch_stops_every_symbol() -> None:
    names = ("A/USDT", "B/USDT")
    result = book(
        {s: [FLAT] * 8 for s in names},
        {"A/USDT": (0, 3, 4, 5, 6), "B/USDT": (2, 3, 4, 5, 6)},
        {"A/USDT": (1,), "B/USDT": ()},
        risk=RiskSettings(kill_at_ms=3 * HOUR),
        max_open_trades=2,
    )
    a, b = result.trades["A/USDT"], result.trades["B/USDT"]
    # A trades before the switch; from 3h on both are refused at every open they ask for:
    # A at 4..7, B at 3..7 (its entry due at 3h is already too late).
    assert list(a.entry_index) == [1]
    assert len(b) == 0
    assert result.blocked == {"kill_switch": 9}
    assert result.risk is not None
    assert (result.risk.events.ts_ms >= 3 * HOUR).all()


def test_a_cooldown_pauses_only_the_stopped_symbol() -> None:
    result = book(
        {"A/USDT": [FLAT, DOWN, FLAT, FLAT, FLAT], "B/USDT": [FLAT] * 5},
        {"A/USDT": (0, 1, 2), "B/USDT": (1,)},
        rules=ExitRules(0.03),
        risk=RiskSettings(protections=ProtectionSettings(cooldown="4h")),
        max_open_trades=2,
        stake="fraction",
        stake_amount=0.4,
    )
    assert list(result.trades["A/USDT"].entry_index) == [1]
    assert list(result.trades["B/USDT"].entry_index) == [2]
    assert result.blocked == {"cooldown": 2}


def test_an_account_wide_stoploss_guard_pauses_every_symbol() -> None:
    guard = {"stop_losses": 1, "window": "1h", "pause": "3h", "scope": "account"}
    result = book(
        {"A/USDT": [FLAT, DOWN, FLAT, FLAT], "B/USDT": [FLAT] * 4},
        {"A/USDT": (0,), "B/USDT": (1, 2)},
        rules=ExitRules(0.03),
        risk=RiskSettings(protections=ProtectionSettings(stoploss_guard=guard)),
        max_open_trades=2,
        stake="fraction",
        stake_amount=0.4,
    )
    assert len(result.trades["B/USDT"]) == 0
    assert result.blocked == {"stoploss_guard": 2}


def test_a_correlation_cluster_shares_one_exposure_limit() -> None:
    names = ("A/USDT", "B/USDT", "C/USDT")
    risk = RiskSettings(
        limits=LimitSettings(max_cluster_exposure=0.6), clusters=(("A/USDT", "B/USDT"),)
    )
    result = book(
        {s: [FLAT] * 3 for s in names},
        {s: (0,) for s in names},
        risk=risk,
        max_open_trades=3,
        stake="fraction",
        stake_amount=0.5,
    )
    notional = {s: float(t.amount[0] * t.entry_price[0]) for s, t in result.trades.items()}
    # A takes 500 of the cluster's 600; B shrinks to the 100 left; C is alone, and gets what
    # cash is left of its 500.
    assert notional["A/USDT"] == pytest.approx(500.0)
    assert notional["B/USDT"] == pytest.approx(100.0)
    assert notional["C/USDT"] == pytest.approx(400.0)
    assert result.risk is not None
    assert result.risk.shrunk() == {"max_cluster_exposure": 1}
    assert list(result.risk.entries.cluster_notional) == pytest.approx([0.0, 500.0, 0.0])


def test_the_summary_carries_the_risk_section() -> None:
    names = ("A/USDT", "B/USDT")
    result = book({s: [FLAT] * 3 for s in names}, {s: (0,) for s in names})
    summary = result.summary()
    assert summary["risk"]["blocked"] == {"max_open_positions": 1}
    assert summary["risk"]["events"][0]["symbol"] == "B/USDT"
    assert result.combined().risk is result.risk
    plain = book({s: [FLAT] * 3 for s in names}, {s: (0,) for s in names}, risk_rules=False)
    assert plain.risk is None
    assert plain.summary()["risk"] is None
    np.testing.assert_array_equal(plain.equity, result.equity)
