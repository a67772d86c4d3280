"""The order manager against the real simulator: journaled first, placed once, faults survived.

Every test opens a fresh simulator account and checks the exchange's own record
(``/_sim/orders``) against the journal: one exchange order per client order id, every
exchange order known to the journal, every execution recorded exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.sim.fakes import running_sim
from tests.sim.fakes import test_config as fake_sim_config
from tests.support.order_manager import SPOT, SWAP, USER, Desk, intent, open_desk, sqlite_config
from tests.support.sim import START_MS, serve_sim
from xraybot.model.errors import InvalidInputError, InvalidOrderError
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import Direction, IntentKind, OrderType, Side
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.storage.config import StorageConfig

# A limit buy far under the market: it rests, and needs no ticker to check its notional.
RESTING = intent(order_type=OrderType.LIMIT, price="1000")


async def check_journal_agrees(desk: Desk) -> None:
    """Every exchange order is journaled once, with the exchange's fills recorded once each."""
    rows = desk.exchange_orders()
    ids = [row["client_order_id"] for row in rows]
    assert len(ids) == len(set(ids)), f"a client order id was placed twice: {ids}"
    for row in rows:
        order = await desk.journaled(row["client_order_id"])
        assert order.exchange_order_id in (None, row["order_id"])
        fills = await desk.journal.fills(order.client_order_id)
        assert len({f.fill_id for f in fills}) == len(fills)
        assert sum((f.amount for f in fills), Decimal(0)) == order.filled


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    config = SimConfig(
        match_interval_ms=0, rate_limits=RateLimits(enabled=False), fault_hang_ms=3_000
    )
    with serve_sim(config) as url:
        yield url


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> StorageConfig | None:
    return None if request.param == "memory" else sqlite_config(tmp_path)


@pytest.fixture
async def desk(sim_url: str, storage: StorageConfig | None) -> AsyncIterator[Desk]:
    async with open_desk(sim_url, storage) as opened:
        yield opened


# -- placing --------------------------------------------------------------------------------


async def test_a_market_order_is_journaled_placed_once_and_filled(desk: Desk) -> None:
    wanted = intent(amount="0.0012345")
    order = await desk.manager.submit(wanted)
    assert order.client_order_id == wanted.client_order_id
    assert order.status is OrderStatus.FILLED
    assert order.amount == order.filled == Decimal("0.001234")  # rounded down to the step
    [row] = desk.exchange_orders()
    assert row["client_order_id"] == wanted.client_order_id
    assert order.exchange_order_id == row["order_id"]
    [fill] = await desk.journal.fills(order.client_order_id)
    assert fill.amount == order.filled
    position = await desk.journal.position(USER, SPOT)
    assert position is not None
    assert (position.direction, position.amount) == (Direction.LONG, order.filled)
    await check_journal_agrees(desk)


async def test_submitting_the_same_intent_twice_places_one_order(desk: Desk) -> None:
    wanted = intent(order_type=OrderType.LIMIT, price="1000")  # rests far below the market
    first = await desk.manager.submit(wanted)
    again = await desk.manager.submit(wanted)
    assert first.status is again.status is OrderStatus.OPEN
    assert again == first
    racing = intent(order_type=OrderType.LIMIT, price="1000", leg=1)
    both = await asyncio.gather(desk.manager.submit(racing), desk.manager.submit(racing))
    assert both[0] == both[1]
    assert len(desk.exchange_orders()) == 2
    await check_journal_agrees(desk)


async def test_a_limit_price_is_rounded_never_to_a_worse_price(desk: Desk) -> None:
    order = await desk.manager.submit(
        intent(order_type=OrderType.LIMIT, price="1000.0099", amount="0.01")
    )
    assert order.price == Decimal("1000.00")  # a buy rounds down to the 0.01 tick
    [row] = desk.exchange_orders()
    assert Decimal(str(row["price"])) == Decimal("1000.00")


async def test_sizes_under_the_minimums_are_refused_and_nothing_is_journaled(
    desk: Desk,
) -> None:
    tiny = intent(amount="0.0000001")
    rounded_away = r"Found amount 1E-7 \(rounded to 0\.000000, step"
    with pytest.raises(InvalidOrderError, match=rounded_away) as e:
        await desk.manager.submit(tiny)
    assert "refused before sending" in str(e.value)
    cheap = intent(amount="0.000002", order_type=OrderType.LIMIT, price="1000")
    with pytest.raises(InvalidOrderError, match=r"notional 0\.002.* below the market minimum 1"):
        await desk.manager.submit(cheap)
    cheap_market = intent(amount="0.000002")  # valued at the last price: about 0.1 USDT
    with pytest.raises(InvalidOrderError, match=r"minimums are amount 0\.000001 and notional 1"):
        await desk.manager.submit(cheap_market)
    for refused in (tiny, cheap, cheap_market):
        assert await desk.orders.get(refused.client_order_id) is None
    assert desk.exchange_orders() == []


