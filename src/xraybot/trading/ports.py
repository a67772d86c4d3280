"""The ports the trading side consumes; ``storage`` and ``runtime`` satisfy them structurally.

All journal methods are async and every write is one transaction: either everything it
names is stored or nothing is.
"""

from __future__ import annotations

from typing import Protocol

from xraybot.model.fills import Fill, Position, Trade
from xraybot.model.orders import Order
from xraybot.model.signals import OrderIntent


class Journal(Protocol):
    """The trade journal, the source of truth for orders, fills, positions and trades."""

    async def record_intent(self, intent: OrderIntent, ts_ms: int) -> Order:
        """Journal an intent and its PENDING_SUBMIT order; a known id returns the stored order.

        Idempotent by the intent's deterministic client order id: recording it again writes
        nothing and returns the order as stored (possibly already further along).
        """
        ...

    async def record_order_update(self, order: Order) -> Order:
        """Persist a new state of a journaled order and return it.

        Raise IllegalTransitionError (naming both states) for a move the transition table
        forbids, and InvalidInputError for an order that was never journaled; either way
        the stored order is unchanged. An update equal to the stored order writes nothing.
        """
        ...

    async def record_fill(
        self,
        fill: Fill,
        order: Order,
        position: Position | None,
        closed_trade: Trade | None,
    ) -> bool:
        """Journal a fill with the order state, position and closed trade it produced.

        One transaction: the fill, the order update (transition-checked), the position
        (upserted; deleted when its amount is 0, or when None is passed with a closed trade)
        and the trade. A fill already known by (user_id, fill_id) is a redelivery: nothing
        is written and False is returned.
        """
        ...

    async def position(self, user_id: str, symbol: str) -> Position | None:
        """Return the user's open position in ``symbol``, or None."""
        ...

    async def positions(self, user_id: str) -> list[Position]:
        """Return the user's open positions, by symbol."""
        ...

    async def trades(
        self, user_id: str, symbol: str | None = None, since_ms: int | None = None
    ) -> list[Trade]:
        """Return the user's closed trades (exit at or after ``since_ms``), oldest exit first."""
        ...

    async def fills(self, client_order_id: str) -> list[Fill]:
        """Return the fills of one order, in execution order."""
        ...


class OrderRepository(Protocol):
    """Order lookups: by client order id (after a lost answer) and a user's open orders."""

    async def get(self, client_order_id: str) -> Order | None:
        """Return the order with this client order id, or None if it was never recorded."""
        ...

    async def open_orders(self, user_id: str, symbol: str | None = None) -> list[Order]:
        """Return the user's orders in a non-terminal status, oldest first."""
        ...


class Clock(Protocol):
    """The only time source the trading side may read (live or replayed)."""

    def now_ms(self) -> int:
        """Return the current time in integer milliseconds UTC."""
        ...


__all__ = ["Clock", "Journal", "OrderRepository"]
