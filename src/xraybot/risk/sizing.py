"""Position sizing: how much to open, rounded to the market and checked against its minimums.

``stake_notional`` is the scalar rule (numba-compilable, compiled in ``risk.kernel``): the
notional a sizing mode asks for, capped so margin plus entry fee fit the free cash.
``size_position`` turns it into an order amount for one market: rounded down to the amount
tick, refused (with the numbers that would work) below the market's minimum amount or
notional, never needing more than the free cash. Leverage lives in ``risk.leverage`` and is
re-exported here.

Modes and what ``amount`` means:

- ``fixed``: quote cash committed per position (margin + entry fee), as the backtest's
  ``fixed`` stake: notional ``amount / (1/leverage + fee)``.
- ``fraction``: that share of equity committed (the seeds' trade percentage).
- ``all``: all the free cash committed (``amount`` unused; a portfolio passes its free cash
  per open slot).
- ``risk``: the loss at the stop, fees included, is ``amount`` x equity: notional
  ``amount * equity / (d + fee * (1 + stop/price))`` with ``d = |price - stop| / price``.
- ``vol_target``: notional ``equity * target_volatility / volatility`` (both per candle).
- ``kelly``: notional ``f * equity``, ``f = win_rate - (1 - win_rate) / payoff`` clipped to
  ``[0, kelly_cap]``.

A maker rebate (negative fee) is never counted on: the cash needed is sized with a fee of
``max(fee, 0)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market, MarketKind
from xraybot.risk.amounts import (
    affordable_amount,
    check_leverage,
    minimum_order,
    round_up,
    shown,
    to_decimal,
)
from xraybot.risk.leverage import LeverageDecision, choose_leverage, leverage_for

__all__ = [
    "MODE_CODES",
    "SIZE_ALL",
    "SIZE_FIXED",
    "SIZE_FRACTION",
    "SIZE_KELLY",
    "SIZE_RISK",
    "SIZE_VOL_TARGET",
    "LeverageDecision",
    "SizingDecision",
    "choose_leverage",
    "leverage_for",
    "minimum_order",
    "mode_code",
    "size_position",
    "stake_notional",
]

SIZE_FIXED = 0
SIZE_FRACTION = 1
SIZE_ALL = 2
SIZE_RISK = 3
SIZE_VOL_TARGET = 4
SIZE_KELLY = 5

MODE_CODES: dict[str, int] = {
    "fixed": SIZE_FIXED,
    "fraction": SIZE_FRACTION,
    "all": SIZE_ALL,
    "risk": SIZE_RISK,
    "vol_target": SIZE_VOL_TARGET,
    "kelly": SIZE_KELLY,
}
MODE_NAMES: dict[int, str] = {code: name for name, code in MODE_CODES.items()}

# Modes whose notional grows in proportion to equity (the others: fixed cash, free cash).
_PROPORTIONAL = (SIZE_FRACTION, SIZE_RISK, SIZE_VOL_TARGET, SIZE_KELLY)


# -- scalar rule --------------------------------------------------------------------------
# The numba-compilable subset, as in ``risk.exits``: floats and int codes in, a float out,
# comparisons instead of ``min``/``max``, NaN for bad input, every division guarded.


def stake_notional(
    mode: int,
    equity: float,
    free_cash: float,
    amount: float,
    price: float,
    stop_price: float,
    volatility: float,
    target_volatility: float,
    win_rate: float,
    payoff: float,
    kelly_cap: float,
    leverage: float,
    fee_rate: float,
) -> float:
    """Return the notional (quote) to open under sizing ``mode``, before rounding.

    Capped so that margin (``notional / leverage``) plus entry fee never exceed
    ``free_cash`` (``inf``: no cap). 0.0 when nothing may be opened (no free cash, equity
    <= 0, no Kelly edge). NaN for bad input: an unknown mode, ``price <= 0``, ``leverage <
    1``, a fee rate outside (-1, 1), a NaN balance, or a mode's own inputs missing or out
    of range (see the module docstring); the arguments a mode does not read are ignored.
    """
    if not (price > 0.0 and math.isfinite(price) and leverage >= 1.0 and math.isfinite(leverage)):
        return math.nan
    if not (fee_rate > -1.0 and fee_rate < 1.0):
        return math.nan
    if not math.isfinite(equity) or math.isnan(free_cash):
        return math.nan
    fee_cost = fee_rate if fee_rate > 0.0 else 0.0
    cash_per_notional = 1.0 / leverage + fee_cost
    if mode == SIZE_FIXED:
        if not (amount >= 0.0 and math.isfinite(amount)):
            return math.nan
        notional = amount / cash_per_notional
    elif mode == SIZE_FRACTION:
        if not (amount >= 0.0 and math.isfinite(amount)):
            return math.nan
        notional = amount * equity / cash_per_notional
    elif mode == SIZE_ALL:
        notional = free_cash / cash_per_notional
    elif mode == SIZE_RISK:
        if not (amount >= 0.0 and math.isfinite(amount)):
            return math.nan
        if not (stop_price > 0.0 and math.isfinite(stop_price) and stop_price != price):
            return math.nan
        gap = price - stop_price if price > stop_price else stop_price - price
        loss_per_notional = gap / price + fee_cost * (1.0 + stop_price / price)
        if not loss_per_notional > 0.0:
            return math.nan
        notional = amount * equity / loss_per_notional
    elif mode == SIZE_VOL_TARGET:
        if not (volatility > 0.0 and math.isfinite(volatility)):
            return math.nan
        if not (target_volatility >= 0.0 and math.isfinite(target_volatility)):
            return math.nan
        notional = equity * target_volatility / volatility
    elif mode == SIZE_KELLY:
        if not (win_rate >= 0.0 and win_rate <= 1.0 and payoff > 0.0 and math.isfinite(payoff)):
            return math.nan
        if not (kelly_cap >= 0.0 and kelly_cap <= 1.0):
            return math.nan
        share = win_rate - (1.0 - win_rate) / payoff
        if share > kelly_cap:
            share = kelly_cap
        if not share > 0.0:
            return 0.0
        notional = share * equity
    else:
        return math.nan
    if not (free_cash > 0.0 and equity > 0.0 and notional > 0.0):
        return 0.0
    room = free_cash / cash_per_notional
    if notional > room:
        return room
    return notional


# -- the decision, with its reasons ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SizingDecision:
    """The order amount for one entry and the numbers that produced it.

    ``amount`` is in the market's amount unit (contracts on a swap, rounded down to
    ``amount_tick``); ``notional`` is its quote value, ``margin`` ``notional / leverage``,
    ``fee`` the entry fee at ``fee_rate``. When ``ok`` is False the amounts are 0 and
    ``refusal`` says why; below a minimum it names the market's smallest order
    (``min_order_amount`` / ``min_order_notional``) and what would allow it:
    ``equity_needed`` (modes that scale with equity), ``stake_needed`` (``fixed``) and
    ``free_cash_needed`` (all modes).
    """

    symbol: str
    mode: str
    ok: bool
    amount: Decimal
    notional: Decimal
    margin: Decimal
    fee: Decimal
    price: Decimal
    leverage: int
    fee_rate: Decimal
    requested_notional: float  # the sizing rule's notional, capped by the free cash
    uncapped_notional: float  # the sizing rule's notional before the free-cash cap
    min_order_amount: Decimal
    min_order_notional: Decimal
    equity_needed: Decimal | None = None
    stake_needed: Decimal | None = None
    free_cash_needed: Decimal | None = None
    refusal: str | None = None
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else format(value, "f")

        return {
            "symbol": self.symbol,
            "mode": self.mode,
            "ok": self.ok,
            "amount": text(self.amount),
            "notional": text(self.notional),
            "margin": text(self.margin),
            "fee": text(self.fee),
            "price": text(self.price),
            "leverage": self.leverage,
            "fee_rate": text(self.fee_rate),
            "requested_notional": self.requested_notional,
            "uncapped_notional": self.uncapped_notional,
            "min_order_amount": text(self.min_order_amount),
            "min_order_notional": text(self.min_order_notional),
            "equity_needed": text(self.equity_needed),
            "stake_needed": text(self.stake_needed),
            "free_cash_needed": text(self.free_cash_needed),
            "refusal": self.refusal,
            "reasons": list(self.reasons),
        }


def mode_code(mode: int | str) -> int:
    """Return the ``SIZE_*`` code of a mode name ("fraction") or code."""
    if isinstance(mode, str) and mode.strip().lower() in MODE_CODES:
        return MODE_CODES[mode.strip().lower()]
    if isinstance(mode, int) and not isinstance(mode, bool) and mode in MODE_NAMES:
        return mode
    raise InvalidInputError(f"sizing mode must be one of {', '.join(MODE_CODES)}; found {mode!r}.")


def _optional(name: str, value: float | None, *, needed_by: str | None) -> float:
    """A mode's optional input as a float (NaN when absent), required for ``needed_by``."""
    if value is None:
        if needed_by is not None:
            raise InvalidInputError(f"sizing mode {needed_by!r} needs {name}; found None.")
        return math.nan
    number = float(to_decimal(name, value))
    return number


