"""Property: whatever faults strike, no order is placed twice and none is lost by the journal.

Hypothesis draws a sequence of steps (submit one of a few intents, poll, resolve unknown
orders, cancel), each preceded by one-shot simulator faults (timeouts, 5xx, dropped
connections, lost order answers, partial fills). After the faults stop and the manager has
settled, the simulator's own order book (``/_sim/orders``) and the journal must agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.order_manager import USER, Desk, intent, open_desk
from tests.support.sim import admin, serve_sim
from xraybot.model.errors import InvalidOrderError, TemporaryError
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import OrderType
from xraybot.sim.config import FAULT_KINDS, RateLimits, SimConfig

pytestmark = pytest.mark.properties

INTENTS = (
    intent(amount="0.001"),  # market: fills at once (or partly, then the rest is dropped)
    intent(order_type=OrderType.LIMIT, price="1000", leg=1),  # rests far under the market
    intent(amount="0.002", order_type=OrderType.LIMIT, price="200000", leg=2),  # marketable
)
ACTIONS = ("submit", "submit", "poll", "resolve", "cancel")
_UNSETTLED = (OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN)

Step = tuple[int, list[str], str]
steps_strategy = st.lists(
    st.tuples(
        st.integers(0, len(INTENTS) - 1),
        st.lists(st.sampled_from(FAULT_KINDS), max_size=3),
        st.sampled_from(ACTIONS),
    ),
    min_size=1,
    max_size=6,
)


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    # A short hang: a "timeout" answers 504 after 50 ms, which ccxt reports as a timeout.
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False), fault_hang_ms=50)
    with serve_sim(config) as url:
        yield url


async def play(desk: Desk, steps: list[Step]) -> None:
    for index, faults, action in steps:
        desk.faults(*faults)
        wanted = INTENTS[index]
        try:
            if action == "submit":
                await desk.manager.submit(wanted)
            elif action == "poll":
                await desk.manager.poll_open(USER)
            elif action == "resolve":
                await desk.manager.resolve_unknown(USER)
            elif await desk.orders.get(wanted.client_order_id) is not None:
                await desk.manager.cancel(wanted.client_order_id)
        except (TemporaryError, InvalidOrderError):
            pass  # refused or still failing: the invariants below must hold all the same


async def settle(desk: Desk) -> None:
    """Let the manager finish what the faults left open (queued one-shots drain on the way)."""
    for _ in range(6):
        await desk.manager.resolve_unknown(USER)
        await desk.manager.poll_open(USER)
        journaled = [await desk.orders.get(i.client_order_id) for i in INTENTS]
        if not any(o is not None and o.status in _UNSETTLED for o in journaled):
            return
    pytest.fail(f"orders still unsettled after the faults stopped: {journaled}")


async def check(desk: Desk) -> None:
    rows = desk.exchange_orders()
    ids = [row["client_order_id"] for row in rows]
    assert len(ids) == len(set(ids)), f"a client order id was placed twice: {ids}"
    on_exchange = {row["client_order_id"]: row for row in rows}
    for wanted in INTENTS:
        cid = wanted.client_order_id
        order = await desk.orders.get(cid)
        row = on_exchange.pop(cid, None)
        event(f"final status: {order.status if order else 'never journaled'}")
        if order is None:
            assert row is None, f"exchange order {cid} is unknown to the journal"
            continue
        fills = await desk.journal.fills(cid)
        assert len({f.fill_id for f in fills}) == len(fills), f"a fill of {cid} recorded twice"
        assert sum((f.amount for f in fills), Decimal(0)) == order.filled
        if row is None:
            assert order.status is OrderStatus.REJECTED, f"{cid} is {order.status}, never placed"
            continue
        assert order.exchange_order_id == row["order_id"]
        assert order.filled == Decimal(str(row["filled"])), f"{cid}: {order} vs {row}"
    assert on_exchange == {}, f"exchange orders unknown to the journal: {sorted(on_exchange)}"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps_strategy)
def test_no_fault_sequence_places_an_order_twice_or_hides_one(
    sim_url: str, steps: list[Step]
) -> None:
    admin(sim_url, "POST", "reset")  # a clean fault queue and book for every example

    async def scenario() -> None:
        async with open_desk(sim_url, timeout_ms=2000) as desk:
            await desk.gateway.markets()  # the faults are for the order path
            await play(desk, steps)
            await settle(desk)
            await check(desk)

    asyncio.run(scenario())
