"""The top of the book on the symbol's ticks, and a synthetic depth ladder around it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from xraybot.sim.market import Quote

_LEVEL_STEP_RATE = Decimal("0.0001")  # one basis point of price between depth levels
_LEVEL_NOTIONAL = Decimal(500)  # quote units at the best level; level i holds (i + 1) times it


@dataclass(frozen=True, slots=True)
class Top:
    """Last, bid and ask as Decimals on the price tick, with ``bid < ask`` always."""

    ts_ms: int
    last: Decimal
    bid: Decimal
    ask: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


def snap(value: Decimal, tick: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Round to a multiple of ``tick`` (floor, ceiling or half-even), in the tick's exponent.

    A hot path (a bulk ticker snaps every symbol's book): plain Decimal arithmetic is exact
    here because quotes carry at most 17 significant digits, far below the 28 of the context.
    """
    return (value / tick).to_integral_value(rounding=rounding) * tick


def to_decimal(value: float) -> Decimal:
    """Return a float as the Decimal of its shortest repr."""
    # repr() keeps the float's shortest exact decimal form (no binary noise).
    return Decimal(repr(value))


def top_of_book(quote: Quote, tick: Decimal) -> Top:
    """Put a float quote on ``tick``: bid rounded down, ask up, never crossed or touching."""
    bid = max(tick, snap(to_decimal(quote.bid), tick, ROUND_FLOOR))
    ask = snap(to_decimal(quote.ask), tick, ROUND_CEILING)
    if ask <= bid:
        ask = bid + tick
    last = max(tick, snap(to_decimal(quote.last), tick))
    return Top(ts_ms=quote.ts_ms, last=last, bid=bid, ask=ask)


def depth(
    top: Top, *, price_tick: Decimal, amount_tick: Decimal, levels: int
) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """Return (bids, asks) as (price, base amount), best first, sizes growing with distance."""
    step = max(price_tick, snap(top.mid * _LEVEL_STEP_RATE, price_tick, ROUND_FLOOR))
    bids: list[tuple[Decimal, Decimal]] = []
    asks: list[tuple[Decimal, Decimal]] = []
    for i in range(levels):
        notional = _LEVEL_NOTIONAL * (i + 1)
        bid = top.bid - step * i
        if bid > 0:
            size = snap(notional / bid, amount_tick, ROUND_FLOOR)
            bids.append((bid, max(size, amount_tick * (i + 1))))
        ask = top.ask + step * i
        size = snap(notional / ask, amount_tick, ROUND_FLOOR)
        asks.append((ask, max(size, amount_tick * (i + 1))))
    return bids, asks


def change_since(last: Decimal, open_price: float) -> tuple[Decimal, Decimal]:
    """Return the change from ``open_price`` to ``last`` and its fraction (8 places)."""
    opened = to_decimal(open_price)
    change = last - opened
    rate = (change / opened).quantize(Decimal("1E-8")) if opened else Decimal(0)
    return change, rate
