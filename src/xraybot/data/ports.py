"""The ports the market-data layer consumes; ``exchange.ccxt_gateway.CcxtGateway`` has them all.

``data`` and ``exchange`` are independent siblings in the layers, so ``data`` states what it
needs here instead of importing ``exchange.port``; runtime wires a gateway in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from xraybot.model.candles import Candles
from xraybot.model.market import Market, MarketKind


class CandleSource(Protocol):
    """Candles and the exchange clock: what the live feed needs."""

    async def fetch_time(self) -> int:
        """Return the exchange's clock in ms."""
        ...

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles:
        """Return candles with ``since_ms <= ts``, ascending, the forming one included."""
        ...


class CandleStream(CandleSource, Protocol):
    """A source that also pushes candles (ccxt.pro ``watch_ohlcv``)."""

    async def watch_ohlcv(self, symbol: str, timeframe: str) -> Candles:
        """Return the recent candles as the next push arrives, the forming one included."""
        ...


class VolumeTicker(Protocol):
    """The part of a 24h ticker that ranks markets (exchange.port.Ticker has it)."""

    @property
    def last(self) -> Decimal: ...

    @property
    def quote_volume_24h(self) -> Decimal: ...


class MarketSource(CandleSource, Protocol):
    """Candles plus the market list and bulk tickers: what history downloads need."""

    @property
    def exchange_id(self) -> str: ...

    async def markets(self) -> Mapping[str, Market]: ...

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, kind: MarketKind = MarketKind.SPOT
    ) -> Mapping[str, VolumeTicker]: ...
