"""The compiled backtest loop: per-position steps shared by one symbol and a portfolio.

Everything here is ``numba.njit(cache=True)`` over flat arrays; ``backtest.engine`` and
``backtest.portfolio`` turn candles, signals and settings into those arrays and back. The
steps call the compiled twins of ``matching.rules``/``matching.costs`` (``matching.kernel``)
and of the exit rules in ``risk.exits`` (``risk.kernel``), so the kernel decides exactly as
plain Python does; ``as_python`` returns any kernel function with every compiled rule swapped
for its plain form, which is how the parity test runs the same loop uncompiled.

Semantics (``../shared/reference/rsi_reversion.md`` is the exact spec of the defaults):

- At the open of candle t the loop acts on the signals of candle t-1: a position whose exit
  signal fired closes at ``open[t]`` (``signal``), or else one held ``time_exit_candles``
  candles closes there (``time``); a flat account opens on an entry signal. An exit and an
  entry never happen at the same open. A long and a short entry on the same candle cancel.
- Then, on candle t including the entry candle, ``matching.rules.intrabar_exit`` checks the
  binding stop first and the nearest target second, gaps filling at the open. The binding stop
  is the tightest of the fixed/ATR stop, the break-even stop, the trailing stop
  (``trailing``, when strictly tightest) and the liquidation price (``liquidation``, when
  reached before every stop). Any market fill at or past the liquidation price (a gap through
  it, or slippage) fills at that price instead: isolated margin loses at most what it posted.
  A stop filled there is a ``liquidation``; a signal, time or end close keeps its reason.
  Trailing and break-even follow the best price of the candles *already closed*, never a
  guessed intrabar path.
- Partial targets close ``fraction`` x the initial amount at their level, each as its own
  trade; the final target closes the rest. A position open after the last candle closes at
  the last close (``end``).
- Stake: ``all`` commits the free cash (a portfolio: free cash / open slots left),
  ``fraction`` that share of equity, ``fixed`` that much quote; capped by the free cash. The
  committed cash pays the margin (notional / leverage) and the entry fee:
  ``qty = cash / (price * (1/leverage + fee))``, the spec's ``equity / (open * (1 + fee))``
  at leverage 1. A long at leverage 1 sells for ``qty * price * (1 - fee)``, in the spec's
  order; any other close credits margin + profit - fee, never below 0 on liquidation.
- Funding: for every boundary ``ts % funding_interval_ms == 0`` in ``(ts[t-1], ts[t]]``, a
  position held into the open of t (even one closing there) receives
  ``funding_payment(qty * open[t])`` (negative: pays).
- Slippage is a rate per candle, ``slippage_bps / 1e4 + slippage_atr * NATR / 100`` of the
  last closed candle (``rates[t-1]`` for fills during t, ``rates[n-1]`` for the end close). It
  moves market-type fills against the trader: entries, signal/time/end exits and stop or
  trailing fills. Take-profits are limit orders and fill at their level (or the better open);
  liquidations fill at the liquidation price.
- Equity is marked to market at every close (margin posted + unrealized profit); exposure is
  the open notional at the close over that equity. At the last candle, exposure is taken
  before the end close and equity after it, so ``equity[-1]`` is the cash finally held.
- The risk layer (``run_symbol``'s ``risk`` vector, ``backtest.kernel_risk``), when on, sizes
  each entry (risk per trade, volatility target, capped Kelly, auto leverage), lets the
  protections block it and the limits refuse or shrink it. Off (``simulate_symbol``, or
  ``risk[K_ACTIVE]`` 0) the loop sizes by the stake alone, exactly as described above.

The array layouts live in ``backtest.kernel_layout``. numba's disk cache checks only the source
file of the function it caches, not the modules that function calls; ``backtest.numba_cache``
drops the cache whenever any compiled-in module changed, before any function can load it.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit
from numba.core.dispatcher import Dispatcher

from xraybot.backtest.kernel_layout import (
    K_ACTIVE,
    K_CLOSE_MS,
    K_RULES,
    N_E,
    N_EN,
    N_F,
    N_I,
    N_POS,
    N_RISK,
    N_STATS,
    P_BEST,
    P_DIR,
    R_LEVERAGE,
)
from xraybot.backtest.kernel_risk import off_state, risk_entry, risk_exits
from xraybot.backtest.kernel_steps import (
    bar_exits,
    entry_direction,
    exposure_of,
    funding_flow,
    mark_value,
    market_close,
    notional,
    open_exit_reason,
    open_position,
    stake_cost,
)
from xraybot.matching.rules import EXIT_END, EXIT_NONE
from xraybot.risk.kernel import favourable_extreme_nb, record_equity_nb

# -- one symbol ---------------------------------------------------------------------------


@njit(cache=True)
def run_symbol(
    ts: Any,
    open_: Any,
    high: Any,
    low: Any,
    close: Any,
    entry_long: Any,
    exit_long: Any,
    entry_short: Any,
    exit_short: Any,
    atr: Any,
    rates: Any,
    rules: Any,
    partials: Any,
    equity0: float,
    risk: Any,
    prot: Any,
    state: Any,
    volatility: Any,
    volatility_ratio: Any,
) -> tuple[Any, Any, Any, Any, int, Any, int, Any, int]:
    """Run one symbol as one account with the risk layer (``backtest.kernel_risk``).

    ``risk`` is the risk settings vector (``K_*``), ``prot`` the protections' parameters and
    ``state`` their state (updated in place); ``volatility`` and ``volatility_ratio`` per
    candle feed sizing, leverage and dynamic risk. With ``risk[K_ACTIVE]`` 0 none of them is
    read. Returns (equity, exposure, trade floats, trade ints, trades, risk events, their
    count, sized entries, their count).
    """
    n = ts.shape[0]
    equity = np.empty(n)
    exposure = np.empty(n)
    capacity = n * (partials.shape[0] + 1) + 1
    tf = np.empty((capacity, N_F))
    ti = np.empty((capacity, N_I), dtype=np.int64)
    pos = np.zeros(N_POS)
    active = risk[K_ACTIVE] > 0.0
    rules_on = risk[K_RULES] > 0.0
    records = n if active else 0
    events = np.empty((records, N_E), dtype=np.int64)
    entries = np.empty((records, N_EN))
    stats = np.zeros(N_STATS)
    n_events = 0
    n_entries = 0
    close_ms = int(risk[K_CLOSE_MS]) if active else 0
    cash = equity0
    row = 0
    for t in range(n):
        o = open_[t]
        if t > 0:
            prev = t - 1
            if pos[P_DIR] != 0.0:
                cash += funding_flow(pos, ts[prev], ts[t], o, rules)
                reason = open_exit_reason(pos, t, exit_long[prev], exit_short[prev], rules)
                if reason != EXIT_NONE:
                    cash += market_close(pos, o, rates[prev], t, reason, rules, 0, tf, ti, row)
                    row += 1
                    if active:
                        risk_exits(tf, ti, row - 1, row, 0, ts[t], cash, risk, prot, state, stats)
            else:
                direction = entry_direction(rules, entry_long[prev], entry_short[prev])
                if direction != 0:
                    cost = stake_cost(rules, cash, cash, 1)
                    leverage = rules[R_LEVERAGE]
                    if active:
                        cost, leverage, n_events = risk_entry(
                            direction,
                            o,
                            rates[prev],
                            atr[prev],
                            volatility[prev],
                            volatility_ratio[prev],
                            ts[t],
                            t,
                            0,
                            cash,
                            cash,
                            cost,
                            0,
                            0.0,
                            0.0,
                            rules,
                            risk,
                            prot,
                            state,
                            stats,
                            events,
                            n_events,
                            entries,
                            n_entries,
                        )
                    spent = open_position(
                        pos, direction, o, rates[prev], cost, t, atr[prev], rules, leverage
                    )
                    if spent > 0.0:
                        cash -= spent
                        if active:
                            n_entries += 1
            if pos[P_DIR] != 0.0:
                first = row
                credit, row = bar_exits(
                    pos, t, o, high[t], low[t], rates[prev], rules, partials, 0, tf, ti, row
                )
                cash += credit
                if active and row > first:
                    after = cash + mark_value(pos, close[t])
                    risk_exits(
                        tf, ti, first, row, 0, ts[t] + close_ms, after, risk, prot, state, stats
                    )
        if pos[P_DIR] != 0.0:
            pos[P_BEST] = favourable_extreme_nb(int(pos[P_DIR]), pos[P_BEST], high[t], low[t])
        value = cash + mark_value(pos, close[t])
        equity[t] = value
        exposure[t] = exposure_of(notional(pos, close[t]), value)
        if rules_on:
            record_equity_nb(state, ts[t] + close_ms, value)
    if n > 0 and pos[P_DIR] != 0.0:
        last = n - 1
        cash += market_close(pos, close[last], rates[last], last, EXIT_END, rules, 0, tf, ti, row)
        row += 1
        equity[last] = cash
        if active:
            risk_exits(tf, ti, row - 1, row, 0, ts[last] + close_ms, cash, risk, prot, state, stats)
    return equity, exposure, tf, ti, row, events, n_events, entries, n_entries


@njit(cache=True)
def risk_off() -> tuple[Any, Any, Any, Any, Any]:
    """(risk, prot, state, volatility, volatility_ratio) arguments that switch the risk off."""
    risk = np.full(N_RISK, np.nan)
    risk[K_ACTIVE] = 0.0
    risk[K_RULES] = 0.0
    return risk, np.empty(0), off_state(), np.empty(0), np.empty(0)


@njit(cache=True)
def simulate_symbol(
    ts: Any,
    open_: Any,
    high: Any,
    low: Any,
    close: Any,
    entry_long: Any,
    exit_long: Any,
    entry_short: Any,
    exit_short: Any,
    atr: Any,
    rates: Any,
    rules: Any,
    partials: Any,
    equity0: float,
) -> tuple[Any, Any, Any, Any, int]:
    """Run one symbol as one account without the risk layer; return (equity, exposure,
    trade floats, trade ints, trades)."""
    risk, prot, state, vol, ratio = risk_off()
    out = run_symbol(
        ts,
        open_,
        high,
        low,
        close,
        entry_long,
        exit_long,
        entry_short,
        exit_short,
        atr,
        rates,
        rules,
        partials,
        equity0,
        risk,
        prot,
        state,
        vol,
        ratio,
    )
    return out[0], out[1], out[2], out[3], out[4]


# -- plain Python -------------------------------------------------------------------------


def as_python(dispatcher: Callable[..., Any]) -> Callable[..., Any]:
    """Return a kernel function as plain Python calling the plain rules throughout.

    Every compiled function it reaches (its own steps, ``matching.kernel``, ``risk.kernel``,
    also through an xraybot module it names, such as ``kernel.bar_exits``) is replaced by its
    ``py_func``, so the result runs the same source uncompiled: slow, but it proves the kernel
    and plain Python take the same decisions.
    """
    converted: dict[int, Any] = {}

    def plain(value: Any) -> Any:
        if isinstance(value, Dispatcher):
            return function(value)
        if isinstance(value, types.ModuleType) and value.__name__.startswith("xraybot."):
            return module(value)
        return value

    def module(source: types.ModuleType) -> types.SimpleNamespace:
        found = converted.get(id(source))
        if found is None:
            found = converted[id(source)] = types.SimpleNamespace()
            for name, value in vars(source).items():
                setattr(found, name, plain(value))
        return found

    def function(compiled: Any) -> types.FunctionType:
        found = converted.get(id(compiled))
        if found is not None:
            return found  # type: ignore[no-any-return]
        source = compiled.py_func
        namespace: dict[str, Any] = {}
        result = types.FunctionType(
            source.__code__, namespace, source.__name__, source.__defaults__, source.__closure__
        )
        result.__module__ = source.__module__
        result.__qualname__ = source.__qualname__
        converted[id(compiled)] = result
        for name, value in source.__globals__.items():
            namespace[name] = plain(value)
        return result

    return function(dispatcher)
