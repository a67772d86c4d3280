"""Properties of the risk layer in a shared-account portfolio, over random books and settings.

No limit is exceeded at any candle: never more positions open than the slots and the limit
allow, and at every entry the open notional (rebuilt here from the trades and the candles,
not taken from the kernel) plus the new one stays within every exposure cap and the margin
reserve; sizes never exceed the free cash; the kill switch stops every symbol at once; and the
compiled loop decides as the same loop run as plain Python.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.support.engine_strategies import maybe, risk_layers
from tests.support.portfolio import Given, books, open_at_entries
from xraybot.backtest import kernel, portfolio
from xraybot.backtest.portfolio import PortfolioResult, kernel_arguments, run_portfolio
from xraybot.backtest.results import BacktestSettings
from xraybot.matching.rules import EXIT_SIGNAL, EXIT_TIME
from xraybot.model.candles import Candles

pytestmark = pytest.mark.properties

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
Book = tuple[list[Candles], Given, BacktestSettings]


@st.composite
def risky_books(draw: st.DrawFn, rules: bool = True, crowded: bool = False) -> Book:
    """A random book with a random risk layer; ``crowded``: several symbols, several slots
    and rare exit signals, so positions overlap and the exposure limits have work to do."""
    series, strategy, account = draw(books())
    if crowded:
        assume(len(series) >= 2)
        thinned = {}
        for symbol, drawn in strategy.by_symbol.items():
            n = len(drawn.entry_long)
            rare = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
            rare &= np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))

            def thin(flags: Any, rare: Any = rare) -> Any:
                return None if flags is None else flags & rare

            thinned[symbol] = replace(
                drawn, exit_long=thin(drawn.exit_long), exit_short=thin(drawn.exit_short)
            )
        strategy = Given(thinned, strategy.exits)
    start = int(min(c.ts_ms[0] for c in series))
    layer = draw(risk_layers(strategy.exits, account.market == "swap", start))
    names = [c.symbol for c in series]
    if len(names) > 1 and draw(st.booleans()):
        layer = replace(layer, clusters=(tuple(names[: draw(st.integers(2, len(names)))]),))
    if account.market == "swap" and layer.auto_leverage:
        account = replace(account, leverage=draw(st.sampled_from([1.0, 5.0, 20.0, 40.0])))
    account = replace(
        account,
        risk=layer,
        risk_rules=rules,
        max_open_trades=draw(st.integers(2 if crowded else 1, 4)),
        stake=draw(st.sampled_from(["all", "fraction"])),
        stake_amount=draw(maybe(st.floats(0.1, 0.6))) or 1.0,
    )
    return series, strategy, account


def run(book: Book) -> PortfolioResult:
    series, strategy, account = book
    return run_portfolio(series, strategy, None, account)


def held_notional(result: PortfolioResult, series: list[Candles]) -> list[dict[str, float]]:
    """Per sized entry, in order: each symbol's open notional when it was judged.

    Rebuilt from the trade rows: a row still holds its amount at the entries of time ``now``
    unless it closed before (an earlier time, or a signal/time exit at this open); it is
    marked at its symbol's last close before ``now``, or at its own entry price when it
    opened earlier at this same time.
    """
    assert result.risk is not None
    sized = result.risk.entries
    rows: list[tuple[str, int, int, int, float, float]] = []
    for symbol, trades in result.trades.items():
        for i in range(len(trades)):
            rows.append(
                (
                    symbol,
                    int(trades.entry_ts[i]),
                    int(trades.exit_ts[i]),
                    int(trades.exit_reason[i]),
                    float(trades.amount[i]),
                    float(trades.entry_price[i]),
                )
            )
    closes = {c.symbol: c for c in series}
    opened_now: dict[int, list[str]] = {}
    found = []
    for k in range(len(sized)):
        now = int(sized.ts_ms[k])
        earlier_now = opened_now.setdefault(now, [])
        book: dict[str, float] = {}
        for symbol, entry, exit_, reason, amount, price in rows:
            if entry > now or (entry == now and symbol not in earlier_now):
                continue
            if exit_ < now or (exit_ == now and reason in (EXIT_SIGNAL, EXIT_TIME)):
                continue
            if entry == now:
                mark = price
            else:
                candles = closes[symbol]
                mark = float(candles.close[np.searchsorted(candles.ts_ms, now) - 1])
            book[symbol] = book.get(symbol, 0.0) + amount * mark
        found.append(book)
        earlier_now.append(result.symbols[int(sized.symbol[k])])
    return found


@PROPERTY
@given(book=risky_books(crowded=True) | risky_books())
def test_no_limit_is_exceeded_at_any_candle(book: Book) -> None:
    series, _, account = book
    result = run(book)
    layer = account.risk
    assert layer is not None
    assert result.risk is not None
    limits = layer.limits
    slots = account.max_open_trades
    if limits.max_open_positions is not None:
        slots = min(slots, limits.max_open_positions)
    assert open_at_entries(result) <= slots
    sized = result.risk.entries
    cluster_of = dict(zip(result.symbols, layer.cluster_of(result.symbols), strict=True))
    tolerance = 1 + 1e-9
    for k, held in enumerate(held_notional(result, series)):
        symbol = result.symbols[int(sized.symbol[k])]
        equity, new = float(sized.equity[k]), float(sized.notional[k])
        total = sum(held.values())
        mine = cluster_of[symbol]
        cluster = sum(v for s, v in held.items() if mine >= 0 and cluster_of[s] == mine)
        assert total == pytest.approx(float(sized.open_notional[k]), rel=1e-9, abs=1e-6)
        assert cluster == pytest.approx(float(sized.cluster_notional[k]), rel=1e-9, abs=1e-6)
        assert symbol not in held
        if limits.max_symbol_exposure is not None:
            assert new <= limits.max_symbol_exposure * equity * tolerance
        if limits.max_total_exposure is not None:
            assert total + new <= limits.max_total_exposure * equity * tolerance
        if limits.max_cluster_exposure is not None:
            assert cluster + new <= limits.max_cluster_exposure * equity * tolerance
        if limits.margin_multiplier is not None:
            margin = (total + new) / float(sized.leverage[k])
            assert margin * limits.margin_multiplier <= equity * tolerance


@PROPERTY
@given(book=risky_books(rules=False) | risky_books(rules=True))
def test_sizes_never_exceed_the_cash(book: Book) -> None:
    _, _, account = book
    result = run(book)
    pnl = sum(float(t.pnl.sum()) for t in result.trades.values())
    total = account.equity + pnl
    assert abs(result.equity[-1] - total) <= 1e-9 * max(account.equity, abs(total)) + 1e-9
    assert result.cash.min() >= -1e-9 * account.equity
    if result.risk is None:
        return
    sized = result.risk.entries
    assert (sized.cost > 0).all()
    assert (sized.cost <= sized.cash * (1 + 1e-12)).all()
    opened = sum(len(np.unique(t.entry_index)) for t in result.trades.values())
    assert opened == len(sized)


@PROPERTY
@given(book=risky_books())
def test_the_kill_switch_stops_every_symbol_at_once(book: Book) -> None:
    _, _, account = book
    assert account.risk is not None
    kill = account.risk.kill_at_ms
    result = run(book)
    assert result.risk is not None
    if kill is None:
        return
    for trades in result.trades.values():
        assert (trades.entry_ts < kill).all()
    late = result.risk.events.ts_ms >= kill
    assert set(result.risk.events.select(late).reasons()) <= {"kill_switch"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=risky_books(rules=False) | risky_books(rules=True))
def test_the_portfolio_risk_layer_decides_as_plain_python_does(book: Book) -> None:
    series, strategy, account = book
    exits = strategy.exits
    signals = [strategy.by_symbol[c.symbol] for c in series]

    def arguments() -> tuple[Any, ...]:
        return kernel_arguments(series, signals, exits, account)

    compiled = portfolio.run_portfolio_kernel(*arguments())
    plain = kernel.as_python(portfolio.run_portfolio_kernel)(*arguments())
    count, n_events, n_entries = compiled[7], compiled[9], compiled[11]
    assert (plain[7], plain[9], plain[11]) == (count, n_events, n_entries)
    for found, expected in zip(plain[:5], compiled[:5], strict=True):
        np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(plain[5][:count], compiled[5][:count])
    np.testing.assert_array_equal(plain[6][:count], compiled[6][:count])
    np.testing.assert_array_equal(plain[8][:n_events], compiled[8][:n_events])
    np.testing.assert_array_equal(plain[10][:n_entries], compiled[10][:n_entries])