def _mode_inputs(
    code: int,
    *,
    price: float,
    amount: float,
    stop_price: float | None,
    volatility: float | None,
    target_volatility: float | None,
    win_rate: float | None,
    payoff: float | None,
    kelly_cap: float,
) -> tuple[float, float, float, float, float, float, float]:
    """Validate what ``code`` reads; return amount, stop, vol, target, win, payoff, cap."""
    name = MODE_NAMES[code]
    if code in (SIZE_FIXED, SIZE_FRACTION, SIZE_RISK) and not amount >= 0:
        raise InvalidInputError(f"sizing mode {name!r} needs amount >= 0; found {amount!r}.")
    stop = _optional("stop_price", stop_price, needed_by=name if code == SIZE_RISK else None)
    if code == SIZE_RISK and not (stop > 0 and stop != price):
        raise InvalidInputError(
            f"sizing mode 'risk' needs a stop_price > 0 away from the price {price:.8g}; "
            f"found {stop!r}."
        )
    vol_mode = name if code == SIZE_VOL_TARGET else None
    vol = _optional("volatility", volatility, needed_by=vol_mode)
    target = _optional("target_volatility", target_volatility, needed_by=vol_mode)
    if code == SIZE_VOL_TARGET and not (vol > 0 and target >= 0):
        raise InvalidInputError(
            "sizing mode 'vol_target' needs volatility > 0 and target_volatility >= 0 "
            f"(fractions per candle); found {vol!r} and {target!r}."
        )
    kelly = name if code == SIZE_KELLY else None
    win = _optional("win_rate", win_rate, needed_by=kelly)
    pay = _optional("payoff", payoff, needed_by=kelly)
    cap = float(to_decimal("kelly_cap", kelly_cap))
    if code == SIZE_KELLY and not (0 <= win <= 1 and pay > 0 and 0 <= cap <= 1):
        raise InvalidInputError(
            "sizing mode 'kelly' needs win_rate in [0, 1], payoff > 0 and kelly_cap in "
            f"[0, 1]; found {win!r}, {pay!r} and {cap!r}."
        )
    return amount, stop, vol, target, win, pay, cap


