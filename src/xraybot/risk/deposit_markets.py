"""Per-market requirements for the deposit calculator (``risk.deposit``).

Each market's smallest order at its price, what one such order ties up under the margin
reserve, and the notional the configured stake gives it, through ``sizing.stake_notional``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market
from xraybot.risk.amounts import check_leverage, minimum_order, round_up, to_decimal
from xraybot.risk.deposit_settings import DepositSettings
from xraybot.risk.sizing import MODE_NAMES, SIZE_ALL, SIZE_FIXED, SIZE_FRACTION, stake_notional

MINIMUM = "minimum"  # stake mode None: every position is its market's smallest order
SMALLEST = -1  # its code


def decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketRequirement:
    """What one market asks of the deposit.

    ``reserve`` is what one smallest order ties up (margin x multiplier + entry fee).
    ``stake_notional`` is the stake's notional: in quote for ``fixed``, per unit of equity
    for the modes that scale with it, None for the smallest orders. ``deposit_needed`` is
    the smallest deposit at which this market takes a position in every slot (None when no
    deposit does; ``stake_needed`` then says which fixed stake would).
    """

    symbol: str
    price: Decimal
    leverage: int
    fee_rate: Decimal
    min_order_amount: Decimal
    min_order_notional: Decimal
    margin: Decimal
    entry_fee: Decimal
    reserve: Decimal
    stake_notional: float | None
    deposit_needed: Decimal | None
    stake_needed: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "price": decimal_text(self.price),
            "leverage": self.leverage,
            "fee_rate": decimal_text(self.fee_rate),
            "min_order_amount": decimal_text(self.min_order_amount),
            "min_order_notional": decimal_text(self.min_order_notional),
            "margin": decimal_text(self.margin),
            "entry_fee": decimal_text(self.entry_fee),
            "reserve": decimal_text(self.reserve),
            "stake_notional": self.stake_notional,
            "deposit_needed": decimal_text(self.deposit_needed),
            "stake_needed": decimal_text(self.stake_needed),
        }


@dataclass(frozen=True, slots=True)
class MarketRow:
    requirement: MarketRequirement
    notional: float  # smallest order, quote
    reserve: float  # per unit of position notional: margin_multiplier / leverage + fee
    cost: float  # cash per unit of position notional: 1 / leverage + fee
    fee: float  # max(fee, 0)
    stake: float  # fixed: notional; scaling modes: notional per unit of equity; else NaN


@dataclass(frozen=True, slots=True)
class DepositSetup:
    quote: str
    mode: str
    code: int  # SMALLEST for the smallest orders
    slots: int  # concurrent positions asked for
    multiplier: float
    rows: tuple[MarketRow, ...]
    drag: float  # equity left after one entry fee, per unit of equity (scaling modes)


def prepare(markets: Sequence[Market], settings: DepositSettings) -> DepositSetup:
    """Check ``settings`` against ``markets`` and work out each market's requirement."""
    if not markets:
        raise InvalidInputError("the deposit calculator needs at least one market; found none.")
    quotes = sorted({market.quote for market in markets})
    if len(quotes) > 1:
        raise InvalidInputError(
            f"a deposit is in one currency, but the markets quote {', '.join(quotes)}; "
            "compute each quote currency's markets separately."
        )
    multiplier = float(to_decimal("margin_multiplier", settings.margin_multiplier))
    stake_code = settings.stake_code
    code = SMALLEST if stake_code is None else stake_code
    slots = min(settings.max_open_positions, len(markets))
    rows = tuple(
        _market_row(
            market,
            prices=settings.prices,
            leverage=settings.leverage,
            fee_rate=settings.fee_rate,
            multiplier=multiplier,
            code=code,
            stake_args=settings.stake_args(),
            slots=slots,
        )
        for market in markets
    )
    if code not in (SMALLEST, SIZE_FIXED) and any(math.isnan(row.stake) for row in rows):
        s = settings
        raise InvalidInputError(
            f"stake mode {MODE_NAMES[code]!r} has an input out of range (stake_amount "
            f"{s.stake_amount!r}, stop_distance {s.stop_distance!r}, volatility "
            f"{s.volatility!r}, target_volatility {s.target_volatility!r}, win_rate "
            f"{s.win_rate!r}, payoff {s.payoff!r}, kelly_cap {s.kelly_cap!r})."
        )
    worst_fee = max((row.stake * row.fee for row in rows), default=0.0)
    drag = 1.0 - worst_fee if code not in (SMALLEST, SIZE_FIXED) else 1.0
    return DepositSetup(
        quote=quotes[0],
        mode=MINIMUM if code == SMALLEST else MODE_NAMES[code],
        code=code,
        slots=slots,
        multiplier=multiplier,
        rows=tuple(_finish(row, code, slots, drag) for row in rows),
        drag=drag,
    )


