"""What the screener needs from an exchange; ``exchange.ccxt_gateway.CcxtGateway`` has it all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from xraybot.model.candles import Candles
from xraybot.model.market import Market, MarketKind


class ScreenTicker(Protocol):
    """The part of a 24h ticker the first stage reads (exchange.port.Ticker has it)."""

    @property
    def last(self) -> Decimal: ...

    @property
    def bid(self) -> Decimal | None: ...

    @property
    def ask(self) -> Decimal | None: ...

    @property
    def quote_volume_24h(self) -> Decimal: ...


class ScreenBook(Protocol):
    """An order book snapshot: (price, amount) levels, best first."""

    @property
    def bids(self) -> Sequence[tuple[Decimal, Decimal]]: ...

    @property
    def asks(self) -> Sequence[tuple[Decimal, Decimal]]: ...


class ScreenSource(Protocol):
    """Markets, bulk tickers, candles, order books and the exchange clock."""

    @property
    def exchange_id(self) -> str: ...

    async def markets(self) -> Mapping[str, Market]: ...

    async def fetch_time(self) -> int:
        """Return the exchange's clock in ms."""
        ...

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, kind: MarketKind = MarketKind.SPOT
    ) -> Mapping[str, ScreenTicker]:
        """Return every ticker of ``kind`` in one call when ``symbols`` is None."""
        ...

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles:
        """Return the latest ``limit`` candles (the forming one included) without ``since_ms``."""
        ...

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> ScreenBook: ...
