"""In-memory repositories for backtests and unit tests, with the SQL journal's semantics.

Each write validates everything first and mutates only after every check passed, so a
refused call leaves the store exactly as it was, like a rolled-back transaction. The
methods never await in between, so under asyncio every call is atomic.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from xraybot.model.errors import StorageError
from xraybot.model.fills import Fill, Position, Trade
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import OrderIntent
from xraybot.model.users import StoredCredentials, UserProfile
from xraybot.storage.journal import check_fill_parts, duplicate_trade, position_is_closed
from xraybot.storage.journal_queries import (
    FIRST_PAGE,
    TERMINAL_STATUSES,
    ArchiveReport,
    Page,
    PageRequest,
    check_ts,
    make_page,
    status_values,
)
from xraybot.storage.orders import OPEN_STATUSES, check_order_update, unknown_order
from xraybot.storage.users import duplicate_user, unknown_user

T = TypeVar("T")


@dataclass
class MemoryStore:
    """The shared state behind the memory repositories (one per simulated database)."""

    intents: dict[str, tuple[OrderIntent, int]] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    fills: dict[tuple[str, str], Fill] = field(default_factory=dict)  # by (user_id, fill_id)
    trades: dict[str, Trade] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)  # (user, symbol)
    users: dict[str, UserProfile] = field(default_factory=dict)
    credentials: dict[tuple[str, str], StoredCredentials] = field(default_factory=dict)
    # The archive: each row with the time it was moved (see journal_queries).
    archived_orders: dict[str, tuple[Order, int]] = field(default_factory=dict)
    archived_fills: dict[tuple[str, str], tuple[Fill, int]] = field(default_factory=dict)
    archived_trades: dict[str, tuple[Trade, int]] = field(default_factory=dict)


class MemoryJournal:
    """The Journal port over a MemoryStore."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self.queries = MemoryJournalQueries(self.store)

    async def archive(
        self, cutoff_ms: int, *, now_ms: int, user_id: str | None = None
    ) -> ArchiveReport:
        """Move old closed orders, their fills and old trades to the archive (idempotent)."""
        return await self.queries.archive(cutoff_ms, now_ms=now_ms, user_id=user_id)

    async def record_intent(self, intent: OrderIntent, ts_ms: int) -> Order:
        """Journal an intent and its PENDING_SUBMIT order; a known id returns the stored order."""
        order = Order.from_intent(intent, ts_ms)
        stored = self.store.orders.get(order.client_order_id)
        if stored is not None:
            return stored
        archived = self.store.archived_orders.get(order.client_order_id)
        if archived is not None:
            return archived[0]
        self.store.intents[order.client_order_id] = (intent, ts_ms)
        self.store.orders[order.client_order_id] = order
        return order

    async def intent(self, client_order_id: str) -> OrderIntent | None:
        """Return the intent as it was decided, or None if it was never recorded."""
        entry = self.store.intents.get(client_order_id)
        return None if entry is None else entry[0]

    async def record_order_update(self, order: Order) -> Order:
        """Persist a new state of a journaled order after checking the transition."""
        stored = self.store.orders.get(order.client_order_id)
        if stored is None:
            raise unknown_order(order.client_order_id)
        if not check_order_update(stored, order):
            return stored
        self.store.orders[order.client_order_id] = order
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
        store = self.store
        stored = store.orders.get(order.client_order_id)
        if stored is None:
            raise unknown_order(order.client_order_id)
        if (fill.user_id, fill.fill_id) in store.fills:
            return False
        if closed_trade is not None and closed_trade.trade_id in store.trades:
            raise duplicate_trade(closed_trade)
        order_changed = check_order_update(stored, order)
        # Every check passed: from here on nothing can fail half-way.
        store.fills[(fill.user_id, fill.fill_id)] = fill
        if order_changed:
            store.orders[order.client_order_id] = order
        key = (fill.user_id, fill.symbol)
        if position_is_closed(position, closed_trade):
            store.positions.pop(key, None)
        elif position is not None:
            store.positions[key] = position
        if closed_trade is not None:
            store.trades[closed_trade.trade_id] = closed_trade
        return True

    async def position(self, user_id: str, symbol: str) -> Position | None:
        """Return the user's open position in ``symbol``, or None."""
        return self.store.positions.get((user_id, symbol))

    async def positions(self, user_id: str) -> list[Position]:
        """Return the user's open positions, by symbol."""
        found = [p for (owner, _), p in self.store.positions.items() if owner == user_id]
        return sorted(found, key=lambda p: p.symbol)

    async def trades(
        self, user_id: str, symbol: str | None = None, since_ms: int | None = None
    ) -> list[Trade]:
        """Return the user's closed trades (exit at or after ``since_ms``), oldest exit first."""
        found = [
            t
            for t in self.store.trades.values()
            if t.user_id == user_id
            and (symbol is None or t.symbol == symbol)
            and (since_ms is None or t.exit_ts_ms >= since_ms)
        ]
        return sorted(found, key=lambda t: (t.exit_ts_ms, t.trade_id))

    async def fills(self, client_order_id: str) -> list[Fill]:
        """Return the fills of one order, in execution order."""
        # dicts keep insertion order and sorted() is stable: ties stay in arrival order.
        found = [f for f in self.store.fills.values() if f.client_order_id == client_order_id]
        return sorted(found, key=lambda f: f.ts_ms)