def _market_row(
    market: Market,
    *,
    prices: Mapping[str, Decimal | float],
    leverage: int,
    fee_rate: Decimal | float | None,
    multiplier: float,
    code: int,
    stake_args: tuple[float, float, float, float, float, float, float],
    slots: int,
) -> MarketRow:
    if market.symbol not in prices:
        raise InvalidInputError(
            f"the deposit calculator needs a price for {market.symbol} (its minimum amount "
            "is in base units); found none in prices."
        )
    price = to_decimal(f"prices[{market.symbol!r}]", prices[market.symbol])  # > 0: checked
    lev = check_leverage(market, leverage)
    fee_d = market.taker_fee_rate if fee_rate is None else to_decimal("fee_rate", fee_rate)
    fee = max(float(fee_d), 0.0)
    amount, notional = minimum_order(market, price)
    margin = notional / lev
    entry_fee = notional * max(fee_d, Decimal(0))
    stake = math.nan
    amount_arg, distance, vol, target, win, pay, cap = stake_args
    if code == SIZE_FIXED:
        stake = stake_notional(
            SIZE_FIXED, 1.0, math.inf, amount_arg, 1.0, math.nan,
            vol, target, win, pay, cap, float(lev), float(fee_d),
        )  # fmt: skip
    elif code == SIZE_ALL:  # each open slot commits its share of the free cash
        stake = stake_notional(
            SIZE_FRACTION, 1.0, math.inf, 1.0 / slots, 1.0, math.nan,
            vol, target, win, pay, cap, float(lev), float(fee_d),
        )  # fmt: skip
    elif code != SMALLEST:  # priced at 1.0, so the stop sits ``stop_distance`` below
        stake = stake_notional(
            code, 1.0, math.inf, amount_arg, 1.0, 1.0 - distance,
            vol, target, win, pay, cap, float(lev), float(fee_d),
        )  # fmt: skip
    requirement = MarketRequirement(
        symbol=market.symbol,
        price=price,
        leverage=lev,
        fee_rate=fee_d,
        min_order_amount=amount,
        min_order_notional=notional,
        margin=margin,
        entry_fee=entry_fee,
        reserve=margin * Decimal(repr(multiplier)) + entry_fee,
        stake_notional=None if code == SMALLEST else stake,
        deposit_needed=None,
        stake_needed=None,
    )
    return MarketRow(
        requirement=requirement,
        notional=float(notional),
        reserve=multiplier / lev + fee,
        cost=1.0 / lev + fee,
        fee=fee,
        stake=stake,
    )


def _finish(row: MarketRow, code: int, slots: int, drag: float) -> MarketRow:
    """Fill in the deposit (or the fixed stake) this market needs."""
    need: Decimal | None = None
    stake_needed: Decimal | None = None
    if code == SMALLEST:
        need = round_up(row.notional * row.reserve)
    elif code == SIZE_FIXED:
        if row.stake >= row.notional:
            need = round_up(row.stake * row.reserve)
        else:
            stake_needed = round_up(row.notional * row.cost)
    elif row.stake > 0 and drag > 0:
        need = round_up(row.notional / (row.stake * drag ** (slots - 1)))
    requirement = replace(row.requirement, deposit_needed=need, stake_needed=stake_needed)
    return replace(row, requirement=requirement)
