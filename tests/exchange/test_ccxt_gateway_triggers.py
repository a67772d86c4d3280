"""Resting stops through CcxtGateway: STOP_MARKET orders become MEXC swap trigger orders.

Against the simulator (the real ccxt client): a stop rests as a trigger order, is listed
with the open orders, found and cancelled by either id, and once the price crosses it is
reported as the market order it placed (filled, with that order's trades). Spot refuses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest

from tests.sim.fakes import DEMO_KEY, DEMO_SECRET, Sim, running_sim
from tests.sim.fakes import test_config as fake_sim_config
from tests.support.sim import make_gateway, make_order
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.model.errors import InvalidOrderError
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import IntentKind, OrderType, Side

SWAP, SPOT = "BTC/USDT:USDT", "BTC/USDT"


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim(fake_sim_config()) as running:
        yield running


@pytest.fixture
async def gateway(sim: Sim) -> AsyncIterator[CcxtGateway]:
    sim.reset()
    gw = make_gateway(sim.url, DEMO_KEY, DEMO_SECRET)
    yield gw
    await gw.close()


def stop(symbol: str = SWAP, price: str = "49000", amount: str = "10") -> Order:
    order = make_order(symbol, Side.SELL, amount, reduce_only=True, leverage=10)
    return dataclasses.replace(
        order,
        kind=IntentKind.STOP_LOSS,
        order_type=OrderType.STOP_MARKET,
        stop_price=Decimal(price),
    )


async def long(gateway: CcxtGateway) -> None:
    opened = await gateway.create_order(make_order(SWAP, Side.BUY, "10", leverage=10))
    assert opened.status is OrderStatus.FILLED


async def test_only_swaps_take_resting_stops(gateway: CcxtGateway) -> None:
    markets = await gateway.markets()
    assert gateway.supports_resting_stops(markets[SWAP])
    assert not gateway.supports_resting_stops(markets[SPOT])
    with pytest.raises(InvalidOrderError, match="no resting stop orders"):
        await gateway.create_order(stop(SPOT, amount="0.001"))


async def test_a_stop_rests_is_listed_and_found_by_either_id(gateway: CcxtGateway) -> None:
    await long(gateway)
    order = stop()
    placed = await gateway.create_order(order)
    assert (placed.status, placed.client_order_id, placed.filled) == (
        OrderStatus.OPEN,
        order.client_order_id,
        0,
    )
    assert placed.side is Side.SELL
    listed = await gateway.fetch_open_orders(SWAP)
    assert [o.client_order_id for o in listed] == [order.client_order_id]
    assert [o.client_order_id for o in await gateway.fetch_open_orders()] == [order.client_order_id]
    by_cid = await gateway.fetch_order(SWAP, client_order_id=order.client_order_id)
    by_id = await gateway.fetch_order(SWAP, exchange_order_id=placed.exchange_order_id)
    assert by_cid == by_id
    assert by_cid is not None
    assert by_cid.status is OrderStatus.OPEN


async def test_a_crossed_stop_reads_as_the_filled_close_it_placed(
    gateway: CcxtGateway, sim: Sim
) -> None:
    await long(gateway)
    order = stop()
    placed = await gateway.create_order(order)
    sim.market.set_price("BTC", 48_000)
    assert await gateway.fetch_positions([SWAP]) == []
    fired = await gateway.fetch_order(SWAP, exchange_order_id=placed.exchange_order_id)
    assert fired is not None
    assert (fired.status, fired.filled, fired.client_order_id) == (
        OrderStatus.FILLED,
        Decimal(10),
        order.client_order_id,
    )
    assert fired.exchange_order_id != placed.exchange_order_id
    assert fired.average_price is not None
    assert fired.average_price < Decimal(49_000)
    trades = await gateway.fetch_my_trades(SWAP)
    assert [t.exchange_order_id for t in trades if t.side is Side.SELL] == [fired.exchange_order_id]
    assert await gateway.fetch_open_orders(SWAP) == []
    # Cancelling it now reports it as it ended.
    done = await gateway.cancel_order(SWAP, client_order_id=order.client_order_id)
    assert done.status is OrderStatus.FILLED


async def test_a_cancelled_stop_leaves_the_position(gateway: CcxtGateway, sim: Sim) -> None:
    await long(gateway)
    placed = await gateway.create_order(stop())
    done = await gateway.cancel_order(SWAP, exchange_order_id=placed.exchange_order_id)
    assert done.status is OrderStatus.CANCELED
    sim.market.set_price("BTC", 48_000)
    (position,) = await gateway.fetch_positions([SWAP])
    assert position.contracts == Decimal(10)
    assert await gateway.fetch_open_orders(SWAP) == []


async def test_a_stop_is_never_placed_twice_under_one_client_id(gateway: CcxtGateway) -> None:
    await long(gateway)
    order = stop()
    first = await gateway.create_order(order)
    again = await gateway.create_order(order)
    assert again.exchange_order_id == first.exchange_order_id
    assert len(await gateway.fetch_open_orders(SWAP)) == 1
