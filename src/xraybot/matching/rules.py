"""Fill and exit rules shared by the backtest kernel, the paper gateway and the simulator.

Every hot function here is written in the subset of Python that numba compiles: scalar floats and
ints in, a float, bool or ``(float, int)`` tuple out, no objects, no exceptions, no calls to other
Python functions. ``matching.kernel`` compiles each one unchanged, so plain Python and the fast
kernel apply one rule. "No fill" and "bad input" come back as NaN (or ``False`` /
``EXIT_NONE``); any NaN input that a rule reads yields no fill, and an unknown side or direction
code yields no fill. ``min``/``max`` are spelled as comparisons on purpose: their NaN handling
differs between CPython and numba, and these rules must give bit-identical answers in both.

Candles are assumed consistent (``low <= open <= high``); the rules do not check it.
"""

from __future__ import annotations

import math

from xraybot.model.errors import InvalidInputError
from xraybot.model.signals import Direction, Side

# Order sides and position directions as ints, so the kernel can take them in arrays.
BUY = 1
SELL = -1
LONG = 1
SHORT = -1

# Why a position closed; the kernel records these codes, Python maps them to names.
EXIT_NONE = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_SIGNAL = 3
EXIT_LIQUIDATION = 4
EXIT_END = 5
EXIT_TRAILING = 6
EXIT_TIME = 7

EXIT_REASON_NAMES: dict[int, str] = {
    EXIT_NONE: "none",
    EXIT_STOP_LOSS: "stop_loss",
    EXIT_TAKE_PROFIT: "take_profit",
    EXIT_SIGNAL: "signal",
    EXIT_LIQUIDATION: "liquidation",
    EXIT_END: "end",
    EXIT_TRAILING: "trailing",
    EXIT_TIME: "time",
}
EXIT_REASON_CODES: dict[str, int] = {name: code for code, name in EXIT_REASON_NAMES.items()}


def exit_reason_name(code: int) -> str:
    """Return the journal name of an exit reason code."""
    try:
        return EXIT_REASON_NAMES[code]
    except KeyError:
        known = ", ".join(f"{c}={n}" for c, n in EXIT_REASON_NAMES.items())
        raise InvalidInputError(
            f"exit reason code found {code!r}, but only {known} exist; "
            "pass a code from xraybot.matching.rules"
        ) from None


def exit_reason_code(name: str) -> int:
    """Return the code of an exit reason journal name."""
    try:
        return EXIT_REASON_CODES[name]
    except KeyError:
        known = ", ".join(EXIT_REASON_CODES)
        raise InvalidInputError(
            f"exit reason found {name!r}, but only {known} exist; use one of those names"
        ) from None


def side_code(side: Side) -> int:
    """Return ``BUY`` or ``SELL`` for a model ``Side``."""
    return BUY if side is Side.BUY else SELL


def direction_code(direction: Direction) -> int:
    """Return ``LONG`` or ``SHORT`` for a model ``Direction``."""
    return LONG if direction is Direction.LONG else SHORT


def market_fill_price(side: int, bid: float, ask: float, slippage_rate: float) -> float:
    """Fill a market order: a buy at ``ask * (1 + s)``, a sell at ``bid * (1 - s)``.

    The quote used must be > 0 (an empty book side never fills) and ``0 <= s < 1``; otherwise,
    or for an unknown side, the result is NaN.
    """
    if not (slippage_rate >= 0.0 and slippage_rate < 1.0):
        return math.nan
    if side == BUY:
        if ask > 0.0:
            return ask * (1.0 + slippage_rate)
        return math.nan
    if side == SELL:
        if bid > 0.0:
            return bid * (1.0 - slippage_rate)
        return math.nan
    return math.nan


def limit_fill_on_arrival(side: int, limit_price: float, bid: float, ask: float) -> float:
    """Fill a new limit order that crosses the book on arrival, as a taker at the book's price.

    A buy fills at ``ask`` when ``0 < ask <= limit`` (``min(ask, limit)`` is the ask); a sell fills
    at ``bid`` when ``bid >= limit`` and ``bid > 0``. Otherwise the order rests: NaN.
    """
    if side == BUY:
        if ask > 0.0 and ask <= limit_price:
            return ask
        return math.nan
    if side == SELL:
        if bid > 0.0 and bid >= limit_price:
            return bid
        return math.nan
    return math.nan


