"""Values for the repository contract suites: fresh ids per test, so tests never collide."""

from __future__ import annotations

import uuid
from decimal import Decimal

from tests.contracts.conftest import Backend
from xraybot.model import (
    Direction,
    Fill,
    IntentKind,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Trade,
)

D = Decimal
T0 = 1_700_000_000_000
TWO = D("2")
PRICE = D("100.5")
BTC = "BTC/USDT"
ETH = "ETH/USDT"
STRATEGY = "ema_cross"


def new_user_id() -> str:
    return f"u{uuid.uuid4().hex[:16]}"


def make_intent(
    user_id: str,
    *,
    symbol: str = BTC,
    kind: IntentKind = IntentKind.OPEN,
    side: Side = Side.BUY,
    amount: Decimal = TWO,
    price: Decimal = PRICE,
    signal_ts_ms: int = T0,
    leg: int = 0,
) -> OrderIntent:
    return OrderIntent(
        user_id=user_id,
        strategy=STRATEGY,
        symbol=symbol,
        side=side,
        kind=kind,
        order_type=OrderType.LIMIT,
        amount=amount,
        price=price,
        signal_ts_ms=signal_ts_ms,
        leg=leg,
        reason="fast EMA crossed above slow",
    )


async def open_order(backend: Backend, intent: OrderIntent, ts_ms: int = T0) -> Order:
    """Journal the intent and move its order to OPEN, as the order manager would."""
    pending = await backend.journal.record_intent(intent, ts_ms)
    opened = pending.transition(
        OrderStatus.OPEN, ts_ms + 1, exchange_order_id=f"ex-{pending.client_order_id[:8]}"
    )
    return await backend.journal.record_order_update(opened)


def make_fill(
    order: Order, fill_id: str, amount: Decimal, ts_ms: int, price: Decimal = PRICE
) -> Fill:
    return Fill(
        fill_id=fill_id,
        client_order_id=order.client_order_id,
        user_id=order.user_id,
        symbol=order.symbol,
        side=order.side,
        price=price,
        amount=amount,
        fee=D("-0.00012"),  # a maker rebate
        fee_currency="USDT",
        ts_ms=ts_ms,
        is_maker=True,
    )


def make_position(order: Order, amount: Decimal, ts_ms: int) -> Position:
    return Position(
        user_id=order.user_id,
        strategy=STRATEGY,
        symbol=order.symbol,
        direction=Direction.LONG,
        amount=amount,
        entry_price=D("100.5"),
        opened_ts_ms=T0,
        updated_ts_ms=ts_ms,
        stop_price=D("95.25"),
        fees_paid=D("0.00012"),
    )


def make_trade(user_id: str, symbol: str, trade_id: str, exit_ts_ms: int) -> Trade:
    return Trade(
        trade_id=trade_id,
        user_id=user_id,
        strategy=STRATEGY,
        symbol=symbol,
        direction=Direction.LONG,
        amount=D("2"),
        entry_price=D("100.5"),
        exit_price=D("110.25"),
        entry_ts_ms=T0,
        exit_ts_ms=exit_ts_ms,
        fees=D("0.4"),
        exit_reason="take_profit",
    )


async def round_trip(
    backend: Backend, user_id: str, symbol: str, exit_ts_ms: int, trade_id: str
) -> Trade:
    """Enter, fill, exit and close one position; return the recorded trade."""
    journal = backend.journal
    entry = await open_order(backend, make_intent(user_id, symbol=symbol, signal_ts_ms=T0))
    done = entry.transition(OrderStatus.FILLED, T0 + 2, filled=D("2"), average_price=D("100.5"))
    fill = make_fill(entry, f"{trade_id}-in", D("2"), T0 + 2)
    assert await journal.record_fill(fill, done, make_position(entry, D("2"), T0 + 2), None)
    exit_intent = make_intent(
        user_id, symbol=symbol, kind=IntentKind.CLOSE, side=Side.SELL, signal_ts_ms=exit_ts_ms
    )
    exit_order = await open_order(backend, exit_intent, exit_ts_ms)
    closed = exit_order.transition(OrderStatus.FILLED, exit_ts_ms + 2, filled=D("2"))
    trade = make_trade(user_id, symbol, trade_id, exit_ts_ms)
    exit_fill = make_fill(exit_order, f"{trade_id}-out", D("2"), exit_ts_ms + 2, D("110.25"))
    assert await journal.record_fill(exit_fill, closed, None, trade)
    return trade
