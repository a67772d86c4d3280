"""Amounts on a market: what sizing and the deposit calculator compute orders with.

Money crosses in Decimal (``Market.round_amount`` is the one rounding rule); the sizing rules
themselves run on floats, and these helpers are where the two meet.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market, MarketKind, Rounding, round_to_tick


def to_decimal(name: str, value: Decimal | float | int) -> Decimal:
    """Return ``value`` as a finite Decimal (floats through their shortest repr)."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a number; found {value!r}.")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    else:
        raise InvalidInputError(
            f"{name} must be a number; found {value!r} ({type(value).__name__})."
        )
    if not number.is_finite():
        raise InvalidInputError(f"{name} must be a finite number; found {value!r}.")
    return number


def round_up(value: Decimal | float, digits: int = 6) -> Decimal:
    """Round a needed amount up to ``digits`` significant digits, with room for float error.

    What it reports ("equity of at least ...") must be enough when fed back through the
    float rule, hence the relative slack before rounding.
    """
    if not value > 0:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = digits
        ctx.rounding = ROUND_CEILING
        rounded = +Decimal(repr(float(value) * (1.0 + 1e-9)))
    return Decimal(format(rounded, "f"))


def check_leverage(market: Market, leverage: float) -> int:
    """Return ``leverage`` as a whole number in [1, market.max_leverage] or raise saying so."""
    if isinstance(leverage, bool) or not (
        isinstance(leverage, int) or (isinstance(leverage, float) and leverage.is_integer())
    ):
        raise InvalidInputError(f"leverage must be a whole number >= 1; found {leverage!r}.")
    whole = int(leverage)
    if whole < 1:
        raise InvalidInputError(f"leverage must be >= 1; found {leverage!r}.")
    if whole > market.max_leverage:
        where = "a spot market" if market.kind is MarketKind.SPOT else "its maximum"
        raise InvalidInputError(
            f"leverage {whole}x is above {market.symbol}'s maximum ({where}: "
            f"{market.max_leverage}x); set leverage to at most {market.max_leverage}."
        )
    return whole


def minimum_order(market: Market, price: Decimal) -> tuple[Decimal, Decimal]:
    """Return the smallest order ``market`` takes at ``price``: (amount, notional).

    One amount tick at least, ``min_amount`` at least, and enough for ``min_cost``;
    rounded up to the amount tick.
    """
    unit = price * market.contract_size
    need = market.min_amount if market.min_amount > market.amount_tick else market.amount_tick
    if market.min_cost > 0:
        with localcontext() as ctx:
            ctx.prec = 60
            ctx.rounding = ROUND_CEILING
            by_cost = market.min_cost / unit
        if by_cost > need:
            need = by_cost
    amount = round_to_tick(need, market.amount_tick, Rounding.UP)
    while market.notional(amount, price) < market.min_cost:  # only if the product rounded
        amount += market.amount_tick
    return amount, market.notional(amount, price)


def affordable_amount(
    market: Market,
    notional: float,
    price: Decimal,
    free_cash: Decimal,
    leverage: int,
    fee_cost: Decimal,
) -> Decimal:
    """The order amount for ``notional``, down to the tick, whose margin + fee fit the cash.

    The float rule's cap can be an ulp over the Decimal free cash; the exact cap here is
    what guarantees it.
    """
    if not (notional > 0 and free_cash > 0):
        return Decimal(0)
    unit = price * market.contract_size
    with localcontext() as ctx:
        ctx.prec = 60
        ctx.rounding = ROUND_FLOOR
        wanted = Decimal(repr(notional)) / unit
        affordable = free_cash * leverage / ((1 + leverage * fee_cost) * unit)
        order = market.round_amount(wanted if wanted < affordable else affordable)
        while order > 0 and market.notional(order, price) * (1 + leverage * fee_cost) > (
            free_cash * leverage
        ):
            order -= market.amount_tick
    return order if order > 0 else Decimal(0)


def shown(value: Decimal) -> str:
    """A derived amount (a margin, a fee) for a reason text: 8 significant digits, not 28."""
    return f"{value:.8g}"