def limit_fill_resting(side: int, limit_price: float, bid: float, ask: float) -> float:
    """Fill a resting limit order at its limit once the opposite quote reaches it.

    A resting buy fills at ``limit`` when ``0 < ask <= limit``; a resting sell fills at ``limit``
    when ``bid >= limit`` and ``bid > 0``. Otherwise it keeps resting: NaN.
    """
    if side == BUY:
        if ask > 0.0 and ask <= limit_price:
            return limit_price
        return math.nan
    if side == SELL:
        if bid > 0.0 and bid >= limit_price:
            return limit_price
        return math.nan
    return math.nan


def bar_limit_fill(side: int, limit_price: float, open: float, high: float, low: float) -> float:
    """Fill a limit order against one candle, the open first.

    A buy fills when ``low <= limit`` at ``min(limit, open)`` (an open already below the limit
    fills at the open); a sell fills when ``high >= limit`` at ``max(limit, open)``. NaN if the
    candle does not reach the limit, or if ``open`` is NaN.
    """
    if math.isnan(open):
        return math.nan
    if side == BUY:
        if low <= limit_price:
            return open if open < limit_price else limit_price
        return math.nan
    if side == SELL:
        if high >= limit_price:
            return open if open > limit_price else limit_price
        return math.nan
    return math.nan


def stop_triggered(side: int, stop_price: float, last: float) -> bool:
    """Tell whether a stop order triggers at the last price.

    A buy stop triggers at ``last >= stop``, a sell stop at ``last <= stop``; a NaN stop or last
    never triggers, nor does an unknown side.
    """
    if side == BUY:
        return last >= stop_price
    if side == SELL:
        return last <= stop_price
    return False


def bar_stop_fill(side: int, stop_price: float, open: float, high: float, low: float) -> float:
    """Fill a stop order against one candle, the open first.

    A buy stop triggers when ``high >= stop`` and fills at ``max(stop, open)``; a sell stop
    triggers when ``low <= stop`` and fills at ``min(stop, open)`` (an open that gapped past the
    stop fills at the open). NaN if not triggered, or if ``open`` is NaN.
    """
    if math.isnan(open):
        return math.nan
    if side == BUY:
        if high >= stop_price:
            return open if open > stop_price else stop_price
        return math.nan
    if side == SELL:
        if low <= stop_price:
            return open if open < stop_price else stop_price
        return math.nan
    return math.nan


def intrabar_exit(
    direction: int,
    open: float,
    high: float,
    low: float,
    stop_price: float,
    target_price: float,
) -> tuple[float, int]:
    """Return ``(exit price, exit reason)`` for an open position within one candle.

    The stop is checked first, so a candle touching both counts as a stop (conservative). Long:
    ``low <= stop`` exits at ``min(stop, open)`` with ``EXIT_STOP_LOSS``, else ``high >= target``
    exits at ``max(target, open)`` with ``EXIT_TAKE_PROFIT``. Short, mirrored: ``high >= stop``
    exits at ``max(stop, open)``, else ``low <= target`` at ``min(target, open)``. A NaN stop or
    target means none. ``(NaN, EXIT_NONE)`` when nothing is hit, when ``open``, ``high`` or
    ``low`` is NaN, or for an unknown direction.
    """
    if math.isnan(open) or math.isnan(high) or math.isnan(low):
        return math.nan, EXIT_NONE
    if direction == LONG:
        if low <= stop_price:
            return (open if open < stop_price else stop_price), EXIT_STOP_LOSS
        if high >= target_price:
            return (open if open > target_price else target_price), EXIT_TAKE_PROFIT
        return math.nan, EXIT_NONE
    if direction == SHORT:
        if high >= stop_price:
            return (open if open > stop_price else stop_price), EXIT_STOP_LOSS
        if low <= target_price:
            return (open if open < target_price else target_price), EXIT_TAKE_PROFIT
        return math.nan, EXIT_NONE
    return math.nan, EXIT_NONE