async def test_an_order_refused_by_the_exchange_is_rejected_in_the_journal(desk: Desk) -> None:
    too_big = intent(amount="1000")  # 50 million USDT of BTC on a 10 000 USDT account
    with pytest.raises(InvalidOrderError):
        await desk.manager.submit(too_big)
    order = await desk.journaled(too_big.client_order_id)
    assert order.status is OrderStatus.REJECTED
    assert await desk.manager.submit(too_big) == order  # and it is not tried again


# -- lost answers, timeouts, errors -----------------------------------------------------------


@pytest.mark.parametrize("symbol", [SPOT, SWAP])
async def test_a_lost_answer_yields_exactly_one_exchange_order(desk: Desk, symbol: str) -> None:
    desk.faults("lost_response")
    wanted = intent(symbol=symbol, amount="0.001" if symbol == SPOT else "2")
    order = await desk.manager.submit(wanted)
    assert order.status is OrderStatus.FILLED
    assert [r["client_order_id"] for r in desk.exchange_orders()] == [wanted.client_order_id]
    await check_journal_agrees(desk)
    if symbol == SWAP:
        [exchange_position] = await desk.gateway.fetch_positions([SWAP])
        position = await desk.journal.position(USER, SWAP)
        assert position is not None
        assert position.amount == exchange_position.contracts == 2


@pytest.mark.parametrize("fault", ["error5xx", "disconnect"])
async def test_an_order_the_exchange_never_got_is_sent_again_under_its_id(
    desk: Desk, fault: str
) -> None:
    await desk.gateway.markets()
    desk.faults(fault)
    wanted = RESTING
    order = await desk.manager.submit(wanted)
    assert order.status is OrderStatus.OPEN
    assert [r["client_order_id"] for r in desk.exchange_orders()] == [wanted.client_order_id]
    await check_journal_agrees(desk)


async def test_a_timed_out_order_is_looked_up_then_placed_once(sim_url: str) -> None:
    async with open_desk(sim_url, timeout_ms=300) as desk:
        await desk.gateway.markets()
        desk.faults("timeout")
        wanted = intent()
        order = await desk.manager.submit(wanted)
        assert order.status is OrderStatus.FILLED
        assert [r["client_order_id"] for r in desk.exchange_orders()] == [wanted.client_order_id]
        await check_journal_agrees(desk)


async def test_an_outcome_that_stays_unknown_is_tracked_not_resent(desk: Desk) -> None:
    await desk.gateway.markets()
    desk.faults(spec="error5xx=1")
    try:
        wanted = RESTING
        order = await desk.manager.submit(wanted)
        assert order.status is OrderStatus.UNKNOWN
        assert (await desk.journaled(wanted.client_order_id)).status is OrderStatus.UNKNOWN
        assert await desk.manager.resolve_unknown(USER) == [order]  # still down: kept
    finally:
        desk.faults(spec="")
    assert desk.exchange_orders() == []
    [resolved] = await desk.manager.resolve_unknown(USER)
    assert resolved.status is OrderStatus.OPEN
    assert [r["client_order_id"] for r in desk.exchange_orders()] == [wanted.client_order_id]
    assert await desk.manager.resolve_unknown(USER) == []
    await check_journal_agrees(desk)


async def test_an_unknown_order_found_too_late_is_rejected_not_sent(desk: Desk) -> None:
    await desk.gateway.markets()
    desk.faults(spec="error5xx=1")
    try:
        order = await desk.manager.submit(RESTING)
    finally:
        desk.faults(spec="")
    assert order.status is OrderStatus.UNKNOWN
    desk.clock.advance(10 * 60_000)  # far past the resend window: the price is stale
    [resolved] = await desk.manager.resolve_unknown(USER)
    assert resolved.status is OrderStatus.REJECTED
    assert desk.exchange_orders() == []


async def test_an_order_sent_before_a_crash_is_adopted_not_sent_again(desk: Desk) -> None:
    wanted = intent(order_type=OrderType.LIMIT, price="1000")
    # The process journaled the intent, sent it, and died before the answer arrived.
    journaled = await desk.journal.record_intent(wanted, desk.clock.now_ms())
    placed = await desk.gateway.create_order(journaled)
    [adopted] = await desk.manager.resolve_unknown(USER)
    assert adopted.status is OrderStatus.OPEN
    assert adopted.exchange_order_id == placed.exchange_order_id
    assert await desk.manager.submit(wanted) == adopted
    assert len(desk.exchange_orders()) == 1
    await check_journal_agrees(desk)


