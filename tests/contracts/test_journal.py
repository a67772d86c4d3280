"""Journal and order repository contract: memory, SQLite and PostgreSQL behave alike."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.contracts.builders import (
    BTC,
    ETH,
    T0,
    D,
    make_fill,
    make_intent,
    make_position,
    make_trade,
    new_user_id,
    open_order,
    round_trip,
)
from tests.contracts.conftest import Backend
from xraybot.model import (
    IntentKind,
    Order,
    OrderStatus,
    Side,
)
from xraybot.model.errors import IllegalTransitionError, InvalidInputError, StorageError

# -- intents and orders ------------------------------------------------------------------


async def test_record_intent_is_idempotent(backend: Backend) -> None:
    intent = make_intent(new_user_id())
    cid = intent.client_order_id

    first = await backend.journal.record_intent(intent, T0)
    again = await backend.journal.record_intent(intent, T0 + 5_000)

    assert first == Order.from_intent(intent, T0)
    assert first.status is OrderStatus.PENDING_SUBMIT
    assert again == first
    assert await backend.count_rows("order_intents", {"client_order_id": cid}) == 1
    assert await backend.count_rows("orders", {"client_order_id": cid}) == 1
    assert await backend.journal.intent(cid) == intent
    assert await backend.orders.get(cid) == first


async def test_record_intent_again_returns_the_order_as_it_is_now(backend: Backend) -> None:
    intent = make_intent(new_user_id())
    opened = await open_order(backend, intent)

    assert await backend.journal.record_intent(intent, T0 + 10) == opened


async def test_concurrent_identical_intents_make_one_order(backend: Backend) -> None:
    user = new_user_id()
    intent = make_intent(user)
    others = [make_intent(user, leg=leg) for leg in range(1, 6)]

    results = await asyncio.gather(
        *[backend.journal.record_intent(intent, T0) for _ in range(6)],
        *[backend.journal.record_intent(other, T0) for other in others],
    )

    assert all(order == results[0] for order in results[:6])
    assert await backend.count_rows("orders", {"user_id": user}) == 6
    assert await backend.count_rows("order_intents", {"user_id": user}) == 6


async def test_order_updates_round_trip(backend: Backend) -> None:
    opened = await open_order(backend, make_intent(new_user_id()))
    partial = opened.transition(
        OrderStatus.PARTIALLY_FILLED, T0 + 3, filled=D("0.75"), average_price=D("100.4")
    )

    assert await backend.journal.record_order_update(partial) == partial
    assert await backend.orders.get(partial.client_order_id) == partial
    assert opened.exchange_order_id is not None


async def test_a_redelivered_update_changes_nothing(backend: Backend) -> None:
    opened = await open_order(backend, make_intent(new_user_id()))

    # OPEN -> OPEN is no transition, but the same update twice is a redelivery, not an error.
    assert await backend.journal.record_order_update(opened) == opened
    assert await backend.orders.get(opened.client_order_id) == opened


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (OrderStatus.PENDING_SUBMIT, OrderStatus.PENDING_CANCEL),
        (OrderStatus.FILLED, OrderStatus.OPEN),
    ],
)
async def test_an_illegal_transition_names_both_states_and_changes_nothing(
    backend: Backend, start: OrderStatus, target: OrderStatus
) -> None:
    stored = await backend.journal.record_intent(make_intent(new_user_id()), T0)
    if start is not stored.status:
        stored = await backend.journal.record_order_update(
            stored.transition(start, T0 + 1, filled=stored.amount)
        )
    illegal = dataclasses.replace(stored, status=target, updated_ts_ms=T0 + 9)

    with pytest.raises(IllegalTransitionError) as raised:
        await backend.journal.record_order_update(illegal)

    assert start.value in str(raised.value)
    assert target.value in str(raised.value)
    assert (raised.value.source, raised.value.target) == (start.value, target.value)
    assert await backend.orders.get(stored.client_order_id) == stored


async def test_an_update_to_an_unknown_order_is_refused(backend: Backend) -> None:
    order = Order.from_intent(make_intent(new_user_id()), T0)

    with pytest.raises(InvalidInputError, match=order.client_order_id):
        await backend.journal.record_order_update(order.transition(OrderStatus.OPEN, T0 + 1))
    assert await backend.orders.get(order.client_order_id) is None


async def test_an_update_cannot_turn_an_order_into_another(backend: Backend) -> None:
    stored = await backend.journal.record_intent(make_intent(new_user_id()), T0)
    other = dataclasses.replace(stored, symbol=ETH, status=OrderStatus.OPEN)

    with pytest.raises(InvalidInputError, match="symbol"):
        await backend.journal.record_order_update(other)
    assert await backend.orders.get(stored.client_order_id) == stored


async def test_open_orders_leave_out_terminal_states_other_symbols_and_users(
    backend: Backend,
) -> None:
    user, stranger = new_user_id(), new_user_id()
    j = backend.journal
    pending = await j.record_intent(make_intent(user, signal_ts_ms=T0), T0)
    opened = await open_order(backend, make_intent(user, symbol=ETH, signal_ts_ms=T0 + 1), T0 + 10)
    filled = await open_order(backend, make_intent(user, signal_ts_ms=T0 + 2), T0 + 20)
    await j.record_order_update(filled.transition(OrderStatus.FILLED, T0 + 25, filled=D("2")))
    canceled = await open_order(
        backend, make_intent(user, symbol=ETH, signal_ts_ms=T0 + 3), T0 + 30
    )
    await j.record_order_update(canceled.transition(OrderStatus.CANCELED, T0 + 35))
    lost = await j.record_intent(make_intent(user, signal_ts_ms=T0 + 4), T0 + 40)
    unknown = await j.record_order_update(lost.transition(OrderStatus.UNKNOWN, T0 + 41))
    await open_order(backend, make_intent(stranger), T0)

    assert await backend.orders.open_orders(user) == [pending, opened, unknown]
    assert await backend.orders.open_orders(user, BTC) == [pending, unknown]
    assert await backend.orders.open_orders(user, "XRP/USDT") == []


# -- fills, positions, trades ------------------------------------------------------------


async def test_record_fill_writes_fill_order_and_position_together(backend: Backend) -> None:
    opened = await open_order(backend, make_intent(new_user_id()))
    partial = opened.transition(OrderStatus.PARTIALLY_FILLED, T0 + 3, filled=D("0.5"))
    fill = make_fill(opened, "f-1", D("0.5"), T0 + 3)
    position = make_position(opened, D("0.5"), T0 + 3)

    assert await backend.journal.record_fill(fill, partial, position, None) is True

    assert await backend.journal.fills(opened.client_order_id) == [fill]
    assert await backend.orders.get(opened.client_order_id) == partial
    assert await backend.journal.position(opened.user_id, BTC) == position


async def test_a_redelivered_fill_returns_false_and_changes_nothing(backend: Backend) -> None:
    opened = await open_order(backend, make_intent(new_user_id()))
    partial = opened.transition(OrderStatus.PARTIALLY_FILLED, T0 + 3, filled=D("0.5"))
    fill = make_fill(opened, "f-1", D("0.5"), T0 + 3)
    position = make_position(opened, D("0.5"), T0 + 3)
    assert await backend.journal.record_fill(fill, partial, position, None)

    # The same fill again, even carrying later states, must not apply a second time.
    later = partial.transition(OrderStatus.FILLED, T0 + 4, filled=D("2"))
    again = await backend.journal.record_fill(
        fill, later, make_position(opened, D("1"), T0 + 4), None
    )

    assert again is False
    assert await backend.journal.fills(opened.client_order_id) == [fill]
    assert await backend.orders.get(opened.client_order_id) == partial
    assert await backend.journal.position(opened.user_id, BTC) == position
    assert await backend.count_rows("fills", {"user_id": opened.user_id}) == 1


@pytest.mark.parametrize("closed_as", ["none", "zero"])
async def test_a_closing_fill_deletes_the_position_and_records_the_trade(
    backend: Backend, closed_as: str
) -> None:
    user = new_user_id()
    entry = await open_order(backend, make_intent(user))
    done = entry.transition(OrderStatus.FILLED, T0 + 2, filled=D("2"))
    assert await backend.journal.record_fill(
        make_fill(entry, "in", D("2"), T0 + 2), done, make_position(entry, D("2"), T0 + 2), None
    )
    exit_order = await open_order(
        backend, make_intent(user, kind=IntentKind.CLOSE, side=Side.SELL), T0 + 100
    )
    closed = exit_order.transition(OrderStatus.FILLED, T0 + 102, filled=D("2"))
    trade = make_trade(user, BTC, f"t-{user}", T0 + 102)
    left = None if closed_as == "none" else make_position(entry, D("0"), T0 + 102)

    assert await backend.journal.record_fill(
        make_fill(exit_order, "out", D("2"), T0 + 102), closed, left, trade
    )

    assert await backend.journal.position(user, BTC) is None
    assert await backend.journal.positions(user) == []
    assert await backend.journal.trades(user) == [trade]
    assert await backend.orders.open_orders(user) == []


async def test_a_colliding_trade_id_rolls_back_the_whole_fill(backend: Backend) -> None:
    """Fault injection: the last write of record_fill fails, so nothing of it may remain."""
    user = new_user_id()
    first_trade = await round_trip(backend, user, BTC, T0 + 1_000, f"t-{user}")
    entry = await open_order(backend, make_intent(user, symbol=ETH))
    partial = entry.transition(OrderStatus.PARTIALLY_FILLED, T0 + 2, filled=D("1"))
    position = make_position(entry, D("1"), T0 + 2)
    first_fill = make_fill(entry, "eth-1", D("1"), T0 + 2)
    assert await backend.journal.record_fill(first_fill, partial, position, None)

    done = partial.transition(OrderStatus.FILLED, T0 + 3, filled=D("2"))
    second_fill = make_fill(entry, "eth-2", D("1"), T0 + 3)
    colliding = dataclasses.replace(make_trade(user, ETH, first_trade.trade_id, T0 + 3))
    with pytest.raises(StorageError):
        await backend.journal.record_fill(second_fill, done, None, colliding)

    assert await backend.journal.fills(entry.client_order_id) == [first_fill]
    assert await backend.orders.get(entry.client_order_id) == partial
    assert await backend.journal.position(user, ETH) == position
    assert await backend.journal.trades(user) == [first_trade]
    # Nothing was half-written, so the same fill is new, not a redelivery.
    fresh = make_trade(user, ETH, f"t2-{user}", T0 + 3)
    assert await backend.journal.record_fill(second_fill, done, None, fresh) is True


async def test_a_fill_with_an_illegal_transition_writes_nothing(backend: Backend) -> None:
    user = new_user_id()
    entry = await open_order(backend, make_intent(user))
    done = entry.transition(OrderStatus.FILLED, T0 + 2, filled=D("2"))
    position = make_position(entry, D("2"), T0 + 2)
    assert await backend.journal.record_fill(
        make_fill(entry, "f-1", D("2"), T0 + 2), done, position, None
    )
    backwards = dataclasses.replace(done, status=OrderStatus.PARTIALLY_FILLED, updated_ts_ms=T0 + 3)

    with pytest.raises(IllegalTransitionError, match="filled -> partially_filled"):
        await backend.journal.record_fill(
            make_fill(entry, "f-2", D("1"), T0 + 3),
            backwards,
            make_position(entry, D("3"), T0 + 3),
            None,
        )

    assert await backend.count_rows("fills", {"user_id": user}) == 1
    assert await backend.orders.get(entry.client_order_id) == done
    assert await backend.journal.position(user, BTC) == position


async def test_a_fill_of_an_unknown_order_is_refused(backend: Backend) -> None:
    order = Order.from_intent(make_intent(new_user_id()), T0)

    with pytest.raises(InvalidInputError, match="record_intent"):
        await backend.journal.record_fill(make_fill(order, "f-1", D("1"), T0), order, None, None)
    assert await backend.count_rows("fills", {"user_id": order.user_id}) == 0


async def test_a_fill_must_match_its_order_position_and_trade(backend: Backend) -> None:
    opened = await open_order(backend, make_intent(new_user_id()))
    fill = make_fill(opened, "f-1", D("1"), T0 + 2)
    elsewhere = dataclasses.replace(make_position(opened, D("1"), T0 + 2), symbol=ETH)

    with pytest.raises(InvalidInputError, match=r"position\.symbol"):
        await backend.journal.record_fill(fill, opened, elsewhere, None)
    assert await backend.journal.fills(opened.client_order_id) == []


async def test_positions_are_upserted_listed_and_kept_apart(backend: Backend) -> None:
    user = new_user_id()
    btc = await open_order(backend, make_intent(user))
    eth = await open_order(backend, make_intent(user, symbol=ETH))
    await open_order(backend, make_intent(new_user_id()))  # a stranger's order
    first = btc.transition(OrderStatus.PARTIALLY_FILLED, T0 + 2, filled=D("1"))
    second = first.transition(OrderStatus.FILLED, T0 + 3, filled=D("2"))
    eth_done = eth.transition(OrderStatus.FILLED, T0 + 2, filled=D("2"))
    j = backend.journal

    assert await j.record_fill(
        make_fill(btc, "b1", D("1"), T0 + 2), first, make_position(btc, D("1"), T0 + 2), None
    )
    grown = make_position(btc, D("2"), T0 + 3)
    assert await j.record_fill(make_fill(btc, "b2", D("1"), T0 + 3), second, grown, None)
    eth_position = make_position(eth, D("2"), T0 + 2)
    assert await j.record_fill(make_fill(eth, "e1", D("2"), T0 + 2), eth_done, eth_position, None)

    assert await j.position(user, BTC) == grown
    assert await j.positions(user) == [grown, eth_position]
    assert await j.position(user, "XRP/USDT") is None
    assert await backend.count_rows("positions", {"user_id": user}) == 2


async def test_a_fill_without_position_leaves_the_position_alone(backend: Backend) -> None:
    user = new_user_id()
    opened = await open_order(backend, make_intent(user))
    first = opened.transition(OrderStatus.PARTIALLY_FILLED, T0 + 2, filled=D("1"))
    position = make_position(opened, D("1"), T0 + 2)
    assert await backend.journal.record_fill(
        make_fill(opened, "f-1", D("1"), T0 + 2), first, position, None
    )
    second = first.transition(OrderStatus.FILLED, T0 + 3, filled=D("2"))

    assert await backend.journal.record_fill(
        make_fill(opened, "f-2", D("1"), T0 + 3), second, None, None
    )
    assert await backend.journal.position(user, BTC) == position


async def test_fills_come_back_in_execution_order(backend: Backend) -> None:
    opened = await open_order(backend, make_intent(new_user_id()))
    first = opened.transition(OrderStatus.PARTIALLY_FILLED, T0 + 10, filled=D("1"))
    second = first.transition(OrderStatus.FILLED, T0 + 11, filled=D("2"))
    late = make_fill(opened, "late", D("1"), T0 + 9)
    early = make_fill(opened, "early", D("1"), T0 + 5)
    assert await backend.journal.record_fill(late, first, None, None)
    assert await backend.journal.record_fill(early, second, None, None)

    assert await backend.journal.fills(opened.client_order_id) == [early, late]
    assert await backend.journal.fills("xb-no-such-order") == []


async def test_trades_filter_by_symbol_and_exit_time(backend: Backend) -> None:
    user = new_user_id()
    late_btc = await round_trip(backend, user, BTC, T0 + 3_000, f"a-{user}")
    early_eth = await round_trip(backend, user, ETH, T0 + 1_000, f"b-{user}")
    await round_trip(backend, new_user_id(), BTC, T0 + 2_000, f"c-{user}")

    assert await backend.journal.trades(user) == [early_eth, late_btc]
    assert await backend.journal.trades(user, symbol=BTC) == [late_btc]
    assert await backend.journal.trades(user, since_ms=T0 + 3_000) == [late_btc]
    assert await backend.journal.trades(user, symbol=ETH, since_ms=T0 + 1_001) == []
