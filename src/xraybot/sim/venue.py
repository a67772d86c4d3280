"""What the trading desks share: the market data, the settings, the dice and the id counters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count

from xraybot.model.errors import UnknownSymbolError
from xraybot.model.market import Rounding, round_to_tick
from xraybot.sim.book import Top, top_of_book
from xraybot.sim.config import SimConfig
from xraybot.sim.faults import FaultInjector
from xraybot.sim.market import MarketData, SimSymbol
from xraybot.sim.replies import (
    CONTRACT_UNKNOWN_SYMBOL,
    SPOT_BAD_SYMBOL,
    MexcError,
)


def decimal_places(tick: Decimal) -> int:
    """Return the digits after the point of ``tick`` (MEXC's spot precision integers)."""
    exponent = tick.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def spot_tick(tick: Decimal) -> Decimal:
    """Return the power-of-ten step a spot client sees: MEXC only publishes decimal places."""
    return Decimal(1).scaleb(-decimal_places(tick))


@dataclass
class IdSource:
    """Monotonic ids, never reused within a run (not even after a reset)."""

    _spot_orders: count[int] = field(default_factory=lambda: count(1))
    _swap_orders: count[int] = field(default_factory=lambda: count(1))
    _trades: count[int] = field(default_factory=lambda: count(1))
    _positions: count[int] = field(default_factory=lambda: count(1))

    def spot_order(self) -> str:
        """Return a new spot order id, MEXC-style ``C02__<digits>``."""
        return f"C02__{385413065019117569000 + next(self._spot_orders)}"

    def swap_order(self) -> str:
        """Return a new contract order id (digits)."""
        return str(700000001000 + next(self._swap_orders))

    def trade(self) -> str:
        """Return a new spot trade id (32 hex digits)."""
        return f"{next(self._trades):032x}"

    def deal(self) -> str:
        """Return a new contract deal id (digits)."""
        return str(159274000 + next(self._trades))

    def position(self) -> int:
        """Return a new position id."""
        return 1394000 + next(self._positions)


class Venue:
    """The market as the desks see it: symbols by MEXC id, books on ticks, the clock."""

    def __init__(self, config: SimConfig, market: MarketData) -> None:
        self.config = config
        self.market = market
        self.faults = FaultInjector(config.faults, config.seed)
        self.ids = IdSource()

    def now_ms(self) -> int:
        """Return the market clock's time: every timestamp the exchange shows uses it."""
        return self.market.clock.now_ms()

    def auth_clocks(self) -> tuple[int, int]:
        """Return the clocks a signed request's timestamp may follow: wall and market."""
        return int(time.time() * 1000), self.now_ms()

    def spot_symbol(self, symbol_id: str | None) -> SimSymbol:
        """Return the symbol of a spot id (``BTCUSDT``), or raise MEXC's invalid-symbol error."""
        found = self._lookup(symbol_id)
        if found is None or found.spot_id != symbol_id:
            raise MexcError(SPOT_BAD_SYMBOL, f"Invalid symbol. (no spot market {symbol_id!r})")
        return found

    def swap_symbol(self, symbol_id: str | None) -> SimSymbol:
        """Return the symbol of a swap id (``BTC_USDT``), or raise MEXC's contract error."""
        found = self._lookup(symbol_id)
        if found is None or not found.has_swap or found.swap_id != symbol_id:
            raise MexcError(
                CONTRACT_UNKNOWN_SYMBOL, f"Contract does not exist (no swap market {symbol_id!r})"
            )
        return found

    def _lookup(self, symbol_id: str | None) -> SimSymbol | None:
        if not symbol_id:
            return None
        try:
            return self.market.symbol(symbol_id)
        except (KeyError, UnknownSymbolError):
            return None

    def spot_top(self, symbol: SimSymbol) -> Top:
        """Return the spot book's top on the tick a spot client sees."""
        try:
            quote = self.market.quote(symbol.spot_id)
        except (KeyError, UnknownSymbolError):
            raise MexcError(
                SPOT_BAD_SYMBOL, f"Invalid symbol. ({symbol.spot_id} has no price now)"
            ) from None
        return top_of_book(quote, spot_tick(symbol.price_tick))

    def swap_top(self, symbol: SimSymbol) -> Top:
        """Return the contract book's top on the contract's price unit."""
        try:
            quote = self.market.quote(symbol.swap_id)
        except (KeyError, UnknownSymbolError):
            raise MexcError(
                CONTRACT_UNKNOWN_SYMBOL,
                f"Contract does not exist ({symbol.swap_id} has no price now)",
            ) from None
        return top_of_book(quote, symbol.price_tick)

    def partial(self, amount: Decimal, tick: Decimal) -> Decimal:
        """Return how much of ``amount`` a fill executes: all, or a part if the dice say so."""
        if not self.faults.draw("partial_fill"):
            return amount
        part = round_to_tick(amount * self.config.partial_fill_ratio, tick, Rounding.DOWN)
        return part if 0 < part < amount else amount