def _describe(code: int, args: tuple[float, ...], quote: str) -> str:
    """One line saying what the mode asked for, from the rule's own arguments."""
    (_, equity, free_cash, amount, price, stop, vol, target, win, pay, cap, lev, fee) = args
    per = f"margin + fee at {lev:g}x and fee {max(fee, 0.0):.4%}"
    if code == SIZE_FIXED:
        return f"fixed: {amount:.8g} {quote} committed per position ({per})"
    if code == SIZE_FRACTION:
        return f"fraction: {amount:.4%} of equity {equity:.8g} {quote} committed ({per})"
    if code == SIZE_ALL:
        return f"all: the free cash {free_cash:.8g} {quote} committed ({per})"
    if code == SIZE_RISK:
        distance = abs(price - stop) / price
        return (
            f"risk: lose {amount:.4%} of equity {equity:.8g} {quote} at the stop {stop:.8g} "
            f"({distance:.2%} from {price:.8g}, both fees included)"
        )
    if code == SIZE_VOL_TARGET:
        return (
            f"vol_target: equity {equity:.8g} {quote} x target {target:.4%} / volatility "
            f"{vol:.4%} per candle"
        )
    share = win - (1.0 - win) / pay
    return (
        f"kelly: win rate {win:.2%}, payoff {pay:.4g} give f = {share:.4f}, clipped to "
        f"[0, {cap:g}], x equity {equity:.8g} {quote}"
    )


def _nothing_reason(code: int, args: tuple[float, ...], quote: str) -> str:
    (_, equity, free_cash, amount, *_rest) = args
    if not free_cash > 0:
        return f"no free cash ({free_cash:.8g} {quote}): nothing can be opened"
    if not equity > 0:
        return f"equity is {equity:.8g} {quote}: nothing can be opened"
    if code == SIZE_KELLY:
        return "no Kelly edge (f <= 0): the win rate and payoff do not justify a position"
    if code in (SIZE_FIXED, SIZE_FRACTION, SIZE_RISK) and not amount > 0:
        return f"the stake amount is {amount:g}: nothing to open"
    return "the sizing rule asks for no position"