def _live_and_archived(
    live: Iterable[T], archived: Iterable[tuple[T, int]], include_archived: bool
) -> list[T]:
    # Archived rows first: they arrived before anything still live.
    rows = [row for row, _ in archived] if include_archived else []
    return [*rows, *live]


class MemoryJournalQueries:
    """The journal queries and archive over a MemoryStore, with the SQL semantics."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

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
        rows = _live_and_archived(
            self.store.orders.values(), self.store.archived_orders.values(), include_archived
        )
        found = [
            o
            for o in rows
            if (user_id is None or o.user_id == user_id)
            and (symbol is None or o.symbol == symbol)
            and (values is None or o.status.value in values)
            and (since_ms is None or o.created_ts_ms >= since_ms)
            and (until_ms is None or o.created_ts_ms < until_ms)
        ]
        found.sort(key=lambda o: (o.created_ts_ms, o.client_order_id))
        return _slice(found, page)

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
        rows = _live_and_archived(
            self.store.trades.values(), self.store.archived_trades.values(), include_archived
        )
        found = [
            t
            for t in rows
            if (user_id is None or t.user_id == user_id)
            and (symbol is None or t.symbol == symbol)
            and (since_ms is None or t.exit_ts_ms >= since_ms)
            and (until_ms is None or t.exit_ts_ms < until_ms)
        ]
        found.sort(key=lambda t: (t.exit_ts_ms, t.trade_id))
        return _slice(found, page)

    async def fills(
        self,
        client_order_id: str,
        *,
        page: PageRequest = FIRST_PAGE,
        include_archived: bool = False,
    ) -> Page[Fill]:
        """The fills of one order, in execution order."""
        rows = _live_and_archived(
            self.store.fills.values(), self.store.archived_fills.values(), include_archived
        )
        # Stable sort: ties stay in arrival order, as the SQL row id keeps them.
        found = sorted((f for f in rows if f.client_order_id == client_order_id), key=_fill_ts)
        return _slice(found, page)

    async def open_positions(
        self, user_id: str, *, symbol: str | None = None, page: PageRequest = FIRST_PAGE
    ) -> Page[Position]:
        """The user's open positions, by symbol (positions are never archived)."""
        found = [
            p
            for (owner, sym), p in self.store.positions.items()
            if owner == user_id and (symbol is None or sym == symbol)
        ]
        found.sort(key=lambda p: p.symbol)
        return _slice(found, page)

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
        store = self.store
        found: list[OrderIntent] = []
        for cid, (intent, _) in store.intents.items():
            order = store.orders.get(cid)
            if order is None and include_archived and cid in store.archived_orders:
                order = store.archived_orders[cid][0]
            if (
                order is not None
                and (user_id is None or intent.user_id == user_id)
                and (symbol is None or intent.symbol == symbol)
                and (values is None or order.status.value in values)
            ):
                found.append(intent)
        found.sort(key=lambda i: (i.signal_ts_ms, i.client_order_id))
        return _slice(found, page)

    async def archive(
        self, cutoff_ms: int, *, now_ms: int, user_id: str | None = None
    ) -> ArchiveReport:
        """Move terminal orders updated before ``cutoff_ms`` (with their fills) and trades
        that exited before it into the archive, all at once; one user's only if given."""
        check_ts("archive()", "cutoff_ms", cutoff_ms)
        check_ts("archive()", "now_ms", now_ms)
        store = self.store
        old_orders = {
            cid
            for cid, o in store.orders.items()
            if o.status in TERMINAL_STATUSES
            and o.updated_ts_ms < cutoff_ms
            and (user_id is None or o.user_id == user_id)
        }
        old_fills = [k for k, f in store.fills.items() if f.client_order_id in old_orders]
        old_trades = [
            k
            for k, t in store.trades.items()
            if t.exit_ts_ms < cutoff_ms and (user_id is None or t.user_id == user_id)
        ]
        clashes = [
            *(f"fill {k[1]}" for k in old_fills if k in store.archived_fills),
            *(f"order {k}" for k in sorted(old_orders) if k in store.archived_orders),
            *(f"trade {k}" for k in old_trades if k in store.archived_trades),
        ]
        if clashes:
            # The SQL archive's primary keys refuse these too; nothing is moved.
            raise StorageError(
                f"archiving journal rows older than {cutoff_ms}: {', '.join(clashes)} "
                "already in the archive; found the same id live and archived. Nothing was "
                "moved; rename or remove the live duplicate by hand."
            )
        for key in old_fills:
            store.archived_fills[key] = (store.fills.pop(key), now_ms)
        for cid in sorted(old_orders):
            store.archived_orders[cid] = (store.orders.pop(cid), now_ms)
        for trade_id in old_trades:
            store.archived_trades[trade_id] = (store.trades.pop(trade_id), now_ms)
        return ArchiveReport(cutoff_ms, now_ms, len(old_orders), len(old_fills), len(old_trades))


