"""SqlOrderRepository: orders by client order id and a user's open orders.

Also holds the order row mapping and the update rule that the journals (SQL and memory)
share, so every backend accepts and refuses exactly the same order changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from xraybot.model.errors import InvalidInputError
from xraybot.model.orders import Order, OrderStatus, check_transition
from xraybot.storage import tables
from xraybot.storage.db import reading
from xraybot.storage.rows import from_row

OPEN_STATUSES: frozenset[OrderStatus] = frozenset(s for s in OrderStatus if not s.is_terminal)

# What an order *is*; only its state (status, fills, prices, exchange id) may change.
_IDENTITY_FIELDS = (
    "user_id",
    "strategy",
    "symbol",
    "side",
    "kind",
    "order_type",
    "created_ts_ms",
    "signal_ts_ms",
)


def check_order_update(stored: Order, new: Order) -> bool:
    """Return True if ``new`` must be written over ``stored``, False if it changes nothing.

    Raise IllegalTransitionError for a status move the table forbids and InvalidInputError
    when ``new`` is not the same order.
    """
    if new == stored:
        # A redelivered update: idempotent, even where X -> X is not a transition.
        return False
    for field in _IDENTITY_FIELDS:
        before, after = getattr(stored, field), getattr(new, field)
        if before != after:
            raise InvalidInputError(
                f"order {stored.client_order_id}: {field} cannot change; stored {before!r}, "
                f"found {after!r}. Build the update from the stored order's transition()."
            )
    check_transition(stored.status, new.status)
    return True


def unknown_order(client_order_id: str) -> InvalidInputError:
    """Build the error for an update to an order the journal never recorded."""
    return InvalidInputError(
        f"order {client_order_id} is not in the journal; found no such client order id. "
        "Record its intent with record_intent() first."
    )


async def load_order(
    connection: AsyncConnection, client_order_id: str, *, for_update: bool = False
) -> Order | None:
    """Read one order inside an open unit of work; lock its row when ``for_update``."""
    query = sa.select(tables.orders).where(tables.orders.c.client_order_id == client_order_id)
    if for_update:
        query = query.with_for_update()
    row = (await connection.execute(query)).mappings().first()
    return None if row is None else from_row(Order, row)


class SqlOrderRepository:
    """Look up orders in the SQL journal (the OrderRepository port)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, client_order_id: str) -> Order | None:
        """Return the order with this client order id, or None if it was never recorded."""
        async with reading(self._engine, f"reading order {client_order_id}") as connection:
            return await load_order(connection, client_order_id)

    async def open_orders(self, user_id: str, symbol: str | None = None) -> list[Order]:
        """Return the user's orders in a non-terminal status, oldest first."""
        orders = tables.orders
        query = (
            sa.select(orders)
            .where(
                orders.c.user_id == user_id,
                orders.c.status.in_(sorted(s.value for s in OPEN_STATUSES)),
            )
            .order_by(orders.c.created_ts_ms, orders.c.client_order_id)
        )
        if symbol is not None:
            query = query.where(orders.c.symbol == symbol)
        async with reading(self._engine, f"reading open orders of user {user_id}") as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [from_row(Order, row) for row in rows]


__all__ = [
    "OPEN_STATUSES",
    "SqlOrderRepository",
    "check_order_update",
    "load_order",
    "unknown_order",
]
