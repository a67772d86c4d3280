"""The numba-compiled forms of every rule in ``matching.rules`` and ``matching.costs``.

Each ``*_nb`` is ``numba.njit(cache=True)`` applied to the plain function, unchanged, so the fast
backtest kernel and plain Python apply one rule with bit-identical results. Compilation is lazy
(on the first call, per argument types) and cached on disk next to the sources. Importing this
module imports numba; the simulator and the paper gateway use the plain functions and never do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from numba import njit

from xraybot.matching import costs, rules

_F = TypeVar("_F", bound=Callable[..., Any])


def _compile(fn: _F) -> _F:
    """Wrap a plain rule in a lazily compiling, disk-cached numba dispatcher of the same type."""
    return cast(_F, njit(cache=True)(fn))


market_fill_price_nb = _compile(rules.market_fill_price)
limit_fill_on_arrival_nb = _compile(rules.limit_fill_on_arrival)
limit_fill_resting_nb = _compile(rules.limit_fill_resting)
bar_limit_fill_nb = _compile(rules.bar_limit_fill)
stop_triggered_nb = _compile(rules.stop_triggered)
bar_stop_fill_nb = _compile(rules.bar_stop_fill)
intrabar_exit_nb = _compile(rules.intrabar_exit)

fee_nb = _compile(costs.fee)
slippage_price_nb = _compile(costs.slippage_price)
liquidation_price_nb = _compile(costs.liquidation_price)
funding_payment_nb = _compile(costs.funding_payment)
pnl_nb = _compile(costs.pnl)

# Rule name -> compiled form, for the parity test and for code that looks rules up by name.
COMPILED: dict[str, Callable[..., Any]] = {
    "market_fill_price": market_fill_price_nb,
    "limit_fill_on_arrival": limit_fill_on_arrival_nb,
    "limit_fill_resting": limit_fill_resting_nb,
    "bar_limit_fill": bar_limit_fill_nb,
    "stop_triggered": stop_triggered_nb,
    "bar_stop_fill": bar_stop_fill_nb,
    "intrabar_exit": intrabar_exit_nb,
    "fee": fee_nb,
    "slippage_price": slippage_price_nb,
    "liquidation_price": liquidation_price_nb,
    "funding_payment": funding_payment_nb,
    "pnl": pnl_nb,
}
