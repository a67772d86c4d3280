"""Markets and fixed market data for the paper gateway tests."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np

from xraybot.exchange.port import OrderBook, Ticker
from xraybot.model import (
    Candles,
    IntentKind,
    Market,
    MarketKind,
    Order,
    OrderStatus,
    OrderType,
    Side,
)

D = Decimal
SPOT = Market(
    exchange="fixed",
    symbol="BTC/USDT",
    base="BTC",
    quote="USDT",
    price_tick=D("0.01"),
    amount_tick=D("0.0001"),
    min_cost=D("5"),
    maker_fee_rate=D("0.001"),
    taker_fee_rate=D("0.002"),
)
SWAP = Market(
    exchange="fixed",
    symbol="BTC/USDT:USDT",
    base="BTC",
    quote="USDT",
    kind=MarketKind.SWAP,
    price_tick=D("0.1"),
    amount_tick=D("1"),
    min_amount=D("1"),
    maker_fee_rate=D("0.0002"),
    taker_fee_rate=D("0.0006"),
    contract_size=D("0.0001"),
    max_leverage=100,
)


class FixedMarketData:
    """The market data the paper gateway consumes: fixed markets, tickers set by the test."""

    @property
    def exchange_id(self) -> str:
        return "fixed"

    def __init__(self) -> None:
        self.tickers: dict[str, Ticker] = {}
        self.ticker_calls = 0
        self.closed = False
        self.set_quote(SPOT.symbol, "50000", "50010", ts_ms=1_000)
        self.set_quote(SWAP.symbol, "50000", "50000.1", ts_ms=1_000)

    def set_quote(self, symbol: str, bid: str | None, ask: str | None, *, ts_ms: int) -> None:
        last = D(bid or ask or "1")
        self.tickers[symbol] = Ticker(
            symbol=symbol,
            ts_ms=ts_ms,
            last=last,
            bid=None if bid is None else D(bid),
            ask=None if ask is None else D(ask),
            base_volume_24h=D(100),
            quote_volume_24h=D(5_000_000),
        )

    async def markets(self) -> dict[str, Market]:
        return {SPOT.symbol: SPOT, SWAP.symbol: SWAP}

    async def fetch_time(self) -> int:
        return 123_456

    async def fetch_ticker(self, symbol: str) -> Ticker:
        self.ticker_calls += 1
        return self.tickers[symbol]

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, kind: MarketKind = MarketKind.SPOT
    ) -> dict[str, Ticker]:
        self.ticker_calls += 1
        markets = await self.markets()
        wanted = symbols if symbols is not None else list(self.tickers)
        return {s: self.tickers[s] for s in wanted if markets[s].kind is kind}

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles:
        ts = np.array([0, 60_000], dtype=np.int64)
        prices = np.array([1.0, 2.0])
        return Candles(symbol, timeframe, ts, prices, prices, prices, prices, prices)

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        return OrderBook(symbol=symbol, ts_ms=1, bids=((D(1), D(2)),), asks=((D(3), D(4)),))

    async def close(self) -> None:
        self.closed = True


def order(
    cid: str,
    market: Market = SPOT,
    side: Side = Side.BUY,
    amount: str = "0.1",
    price: str | None = None,
    **kw: object,
) -> Order:
    return Order(
        client_order_id=cid,
        user_id="u1",
        strategy="test",
        symbol=market.symbol,
        side=side,
        kind=IntentKind.OPEN,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        amount=D(amount),
        price=None if price is None else D(price),
        status=OrderStatus.PENDING_SUBMIT,
        created_ts_ms=0,
        updated_ts_ms=0,
        **kw,  # type: ignore[arg-type]
    )
