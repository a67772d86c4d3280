"""Properties of the risk layer in the one-symbol kernel, over random candles, signals and
settings: sizes never exceed the cash, no limit is exceeded, the kill switch stops every entry
from its time on, the layer with nothing set changes nothing, and the compiled loop decides
as the same loop run as plain Python (``kernel.as_python``): same trades, same blocks.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.engine_strategies import accounts, exit_rules, risk_layers, signal_sets, walks
from xraybot.backtest import kernel
from xraybot.backtest.engine import prepare, simulate, simulate_detailed
from xraybot.backtest.results import BacktestSettings
from xraybot.backtest.risk_results import RiskSettings
from xraybot.matching.costs import liquidation_price
from xraybot.model.candles import Candles
from xraybot.risk.exits import ExitRules, stop_level
from xraybot.strategy.base import Signals

pytestmark = pytest.mark.properties

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
Case = tuple[Candles, Signals, ExitRules, BacktestSettings]


@st.composite
def risky_cases(draw: st.DrawFn, rules: bool | None = None) -> Case:
    candles = draw(walks())
    account = draw(accounts())
    exits = draw(exit_rules())
    signals = draw(signal_sets(len(candles), short=account.market == "swap"))
    layer = draw(risk_layers(exits, account.market == "swap", int(candles.ts_ms[0])))
    on = draw(st.booleans()) if rules is None else rules
    if account.market == "swap" and layer.auto_leverage:
        account = replace(account, leverage=draw(st.sampled_from([1.0, 5.0, 20.0, 40.0])))
    return candles, signals, exits, replace(account, risk=layer, risk_rules=on)


def kernel_arguments(case: Case) -> tuple[Any, ...]:
    candles, signals, exits, account = case
    inputs = prepare(candles, signals, exits, account)
    risk = inputs.risk
    return (
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
        risk.vector,
        risk.params,
        risk.fresh_state(),
        risk.volatility,
        risk.volatility_ratio,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=risky_cases())
def test_the_risk_layer_decides_in_the_kernel_as_in_plain_python(case: Case) -> None:
    compiled = kernel.run_symbol(*kernel_arguments(case))
    plain = kernel.as_python(kernel.run_symbol)(*kernel_arguments(case))
    equity, exposure, tf, ti, count, events, n_events, entries, n_entries = compiled
    assert plain[4] == count
    assert plain[6] == n_events
    assert plain[8] == n_entries
    np.testing.assert_array_equal(plain[0], equity)
    np.testing.assert_array_equal(plain[1], exposure)
    np.testing.assert_array_equal(plain[2][:count], tf[:count])
    np.testing.assert_array_equal(plain[3][:count], ti[:count])
    np.testing.assert_array_equal(plain[5][:n_events], events[:n_events])
    np.testing.assert_array_equal(plain[7][:n_entries], entries[:n_entries])


@PROPERTY
@given(case=risky_cases())
def test_sizes_never_exceed_the_cash_and_money_is_conserved(case: Case) -> None:
    candles, signals, exits, account = case
    equity, _, trades, report = simulate_detailed(candles, signals, exits, account)
    total = account.equity + float(trades.pnl.sum())
    assert abs(equity[-1] - total) <= 1e-9 * max(account.equity, abs(total)) + 1e-9
    if report is None:
        assert account.risk_layer is None
        return
    sized = report.entries
    assert (sized.cost <= sized.cash * (1 + 1e-12)).all()
    assert (sized.cost > 0).all()
    assert account.risk is not None
    assert (sized.notional >= account.risk.min_notional).all()
    # Each position opened is one sized entry; what it holds is what was sized.
    first_rows = np.unique(trades.entry_index, return_index=True)[1]
    opened = first_rows.size
    assert opened == len(sized)
    held = np.array(
        [trades.amount[trades.entry_index == trades.entry_index[r]].sum() for r in first_rows]
    )
    notional = held * trades.entry_price[first_rows]
    np.testing.assert_allclose(notional, sized.notional, rtol=1e-9)
    per_notional = 1.0 / sized.leverage + account.fee_rate
    np.testing.assert_allclose(notional * per_notional, sized.cost, rtol=1e-9)


@PROPERTY
@given(case=risky_cases(rules=True))
def test_no_limit_is_exceeded_at_any_entry(case: Case) -> None:
    candles, signals, exits, account = case
    _, _, _, report = simulate_detailed(candles, signals, exits, account)
    assert report is not None
    assert account.risk is not None
    limits = account.risk.limits
    sized = report.entries
    tolerance = 1 + 1e-9

    def within(share: float | None, used: Any) -> None:
        if share is not None:
            assert (used <= share * sized.equity * tolerance).all()

    within(limits.max_symbol_exposure, sized.notional)
    within(limits.max_total_exposure, sized.open_notional + sized.notional)
    within(limits.max_cluster_exposure, sized.cluster_notional + sized.notional)
    if limits.margin_multiplier is not None:
        margin = (sized.open_notional + sized.notional) / sized.leverage
        assert (margin * limits.margin_multiplier <= sized.equity * tolerance).all()


@PROPERTY
@given(case=risky_cases(rules=True))
def test_the_kill_switch_stops_every_entry_from_its_time_on(case: Case) -> None:
    candles, signals, exits, account = case
    assert account.risk is not None
    kill = account.risk.kill_at_ms
    _, _, trades, report = simulate_detailed(candles, signals, exits, account)
    assert report is not None
    if kill is None:
        assert "kill_switch" not in report.blocked()
        return
    assert (trades.entry_ts < kill).all()
    late = report.events.ts_ms >= kill
    assert set(report.events.select(late).reasons()) <= {"kill_switch"}
    # Every entry signal due from then on met the switch, none anything else.
    n = len(candles)
    due = 0
    flat = np.ones(n, dtype=bool)
    for entry, exit_ in zip(trades.entry_index, trades.exit_index, strict=True):
        flat[entry : exit_ + 1] = False
    for t in range(1, n):
        wanted = signals.entry_long[t - 1] or (
            account.directions != "long"
            and signals.entry_short is not None
            and signals.entry_short[t - 1]
        )
        both = (
            account.directions == "both"
            and signals.entry_short is not None
            and signals.entry_long[t - 1]
            and signals.entry_short[t - 1]
        )
        if account.directions == "short":
            wanted = signals.entry_short is not None and bool(signals.entry_short[t - 1])
        if candles.ts_ms[t] >= kill and wanted and not both and flat[t] and flat[t - 1]:
            due += 1
    assert report.blocked().get("kill_switch", 0) >= due


@PROPERTY
@given(case=risky_cases())
def test_auto_leverage_keeps_the_liquidation_beyond_the_stop(case: Case) -> None:
    candles, signals, exits, account = case
    if account.risk is None or not account.risk.auto_leverage:
        return
    _, _, trades, report = simulate_detailed(candles, signals, exits, account)
    assert report is not None
    atr = prepare(candles, signals, exits, account).atr
    first_rows = np.unique(trades.entry_index, return_index=True)[1]
    for row, leverage in zip(first_rows, report.entries.leverage, strict=True):
        assert 1.0 <= leverage <= account.leverage
        if leverage == 1.0:
            continue
        side, entry = int(trades.direction[row]), float(trades.entry_price[row])
        start = int(trades.entry_index[row])
        stop = stop_level(
            side,
            entry,
            math.nan if exits.stop_loss_pct is None else exits.stop_loss_pct,
            atr[start - 1],
            math.nan if exits.stop_loss_atr is None else exits.stop_loss_atr,
        )
        liq = liquidation_price(side, entry, leverage, account.maintenance_margin_rate)
        assert side * liq < side * stop


@PROPERTY
@given(case=risky_cases(rules=True))
def test_rules_with_nothing_set_change_nothing(case: Case) -> None:
    candles, signals, exits, account = case
    bare = replace(account, risk=None, risk_rules=False)
    ruled = replace(account, risk=RiskSettings(), risk_rules=True)
    expected = simulate(candles, signals, exits, bare)
    found = simulate(candles, signals, exits, ruled)
    np.testing.assert_array_equal(found[0], expected[0])
    np.testing.assert_array_equal(found[1], expected[1])
    np.testing.assert_array_equal(found[2].pnl, expected[2].pnl)
    np.testing.assert_array_equal(found[2].amount, expected[2].amount)
