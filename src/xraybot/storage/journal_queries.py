"""Journal queries (per user, symbol, status and time, paginated) and the archive.

Reads are offset pages in a total order (ties broken by id), so walking ``next_offset``
visits every row once while nothing is written. ``include_archived`` adds the rows that
:meth:`SqlJournalQueries.archive` moved out of the live tables.

Archiving moves terminal orders last updated before a cutoff, all of their fills, and
trades that exited before it into the ``*_archive`` tables, in one transaction: rows are
copied then deleted, never just deleted. Running it again moves nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from xraybot.model.errors import InvalidInputError, StorageError
from xraybot.model.fills import Fill, Position, Trade
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import OrderIntent
from xraybot.storage import tables
from xraybot.storage.db import reading, transaction
from xraybot.storage.rows import from_row

T = TypeVar("T")

MAX_PAGE_SIZE = 1_000
TERMINAL_STATUSES: frozenset[OrderStatus] = frozenset(s for s in OrderStatus if s.is_terminal)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which slice of a query's rows to return: ``limit`` rows after skipping ``offset``."""

    offset: int = 0
    limit: int = 100

    def __post_init__(self) -> None:
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset < 0:
            raise InvalidInputError(
                f"PageRequest.offset must be an int >= 0; found {self.offset!r}. "
                "Start at 0 and pass the previous page's next_offset."
            )
        if (
            isinstance(self.limit, bool)
            or not isinstance(self.limit, int)
            or not 1 <= self.limit <= MAX_PAGE_SIZE
        ):
            raise InvalidInputError(
                f"PageRequest.limit must be an int from 1 to {MAX_PAGE_SIZE}; found "
                f"{self.limit!r}. Ask for fewer rows per page."
            )


FIRST_PAGE = PageRequest()


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a query: its rows, and where the next page starts (None: this was the last)."""

    items: tuple[T, ...]
    offset: int
    limit: int
    next_offset: int | None

    @property
    def has_more(self) -> bool:
        return self.next_offset is not None


def make_page(rows: Sequence[T], page: PageRequest) -> Page[T]:
    """Build a page from up to ``limit + 1`` rows read at ``page.offset`` (one more: more left)."""
    more = len(rows) > page.limit
    return Page(
        items=tuple(rows[: page.limit]),
        offset=page.offset,
        limit=page.limit,
        next_offset=page.offset + page.limit if more else None,
    )


@dataclass(frozen=True, slots=True)
class ArchiveReport:
    """What one archive run moved (zero everywhere when it had already been done)."""

    cutoff_ms: int
    archived_ts_ms: int
    orders: int
    fills: int
    trades: int

    @property
    def total(self) -> int:
        return self.orders + self.fills + self.trades


def check_ts(owner: str, name: str, value: int | None) -> None:
    """Raise InvalidInputError unless ``value`` is None or an int millisecond timestamp >= 0."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(
            f"{owner}: {name} must be integer milliseconds UTC >= 0; found {value!r}."
        )


def status_values(statuses: Iterable[OrderStatus] | None) -> list[str] | None:
    """Return the sorted status values to filter on, or None for every status."""
    if statuses is None:
        return None
    found = sorted({OrderStatus(s).value for s in statuses})
    if not found:
        raise InvalidInputError(
            "statuses is empty, which matches nothing; pass None for every status or "
            "name at least one OrderStatus."
        )
    return found


def _with_archive(live: sa.Table, archive: sa.Table, include_archived: bool) -> Any:
    if not include_archived:
        return live
    names = [c.name for c in live.columns]
    both = sa.union_all(sa.select(live), sa.select(*(archive.c[n] for n in names)))
    return both.subquery(f"{live.name}_all")


async def load_archived_order(connection: AsyncConnection, client_order_id: str) -> Order | None:
    """Read one archived order inside an open unit of work."""
    archive = tables.orders_archive
    query = sa.select(archive).where(archive.c.client_order_id == client_order_id)
    row = (await connection.execute(query)).mappings().first()
    return None if row is None else from_row(Order, row)


