"""Margin arithmetic of the USDT futures wallet: available balance, pnl, liquidation price."""

from __future__ import annotations

from decimal import Decimal

from xraybot.model.market import Rounding, round_to_tick
from xraybot.sim.accounts import ZERO, Account, Position


def position_margin(account: Account) -> Decimal:
    """Return the margin held by all open positions."""
    return sum((p.im for p in account.positions.values()), ZERO)


def available_balance(account: Account) -> Decimal:
    """Return what new orders may use: cash less order and position margin."""
    return account.futures.cash - account.futures.frozen - position_margin(account)


def unrealized_pnl(position: Position, mark: Decimal, contract_size: Decimal) -> Decimal:
    """Return the position's profit if closed at ``mark``."""
    direction = 1 if position.is_long else -1
    return (mark - position.open_avg_price) * position.hold_vol * contract_size * direction


def liquidation_price(
    position: Position,
    *,
    contract_size: Decimal,
    maintenance_rate: Decimal,
    available: Decimal,
    tick: Decimal,
) -> Decimal:
    """Return the mark price at which the position's margin falls to maintenance.

    Isolated positions risk their own margin only; cross positions also risk the
    account's available balance.
    """
    base = position.hold_vol * contract_size
    if base == 0:
        return ZERO
    at_risk = position.im + (available if position.open_type == 2 else ZERO)
    entry = position.open_avg_price
    if position.is_long:
        price = (entry * base - at_risk) / (base * (1 - maintenance_rate))
        return max(ZERO, round_to_tick(price, tick, Rounding.UP))
    price = (entry * base + at_risk) / (base * (1 + maintenance_rate))
    return round_to_tick(price, tick, Rounding.DOWN)
