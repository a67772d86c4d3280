"""Exit rules: stop-loss, take-profit, trailing stop, partial targets, break-even, time exit.

``ExitRules`` is the settings record; percentages are fractions of the entry price (0.03 is
3 %). ATR multiples are measured on the ATR of the signal candle. ``None`` switches a rule off.
Below it, the scalar rules that turn a record and a position into price levels; the backtest
kernel (through ``risk.kernel``) and the live position monitor apply the same ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xraybot.matching.rules import (
    EXIT_LIQUIDATION,
    EXIT_NONE,
    EXIT_STOP_LOSS,
    EXIT_TRAILING,
    LONG,
    SHORT,
)
from xraybot.model.errors import InvalidInputError


def _fraction(owner: str, name: str, value: float | None, *, upper: float = 1.0) -> None:
    if value is None:
        return
    if not (math.isfinite(value) and 0.0 < value < upper):
        raise InvalidInputError(
            f"{owner}.{name} must be a fraction in (0, {upper:g}) such as 0.03 for 3 %; "
            f"found {value!r}."
        )


@dataclass(frozen=True, slots=True)
class ExitRules:
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    stop_loss_atr: float | None = None
    take_profit_atr: float | None = None
    atr_period: int = 14
    trailing_pct: float | None = None
    trailing_activation_pct: float = 0.0
    breakeven_at_pct: float | None = None
    partial_targets: tuple[tuple[float, float], ...] = ()
    time_exit_candles: int | None = None

    def __post_init__(self) -> None:
        owner = "ExitRules"
        _fraction(owner, "stop_loss_pct", self.stop_loss_pct)
        _fraction(owner, "take_profit_pct", self.take_profit_pct, upper=100.0)
        _fraction(owner, "trailing_pct", self.trailing_pct)
        _fraction(owner, "breakeven_at_pct", self.breakeven_at_pct, upper=100.0)
        for name in ("stop_loss_atr", "take_profit_atr"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0.0):
                raise InvalidInputError(f"{owner}.{name} must be > 0 ATRs; found {value!r}.")
        if not (math.isfinite(self.trailing_activation_pct) and self.trailing_activation_pct >= 0):
            raise InvalidInputError(
                f"{owner}.trailing_activation_pct must be >= 0; "
                f"found {self.trailing_activation_pct!r}."
            )
        if self.atr_period < 1:
            raise InvalidInputError(f"{owner}.atr_period must be >= 1; found {self.atr_period}.")
        if self.time_exit_candles is not None and self.time_exit_candles < 1:
            raise InvalidInputError(
                f"{owner}.time_exit_candles must be >= 1; found {self.time_exit_candles}."
            )
        total = 0.0
        previous = 0.0
        for level, fraction in self.partial_targets:
            _fraction(owner, "partial_targets level", level, upper=100.0)
            _fraction(owner, "partial_targets fraction", fraction, upper=1.0 + 1e-12)
            if level <= previous:
                raise InvalidInputError(
                    f"{owner}.partial_targets must ascend by level; found {level!r} "
                    f"after {previous!r}."
                )
            previous = level
            total += fraction
        if total > 1.0 + 1e-12:
            raise InvalidInputError(
                f"{owner}.partial_targets fractions add up to {total:g}; they may close at "
                "most the whole position (1.0)."
            )

    @property
    def uses_atr(self) -> bool:
        return self.stop_loss_atr is not None or self.take_profit_atr is not None


# -- scalar rules ------------------------------------------------------------------------
# Written in the numba-compilable subset, like ``matching.rules``: floats and int codes in,
# a float, bool or ``(float, int)`` out, NaN for "no level", no calls to other Python
# functions, comparisons instead of ``min``/``max`` (their NaN handling differs between
# CPython and numba). ``risk.kernel`` compiles each one unchanged for the backtest loop; the
# live position monitor calls the plain forms.


def stop_level(
    direction: int, entry_price: float, stop_pct: float, atr: float, stop_atr: float
) -> float:
    """Return the initial stop: ``stop_pct`` from the entry and/or ``stop_atr`` ATRs away.

    When both are set the level nearer the entry binds. A NaN ``stop_pct`` or ``stop_atr``
    switches that part off, and so does a NaN ``atr`` (indicator warm-up). NaN when no stop
    is set, or for an unknown direction.
    """
    if direction == LONG:
        by_pct = entry_price * (1.0 - stop_pct)
        by_atr = entry_price - stop_atr * atr
    elif direction == SHORT:
        by_pct = entry_price * (1.0 + stop_pct)
        by_atr = entry_price + stop_atr * atr
    else:
        return math.nan
    if math.isnan(by_pct):
        return by_atr
    if math.isnan(by_atr):
        return by_pct
    if direction == LONG:
        return by_pct if by_pct > by_atr else by_atr
    return by_pct if by_pct < by_atr else by_atr


def target_level(
    direction: int, entry_price: float, target_pct: float, atr: float, target_atr: float
) -> float:
    """Return the take-profit level, mirroring ``stop_level``: the nearer of % and ATR binds.

    A partial target is priced the same way, its level as ``target_pct`` and NaN ATR parts.
    """
    if direction == LONG:
        by_pct = entry_price * (1.0 + target_pct)
        by_atr = entry_price + target_atr * atr
    elif direction == SHORT:
        by_pct = entry_price * (1.0 - target_pct)
        by_atr = entry_price - target_atr * atr
    else:
        return math.nan
    if math.isnan(by_pct):
        return by_atr
    if math.isnan(by_atr):
        return by_pct
    if direction == LONG:
        return by_pct if by_pct < by_atr else by_atr
    return by_pct if by_pct > by_atr else by_atr


def favourable_extreme(direction: int, best: float, high: float, low: float) -> float:
    """Return the best price seen, updated with one closed candle (highest high for a long)."""
    if direction == LONG:
        return high if high > best else best
    if direction == SHORT:
        return low if low < best else best
    return math.nan


def breakeven_stop(
    direction: int, entry_price: float, best: float, at_pct: float, fee_rate: float
) -> float:
    """Return the break-even stop once ``best`` has moved ``at_pct`` in favour, else NaN.

    The level covers both fees: a long's ``entry * (1 + fee) / (1 - fee)`` sells for what it
    cost (``price * (1 - fee) == entry * (1 + fee)``); a short's mirrors it. NaN for a fee
    rate outside (-1, 1), where no price covers the fees.
    """
    if not (fee_rate > -1.0 and fee_rate < 1.0):
        return math.nan
    if direction == LONG:
        if best >= entry_price * (1.0 + at_pct):
            return entry_price * (1.0 + fee_rate) / (1.0 - fee_rate)
        return math.nan
    if direction == SHORT:
        if best <= entry_price * (1.0 - at_pct):
            return entry_price * (1.0 - fee_rate) / (1.0 + fee_rate)
        return math.nan
    return math.nan


def trailing_stop(
    direction: int, entry_price: float, best: float, trailing_pct: float, activation_pct: float
) -> float:
    """Return the trailing stop ``trailing_pct`` behind ``best`` once active, else NaN.

    It activates once ``best`` reaches ``entry * (1 + activation_pct)`` (a short: ``1 -``).
    ``best`` is the extreme of the candles already closed, so the stop never depends on the
    unknowable order of prices inside the candle being checked.
    """
    if direction == LONG:
        if best >= entry_price * (1.0 + activation_pct):
            return best * (1.0 - trailing_pct)
        return math.nan
    if direction == SHORT:
        if best <= entry_price * (1.0 - activation_pct):
            return best * (1.0 + trailing_pct)
        return math.nan
    return math.nan


def protective_stop(
    direction: int, stop: float, breakeven: float, trailing: float, liquidation: float
) -> tuple[float, int]:
    """Return ``(level, reason)`` of the stop the price reaches first; NaN levels are none.

    The fixed and break-even stops exit as ``EXIT_STOP_LOSS``; the trailing stop binds as
    ``EXIT_TRAILING`` only when strictly tighter than those, the liquidation price as
    ``EXIT_LIQUIDATION`` only when strictly tighter than every stop. ``(NaN, EXIT_NONE)`` when
    there is no level, or for an unknown direction.
    """
    if direction == LONG:
        sign = 1.0
    elif direction == SHORT:
        sign = -1.0
    else:
        return math.nan, EXIT_NONE
    # Tighter means nearer the price: higher for a long, lower for a short.
    level = stop
    if math.isnan(level) or sign * breakeven > sign * level:
        level = breakeven
    reason = EXIT_NONE if math.isnan(level) else EXIT_STOP_LOSS
    if not math.isnan(trailing) and (math.isnan(level) or sign * trailing > sign * level):
        level = trailing
        reason = EXIT_TRAILING
    if not math.isnan(liquidation) and (math.isnan(level) or sign * liquidation > sign * level):
        level = liquidation
        reason = EXIT_LIQUIDATION
    return level, reason


def time_exit_due(candles_held: float, limit: float) -> bool:
    """Tell whether a position held ``candles_held`` candles reaches the time exit ``limit``.

    A ``limit`` <= 0 or NaN switches the rule off.
    """
    return limit > 0.0 and candles_held >= limit
