"""One contract for every ExchangeGateway adapter: ccxt→simulator and paper behave alike.

The ccxt adapter is the real ccxt ``mexc`` client talking to the local simulator; the
paper gateway takes its market data from that same simulator and fills orders through
``matching``. (The backtest venue joins this suite when it exists.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest

from tests.support.sim import make_gateway, make_order, new_account, serve_sim
from xraybot.exchange.paper import PaperGateway
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.errors import (
    InsufficientFundsError,
    InvalidOrderError,
    UnknownSymbolError,
)
from xraybot.model.market import MarketKind
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import Direction, OrderType, Side
from xraybot.sim.config import RateLimits, SimConfig

SPOT, SWAP = "BTC/USDT", "BTC/USDT:USDT"
HOUR = 3_600_000


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve_sim(SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))) as url:
        yield url


@pytest.fixture(params=["ccxt-sim", "paper"])
async def gateway(request: pytest.FixtureRequest, sim_url: str) -> AsyncIterator[ExchangeGateway]:
    if request.param == "ccxt-sim":
        adapter: ExchangeGateway = make_gateway(sim_url, *new_account(sim_url, usdt="10000"))
        yield adapter
        await adapter.close()
        return
    market_data = make_gateway(sim_url, None, None)
    paper = PaperGateway(market_data, balances={"USDT": Decimal("10000")})
    yield paper
    await paper.close()
    await market_data.close()


# -- market data ---------------------------------------------------------------------------


async def test_markets_list_spot_and_swap(gateway: ExchangeGateway) -> None:
    markets = await gateway.markets()
    assert markets[SPOT].kind is MarketKind.SPOT
    assert markets[SWAP].kind is MarketKind.SWAP
    assert markets[SWAP].contract_size > 0
    assert all(m.price_tick > 0 and m.amount_tick > 0 for m in markets.values())


async def test_tickers_single_and_bulk_agree_on_shape(gateway: ExchangeGateway) -> None:
    ticker = await gateway.fetch_ticker(SPOT)
    assert ticker.bid is not None
    assert ticker.ask is not None
    assert 0 < ticker.bid < ticker.ask
    bulk = await gateway.fetch_tickers(kind=MarketKind.SPOT)
    assert SPOT in bulk
    assert len(bulk) >= 10
    assert all(t.quote_volume_24h >= 0 for t in bulk.values())


async def test_ohlcv_is_ascending_and_within_range(gateway: ExchangeGateway) -> None:
    now = await gateway.fetch_time()
    since = now - 30 * HOUR
    candles = await gateway.fetch_ohlcv(SPOT, "1h", since_ms=since, until_ms=now - 2 * HOUR)
    assert len(candles) >= 25
    assert candles.ts_ms[0] >= since
    assert candles.ts_ms[-1] < now - 2 * HOUR
    assert (candles.high >= candles.low).all()


async def test_order_book_sides_do_not_cross(gateway: ExchangeGateway) -> None:
    book = await gateway.fetch_order_book(SPOT, depth=10)
    assert book.bids
    assert book.asks
    assert book.bids[0][0] < book.asks[0][0]
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)


async def test_an_unknown_symbol_is_refused(gateway: ExchangeGateway) -> None:
    with pytest.raises(UnknownSymbolError, match="NOPE/USDT"):
        await gateway.fetch_ticker("NOPE/USDT")
    with pytest.raises(UnknownSymbolError, match="NOPE/USDT"):
        await gateway.create_order(make_order("NOPE/USDT", Side.BUY, "1"))


# -- spot orders ---------------------------------------------------------------------------


async def test_a_market_buy_fills_and_is_reported_everywhere(gateway: ExchangeGateway) -> None:
    before = (await gateway.fetch_balance())["USDT"].free
    placed = await gateway.create_order(make_order(SPOT, Side.BUY, "0.002"))
    assert placed.status is OrderStatus.FILLED
    assert placed.filled == Decimal("0.002")
    assert placed.average_price is not None
    cid = placed.client_order_id
    assert cid is not None
    found = await gateway.fetch_order(SPOT, client_order_id=cid)
    assert found is not None
    assert found.exchange_order_id == placed.exchange_order_id
    by_id = await gateway.fetch_order(SPOT, exchange_order_id=placed.exchange_order_id)
    assert by_id is not None
    assert by_id.client_order_id == cid
    trades = await gateway.fetch_my_trades(SPOT)
    assert sum(t.amount for t in trades if t.exchange_order_id == placed.exchange_order_id) == (
        Decimal("0.002")
    )
    after = await gateway.fetch_balance()
    assert after["USDT"].free < before
    assert after["BTC"].free >= Decimal("0.002") * Decimal("0.99")  # fees may be in base


async def test_a_limit_order_rests_lists_and_cancels(gateway: ExchangeGateway) -> None:
    bid = (await gateway.fetch_ticker(SPOT)).bid
    assert bid is not None
    resting = make_order(
        SPOT, Side.BUY, "0.001", order_type=OrderType.LIMIT, price=str(bid * Decimal("0.8"))
    )
    placed = await gateway.create_order(resting)
    assert placed.status is OrderStatus.OPEN
    assert placed.filled == 0
    open_ids = [o.client_order_id for o in await gateway.fetch_open_orders(SPOT)]
    assert resting.client_order_id in open_ids
    assert (await gateway.fetch_balance())["USDT"].used > 0
    canceled = await gateway.cancel_order(SPOT, client_order_id=resting.client_order_id)
    assert canceled.status is OrderStatus.CANCELED
    assert await gateway.fetch_open_orders(SPOT) == []


async def test_a_repeated_client_order_id_never_places_a_second_order(
    gateway: ExchangeGateway,
) -> None:
    first = make_order(SPOT, Side.BUY, "0.001")
    placed = await gateway.create_order(first)
    again = await gateway.create_order(first)
    assert again.exchange_order_id == placed.exchange_order_id
    trades = await gateway.fetch_my_trades(SPOT)
    assert sum(t.amount for t in trades) == Decimal("0.001")


async def test_an_order_under_the_minimum_is_refused_and_nothing_happens(
    gateway: ExchangeGateway,
) -> None:
    with pytest.raises(InvalidOrderError, match="minimum"):
        await gateway.create_order(make_order(SPOT, Side.BUY, "0.000001"))
    assert await gateway.fetch_open_orders() == []
    assert await gateway.fetch_my_trades(SPOT) == []


async def test_an_order_the_account_cannot_pay_for_is_refused(gateway: ExchangeGateway) -> None:
    with pytest.raises(InsufficientFundsError):
        await gateway.create_order(make_order(SPOT, Side.BUY, "50"))
    assert await gateway.fetch_my_trades(SPOT) == []


async def test_an_unknown_order_is_none(gateway: ExchangeGateway) -> None:
    assert await gateway.fetch_order(SPOT, client_order_id="xb" + "0" * 30) is None


# -- swap ----------------------------------------------------------------------------------


async def test_a_swap_position_opens_and_closes(gateway: ExchangeGateway) -> None:
    await gateway.set_leverage(SWAP, 5)
    opened = await gateway.create_order(make_order(SWAP, Side.BUY, "2", leverage=5))
    assert opened.status is OrderStatus.FILLED
    [position] = await gateway.fetch_positions([SWAP])
    assert position.direction is Direction.LONG
    assert position.contracts == 2
    assert position.leverage == 5
    closed = await gateway.create_order(
        make_order(SWAP, Side.SELL, "2", reduce_only=True, leverage=5)
    )
    assert closed.status is OrderStatus.FILLED
    assert await gateway.fetch_positions([SWAP]) == []