def size_position(
    market: Market,
    *,
    mode: int | str,
    equity: Decimal | float,
    free_cash: Decimal | float,
    price: Decimal | float,
    stop_price: float | None = None,
    volatility: float | None = None,
    target_volatility: float | None = None,
    amount: float,
    win_rate: float | None = None,
    payoff: float | None = None,
    kelly_cap: float = 0.25,
    leverage: int = 1,
    fee_rate: Decimal | float | None = None,
) -> SizingDecision:
    """Size one entry on ``market`` at ``price`` with ``stake_notional`` (see the module).

    The amount is rounded down to the amount tick; margin plus entry fee never exceed
    ``free_cash``; an amount below ``min_amount`` or a notional below ``min_cost`` is
    refused, naming the market's smallest order and the equity, stake or free cash that
    would allow it. ``fee_rate`` defaults to the market's taker fee. Raises
    InvalidInputError for settings that can never work: an unknown mode, a mode's missing
    input, leverage above the market's maximum.
    """
    code = mode_code(mode)
    lev = check_leverage(market, leverage)
    price_d = to_decimal("price", price)
    if price_d <= 0:
        raise InvalidInputError(f"price must be > 0; found {price!r}.")
    equity_d = to_decimal("equity", equity)
    free_d = to_decimal("free_cash", free_cash)
    fee_d = market.taker_fee_rate if fee_rate is None else to_decimal("fee_rate", fee_rate)
    if not Decimal(-1) < fee_d < Decimal(1):
        raise InvalidInputError(f"fee_rate must be a fraction in (-1, 1); found {fee_rate!r}.")
    inputs = _mode_inputs(
        code,
        price=float(price_d),
        amount=float(to_decimal("amount", amount)),
        stop_price=stop_price,
        volatility=volatility,
        target_volatility=target_volatility,
        win_rate=win_rate,
        payoff=payoff,
        kelly_cap=kelly_cap,
    )
    amount_f, stop, vol, target, win, pay, cap = inputs
    args = (
        code, float(equity_d), float(free_d), amount_f, float(price_d),
        stop, vol, target, win, pay, cap, float(lev), float(fee_d),
    )  # fmt: skip
    requested = stake_notional(*args)
    uncapped = stake_notional(code, args[1], math.inf, *args[3:])
    fee_cost = fee_d if fee_d > 0 else Decimal(0)
    min_amount, min_notional = minimum_order(market, price_d)
    quote = market.quote
    reasons = [_describe(code, args, quote)]
    if requested < uncapped:
        reasons.append(f"capped by the free cash {free_d} {quote}: margin + fee may not exceed it")
    order = affordable_amount(market, requested, price_d, free_d, lev, fee_cost)
    notional = market.notional(order, price_d)
    zero = Decimal(0)
    base = SizingDecision(
        symbol=market.symbol,
        mode=MODE_NAMES[code],
        ok=False,
        amount=zero,
        notional=zero,
        margin=zero,
        fee=zero,
        price=price_d,
        leverage=lev,
        fee_rate=fee_d,
        requested_notional=requested,
        uncapped_notional=uncapped,
        min_order_amount=min_amount,
        min_order_notional=min_notional,
    )
    unit = "contracts" if market.kind is MarketKind.SWAP else market.base
    if order > 0 and order >= market.min_amount and notional >= market.min_cost:
        margin = notional / lev
        reasons.append(
            f"{requested:.8g} {quote} rounded down to the amount tick {market.amount_tick}: "
            f"{order} {unit} = {notional} {quote}, margin {shown(margin)} {quote}, "
            f"entry fee {shown(notional * fee_d)} {quote}"
        )
        reasons.append(
            f"meets {market.symbol}'s smallest order {min_amount} {unit} ({min_notional} {quote})"
        )
        return replace(
            base,
            ok=True,
            amount=order,
            notional=notional,
            margin=margin,
            fee=notional * fee_d,
            reasons=tuple(reasons),
        )
    cash_needed = round_up(min_notional * (Decimal(1) / lev + fee_cost))
    equity_needed: Decimal | None = None
    stake_needed: Decimal | None = None
    if not requested > 0:
        refusal = f"{market.symbol}: {_nothing_reason(code, args, quote)}"
    else:
        if code in _PROPORTIONAL:
            per_equity = stake_notional(code, 1.0, math.inf, *args[3:])
            needed = float(min_notional) / per_equity if per_equity > 0 else math.inf
            if needed < 1e300:  # else the stake is too small for any equity
                equity_needed = round_up(needed)
            allow = (
                f"equity of at least {equity_needed} {quote} with free cash of at least "
                f"{cash_needed} {quote} would allow it"
                if equity_needed is not None
                else "no equity would: raise the stake amount"
            )
        elif code == SIZE_FIXED:
            stake_needed = cash_needed
            allow = (
                f"a fixed stake (amount) of at least {stake_needed} {quote} with free cash of "
                f"at least {cash_needed} {quote} would allow it"
            )
        else:
            allow = f"free cash of at least {cash_needed} {quote} would allow it"
        refusal = (
            f"{market.symbol}: the order would be {order} {unit} ({notional} {quote}), below "
            f"the market's smallest order {min_amount} {unit} = {min_notional} {quote} "
            f"(min amount {market.min_amount}, min notional {market.min_cost} {quote}); "
            f"{allow}"
        )
    reasons.append(refusal)
    return replace(
        base,
        equity_needed=equity_needed,
        stake_needed=stake_needed,
        free_cash_needed=cash_needed,
        refusal=refusal,
        reasons=tuple(reasons),
    )
