"""Fees, slippage, liquidation, funding and profit as scalar rules, numba-compilable like rules.py.

Same conventions as ``matching.rules``: floats and int codes in, a float out, NaN for an unknown
side or direction and for inputs outside a rule's domain, no exceptions. Amounts are in base
units (for contracts: contracts x contract size), prices and cash in the quote currency.
"""

from __future__ import annotations

import math

from xraybot.matching.rules import BUY, LONG, SELL, SHORT


def fee(notional: float, rate: float) -> float:
    """Return the fee ``abs(notional) * rate`` in quote currency; a negative rate is a rebate."""
    return abs(notional) * rate


def slippage_price(side: int, price: float, rate: float) -> float:
    """Move a price against the trader by the slippage rate.

    A buy pays ``price * (1 + rate)``, a sell gets ``price * (1 - rate)``. NaN unless
    ``price > 0`` and ``0 <= rate < 1``, or for an unknown side.
    """
    if not (price > 0.0 and rate >= 0.0 and rate < 1.0):
        return math.nan
    if side == BUY:
        return price * (1.0 + rate)
    if side == SELL:
        return price * (1.0 - rate)
    return math.nan


def liquidation_price(
    direction: int, entry_price: float, leverage: float, maintenance_margin_rate: float
) -> float:
    """Return the liquidation price of an isolated linear perpetual position (MEXC's formula).

    Long: ``entry * (1 - 1/leverage + mmr)``; short: ``entry * (1 + 1/leverage - mmr)``, with the
    maintenance margin taken on the entry notional. A long at leverage 1 liquidates at
    ``entry * mmr`` (never, when mmr is 0). The long's price is below the entry, and the
    short's above it, exactly when ``mmr < 1/leverage``, which exchanges ensure by capping
    leverage. NaN unless ``entry > 0``, ``leverage >= 1`` and ``mmr >= 0``, or for an unknown
    direction.
    """
    if not (entry_price > 0.0 and leverage >= 1.0 and maintenance_margin_rate >= 0.0):
        return math.nan
    if direction == LONG:
        return entry_price * (1.0 - 1.0 / leverage + maintenance_margin_rate)
    if direction == SHORT:
        return entry_price * (1.0 + 1.0 / leverage - maintenance_margin_rate)
    return math.nan


def funding_payment(direction: int, notional: float, funding_rate: float) -> float:
    """Return the funding cash flow to the position holder for one funding event.

    ``notional`` is the position's value at the mark price (its sign is ignored). A positive rate
    makes longs pay and shorts receive: a long gets ``-abs(notional) * rate``, a short
    ``+abs(notional) * rate``. NaN for an unknown direction.
    """
    if direction == LONG:
        return -(abs(notional) * funding_rate)
    if direction == SHORT:
        return abs(notional) * funding_rate
    return math.nan


def pnl(direction: int, entry_price: float, exit_price: float, amount: float) -> float:
    """Return the gross profit in quote currency, before fees and funding.

    Long: ``(exit - entry) * amount``; short: ``(entry - exit) * amount``. NaN for an unknown
    direction.
    """
    if direction == LONG:
        return (exit_price - entry_price) * amount
    if direction == SHORT:
        return (entry_price - exit_price) * amount
    return math.nan