class SqlJournalQueries:
    """Paginated reads over the SQL journal, and the archive."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _page(self, query: Any, page: PageRequest, cls: type[Any], action: str) -> Any:
        query = query.limit(page.limit + 1).offset(page.offset)
        async with reading(self._engine, action) as connection:
            rows = (await connection.execute(query)).mappings().all()
        return make_page([from_row(cls, row) for row in rows], page)

    async def orders(
        self,
        *,
        user_id: str | None = None,
        symbol: str | None = None,
        statuses: Iterable[OrderStatus] | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        page: PageRequest = FIRST_PAGE,
        include_archived: bool = False,
    ) -> Page[Order]:
        """Orders created in [since_ms, until_ms), filtered; oldest first."""
        check_ts("orders()", "since_ms", since_ms)
        check_ts("orders()", "until_ms", until_ms)
        values = status_values(statuses)
        source = _with_archive(tables.orders, tables.orders_archive, include_archived)
        query = sa.select(source).order_by(source.c.created_ts_ms, source.c.client_order_id)
        if user_id is not None:
            query = query.where(source.c.user_id == user_id)
        if symbol is not None:
            query = query.where(source.c.symbol == symbol)
        if values is not None:
            query = query.where(source.c.status.in_(values))
        if since_ms is not None:
            query = query.where(source.c.created_ts_ms >= since_ms)
        if until_ms is not None:
            query = query.where(source.c.created_ts_ms < until_ms)
        result: Page[Order] = await self._page(query, page, Order, "reading orders")
        return result

    async def trades(
        self,
        *,
        user_id: str | None = None,
        symbol: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        page: PageRequest = FIRST_PAGE,
        include_archived: bool = False,
    ) -> Page[Trade]:
        """Closed trades that exited in [since_ms, until_ms); oldest exit first."""
        check_ts("trades()", "since_ms", since_ms)
        check_ts("trades()", "until_ms", until_ms)
        source = _with_archive(tables.trades, tables.trades_archive, include_archived)
        query = sa.select(source).order_by(source.c.exit_ts_ms, source.c.trade_id)
        if user_id is not None:
            query = query.where(source.c.user_id == user_id)
        if symbol is not None:
            query = query.where(source.c.symbol == symbol)
        if since_ms is not None:
            query = query.where(source.c.exit_ts_ms >= since_ms)
        if until_ms is not None:
            query = query.where(source.c.exit_ts_ms < until_ms)
        result: Page[Trade] = await self._page(query, page, Trade, "reading trades")
        return result

    async def fills(
        self,
        client_order_id: str,
        *,
        page: PageRequest = FIRST_PAGE,
        include_archived: bool = False,
    ) -> Page[Fill]:
        """The fills of one order, in execution order."""
        source = _with_archive(tables.fills, tables.fills_archive, include_archived)
        query = (
            sa.select(source)
            .where(source.c.client_order_id == client_order_id)
            .order_by(source.c.ts_ms, source.c.id, source.c.fill_id)
        )
        action = f"reading fills of order {client_order_id}"
        result: Page[Fill] = await self._page(query, page, Fill, action)
        return result

    async def open_positions(
        self, user_id: str, *, symbol: str | None = None, page: PageRequest = FIRST_PAGE
    ) -> Page[Position]:
        """The user's open positions, by symbol (positions are never archived)."""
        positions = tables.positions
        query = (
            sa.select(positions).where(positions.c.user_id == user_id).order_by(positions.c.symbol)
        )
        if symbol is not None:
            query = query.where(positions.c.symbol == symbol)
        action = f"reading positions of user {user_id}"
        result: Page[Position] = await self._page(query, page, Position, action)
        return result

    async def intents(
        self,
        *,
        user_id: str | None = None,
        symbol: str | None = None,
        statuses: Iterable[OrderStatus] | None = None,
        page: PageRequest = FIRST_PAGE,
        include_archived: bool = False,
    ) -> Page[OrderIntent]:
        """Intents whose order is in one of ``statuses``; by signal time, then id."""
        values = status_values(statuses)
        intents = tables.order_intents
        source = _with_archive(tables.orders, tables.orders_archive, include_archived)
        query = (
            sa.select(intents)
            .join(source, source.c.client_order_id == intents.c.client_order_id)
            .order_by(intents.c.signal_ts_ms, intents.c.client_order_id)
        )
        if user_id is not None:
            query = query.where(intents.c.user_id == user_id)
        if symbol is not None:
            query = query.where(intents.c.symbol == symbol)
        if values is not None:
            query = query.where(source.c.status.in_(values))
        result: Page[OrderIntent] = await self._page(query, page, OrderIntent, "reading intents")
        return result

    async def archive(
        self, cutoff_ms: int, *, now_ms: int, user_id: str | None = None
    ) -> ArchiveReport:
        """Move terminal orders updated before ``cutoff_ms`` (with their fills) and trades
        that exited before it into the archive tables, in one transaction; one user's only
        when ``user_id`` is given."""
        check_ts("archive()", "cutoff_ms", cutoff_ms)
        check_ts("archive()", "now_ms", now_ms)
        orders, fills, trades = tables.orders, tables.fills, tables.trades
        old_orders = sa.select(orders.c.client_order_id).where(
            orders.c.status.in_(sorted(s.value for s in TERMINAL_STATUSES)),
            orders.c.updated_ts_ms < cutoff_ms,
        )
        old_trades = trades.c.exit_ts_ms < cutoff_ms
        if user_id is not None:
            old_orders = old_orders.where(orders.c.user_id == user_id)
            old_trades = sa.and_(old_trades, trades.c.user_id == user_id)
        action = f"archiving journal rows older than {cutoff_ms}"
        async with transaction(self._engine, action) as connection:
            # Fills first: they are found through their orders, which move next.
            moved_fills = await _move(
                connection,
                fills,
                tables.fills_archive,
                fills.c.client_order_id.in_(old_orders),
                now_ms,
            )
            moved_orders = await _move(
                connection,
                orders,
                tables.orders_archive,
                orders.c.client_order_id.in_(old_orders),
                now_ms,
            )
            moved_trades = await _move(
                connection, trades, tables.trades_archive, old_trades, now_ms
            )
        return ArchiveReport(cutoff_ms, now_ms, moved_orders, moved_fills, moved_trades)


async def _move(
    connection: AsyncConnection,
    live: sa.Table,
    archive: sa.Table,
    where: sa.ColumnElement[bool],
    now_ms: int,
) -> int:
    names = [c.name for c in live.columns]
    copy = sa.insert(archive).from_select(
        [*names, "archived_ts_ms"],
        sa.select(*live.c, sa.literal(now_ms, sa.BigInteger()).label("archived_ts_ms")).where(
            where
        ),
    )
    copied = (await connection.execute(copy)).rowcount
    deleted = (await connection.execute(sa.delete(live).where(where))).rowcount
    if copied != deleted:
        # Raising rolls the whole run back: nothing is lost and nothing is duplicated.
        raise StorageError(
            f"archiving {live.name}: copied {copied} rows but found {deleted} to delete; "
            "another writer changed the table meanwhile. Nothing was moved; run it again."
        )
    return deleted


__all__ = [
    "FIRST_PAGE",
    "MAX_PAGE_SIZE",
    "TERMINAL_STATUSES",
    "ArchiveReport",
    "Page",
    "PageRequest",
    "SqlJournalQueries",
    "check_ts",
    "load_archived_order",
    "make_page",
    "status_values",
]
