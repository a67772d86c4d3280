"""The numba-compiled forms of the scalar risk rules: exits, sizing, leverage, limits and
protections.

Each ``*_nb`` is ``numba.njit(cache=True)`` applied to the plain function, unchanged, as
``matching.kernel`` does for the matching rules (a rule that calls a helper, such as
``limits.limit_walk``, is compiled with the helper's compiled form bound in its place): the
backtest kernel and plain Python (the live engine, ``xraybot risk explain``) apply one rule
with bit-identical results. Importing this module imports numba; the rule modules themselves
never do.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, TypeVar, cast

from numba import njit

from xraybot.risk import exits, leverage, limits, protections, sizing

_F = TypeVar("_F", bound=Callable[..., Any])


def _compile(fn: _F) -> _F:
    """Wrap a plain rule in a lazily compiling, disk-cached numba dispatcher of the same type."""
    return cast(_F, njit(cache=True)(fn))


def _compile_calling(fn: _F, **callees: Callable[..., Any]) -> _F:
    """Compile a rule with the helpers it calls by name bound to their compiled forms.

    Rule modules never import numba, so a helper is a plain function in the rule's globals,
    which numba cannot call; the compiled twin reads the same code with those names rebound.
    """
    namespace = {**fn.__globals__, **callees}
    twin = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    twin.__module__ = fn.__module__
    twin.__qualname__ = fn.__qualname__
    twin.__doc__ = fn.__doc__
    return _compile(cast(_F, twin))


stop_level_nb = _compile(exits.stop_level)
target_level_nb = _compile(exits.target_level)
favourable_extreme_nb = _compile(exits.favourable_extreme)
breakeven_stop_nb = _compile(exits.breakeven_stop)
trailing_stop_nb = _compile(exits.trailing_stop)
protective_stop_nb = _compile(exits.protective_stop)
time_exit_due_nb = _compile(exits.time_exit_due)

# Rule name -> compiled form, for the parity test and for code that looks rules up by name.
COMPILED: dict[str, Callable[..., Any]] = {
    "stop_level": stop_level_nb,
    "target_level": target_level_nb,
    "favourable_extreme": favourable_extreme_nb,
    "breakeven_stop": breakeven_stop_nb,
    "trailing_stop": trailing_stop_nb,
    "protective_stop": protective_stop_nb,
    "time_exit_due": time_exit_due_nb,
}

# -- limits (issue 7) ----------------------------------------------------------------------
# risk.limits: open positions, exposure per symbol / cluster / in total, margin reserve.
# One walk over the caps answers both questions (see risk.limits).
limit_walk_nb = _compile(limits.limit_walk)
limit_block_nb = _compile_calling(limits.limit_block, limit_walk=limit_walk_nb)
limit_room_nb = _compile_calling(limits.limit_room, limit_walk=limit_walk_nb)
COMPILED["limit_walk"] = limit_walk_nb
COMPILED["limit_block"] = limit_block_nb
COMPILED["limit_room"] = limit_room_nb

# -- sizing (issue 7) ----------------------------------------------------------------------
# risk.sizing / risk.leverage: the notional a sizing mode opens, the leverage a stop allows.
stake_notional_nb = _compile(sizing.stake_notional)
leverage_for_nb = _compile(leverage.leverage_for)
COMPILED["stake_notional"] = stake_notional_nb
COMPILED["leverage_for"] = leverage_for_nb

# -- protections (issue 7) -----------------------------------------------------------------
# risk.protections: the per-account state machine (stop-loss guard, cooldown, drawdown breaker,
# low-profit lock, daily loss, kill switch) and the dynamic risk multiplier.
state_size_nb = _compile(protections.state_size)
symbol_base_nb = _compile(protections.symbol_base)
default_params_nb = _compile(protections.default_params)
history_needed_nb = _compile(protections.history_needed)
protection_state_nb = _compile(protections.protection_state)
configure_nb = _compile(protections.configure)
set_kill_switch_nb = _compile(protections.set_kill_switch)
reset_drawdown_nb = _compile(protections.reset_drawdown)
record_equity_nb = _compile(protections.record_equity)
record_exit_nb = _compile(protections.record_exit)
entry_block_nb = _compile(protections.entry_block)
risk_scale_nb = _compile(protections.risk_scale)
COMPILED.update(
    {
        "state_size": state_size_nb,
        "symbol_base": symbol_base_nb,
        "default_params": default_params_nb,
        "history_needed": history_needed_nb,
        "protection_state": protection_state_nb,
        "configure": configure_nb,
        "set_kill_switch": set_kill_switch_nb,
        "reset_drawdown": reset_drawdown_nb,
        "record_equity": record_equity_nb,
        "record_exit": record_exit_nb,
        "entry_block": entry_block_nb,
        "risk_scale": risk_scale_nb,
    }
)
