"""Small pure pieces of reconciliation: whose order is it, signed amounts, an order after a fill.

How a fill moves a position is ``order_fills.position_after_fill``, shared with the order
manager so both write exactly the same positions and trades. Amounts here are in the
market's unit (contracts on swaps), as the exchange reports them; only closed trades are
in base units.
"""

from __future__ import annotations

from decimal import Decimal

from xraybot.model.fills import Fill, Position
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import Direction

_BOT_PREFIX = "xb"  # model/ids.py derives every client order id of ours as "xb" + 30 characters
_BOT_ID_LENGTH = 32


def is_bot_order(client_order_id: str | None) -> bool:
    """Return True if the client order id has the shape of the ids this bot derives."""
    return (
        client_order_id is not None
        and len(client_order_id) == _BOT_ID_LENGTH
        and client_order_id.startswith(_BOT_PREFIX)
    )


def signed_amount(direction: Direction, amount: Decimal) -> Decimal:
    return amount if direction is Direction.LONG else -amount


def position_signed(position: Position | None) -> Decimal:
    return Decimal(0) if position is None else signed_amount(position.direction, position.amount)


def order_after_fill(order: Order, fill: Fill, exchange_order_id: str | None = None) -> Order:
    """Return the order moved by ``fill``; raise if the fill does not fit (caller reports it)."""
    filled = order.filled + fill.amount
    status = OrderStatus.FILLED if filled == order.amount else OrderStatus.PARTIALLY_FILLED
    before = order.average_price if order.average_price is not None else Decimal(0)
    average = (before * order.filled + fill.price * fill.amount) / filled
    return order.transition(
        status,
        max(order.updated_ts_ms, fill.ts_ms),
        filled=filled,
        average_price=average,
        exchange_order_id=order.exchange_order_id or exchange_order_id,
    )


__all__ = [
    "is_bot_order",
    "order_after_fill",
    "position_signed",
    "signed_amount",
]
