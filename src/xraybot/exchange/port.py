"""The ExchangeGateway port: what the rest of xraybot needs from an exchange.

Adapters (``ccxt_gateway.CcxtGateway`` for real exchanges and the local simulator,
``paper.PaperGateway`` for simulated fills on real data) satisfy it structurally. Every
method returns plain ``model`` types or the small frozen reports below; nothing of ccxt
leaks through. Amounts are in the market's own unit: base currency on spot, contracts on
swaps (``Market.contract_size`` converts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from xraybot.model.candles import Candles
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import Direction, Side


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticker:
    symbol: str
    ts_ms: int
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    base_volume_24h: Decimal  # base units (swap volumes converted from contracts)
    quote_volume_24h: Decimal
    change_pct_24h: Decimal | None = None
    high_24h: Decimal | None = None
    low_24h: Decimal | None = None

    @property
    def spread_pct(self) -> Decimal | None:
        if self.bid is None or self.ask is None or self.bid <= 0:
            return None
        return (self.ask - self.bid) / self.bid * 100


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderBook:
    symbol: str
    ts_ms: int
    bids: tuple[tuple[Decimal, Decimal], ...]  # (price, amount), best first
    asks: tuple[tuple[Decimal, Decimal], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    asset: str
    free: Decimal
    used: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderReport:
    """The exchange's view of one order, as last seen."""

    symbol: str
    exchange_order_id: str
    client_order_id: str | None
    status: OrderStatus
    side: Side
    amount: Decimal
    filled: Decimal
    average_price: Decimal | None
    price: Decimal | None
    fee: Decimal | None
    fee_currency: str | None
    ts_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeReport:
    """One execution reported by the exchange (becomes a model ``Fill`` in trading/)."""

    symbol: str
    fill_id: str
    exchange_order_id: str
    client_order_id: str | None
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    ts_ms: int
    is_maker: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionReport:
    symbol: str
    direction: Direction
    contracts: Decimal
    entry_price: Decimal
    leverage: int
    liquidation_price: Decimal | None
    unrealized_pnl: Decimal | None
    ts_ms: int


class ExchangeGateway(Protocol):
    """An exchange account (or only its public side, when no keys were given)."""

    @property
    def exchange_id(self) -> str: ...

    async def markets(self) -> dict[str, Market]:
        """Return every market by unified symbol (cached by the adapter or the pool)."""
        ...

    async def fetch_time(self) -> int:
        """Return the exchange's clock in ms."""
        ...

    async def fetch_ticker(self, symbol: str) -> Ticker: ...

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, kind: MarketKind = MarketKind.SPOT
    ) -> dict[str, Ticker]:
        """Return tickers for ``symbols``, or for every market of ``kind`` in one call."""
        ...

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles:
        """Return candles with ``since_ms <= ts < until_ms``, paginating as the exchange needs."""
        ...

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook: ...

    async def fetch_balance(self, kind: MarketKind = MarketKind.SPOT) -> dict[str, Balance]: ...

    async def create_order(self, order: Order) -> OrderReport:
        """Place ``order`` under its client order id (rounded to the market's ticks)."""
        ...

    def supports_resting_stops(self, market: Market) -> bool:
        """Whether a STOP_MARKET order on ``market`` rests on the exchange (a trigger order
        that fires while the bot is down); where not, stops are watched locally."""
        ...

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport: ...

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport | None:
        """Return the order, or None if the exchange has no such order."""
        ...

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]: ...

    async def fetch_my_trades(
        self, symbol: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[TradeReport]: ...

    async def fetch_positions(
        self, symbols: Sequence[str] | None = None
    ) -> list[PositionReport]: ...

    async def set_leverage(self, symbol: str, leverage: int) -> None: ...

    async def close(self) -> None: ...
