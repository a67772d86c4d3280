"""paper.py: every port method, spot and swap, on fixed market data from an in-test source."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.paper import SPOT, SWAP, D, FixedMarketData, order
from xraybot.exchange.paper import MarketDataSource, PaperGateway
from xraybot.exchange.port import ExchangeGateway
from xraybot.model import (
    Direction,
    MarketKind,
    OrderStatus,
    OrderType,
    Side,
)
from xraybot.model.errors import (
    InsufficientFundsError,
    InvalidInputError,
    InvalidOrderError,
    UnknownSymbolError,
)


@pytest.fixture
def data() -> FixedMarketData:
    return FixedMarketData()


@pytest.fixture
def paper(data: FixedMarketData) -> PaperGateway:
    return PaperGateway(data, balances={"USDT": D(100_000), "BTC": D(1)})


def test_the_paper_gateway_satisfies_the_port_and_reads_any_gateway(paper: PaperGateway) -> None:
    gateway: ExchangeGateway = paper
    source: MarketDataSource = gateway  # a gateway is a market data source, paper included
    assert source.exchange_id == "paper:fixed"
    assert PaperGateway(gateway, balances={}).exchange_id == "paper:paper:fixed"


async def test_public_calls_are_the_market_data_sources(
    paper: PaperGateway, data: FixedMarketData
) -> None:
    assert await paper.markets() == await data.markets()
    assert await paper.fetch_time() == 123_456
    assert await paper.fetch_ticker(SPOT.symbol) is data.tickers[SPOT.symbol]
    assert await paper.fetch_tickers([SWAP.symbol], MarketKind.SWAP) == {
        SWAP.symbol: data.tickers[SWAP.symbol]
    }
    candles = await paper.fetch_ohlcv(SPOT.symbol, "1m", since_ms=0, limit=2)
    assert list(candles.close) == [1.0, 2.0]
    book = await paper.fetch_order_book(SPOT.symbol, depth=5)
    assert book.bids == ((D(1), D(2)),)


@pytest.mark.parametrize(
    "call",
    [
        lambda g: g.create_order(order("x", dataclasses.replace(SPOT, symbol="NOPE/USDT"))),
        lambda g: g.cancel_order("NOPE/USDT", client_order_id="x"),
        lambda g: g.fetch_order("NOPE/USDT", client_order_id="x"),
        lambda g: g.fetch_open_orders("NOPE/USDT"),
        lambda g: g.fetch_my_trades("NOPE/USDT"),
        lambda g: g.fetch_positions(["NOPE/USDT:USDT"]),
        lambda g: g.set_leverage("NOPE/USDT:USDT", 5),
    ],
)
async def test_an_unknown_symbol_is_refused_before_anything_else(
    paper: PaperGateway, data: FixedMarketData, call: object
) -> None:
    with pytest.raises(UnknownSymbolError, match="'NOPE/USDT"):
        await call(paper)  # type: ignore[operator]
    assert data.ticker_calls == 0
    assert paper.ledger.open_orders() == []


async def test_a_spot_market_order_fills_and_shows_in_balance_trades_and_lookups(
    paper: PaperGateway,
) -> None:
    report = await paper.create_order(order("buy-1"))
    assert report.status is OrderStatus.FILLED
    assert report.average_price == D("50035.01")  # ask 50010 plus 0.05% slippage, rounded up
    assert report.fee_currency == "USDT"
    assert report.fee is not None
    assert report.fee > 0
    assert report.ts_ms == 1_000  # the ticker's time: no clock was given
    cost = D("50035.01") * D("0.1") + report.fee
    balances = await paper.fetch_balance()
    assert balances["USDT"].free == D(100_000) - cost
    assert balances["BTC"].total == D("1.1")
    [trade] = await paper.fetch_my_trades(SPOT.symbol)
    assert (trade.client_order_id, trade.amount, trade.is_maker) == ("buy-1", D("0.1"), False)
    by_id = await paper.fetch_order(SPOT.symbol, exchange_order_id=report.exchange_order_id)
    assert by_id == report == await paper.fetch_order(SPOT.symbol, client_order_id="buy-1")
    assert await paper.fetch_order(SPOT.symbol, client_order_id="never") is None


async def test_a_resting_limit_fills_when_a_later_private_call_sees_the_price_cross(
    paper: PaperGateway, data: FixedMarketData
) -> None:
    resting = await paper.create_order(order("bid-1", price="49000.004"))
    assert (resting.status, resting.price) == (OrderStatus.OPEN, D("49000.00"))
    assert [o.client_order_id for o in await paper.fetch_open_orders()] == ["bid-1"]
    assert (await paper.fetch_balance())["USDT"].used == D("4904.9")  # 4900 + 0.1% fee
    data.set_quote(SPOT.symbol, "48990", "48995", ts_ms=2_000)
    assert await paper.fetch_open_orders(SPOT.symbol) == []
    filled = await paper.fetch_order(SPOT.symbol, client_order_id="bid-1")
    assert filled is not None
    assert (filled.status, filled.average_price, filled.ts_ms) == (
        OrderStatus.FILLED,
        D("49000.00"),
        2_000,
    )
    [trade] = await paper.fetch_my_trades(SPOT.symbol)
    assert (trade.price, trade.is_maker, trade.fee) == (D("49000.00"), True, D("4.9"))
    assert (await paper.fetch_balance())["USDT"].used == 0


async def test_cancel_by_either_id_and_a_finished_order_is_reported_as_it_is(
    paper: PaperGateway,
) -> None:
    resting = await paper.create_order(order("ask-1", side=Side.SELL, price="60000"))
    assert (await paper.fetch_balance())["BTC"].used == D("0.1")
    canceled = await paper.cancel_order(SPOT.symbol, client_order_id="ask-1")
    assert canceled.status is OrderStatus.CANCELED
    assert canceled.exchange_order_id == resting.exchange_order_id
    again = await paper.cancel_order(SPOT.symbol, exchange_order_id=resting.exchange_order_id)
    assert again == canceled
    assert (await paper.fetch_balance())["BTC"].used == 0
    with pytest.raises(InvalidOrderError, match="'ghost'"):
        await paper.cancel_order(SPOT.symbol, client_order_id="ghost")


async def test_a_retried_create_returns_the_first_order_and_places_nothing(
    paper: PaperGateway,
) -> None:
    first = await paper.create_order(order("once"))
    balances = await paper.fetch_balance()
    assert await paper.create_order(order("once")) == first
    assert await paper.fetch_balance() == balances
    assert len(await paper.fetch_my_trades(SPOT.symbol)) == 1
    with pytest.raises(InvalidOrderError, match="'once'"):
        await paper.create_order(order("once", SWAP, amount="10"))  # the id is taken


async def test_refused_orders_raise_specific_errors(paper: PaperGateway) -> None:
    with pytest.raises(InsufficientFundsError, match="USDT"):
        await paper.create_order(order("big", amount="5"))
    with pytest.raises(InvalidOrderError, match="below the market minimum 5"):
        await paper.create_order(order("tiny", amount="0.0001", price="40000"))
    stop = dataclasses.replace(
        order("stop"), order_type=OrderType.STOP_MARKET, stop_price=D("40000")
    )
    with pytest.raises(InvalidOrderError, match="stop_market"):
        await paper.create_order(stop)
    with pytest.raises(InvalidOrderError, match="swap markets only"):
        await paper.set_leverage(SPOT.symbol, 3)
    with pytest.raises(InvalidInputError, match="spot market"):
        await paper.fetch_positions([SPOT.symbol])
    assert paper.ledger.open_orders() == []
    assert paper.ledger.trades(SPOT.symbol) == []


async def test_a_swap_position_opens_marks_and_closes_in_contracts(
    paper: PaperGateway, data: FixedMarketData
) -> None:
    await paper.set_leverage(SWAP.symbol, 10)
    opened = await paper.create_order(order("long", SWAP, amount="1000", leverage=10))
    assert (opened.status, opened.amount) == (OrderStatus.FILLED, D(1000))
    [position] = await paper.fetch_positions()
    assert (position.direction, position.contracts, position.leverage) == (
        Direction.LONG,
        D(1000),
        10,
    )
    assert position.liquidation_price is not None
    assert position.liquidation_price < position.entry_price
    margin = D(1000) * SWAP.contract_size * position.entry_price / 10
    assert (await paper.fetch_balance(MarketKind.SWAP))["USDT"].used == margin
    data.set_quote(SWAP.symbol, "51000", "51000.2", ts_ms=3_000)
    [marked] = await paper.fetch_positions([SWAP.symbol])
    assert marked.unrealized_pnl == (D("51000.1") - position.entry_price) * D("0.1")
    assert marked.ts_ms == 3_000
    close = order("close", SWAP, Side.SELL, amount="1000", reduce_only=True, leverage=1)
    assert (await paper.create_order(close)).status is OrderStatus.FILLED
    assert await paper.fetch_positions() == []
    assert (await paper.fetch_balance())["USDT"].used == 0
    trades = await paper.fetch_my_trades(SWAP.symbol)
    assert [t.side for t in trades] == [Side.BUY, Side.SELL]


async def test_a_swap_resting_order_and_a_liquidation_are_brought_up_to_date(
    paper: PaperGateway, data: FixedMarketData
) -> None:
    await paper.create_order(order("short", SWAP, Side.SELL, amount="1000", leverage=50))
    await paper.create_order(order("tp", SWAP, Side.BUY, "1000", "45000", reduce_only=True))
    [position] = await paper.fetch_positions()
    assert position.liquidation_price is not None
    above = str(position.liquidation_price + 10)
    data.set_quote(SWAP.symbol, above, above, ts_ms=4_000)
    balance = await paper.fetch_balance()
    assert await paper.fetch_positions() == []
    assert balance["USDT"].used == 0
    tp = await paper.fetch_order(SWAP.symbol, client_order_id="tp")
    assert tp is not None
    assert tp.status is OrderStatus.CANCELED
    [_, liquidation] = await paper.fetch_my_trades(SWAP.symbol)
    assert (liquidation.client_order_id, liquidation.side) == (None, Side.BUY)


async def test_my_trades_page_forward_from_since_or_give_the_latest(
    data: FixedMarketData,
) -> None:
    clock = iter(range(10_000, 20_000, 1_000))
    paper = PaperGateway(data, balances={"USDT": D(1_000_000)}, now_ms=lambda: next(clock))
    for n in range(4):
        await paper.create_order(order(f"t{n}"))
    # Each call reads the clock once per quote: creates at 10_000, 11_000, 12_000, 13_000.
    trades = await paper.fetch_my_trades(SPOT.symbol)
    assert [t.ts_ms for t in trades] == [10_000, 11_000, 12_000, 13_000]
    assert [t.client_order_id for t in await paper.fetch_my_trades(SPOT.symbol, limit=2)] == [
        "t2",
        "t3",
    ]
    since = await paper.fetch_my_trades(SPOT.symbol, since_ms=11_000, limit=2)
    assert [t.client_order_id for t in since] == ["t1", "t2"]
    assert await paper.fetch_my_trades(SPOT.symbol, limit=0) == []


async def test_a_ticker_without_a_book_side_is_quoted_at_its_last_price(
    paper: PaperGateway, data: FixedMarketData
) -> None:
    data.set_quote(SPOT.symbol, None, "50000", ts_ms=5_000)
    report = await paper.create_order(order("sell", side=Side.SELL, price="50000"))
    assert (report.status, report.average_price) == (OrderStatus.FILLED, D(50000))


async def test_close_leaves_the_market_data_source_to_its_owner(
    paper: PaperGateway, data: FixedMarketData
) -> None:
    await paper.close()
    assert not data.closed
