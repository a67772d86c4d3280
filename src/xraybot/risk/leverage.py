"""Leverage chosen from the stop distance and volatility, so liquidation never comes first.

``leverage_for`` is the scalar rule (numba-compilable, compiled in ``risk.kernel``);
``choose_leverage`` wraps it for one market and says why: the stop distance and volatility
that set the rule's ceiling, and which cap bound the value (the user's, the market's, or the
rule itself). That is how a user sees why BTC got 22x and SOL 8x: a 3 % stop allows about
22x, an 11 % stop about 8x.

The rule, for an isolated linear perpetual (``matching.costs.liquidation_price``): with the
stop a fraction ``d`` of the entry away, the liquidation price must lie beyond the stop by a
buffer ``b = max(safety * d, volatility)`` of the entry, so a stop filled one typical candle
late still closes before the exchange liquidates. The liquidation lies ``1/L - mmr`` from
the entry, which gives ``L <= 1 / (d + b + mmr)``; the rule takes the largest whole ``L``
under that and under the cap, and never less than 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xraybot.matching.costs import liquidation_price
from xraybot.matching.rules import LONG, SHORT
from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market, MarketKind
from xraybot.model.signals import Direction

# No exchange offers more; the bound also keeps one step of leverage a visible move of the
# liquidation price, so the exact check below settles within a step or two.
MAX_LEVERAGE = 1_000_000.0

# -- scalar rule --------------------------------------------------------------------------
# The numba-compilable subset, as in ``risk.exits``: no calls to other Python functions (the
# liquidation formula is ``matching.costs.liquidation_price`` written out, term for term, and
# a test checks they agree), comparisons instead of ``min``/``max``, NaN for bad input.


def leverage_for(
    direction: int,
    entry_price: float,
    stop_price: float,
    volatility: float,
    mmr: float,
    safety: float,
    cap: float,
) -> float:
    """Return the highest whole leverage <= ``cap`` that keeps liquidation beyond the stop.

    ``volatility`` is a fraction of the price per candle (NaN: not used), ``mmr`` the
    maintenance margin rate, ``safety`` the buffer beyond the stop as a fraction of the stop
    distance, ``cap`` the highest leverage allowed (``inf``: only ``MAX_LEVERAGE``). The
    value is at least 1.0 even when 1x cannot keep the liquidation beyond the stop (a stop
    further away than the margin; the caller reports that). NaN for an unknown direction, a
    stop on the wrong side of the entry, ``mmr`` outside [0, 1), a negative ``safety`` or
    ``volatility``, or a ``cap`` below 1.
    """
    if not (entry_price > 0.0 and stop_price > 0.0 and math.isfinite(entry_price)):
        return math.nan
    if not (mmr >= 0.0 and mmr < 1.0 and safety >= 0.0 and math.isfinite(safety)):
        return math.nan
    if not cap >= 1.0:
        return math.nan
    if direction == LONG:
        gap = entry_price - stop_price
    elif direction == SHORT:
        gap = stop_price - entry_price
    else:
        return math.nan
    if not (gap > 0.0 and math.isfinite(gap)):
        return math.nan
    # The buffer in price, measured from the stop away from the entry.
    buffer_price = safety * gap
    if not math.isnan(volatility):
        if not (volatility >= 0.0 and math.isfinite(volatility)):
            return math.nan
        if volatility * entry_price > buffer_price:
            buffer_price = volatility * entry_price
    room = (gap + buffer_price) / entry_price + mmr
    if not room > 0.0:
        return math.nan
    raw = 1.0 / room
    if raw > cap:
        raw = cap
    if raw > MAX_LEVERAGE:
        raw = MAX_LEVERAGE
    whole = float(math.floor(raw))
    if whole < 1.0:
        return 1.0
    # The floor of a rounded quotient can be one off either way: the liquidation price
    # itself decides (long: at or below the stop minus the buffer; short: mirrored).
    limit = stop_price - buffer_price if direction == LONG else stop_price + buffer_price
    while whole > 1.0:
        if direction == LONG:
            liquidation = entry_price * (1.0 - 1.0 / whole + mmr)
            if liquidation <= limit:
                break
        else:
            liquidation = entry_price * (1.0 + 1.0 / whole - mmr)
            if liquidation >= limit:
                break
        whole -= 1.0
    if whole + 1.0 <= cap:
        higher = whole + 1.0
        if direction == LONG:
            if entry_price * (1.0 - 1.0 / higher + mmr) <= limit:
                whole = higher
        elif entry_price * (1.0 + 1.0 / higher - mmr) >= limit:
            whole = higher
    return whole


# -- the decision, with its reasons ----------------------------------------------------------

BOUND_USER_CAP = "user_cap"
BOUND_MARKET_MAX = "market_max_leverage"
BOUND_LIQUIDATION = "liquidation_beyond_stop"
BOUND_MINIMUM = "minimum_1x"
BOUND_SPOT = "spot"


@dataclass(frozen=True, slots=True, kw_only=True)
class LeverageDecision:
    """The leverage for one entry and the numbers that produced it.

    ``value`` is what to set on the exchange. ``rule_leverage`` is the most the liquidation
    rule alone allows; ``bound_by`` names what set ``value`` (``user_cap``,
    ``market_max_leverage``, ``liquidation_beyond_stop``, ``minimum_1x`` when even 1x
    cannot keep the liquidation beyond the stop, ``spot``). Distances are fractions of the
    entry price. ``ok`` is False only when the liquidation would come before the stop.
    """

    symbol: str
    direction: str
    value: int
    ok: bool
    bound_by: str
    entry_price: float
    stop_price: float
    stop_distance: float
    volatility: float | None
    safety: float
    maintenance_margin_rate: float
    buffer: float  # the liquidation must lie this far beyond the stop
    rule_leverage: float
    user_cap: float
    market_max_leverage: int
    liquidation_price: float | None  # None on spot: nothing to liquidate
    stop_to_liquidation: float | None  # price gap, positive when the stop comes first
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "direction": self.direction,
            "value": self.value,
            "ok": self.ok,
            "bound_by": self.bound_by,
            "entry_price": self.entry_price,
            "stop_price": self.stop_price,
            "stop_distance": self.stop_distance,
            "volatility": self.volatility,
            "safety": self.safety,
            "maintenance_margin_rate": self.maintenance_margin_rate,
            "buffer": self.buffer,
            "rule_leverage": self.rule_leverage,
            "user_cap": self.user_cap,
            "market_max_leverage": self.market_max_leverage,
            "liquidation_price": self.liquidation_price,
            "stop_to_liquidation": self.stop_to_liquidation,
            "reasons": list(self.reasons),
        }


def direction_of(direction: int | str | Direction) -> int:
    """Return ``LONG`` or ``SHORT`` for a code, a ``Direction`` or "long"/"short"."""
    if isinstance(direction, str):
        name = direction.strip().lower()
        if name == Direction.LONG.value:
            return LONG
        if name == Direction.SHORT.value:
            return SHORT
    elif not isinstance(direction, bool) and direction in (LONG, SHORT):
        return int(direction)
    raise InvalidInputError(
        f"direction must be 'long' ({LONG}) or 'short' ({SHORT}); found {direction!r}."
    )


def _finite(name: str, value: float, *, low: float, high: float = math.inf) -> float:
    number = float(value)
    if not (math.isfinite(number) and low <= number < high):
        bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g})"
        raise InvalidInputError(f"{name} must be a finite number {bounds}; found {value!r}.")
    return number


def choose_leverage(
    market: Market,
    *,
    direction: int | str | Direction,
    entry_price: float,
    stop_price: float,
    volatility: float | None,
    maintenance_margin_rate: float,
    safety: float = 0.5,
    user_cap: float,
) -> LeverageDecision:
    """Choose the leverage for an entry on ``market`` and say why (see the module docstring).

    ``volatility`` is a fraction of the price per candle (NaTR / 100, say), or None to
    leave it out. Raises InvalidInputError for a stop on the wrong side of the entry or
    numbers out of range.
    """
    code = direction_of(direction)
    side = "long" if code == LONG else "short"
    entry = _finite("entry_price", entry_price, low=0.0)
    stop = _finite("stop_price", stop_price, low=0.0)
    mmr = _finite("maintenance_margin_rate", maintenance_margin_rate, low=0.0, high=1.0)
    buffer_share = _finite("safety", safety, low=0.0)
    cap_user = _finite("user_cap", user_cap, low=1.0)
    vol = None if volatility is None else _finite("volatility", volatility, low=0.0)
    if entry <= 0 or stop <= 0:
        raise InvalidInputError(
            f"entry_price and stop_price must be > 0; found {entry!r} and {stop!r}."
        )
    gap = entry - stop if code == LONG else stop - entry
    if not gap > 0:
        where = "below" if code == LONG else "above"
        raise InvalidInputError(
            f"{market.symbol}: a {side} stop must lie {where} the entry {entry:.8g}; "
            f"found {stop:.8g}."
        )
    distance = gap / entry
    buffer_price = buffer_share * gap
    if vol is not None and vol * entry > buffer_price:
        buffer_price = vol * entry
    buffer = buffer_price / entry
    cap = min(cap_user, float(market.max_leverage))
    nan_vol = math.nan if vol is None else vol
    rule = leverage_for(code, entry, stop, nan_vol, mmr, buffer_share, math.inf)
    value = leverage_for(code, entry, stop, nan_vol, mmr, buffer_share, cap)
    if math.isnan(value) or math.isnan(rule):
        raise InvalidInputError(
            f"{market.symbol}: the stop {stop:.8g} is too close to the entry {entry:.8g} "
            "to choose a leverage; widen the stop."
        )
    reasons = [
        f"stop {stop:.8g} lies {distance:.2%} {'below' if code == LONG else 'above'} "
        f"the entry {entry:.8g}",
        (
            "volatility not given"
            if vol is None
            else f"volatility {vol:.2%} of the price per candle"
        ),
        f"the liquidation must lie {buffer:.2%} of the entry beyond the stop "
        f"(the larger of safety {buffer_share:g} x the stop distance and one candle's "
        f"volatility), so at most {distance + buffer:.2%} + maintenance margin {mmr:.2%} "
        f"from the entry: up to {rule:.0f}x",
    ]
    if market.kind is MarketKind.SPOT:
        reasons.append(f"{market.symbol} is a spot market: no leverage, nothing to liquidate")
        return LeverageDecision(
            symbol=market.symbol,
            direction=side,
            value=1,
            ok=True,
            bound_by=BOUND_SPOT,
            entry_price=entry,
            stop_price=stop,
            stop_distance=distance,
            volatility=vol,
            safety=buffer_share,
            maintenance_margin_rate=mmr,
            buffer=buffer,
            rule_leverage=rule,
            user_cap=cap_user,
            market_max_leverage=market.max_leverage,
            liquidation_price=None,
            stop_to_liquidation=None,
            reasons=tuple(reasons),
        )
    liquidation = liquidation_price(code, entry, value, mmr)
    stop_to_liq = stop - liquidation if code == LONG else liquidation - stop
    limit = stop - buffer_price if code == LONG else stop + buffer_price
    protected = liquidation <= limit if code == LONG else liquidation >= limit
    if rule > cap:
        if cap_user <= market.max_leverage:
            bound = BOUND_USER_CAP
            reasons.append(
                f"capped at {value:.0f}x by the user's leverage cap {cap_user:g}x "
                f"({market.symbol} allows {market.max_leverage}x)"
            )
        else:
            bound = BOUND_MARKET_MAX
            reasons.append(
                f"capped at {value:.0f}x by {market.symbol}'s maximum leverage "
                f"{market.max_leverage}x (the user's cap is {cap_user:g}x)"
            )
    elif protected:
        bound = BOUND_LIQUIDATION
        reasons.append(
            f"{value:.0f}x is the most that keeps the liquidation beyond the stop "
            f"(caps: user {cap_user:g}x, market {market.max_leverage}x)"
        )
    else:
        bound = BOUND_MINIMUM
        reasons.append(
            "even 1x cannot keep the liquidation beyond the stop: the stop is further away "
            "than the margin covers; move the stop closer or trade without leverage on spot"
        )
    reasons.append(
        f"liquidation at {liquidation:.8g}, {stop_to_liq:.8g} beyond the stop "
        f"({stop_to_liq / entry:.2%} of the entry)"
    )
    return LeverageDecision(
        symbol=market.symbol,
        direction=side,
        value=int(value),
        ok=protected,
        bound_by=bound,
        entry_price=entry,
        stop_price=stop,
        stop_distance=distance,
        volatility=vol,
        safety=buffer_share,
        maintenance_margin_rate=mmr,
        buffer=buffer,
        rule_leverage=rule,
        user_cap=cap_user,
        market_max_leverage=market.max_leverage,
        liquidation_price=liquidation,
        stop_to_liquidation=stop_to_liq,
        reasons=tuple(reasons),
    )
