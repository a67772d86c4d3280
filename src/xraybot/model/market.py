"""Markets: what can be traded, at which increments, for which fees.

Prices and amounts that go to an exchange or into the journal pass through
:func:`round_to_tick`, the single rounding rule of the code base.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from xraybot.model._checks import (
    require_decimal,
    require_non_negative,
    require_positive,
    require_text,
)
from xraybot.model.errors import InvalidInputError, InvalidOrderError


class MarketKind(StrEnum):
    SPOT = "spot"
    SWAP = "swap"  # perpetual futures, linear (settled in the quote currency)


class Rounding(StrEnum):
    NEAREST = "nearest"  # half to even: neutral for reporting
    DOWN = "down"  # toward -inf: buy limits never pay more than asked
    UP = "up"  # toward +inf: sell limits never sell for less than asked
    TOWARD_ZERO = "toward_zero"  # amounts: never more than the balance allows


_STEP_ROUNDING: dict[Rounding, Callable[[Fraction], int]] = {
    Rounding.NEAREST: round,  # round() of a Fraction is half to even
    Rounding.DOWN: math.floor,
    Rounding.UP: math.ceil,
    Rounding.TOWARD_ZERO: math.trunc,
}


def round_to_tick(value: Decimal, tick: Decimal, mode: Rounding = Rounding.NEAREST) -> Decimal:
    """Round ``value`` to a whole multiple of ``tick``; the result carries the tick's exponent.

    Exact whatever the magnitude: Decimal division would round to the thread's context
    precision first, so 2.9999999999999999999999999999 rounded DOWN to 1 came out as 3.
    """
    if not tick.is_finite() or tick <= 0:
        raise InvalidInputError(f"tick must be a finite number > 0; found {tick}.")
    if not value.is_finite():
        raise InvalidInputError(f"the value to round must be finite; found {value}.")
    steps = _STEP_ROUNDING[mode](Fraction(value) / Fraction(tick))
    _, tick_digits, tick_exponent = tick.as_tuple()
    tick_units = int("".join(map(str, tick_digits)))
    return Decimal(f"{steps * tick_units}E{tick_exponent}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Market:
    """One tradable market on one exchange, in ccxt's unified symbol notation."""

    exchange: str
    symbol: str  # "BTC/USDT" (spot) or "BTC/USDT:USDT" (linear swap)
    base: str
    quote: str
    kind: MarketKind = MarketKind.SPOT
    price_tick: Decimal
    amount_tick: Decimal  # swap: in contracts
    min_amount: Decimal = Decimal(0)
    min_cost: Decimal = Decimal(0)  # minimum notional in quote currency
    maker_fee_rate: Decimal = Decimal("0.002")
    taker_fee_rate: Decimal = Decimal("0.002")
    contract_size: Decimal = Decimal(1)  # base units per contract; 1 for spot
    max_leverage: int = 1
    active: bool = True

    def __post_init__(self) -> None:
        owner = f"Market({self.symbol!r})"
        for field in ("exchange", "symbol", "base", "quote"):
            require_text(owner, field, getattr(self, field))
        require_positive(owner, "price_tick", self.price_tick)
        require_positive(owner, "amount_tick", self.amount_tick)
        require_positive(owner, "contract_size", self.contract_size)
        require_non_negative(owner, "min_amount", self.min_amount)
        require_non_negative(owner, "min_cost", self.min_cost)
        for field in ("maker_fee_rate", "taker_fee_rate"):
            rate = require_decimal(owner, field, getattr(self, field))
            # Makers may earn a rebate (negative). No exchange charges more than 1% a side,
            # so a larger number is a percent written where a fraction belongs.
            if not Decimal("-0.01") <= rate <= Decimal("0.01"):
                raise InvalidInputError(
                    f"{owner}.{field} must be a fraction in [-0.01, 0.01]; found {rate}. "
                    "Write 0.1% as 0.001."
                )
        if self.max_leverage < 1:
            raise InvalidInputError(
                f"{owner}.max_leverage must be >= 1; found {self.max_leverage}."
            )
        if self.kind is MarketKind.SPOT and self.max_leverage != 1:
            raise InvalidInputError(
                f"{owner}.max_leverage must be 1 for a spot market; found {self.max_leverage}."
            )

    def round_price(self, price: Decimal, mode: Rounding = Rounding.NEAREST) -> Decimal:
        return round_to_tick(price, self.price_tick, mode)

    def round_amount(self, amount: Decimal) -> Decimal:
        # Amounts always round toward zero, so a sized order never exceeds what was allowed.
        return round_to_tick(amount, self.amount_tick, Rounding.TOWARD_ZERO)

    def notional(self, amount: Decimal, price: Decimal) -> Decimal:
        """Return the quote value of ``amount`` (contracts for swaps) at ``price``."""
        return amount * self.contract_size * price

    def check_order_size(self, amount: Decimal, price: Decimal) -> None:
        """Raise InvalidOrderError if a (rounded) order is below the market's minimums."""
        if amount <= 0:
            raise InvalidOrderError(
                f"{self.symbol}: order amount must be > 0 after rounding to {self.amount_tick}; "
                f"found {amount}."
            )
        if amount < self.min_amount:
            raise InvalidOrderError(
                f"{self.symbol}: amount {amount} is below the market minimum {self.min_amount}; "
                "raise the stake or skip this market."
            )
        cost = self.notional(amount, price)
        if cost < self.min_cost:
            raise InvalidOrderError(
                f"{self.symbol}: notional {cost} {self.quote} is below the market minimum "
                f"{self.min_cost} {self.quote}; raise the stake or skip this market."
            )