async def test_an_intent_journaled_but_never_sent_is_sent_on_the_next_submit(desk: Desk) -> None:
    wanted = intent()
    await desk.journal.record_intent(wanted, desk.clock.now_ms())  # then the process died
    order = await desk.manager.submit(wanted)
    assert order.status is OrderStatus.FILLED
    assert len(desk.exchange_orders()) == 1


# -- partial fills, refresh, cancel -----------------------------------------------------------


async def test_a_partial_market_fill_is_recorded_once(desk: Desk) -> None:
    desk.faults("partial_fill")
    wanted = intent(amount="0.002")
    order = await desk.manager.submit(wanted)
    assert order.status is OrderStatus.CANCELED  # the rest of a market order is dropped
    assert order.filled == Decimal("0.001")
    for _ in range(2):
        assert await desk.manager.refresh(wanted.client_order_id) == order
    assert await desk.manager.poll_open(USER) == []
    [fill] = await desk.journal.fills(wanted.client_order_id)
    assert fill.amount == Decimal("0.001")
    await check_journal_agrees(desk)


async def test_partial_limit_fills_are_recorded_once_each() -> None:
    # A market the test moves by hand: away from the limit, then back through it.
    with running_sim(fake_sim_config()) as sim:
        async with open_desk(sim.url) as desk:
            desk.faults("partial_fill")
            wanted = intent(amount="0.01", order_type=OrderType.LIMIT, price="50010")
            order = await desk.manager.submit(wanted)
            assert (order.status, order.filled) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.005"))
            [first] = await desk.journal.fills(wanted.client_order_id)
            sim.market.set_price("BTC", 50_100)
            for _ in range(2):
                assert await desk.manager.refresh(wanted.client_order_id) == order
            sim.market.set_price("BTC", 49_900)
            order = await desk.manager.refresh(wanted.client_order_id)
            assert (order.status, order.filled) == (OrderStatus.FILLED, Decimal("0.01"))
            assert await desk.manager.refresh(wanted.client_order_id) == order
            fills = await desk.journal.fills(wanted.client_order_id)
            assert [(f.price, f.amount, f.is_maker) for f in fills] == [
                (Decimal(50_005), Decimal("0.005"), False),
                (Decimal(50_010), Decimal("0.005"), True),
            ]
            assert fills[0] == first
            assert order.average_price == Decimal("50007.5")
            await check_journal_agrees(desk)


async def test_cancel_moves_a_resting_order_to_canceled(desk: Desk) -> None:
    wanted = intent(order_type=OrderType.LIMIT, price="1000")
    order = await desk.manager.submit(wanted)
    assert order.status is OrderStatus.OPEN
    assert [o.client_order_id for o in await desk.manager.poll_open(USER)] == [
        wanted.client_order_id
    ]
    canceled = await desk.manager.cancel(wanted.client_order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert await desk.manager.cancel(wanted.client_order_id) == canceled
    [row] = desk.exchange_orders()
    assert row["status"] == "CANCELED"
    assert await desk.orders.open_orders(USER) == []


async def test_cancel_of_an_order_never_sent_rejects_it_without_sending(desk: Desk) -> None:
    wanted = intent()
    await desk.journal.record_intent(wanted, desk.clock.now_ms())
    order = await desk.manager.cancel(wanted.client_order_id)
    assert order.status is OrderStatus.REJECTED
    assert desk.exchange_orders() == []


async def test_a_round_trip_closes_the_position_into_a_trade(desk: Desk) -> None:
    opened = await desk.manager.submit(intent(amount="0.002"))
    desk.clock.advance(60_000)
    closed = await desk.manager.submit(
        intent(Side.SELL, "0.002", kind=IntentKind.CLOSE, signal_ts_ms=START_MS + 60_000)
    )
    assert opened.status is closed.status is OrderStatus.FILLED
    assert await desk.journal.position(USER, SPOT) is None
    [trade] = await desk.journal.trades(USER)
    assert (trade.direction, trade.amount, trade.exit_reason) == (
        Direction.LONG,
        Decimal("0.002"),
        "close",
    )
    assert trade.fees > 0


async def test_refresh_of_an_order_never_journaled_is_refused(desk: Desk) -> None:
    with pytest.raises(InvalidInputError, match="not in the journal"):
        await desk.manager.refresh("xb-never-journaled")


async def test_a_cancel_that_could_not_be_sent_stays_pending_then_goes_through(
    desk: Desk,
) -> None:
    order = await desk.manager.submit(RESTING)
    desk.faults(spec="error5xx=1")
    try:
        pending = await desk.manager.cancel(order.client_order_id)
    finally:
        desk.faults(spec="")
    assert pending.status is OrderStatus.PENDING_CANCEL
    assert desk.exchange_orders()[0]["status"] == "NEW"
    canceled = await desk.manager.cancel(order.client_order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert desk.exchange_orders()[0]["status"] == "CANCELED"
