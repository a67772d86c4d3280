"""Journal queries and the archive: memory, SQLite and PostgreSQL behave alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.contracts.builders import (
    BTC,
    ETH,
    T0,
    D,
    make_fill,
    make_intent,
    make_position,
    new_user_id,
    open_order,
)
from tests.contracts.conftest import Backend
from tests.support.journal import DAY, round_trip
from xraybot.model import Order, OrderStatus
from xraybot.model.errors import InvalidInputError, StorageError
from xraybot.storage.journal_queries import Page, PageRequest, SqlJournalQueries
from xraybot.storage.memory import MemoryJournalQueries


def queries(backend: Backend) -> SqlJournalQueries | MemoryJournalQueries:
    return backend.journal.queries


async def walk(fetch: Callable[..., Awaitable[Page[Any]]], **kwargs: Any) -> list[Any]:
    """Read every page of a query, three rows at a time."""
    found: list[Any] = []
    offset: int | None = 0
    while offset is not None:
        page = await fetch(page=PageRequest(offset=offset, limit=3), **kwargs)
        assert len(page.items) <= 3
        found.extend(page.items)
        offset = page.next_offset
    return found


async def canceled(backend: Backend, order: Order, ts_ms: int) -> Order:
    return await backend.journal.record_order_update(order.transition(OrderStatus.CANCELED, ts_ms))


# -- queries -----------------------------------------------------------------------------------


async def test_orders_by_user_symbol_and_status_page_through_everything(backend: Backend) -> None:
    user, other = new_user_id(), new_user_id()
    opened = [
        await open_order(backend, make_intent(user, symbol=sym, leg=leg), T0 + leg)
        for leg, sym in enumerate([BTC, ETH, BTC, BTC, ETH, BTC, BTC])
    ]
    await open_order(backend, make_intent(other), T0)
    for order in opened[:3]:
        await canceled(backend, order, T0 + 100)
    q = queries(backend)

    everything = await walk(q.orders, user_id=user)
    live_btc = await walk(q.orders, user_id=user, symbol=BTC, statuses=[OrderStatus.OPEN])
    done = await walk(q.orders, user_id=user, statuses={OrderStatus.CANCELED})

    assert [o.client_order_id for o in everything] == [o.client_order_id for o in opened]
    assert [o.client_order_id for o in live_btc] == [opened[i].client_order_id for i in (3, 5, 6)]
    assert {o.client_order_id for o in done} == {o.client_order_id for o in opened[:3]}
    window = await q.orders(user_id=user, since_ms=T0 + 2, until_ms=T0 + 4)
    assert [o.created_ts_ms for o in window.items] == [T0 + 2, T0 + 3]
    assert window.next_offset is None


async def test_a_page_says_whether_more_rows_follow(backend: Backend) -> None:
    user = new_user_id()
    for leg in range(4):
        await open_order(backend, make_intent(user, leg=leg), T0 + leg)
    q = queries(backend)

    first = await q.orders(user_id=user, page=PageRequest(0, 2))
    last = await q.orders(user_id=user, page=PageRequest(2, 2))
    beyond = await q.orders(user_id=user, page=PageRequest(4, 2))

    assert (len(first.items), first.next_offset, first.has_more) == (2, 2, True)
    assert (len(last.items), last.next_offset, last.has_more) == (2, None, False)
    assert beyond.items == ()
    assert beyond.next_offset is None


async def test_trades_by_user_symbol_and_time_range(backend: Backend) -> None:
    user, other = new_user_id(), new_user_id()
    trades = [
        await round_trip(backend, user, sym, T0 + (i + 1) * DAY, f"{user}-t{i}")
        for i, sym in enumerate([BTC, ETH, BTC, BTC])
    ]
    await round_trip(backend, other, BTC, T0 + DAY, f"{other}-t0")
    q = queries(backend)

    btc = await walk(q.trades, user_id=user, symbol=BTC)
    middle = await q.trades(user_id=user, since_ms=T0 + 2 * DAY, until_ms=T0 + 4 * DAY)

    assert btc == [trades[0], trades[2], trades[3]]
    assert list(middle.items) == [trades[1], trades[2]]
    assert (await q.trades(user_id=other)).items[0].user_id == other


async def test_fills_of_an_order_and_open_positions(backend: Backend) -> None:
    user = new_user_id()
    order = await open_order(backend, make_intent(user, amount=D("5")))
    done = order
    for i in range(5):
        done = done.transition(
            OrderStatus.FILLED if i == 4 else OrderStatus.PARTIALLY_FILLED,
            T0 + 10 + i,
            filled=D(i + 1),
        )
        fill = make_fill(order, f"{user}-f{i}", D(1), T0 + 10 + i)
        position = make_position(order, D(i + 1), T0 + 10 + i)
        assert await backend.journal.record_fill(fill, done, position, None)
    eth = await open_order(backend, make_intent(user, symbol=ETH, leg=1))
    eth_done = eth.transition(OrderStatus.FILLED, T0 + 20, filled=D(2))
    eth_fill = make_fill(eth, f"{user}-e0", D(2), T0 + 20)
    await backend.journal.record_fill(eth_fill, eth_done, make_position(eth, D(2), T0 + 20), None)
    q = queries(backend)

    fills = await walk(q.fills, client_order_id=order.client_order_id)
    positions = await q.open_positions(user)

    assert [f.fill_id for f in fills] == [f"{user}-f{i}" for i in range(5)]
    assert [p.symbol for p in positions.items] == [BTC, ETH]
    assert [p.amount for p in positions.items] == [D(5), D(2)]
    only_eth = await q.open_positions(user, symbol=ETH)
    assert [p.symbol for p in only_eth.items] == [ETH]
    assert (await q.open_positions(new_user_id())).items == ()


async def test_intents_by_the_status_of_their_order(backend: Backend) -> None:
    user = new_user_id()
    intents = [make_intent(user, leg=leg, signal_ts_ms=T0 + leg) for leg in range(4)]
    pending = await backend.journal.record_intent(intents[0], T0)
    for intent in intents[1:]:
        await open_order(backend, intent)
    last = await backend.orders.get(intents[3].client_order_id)
    assert last is not None
    await canceled(backend, last, T0 + 50)
    q = queries(backend)

    waiting = await q.intents(user_id=user, statuses=[OrderStatus.PENDING_SUBMIT])
    live = await q.intents(user_id=user, statuses=[OrderStatus.OPEN, OrderStatus.PENDING_SUBMIT])
    every = await q.intents(user_id=user)

    assert pending.status is OrderStatus.PENDING_SUBMIT
    assert list(waiting.items) == [intents[0]]
    assert list(live.items) == intents[:3]
    assert list(every.items) == intents


async def test_bad_pages_and_filters_are_refused(backend: Backend) -> None:
    with pytest.raises(InvalidInputError, match="limit"):
        PageRequest(limit=0)
    with pytest.raises(InvalidInputError, match="offset"):
        PageRequest(offset=-1)
    with pytest.raises(InvalidInputError, match="statuses is empty"):
        await queries(backend).orders(statuses=[])
    with pytest.raises(InvalidInputError, match="since_ms"):
        await queries(backend).trades(since_ms=-5)


# -- the archive -------------------------------------------------------------------------------


async def test_archive_moves_old_closed_rows_and_keeps_them_queryable(backend: Backend) -> None:
    user = new_user_id()
    old = await round_trip(backend, user, BTC, T0 + DAY, f"{user}-old")
    new = await round_trip(backend, user, ETH, T0 + 10 * DAY, f"{user}-new")
    still_open = await open_order(backend, make_intent(user, leg=7), T0)
    q = queries(backend)
    old_orders = (await q.orders(user_id=user, symbol=BTC, statuses=[OrderStatus.FILLED])).items
    cutoff = T0 + 5 * DAY

    report = await backend.journal.archive(cutoff, now_ms=T0 + 30 * DAY, user_id=user)

    # The BTC entry and exit orders with their two fills, and the one old trade.
    assert (report.orders, report.fills, report.trades) == (2, 2, 1)
    assert (await q.trades(user_id=user)).items == (new,)
    assert (await q.trades(user_id=user, include_archived=True)).items == (old, new)
    live_orders = (await q.orders(user_id=user)).items
    assert still_open in live_orders
    assert not set(old_orders) & set(live_orders)
    all_orders = (await q.orders(user_id=user, include_archived=True)).items
    assert set(old_orders) <= set(all_orders)
    entry = old_orders[0].client_order_id
    assert (await q.fills(entry)).items == ()
    assert [f.fill_id for f in (await q.fills(entry, include_archived=True)).items] == [
        f"{user}-old-in"
    ]
    assert len((await q.intents(user_id=user)).items) == 3
    assert len((await q.intents(user_id=user, include_archived=True)).items) == 5
    # The journal's own reads see the live rows only.
    assert await backend.journal.trades(user) == [new]
    assert await backend.orders.get(entry) is None
    if backend.name != "memory":
        assert await backend.count_rows("trades_archive", {"user_id": user}) == 1
        assert await backend.count_rows("fills_archive", {"user_id": user}) == 2
        assert await backend.count_rows("orders_archive", {"user_id": user}) == 2


async def test_archive_is_idempotent(backend: Backend) -> None:
    user = new_user_id()
    await round_trip(backend, user, BTC, T0 + DAY, f"{user}-a")
    before = await queries(backend).trades(user_id=user, include_archived=True)

    first = await backend.journal.archive(T0 + 2 * DAY, now_ms=T0 + 3 * DAY, user_id=user)
    again = await backend.journal.archive(T0 + 2 * DAY, now_ms=T0 + 4 * DAY, user_id=user)

    assert first.total > 0
    assert again.total == 0
    assert await queries(backend).trades(user_id=user, include_archived=True) == before


async def test_archive_leaves_live_orders_and_positions_alone(backend: Backend) -> None:
    user = new_user_id()
    order = await open_order(backend, make_intent(user, amount=D("4")))
    half = order.transition(OrderStatus.PARTIALLY_FILLED, T0 + 3, filled=D(2))
    fill = make_fill(order, f"{user}-p0", D(2), T0 + 3)
    await backend.journal.record_fill(fill, half, make_position(order, D(2), T0 + 3), None)

    report = await backend.journal.archive(T0 + 100 * DAY, now_ms=T0 + 100 * DAY, user_id=user)

    assert (report.orders, report.fills) == (0, 0)
    assert (await queries(backend).orders(user_id=user)).items == (half,)
    assert (await queries(backend).fills(order.client_order_id)).items == (fill,)
    assert [p.amount for p in (await queries(backend).open_positions(user)).items] == [D(2)]


async def test_a_retried_intent_of_an_archived_order_writes_nothing(backend: Backend) -> None:
    user = new_user_id()
    intent = make_intent(user)
    order = await canceled(backend, await open_order(backend, intent), T0 + 5)
    await backend.journal.archive(T0 + DAY, now_ms=T0 + DAY, user_id=user)

    again = await backend.journal.record_intent(intent, T0 + 2 * DAY)

    assert again == order
    assert (await queries(backend).orders(user_id=user)).items == ()


async def test_an_archive_that_would_overwrite_moves_nothing(backend: Backend) -> None:
    user = new_user_id()
    first = await round_trip(backend, user, BTC, T0 + DAY, f"{user}-dup")
    await backend.journal.archive(T0 + 2 * DAY, now_ms=T0 + 2 * DAY, user_id=user)
    # The live journal does not look into the archive, so the same trade id can come back.
    second = await round_trip(backend, user, ETH, T0 + 3 * DAY, f"{user}-dup")
    live_orders = (await queries(backend).orders(user_id=user)).items

    with pytest.raises(StorageError):
        await backend.journal.archive(T0 + 4 * DAY, now_ms=T0 + 4 * DAY, user_id=user)

    assert (await queries(backend).trades(user_id=user)).items == (second,)
    assert (await queries(backend).orders(user_id=user)).items == live_orders
    archived = await queries(backend).trades(user_id=user, include_archived=True)
    assert set(archived.items) == {first, second}
