"""What the simulator's HTTP layer needs from its market data: the MarketData port.

Two sources satisfy it: a replay of real candles from a data directory (the
``../shared/data`` layout) and a seeded synthetic universe of N symbols. Both are driven
by a :class:`SimClock`, so replays can run faster than real time or be advanced by hand.
Symbol ids are MEXC's: ``BTCUSDT`` on spot, ``BTC_USDT`` on swap; a ``SimSymbol`` with
``has_swap`` is listed on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from xraybot.model.candles import Candles


@dataclass(frozen=True, slots=True, kw_only=True)
class SimSymbol:
    base: str  # "BTC"
    quote: str  # "USDT"
    price_tick: Decimal
    amount_tick: Decimal  # spot amount step, base units
    min_notional: Decimal  # spot minimum order value in quote units
    maker_fee: Decimal
    taker_fee: Decimal
    spread_bps: float  # typical quoted spread, basis points of price
    listed_ms: int
    has_swap: bool = False
    contract_size: Decimal = Decimal("0.0001")  # base units per swap contract
    max_leverage: int = 1  # swap only; spot is always 1

    @property
    def spot_id(self) -> str:
        return f"{self.base}{self.quote}"

    @property
    def swap_id(self) -> str:
        return f"{self.base}_{self.quote}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Quote:
    """The top of the book at one moment."""

    ts_ms: int
    last: float
    bid: float
    ask: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats24h:
    open: float
    high: float
    low: float
    last: float
    base_volume: float
    quote_volume: float
    open_ms: int
    close_ms: int


class SimClock(Protocol):
    def now_ms(self) -> int: ...


class MarketData(Protocol):
    """Prices for the simulator; every method is a pure function of the clock's time."""

    clock: SimClock

    def symbols(self) -> Sequence[SimSymbol]:
        """Return every listed symbol, in a stable order."""
        ...

    def symbol(self, symbol_id: str) -> SimSymbol:
        """Return the symbol for a spot (``BTCUSDT``) or swap (``BTC_USDT``) id, else KeyError."""
        ...

    def quote(self, symbol_id: str) -> Quote:
        """Return last, bid and ask now."""
        ...

    def candles(self, symbol_id: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
        """Return candles with ``start_ms <= ts < end_ms`` that have closed by now, plus the
        still-open current candle if its open time is in range (as exchanges do)."""
        ...

    def stats_24h(self, symbol_id: str) -> Stats24h:
        """Return the rolling 24-hour statistics ending now."""
        ...