def _fill_ts(fill: Fill) -> int:
    return fill.ts_ms


def _slice(rows: list[T], page: PageRequest) -> Page[T]:
    return make_page(rows[page.offset : page.offset + page.limit + 1], page)


class MemoryOrderRepository:
    """The OrderRepository port over a MemoryStore (share it with a MemoryJournal)."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def get(self, client_order_id: str) -> Order | None:
        """Return the order with this client order id, or None if it was never recorded."""
        return self.store.orders.get(client_order_id)

    async def open_orders(self, user_id: str, symbol: str | None = None) -> list[Order]:
        """Return the user's orders in a non-terminal status, oldest first."""
        found = [
            o
            for o in self.store.orders.values()
            if o.user_id == user_id
            and o.status in OPEN_STATUSES
            and (symbol is None or o.symbol == symbol)
        ]
        return sorted(found, key=lambda o: (o.created_ts_ms, o.client_order_id))


class MemoryUserRepository:
    """The UserRepository port over a MemoryStore."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store if store is not None else MemoryStore()

    async def add(self, profile: UserProfile) -> None:
        """Add a new user; raise InvalidInputError if the id is taken."""
        if profile.user_id in self.store.users:
            raise duplicate_user(profile.user_id)
        self.store.users[profile.user_id] = profile

    async def get(self, user_id: str) -> UserProfile | None:
        """Return the user with this id, or None."""
        return self.store.users.get(user_id)

    async def list(self, active_only: bool = False) -> builtins.list[UserProfile]:
        """Return all users (or only active ones), by id."""
        found = [u for u in self.store.users.values() if u.active or not active_only]
        return sorted(found, key=lambda u: u.user_id)

    async def update(self, profile: UserProfile) -> None:
        """Replace a stored user's profile; raise InvalidInputError if the id is unknown."""
        if profile.user_id not in self.store.users:
            raise unknown_user(profile.user_id, "update the profile")
        self.store.users[profile.user_id] = profile

    async def set_credentials(self, creds: StoredCredentials) -> None:
        """Store a user's encrypted keys for one exchange, replacing earlier ones."""
        if creds.user_id not in self.store.users:
            raise unknown_user(creds.user_id, f"store {creds.exchange} credentials")
        self.store.credentials[(creds.user_id, creds.exchange)] = creds

    async def get_credentials(self, user_id: str, exchange: str) -> StoredCredentials | None:
        """Return the user's stored (encrypted) keys for ``exchange``, or None."""
        return self.store.credentials.get((user_id, exchange))


__all__ = [
    "MemoryJournal",
    "MemoryJournalQueries",
    "MemoryOrderRepository",
    "MemoryStore",
    "MemoryUserRepository",
]
