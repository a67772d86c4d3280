"""paper_stops.py through PaperGateway: swap stops rest and fire on the quotes it fetches.

A STOP_MARKET order on a swap rests (OPEN, listed, found by either id, cancellable); the
first quote whose last price reaches it turns it into a reduce-only market order in the
ledger under the same client id, reported from then on as that filled order. Spot refuses
stops, as on the exchange. A restarted paper account gets its open stops back from the
journal's orders.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from tests.support.paper import SPOT, SWAP, FixedMarketData, order
from xraybot.exchange.paper import PaperGateway
from xraybot.model import IntentKind, Order, OrderStatus, OrderType, Side
from xraybot.model.errors import InvalidOrderError

D = Decimal


def stop(cid: str = "stop", price: str = "49000", amount: str = "10") -> Order:
    return dataclasses.replace(
        order(cid, SWAP, side=Side.SELL, amount=amount),
        kind=IntentKind.STOP_LOSS,
        order_type=OrderType.STOP_MARKET,
        stop_price=D(price),
        reduce_only=True,
        leverage=5,
    )


@pytest.fixture
def data() -> FixedMarketData:
    return FixedMarketData()


@pytest.fixture
async def paper(data: FixedMarketData) -> PaperGateway:
    gateway = PaperGateway(data, balances={"USDT": D(100_000)})
    opened = await gateway.create_order(order("open", SWAP, amount="10", leverage=5))
    assert opened.status is OrderStatus.FILLED
    return gateway


async def test_a_swap_stop_rests_until_the_last_price_reaches_it(
    paper: PaperGateway, data: FixedMarketData
) -> None:
    assert paper.supports_resting_stops(SWAP)
    assert not paper.supports_resting_stops(SPOT)
    placed = await paper.create_order(stop())
    assert (placed.status, placed.filled, placed.client_order_id) == (OrderStatus.OPEN, 0, "stop")
    assert [o.client_order_id for o in await paper.fetch_open_orders(SWAP.symbol)] == ["stop"]
    again = await paper.create_order(stop())  # a retried place: the same stop
    assert again == placed
    data.set_quote(SWAP.symbol, "49000.1", "49000.2", ts_ms=2_000)
    (position,) = await paper.fetch_positions([SWAP.symbol])
    assert position.contracts == D(10)
    data.set_quote(SWAP.symbol, "48900", "48900.1", ts_ms=3_000)
    assert await paper.fetch_positions([SWAP.symbol]) == []
    fired = await paper.fetch_order(SWAP.symbol, client_order_id="stop")
    assert fired is not None
    assert (fired.status, fired.filled) == (OrderStatus.FILLED, D(10))
    assert fired.average_price is not None
    assert fired.average_price < D(49_000)
    by_id = await paper.fetch_order(SWAP.symbol, exchange_order_id=placed.exchange_order_id)
    assert by_id == fired
    assert await paper.fetch_open_orders(SWAP.symbol) == []
    sells = [t for t in await paper.fetch_my_trades(SWAP.symbol) if t.side is Side.SELL]
    assert [t.client_order_id for t in sells] == ["stop"]
    # The price coming back fires nothing more.
    data.set_quote(SWAP.symbol, "50000", "50000.1", ts_ms=4_000)
    assert len(await paper.fetch_my_trades(SWAP.symbol)) == 2


async def test_a_cancelled_stop_never_fires(paper: PaperGateway, data: FixedMarketData) -> None:
    placed = await paper.create_order(stop())
    done = await paper.cancel_order(SWAP.symbol, exchange_order_id=placed.exchange_order_id)
    assert done.status is OrderStatus.CANCELED
    data.set_quote(SWAP.symbol, "48000", "48000.1", ts_ms=2_000)
    (position,) = await paper.fetch_positions([SWAP.symbol])
    assert position.contracts == D(10)
    again = await paper.cancel_order(SWAP.symbol, client_order_id="stop")
    assert again.status is OrderStatus.CANCELED


async def test_a_stop_whose_position_is_gone_is_refused_when_it_fires(
    paper: PaperGateway, data: FixedMarketData
) -> None:
    await paper.create_order(stop())
    close = dataclasses.replace(
        order("close", SWAP, side=Side.SELL, amount="10"), reduce_only=True, leverage=5
    )
    await paper.create_order(close)
    data.set_quote(SWAP.symbol, "48000", "48000.1", ts_ms=2_000)
    ended = await paper.fetch_order(SWAP.symbol, client_order_id="stop")
    assert ended is not None
    assert ended.status is OrderStatus.REJECTED
    assert await paper.fetch_positions([SWAP.symbol]) == []


async def test_spot_refuses_stop_orders(paper: PaperGateway) -> None:
    spot_stop = dataclasses.replace(
        order("spot-stop", SPOT, side=Side.SELL, amount="0.1"),
        order_type=OrderType.STOP_MARKET,
        stop_price=D("40000"),
    )
    with pytest.raises(InvalidOrderError, match="stop_market"):
        await paper.create_order(spot_stop)


async def test_a_restarted_account_gets_its_open_stops_back(data: FixedMarketData) -> None:
    journaled = dataclasses.replace(
        stop(), status=OrderStatus.OPEN, exchange_order_id="PS7", updated_ts_ms=1_500
    )
    gone = dataclasses.replace(stop("old"), status=OrderStatus.CANCELED, exchange_order_id="PS1")
    fresh = PaperGateway(data, balances={"USDT": D(100_000)}, id_prefix="Q")
    await fresh.create_order(order("reopen", SWAP, amount="10", leverage=5))
    fresh.restore_stops([journaled, gone])
    listed = await fresh.fetch_open_orders(SWAP.symbol)
    assert [(o.client_order_id, o.exchange_order_id) for o in listed] == [("stop", "PS7")]
    data.set_quote(SWAP.symbol, "48000", "48000.1", ts_ms=2_000)
    fired = await fresh.fetch_order(SWAP.symbol, exchange_order_id="PS7")
    assert fired is not None
    assert fired.status is OrderStatus.FILLED
