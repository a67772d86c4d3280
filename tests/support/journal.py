"""Journal round trips for query tests."""

from __future__ import annotations

from tests.contracts.builders import (
    D,
    make_fill,
    make_intent,
    make_position,
    make_trade,
    open_order,
)
from tests.contracts.conftest import Backend
from xraybot.model import IntentKind, OrderStatus, Side, Trade

HOUR = 3_600_000
DAY = 24 * HOUR


async def round_trip(
    backend: Backend, user_id: str, symbol: str, exit_ts_ms: int, trade_id: str
) -> Trade:
    """builders.round_trip, with an entry signal of its own so one symbol can trade again."""
    journal = backend.journal
    entry_ts = exit_ts_ms - HOUR
    entry = await open_order(backend, make_intent(user_id, symbol=symbol, signal_ts_ms=entry_ts))
    done = entry.transition(OrderStatus.FILLED, entry_ts, filled=D("2"), average_price=D("100.5"))
    fill = make_fill(entry, f"{trade_id}-in", D("2"), entry_ts)
    assert await journal.record_fill(fill, done, make_position(entry, D("2"), entry_ts), None)
    exit_intent = make_intent(
        user_id, symbol=symbol, kind=IntentKind.CLOSE, side=Side.SELL, signal_ts_ms=exit_ts_ms
    )
    exit_order = await open_order(backend, exit_intent, exit_ts_ms)
    closed = exit_order.transition(OrderStatus.FILLED, exit_ts_ms + 2, filled=D("2"))
    trade = make_trade(user_id, symbol, trade_id, exit_ts_ms)
    exit_fill = make_fill(exit_order, f"{trade_id}-out", D("2"), exit_ts_ms + 2, D("110.25"))
    assert await journal.record_fill(exit_fill, closed, None, trade)
    return trade
