"""SqlJournal: intents, orders, fills, positions and trades, each change in one transaction.

The journal is the source of truth. Writes are idempotent where the world repeats itself:
an intent is keyed by its deterministic client order id and a fill by (user, fill id), so
a retried job or a redelivered fill writes nothing the second time.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from xraybot.model.errors import InvalidInputError, StorageError
from xraybot.model.fills import Fill, Position, Trade
from xraybot.model.orders import Order
from xraybot.model.signals import OrderIntent
from xraybot.storage import tables
from xraybot.storage.db import reading, transaction, upsert_statement
from xraybot.storage.journal_queries import (
    ArchiveReport,
    SqlJournalQueries,
    load_archived_order,
)
from xraybot.storage.orders import (
    check_order_update,
    load_order,
    unknown_order,
)
from xraybot.storage.rows import from_row, to_row


def check_fill_parts(
    fill: Fill, order: Order, position: Position | None, closed_trade: Trade | None
) -> None:
    """Raise InvalidInputError unless the fill, order, position and trade belong together."""
    owner = f"record_fill(fill {fill.fill_id!r})"
    pairs: list[tuple[str, object, object]] = [
        ("order.client_order_id", fill.client_order_id, order.client_order_id),
        ("order.user_id", fill.user_id, order.user_id),
        ("order.symbol", fill.symbol, order.symbol),
    ]
    if position is not None:
        pairs += [
            ("position.user_id", fill.user_id, position.user_id),
            ("position.symbol", fill.symbol, position.symbol),
        ]
    if closed_trade is not None:
        pairs += [
            ("closed_trade.user_id", fill.user_id, closed_trade.user_id),
            ("closed_trade.symbol", fill.symbol, closed_trade.symbol),
        ]
    for name, expected, found in pairs:
        if expected != found:
            raise InvalidInputError(
                f"{owner}: {name} must match the fill's {expected!r}; found {found!r}. "
                "Pass the order, position and trade this fill produced."
            )


def position_is_closed(position: Position | None, closed_trade: Trade | None) -> bool:
    """Return True when this fill leaves no open position (its row must be deleted)."""
    if position is None:
        return closed_trade is not None
    return position.amount == 0


def duplicate_trade(trade: Trade) -> StorageError:
    """Build the error for a closed trade whose id is already in the journal."""
    return StorageError(
        f"trade {trade.trade_id} is already in the journal; found a second closed trade "
        "with that id. Nothing of this fill was written; check how trade ids are derived."
    )


# -- row mapping ---------------------------------------------------------------------------


# -- the journal -----------------------------------------------------------------------------


async def _write_order(connection: AsyncConnection, stored: Order, order: Order) -> None:
    orders = tables.orders
    # Guard on the state we checked the transition against, so a writer that slipped in
    # between (should locking ever be bypassed) makes this fail instead of being overwritten.
    result = await connection.execute(
        sa.update(orders)
        .where(
            orders.c.client_order_id == stored.client_order_id,
            orders.c.status == stored.status.value,
            orders.c.updated_ts_ms == stored.updated_ts_ms,
        )
        .values(to_row(order))
    )
    if result.rowcount != 1:
        raise StorageError(
            f"order {stored.client_order_id} changed while it was being updated; found "
            f"{result.rowcount} rows in state {stored.status}. Reload the order and retry."
        )


class SqlJournal:
    """The SQL trade journal (the Journal port): the source of truth for orders and trades."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.queries = SqlJournalQueries(engine)

    async def archive(
        self, cutoff_ms: int, *, now_ms: int, user_id: str | None = None
    ) -> ArchiveReport:
        """Move old closed orders, their fills and old trades to the archive (idempotent)."""
        return await self.queries.archive(cutoff_ms, now_ms=now_ms, user_id=user_id)

    async def record_intent(self, intent: OrderIntent, ts_ms: int) -> Order:
        """Journal an intent and its PENDING_SUBMIT order; a known id returns the stored order."""
        order = Order.from_intent(intent, ts_ms)
        action = f"recording intent {order.client_order_id}"
        async with transaction(self._engine, action) as connection:
            inserted = await connection.execute(
                upsert_statement(connection, tables.order_intents)
                .values(
                    to_row(intent, client_order_id=intent.client_order_id, recorded_ts_ms=ts_ms)
                )
                .on_conflict_do_nothing(index_elements=["client_order_id"])
            )
            if inserted.rowcount == 1:
                await connection.execute(sa.insert(tables.orders).values(to_row(order)))
                return order
            stored = await load_order(connection, order.client_order_id)
            if stored is None:
                # A retried intent whose order was archived long ago: it is done, say so.
                stored = await load_archived_order(connection, order.client_order_id)
        if stored is None:
            raise StorageError(
                f"intent {order.client_order_id} is journaled without its order; found no "
                "orders row. The journal was edited by hand: restore the orders row."
            )
        return stored

    async def intent(self, client_order_id: str) -> OrderIntent | None:
        """Return the intent as it was decided, or None if it was never recorded."""
        query = sa.select(tables.order_intents).where(
            tables.order_intents.c.client_order_id == client_order_id
        )
        async with reading(self._engine, f"reading intent {client_order_id}") as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else from_row(OrderIntent, row)

    async def record_order_update(self, order: Order) -> Order:
        """Persist a new state of a journaled order after checking the transition."""
        action = f"updating order {order.client_order_id} to {order.status}"
        async with transaction(self._engine, action) as connection:
            stored = await load_order(connection, order.client_order_id, for_update=True)
            if stored is None:
                raise unknown_order(order.client_order_id)
            if not check_order_update(stored, order):
                return stored
            await _write_order(connection, stored, order)
        return order

    async def record_fill(
        self,
        fill: Fill,
        order: Order,
        position: Position | None,
        closed_trade: Trade | None,
    ) -> bool:
        """Journal a fill with its order, position and trade at once; False if already known."""
        check_fill_parts(fill, order, position, closed_trade)
        action = f"recording fill {fill.fill_id} of order {fill.client_order_id}"
        async with transaction(self._engine, action) as connection:
            stored = await load_order(connection, order.client_order_id, for_update=True)
            if stored is None:
                raise unknown_order(order.client_order_id)
            inserted = await connection.execute(
                upsert_statement(connection, tables.fills)
                .values(to_row(fill))
                .on_conflict_do_nothing(index_elements=["user_id", "fill_id"])
            )
            if inserted.rowcount == 0:
                return False  # redelivered: the first delivery wrote everything
            if check_order_update(stored, order):
                await _write_order(connection, stored, order)
            await self._write_position(connection, fill, position, closed_trade)
            if closed_trade is not None:
                # Last on purpose: a refused trade undoes the fill, order and position above.
                try:
                    await connection.execute(sa.insert(tables.trades).values(to_row(closed_trade)))
                except IntegrityError as e:
                    raise duplicate_trade(closed_trade) from e
        return True

    @staticmethod
    async def _write_position(
        connection: AsyncConnection,
        fill: Fill,
        position: Position | None,
        closed_trade: Trade | None,
    ) -> None:
        positions = tables.positions
        if position_is_closed(position, closed_trade):
            await connection.execute(
                sa.delete(positions).where(
                    positions.c.user_id == fill.user_id, positions.c.symbol == fill.symbol
                )
            )
            return
        if position is None:
            return
        values = to_row(position)
        statement = upsert_statement(connection, positions).values(values)
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "symbol"],
                set_={k: v for k, v in values.items() if k not in ("user_id", "symbol")},
            )
        )

    async def position(self, user_id: str, symbol: str) -> Position | None:
        """Return the user's open position in ``symbol``, or None."""
        positions = tables.positions
        query = sa.select(positions).where(
            positions.c.user_id == user_id, positions.c.symbol == symbol
        )
        async with reading(self._engine, f"reading position {user_id}/{symbol}") as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else from_row(Position, row)

    async def positions(self, user_id: str) -> list[Position]:
        """Return the user's open positions, by symbol."""
        positions = tables.positions
        query = (
            sa.select(positions).where(positions.c.user_id == user_id).order_by(positions.c.symbol)
        )
        async with reading(self._engine, f"reading positions of user {user_id}") as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [from_row(Position, row) for row in rows]

    async def trades(
        self, user_id: str, symbol: str | None = None, since_ms: int | None = None
    ) -> list[Trade]:
        """Return the user's closed trades (exit at or after ``since_ms``), oldest exit first."""
        trades = tables.trades
        query = (
            sa.select(trades)
            .where(trades.c.user_id == user_id)
            .order_by(trades.c.exit_ts_ms, trades.c.trade_id)
        )
        if symbol is not None:
            query = query.where(trades.c.symbol == symbol)
        if since_ms is not None:
            query = query.where(trades.c.exit_ts_ms >= since_ms)
        async with reading(self._engine, f"reading trades of user {user_id}") as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [from_row(Trade, row) for row in rows]

    async def fills(self, client_order_id: str) -> list[Fill]:
        """Return the fills of one order, in execution order."""
        fills = tables.fills
        query = (
            sa.select(fills)
            .where(fills.c.client_order_id == client_order_id)
            .order_by(fills.c.ts_ms, fills.c.id)
        )
        async with reading(self._engine, f"reading fills of order {client_order_id}") as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [from_row(Fill, row) for row in rows]


__all__ = ["SqlJournal", "check_fill_parts", "duplicate_trade", "position_is_closed"]
