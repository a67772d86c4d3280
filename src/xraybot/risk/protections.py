"""Protections: a per-account state machine that says whether a new entry may open, and why not.

The scalar core below is written in the numba-compilable subset (``risk.kernel`` compiles each
function unchanged as ``<name>_nb``): the backtest loops and the live engine feed one float64
**state array** with exits and equity marks, and ask it ``entry_block`` before each entry and
``risk_scale`` for the size multiplier. ``risk.protections_chain.ProtectionChain`` puts names,
reasons and times on the same calls; ``risk.protections_settings.ProtectionSettings`` builds
the params vector.

Protections (``BLOCK_*`` codes, checked in this order; the first that blocks is returned):

- ``BLOCK_KILL_SWITCH`` — the global or the account kill switch is set: every symbol, any time,
  until revived. Params cannot switch it off.
- ``BLOCK_INVALID`` — a symbol index outside the state or a non-finite time (fails closed).
- ``BLOCK_DRAWDOWN`` — an equity mark fell ``P_DD_MAX`` (0.2 = 20 %) or more below the peak:
  no entries for ``P_DD_PAUSE_MS`` after that mark (+inf or NaN: until ``reset_drawdown``). A
  trip restarts the breaker's peak at that equity, so a new trip needs a fresh fall.
- ``BLOCK_DAILY_LOSS`` — the UTC day's lowest equity mark (realized + unrealized) reached
  ``P_DAILY_LOSS_MAX`` below the day's starting equity (the last mark before the day began):
  no entries until the next UTC midnight.
- ``BLOCK_STOPLOSS_GUARD`` — ``P_SL_GUARD_COUNT`` stop-losses within ``P_SL_GUARD_WINDOW_MS``
  (the span from the first to the last, inclusive) pause the symbol, or with
  ``P_SL_GUARD_SCOPE == SCOPE_ACCOUNT`` every symbol (counting all symbols' stop-losses), for
  ``P_SL_GUARD_PAUSE_MS`` after the last of them.
- ``BLOCK_LOW_PROFIT`` — a symbol whose last ``P_LOW_PROFIT_TRADES`` trades' returns add up to
  less than ``P_LOW_PROFIT_MIN`` is locked for ``P_LOW_PROFIT_PAUSE_MS`` after the last one.
- ``BLOCK_COOLDOWN`` — no entry on a symbol for ``P_COOLDOWN_MS`` after its last stop-loss.

A stop-loss is an exit with a loss (``pnl < 0``) by stop, trailing stop or liquidation; a
trade's return is its pnl over the equity before it (``pnl / (equity_after - pnl)``). Times
are epoch milliseconds; a pause lasts while ``ts < until``. A NaN in a protection's switch
(``P_COOLDOWN_MS``, ``P_SL_GUARD_COUNT``, ``P_DD_MAX``, ``P_LOW_PROFIT_TRADES``,
``P_DAILY_LOSS_MAX``) turns it off; ``default_params()`` is all NaN, everything off.

Dynamic risk, ``risk_scale``: the product of three factors, each 1 at or better than its
``*_FULL`` point, ``P_SCALE_FLOOR`` at or worse than its ``*_FLOOR`` point, linear between
(a NaN or infinite point switches a factor off), clipped to ``[P_SCALE_FLOOR, 1]``, so
always in (0, 1]:

- win rate of the account's last ``P_SCALE_WIN_TRADES`` trades (wins: ``pnl > 0``; factor 1
  until that many trades exist), worse when lower;
- drawdown of the last equity mark below the peak, worse when deeper;
- ``volatility_ratio`` (current volatility / its long average, the caller's), worse when higher.

A NaN or out-of-range ``P_SCALE_FLOOR`` switches scaling off (1.0).

Trips are latched when they happen: ``record_exit`` and ``record_equity`` use the params copy
kept in the state (``S_PARAMS``), which ``configure``, ``entry_block`` and ``risk_scale`` all
refresh. Call ``configure`` right after ``protection_state``; a caller that only ever passes
params to ``entry_block`` is still exact, because nothing can be lost before the first entry.
The state's layout, the ``P_*``/``BLOCK_*``/``S_*``/``E_*``/``Y_*`` indices and the functions
that build a state (``protection_state``, ``state_size``, ``default_params``, ...) are in
``risk.protections_layout``; every name there is importable from here too.
"""

# The rules below read the layout's ~80 indices: they come in by one star import, which also
# keeps every layout name importable from here. mypy still flags a name defined nowhere.
# ruff: noqa: F405

from __future__ import annotations

import math

import numpy as np

from xraybot.matching.rules import EXIT_LIQUIDATION, EXIT_STOP_LOSS, EXIT_TRAILING
from xraybot.risk.protections_layout import *  # noqa: F403

# -- rules ------------------------------------------------------------------------------
# numba-compilable like the layout's builders: no calls to other plain functions, comparisons
# instead of min/max (their NaN handling differs between CPython and numba), no exceptions.


def configure(state: np.ndarray, params: np.ndarray) -> None:
    """Keep a copy of ``params`` in ``state``: ``record_exit``/``record_equity`` latch with it."""
    for i in range(N_PARAMS):
        state[S_PARAMS + i] = params[i]
    state[S_CONFIGURED] = 1.0


def set_kill_switch(state: np.ndarray, scope: int, on: bool, ts_ms: float) -> None:
    """Set (``on``) or clear the ``KILL_GLOBAL`` or ``KILL_ACCOUNT`` switch, noting ``ts_ms``."""
    if scope == KILL_GLOBAL:
        flag, since = S_KILL_GLOBAL, S_KILL_GLOBAL_SINCE
    elif scope == KILL_ACCOUNT:
        flag, since = S_KILL_ACCOUNT, S_KILL_ACCOUNT_SINCE
    else:
        return
    if on:
        state[flag] = 1.0
        state[since] = float(ts_ms)
    else:
        state[flag] = 0.0
        state[since] = -np.inf


def reset_drawdown(state: np.ndarray) -> None:
    """End a drawdown pause now and measure drawdowns from the last equity mark on."""
    state[S_DD_UNTIL] = -np.inf
    state[S_PEAK] = state[S_EQUITY]
    state[S_BREAKER_PEAK] = state[S_EQUITY]


def record_equity(state: np.ndarray, ts_ms: float, equity: float) -> None:
    """Record a marked-to-market equity at ``ts_ms``; may trip the drawdown breaker.

    Equity marks are the only equity input: drawdown, the daily loss and ``risk_scale`` all
    read them. A non-finite equity or time is ignored; a mark from a day earlier than the one
    tracked updates the drawdown but not the daily figures.
    """
    t = float(ts_ms)
    if not (math.isfinite(equity) and math.isfinite(t)):
        return
    started = state[S_DAY_START]
    # Most marks fall in the day tracked: skip the float modulo for them (the day is exact).
    today = t >= started and t < started + DAY_MS
    if not today:
        day = t - t % DAY_MS
        if math.isnan(started) or day > started:
            opening = state[S_EQUITY]
            if math.isnan(opening):
                opening = equity
            state[S_DAY_START] = day
            state[S_DAY_EQUITY] = opening
            state[S_DAY_LOW] = opening
            today = True
    if today and equity < state[S_DAY_LOW]:
        state[S_DAY_LOW] = equity
    if math.isnan(state[S_PEAK]) or equity > state[S_PEAK]:
        state[S_PEAK] = equity
    peak = state[S_BREAKER_PEAK]
    if math.isnan(peak) or equity > peak:
        peak = equity
        state[S_BREAKER_PEAK] = equity
    limit = state[S_PARAMS + P_DD_MAX]
    # Multiplied rather than divided, so a fall of exactly the limit (9,600 from 12,000 at
    # 20 %) trips despite rounding.
    if limit > 0.0 and peak > 0.0 and equity <= peak * (1.0 - limit):
        pause = state[S_PARAMS + P_DD_PAUSE_MS]
        until = np.inf if math.isnan(pause) else t + pause
        if until > state[S_DD_UNTIL]:
            state[S_DD_UNTIL] = until
        state[S_DD_TRIP_TS] = t
        state[S_DD_TRIP_DRAWDOWN] = 1.0 - equity / peak
        state[S_BREAKER_PEAK] = equity
    state[S_EQUITY] = equity
    state[S_EQUITY_TS] = t


def record_exit(
    state: np.ndarray,
    symbol: int,
    ts_ms: float,
    pnl: float,
    reason_code: int,
    equity_after: float,
) -> None:
    """Record a closed trade of ``symbol``; may trip its stop-loss guard or low-profit lock.

    ``reason_code`` is a ``matching.rules.EXIT_*`` code. ``equity_after`` only turns ``pnl``
    into the trade's return: record the equity itself with ``record_equity``. An unknown
    symbol or a non-finite time is ignored.
    """
    n = int(state[S_N_SYMBOLS])
    h = int(state[S_HISTORY])
    t = float(ts_ms)
    if symbol < 0 or symbol >= n or not math.isfinite(t):
        return
    base = N_HEADER + 2 * h + symbol * (N_SYMBOL_FIELDS + 2 * h)
    before = equity_after - pnl
    ret = pnl / before if before > 0.0 else 0.0
    state[S_TRADES] += 1.0
    # The account's pnl ring feeds the win rate.
    slot = int(state[S_TRADES_NEXT])
    state[N_HEADER + h + slot] = pnl
    state[S_TRADES_NEXT] = (slot + 1) % h
    if state[S_TRADES_FILLED] < h:
        state[S_TRADES_FILLED] += 1.0
    # The symbol's return ring feeds the low-profit lock.
    ring = base + N_SYMBOL_FIELDS + h
    slot = int(state[base + Y_TRADES_NEXT])
    state[ring + slot] = ret
    state[base + Y_TRADES_NEXT] = (slot + 1) % h
    if state[base + Y_TRADES_FILLED] < h:
        state[base + Y_TRADES_FILLED] += 1.0
    trades = state[S_PARAMS + P_LOW_PROFIT_TRADES]
    if trades >= 1.0 and state[base + Y_TRADES_FILLED] >= trades:
        total = 0.0
        for back in range(1, int(trades) + 1):
            total += state[ring + (slot + 1 - back + h) % h]
        if total < state[S_PARAMS + P_LOW_PROFIT_MIN]:
            until = t + state[S_PARAMS + P_LOW_PROFIT_PAUSE_MS]
            if until > state[base + Y_LOW_UNTIL]:
                state[base + Y_LOW_UNTIL] = until
                state[base + Y_LOW_TRIP_TS] = t
                state[base + Y_LOW_TRIP_SUM] = total
    stopped = reason_code in (EXIT_STOP_LOSS, EXIT_TRAILING, EXIT_LIQUIDATION)
    if not (stopped and pnl < 0.0):
        return
    if t > state[base + Y_LAST_SL]:
        state[base + Y_LAST_SL] = t
    ring = base + N_SYMBOL_FIELDS
    slot = int(state[base + Y_SL_NEXT])
    state[ring + slot] = t
    state[base + Y_SL_NEXT] = (slot + 1) % h
    if state[base + Y_SL_FILLED] < h:
        state[base + Y_SL_FILLED] += 1.0
    slot = int(state[S_SL_NEXT])
    state[N_HEADER + slot] = t
    state[S_SL_NEXT] = (slot + 1) % h
    if state[S_SL_FILLED] < h:
        state[S_SL_FILLED] += 1.0
    needed = state[S_PARAMS + P_SL_GUARD_COUNT]
    if not needed >= 1.0:
        return
    account = state[S_PARAMS + P_SL_GUARD_SCOPE] == SCOPE_ACCOUNT
    if account:
        ring, filled = N_HEADER, int(state[S_SL_FILLED])
    else:
        filled = int(state[base + Y_SL_FILLED])
    start = t - state[S_PARAMS + P_SL_GUARD_WINDOW_MS]
    count = 0
    for i in range(filled):
        if state[ring + i] >= start and state[ring + i] <= t:
            count += 1
    if count < needed:
        return
    until = t + state[S_PARAMS + P_SL_GUARD_PAUSE_MS]
    if account:
        if until > state[S_SL_UNTIL]:
            state[S_SL_UNTIL] = until
            state[S_SL_TRIP_TS] = t
    elif until > state[base + Y_SL_UNTIL]:
        state[base + Y_SL_UNTIL] = until
        state[base + Y_SL_TRIP_TS] = t


def entry_block(state: np.ndarray, symbol: int, ts_ms: float, params: np.ndarray) -> int:
    """Return ``BLOCK_NONE`` (0) if ``symbol`` may open a position at ``ts_ms``, else the code.

    Every protection is evaluated; the explain block receives each one's pause end and measured
    number, and the params copy is refreshed (see the module doc).
    """
    for i in range(N_PARAMS):
        state[S_PARAMS + i] = params[i]
    state[S_CONFIGURED] = 1.0
    t = float(ts_ms)
    state[E_SYMBOL] = symbol
    state[E_TS] = t
    for code in range(N_BLOCK):
        state[E_UNTIL + code] = -np.inf
        state[E_VALUE + code] = np.nan
    if state[S_KILL_GLOBAL] != 0.0:
        state[E_UNTIL + BLOCK_KILL_SWITCH] = np.inf
        state[E_VALUE + BLOCK_KILL_SWITCH] = state[S_KILL_GLOBAL_SINCE]
    elif state[S_KILL_ACCOUNT] != 0.0:
        state[E_UNTIL + BLOCK_KILL_SWITCH] = np.inf
        state[E_VALUE + BLOCK_KILL_SWITCH] = state[S_KILL_ACCOUNT_SINCE]
    n = int(state[S_N_SYMBOLS])
    h = int(state[S_HISTORY])
    if symbol < 0 or symbol >= n or not math.isfinite(t):
        state[E_UNTIL + BLOCK_INVALID] = np.inf
    else:
        base = N_HEADER + 2 * h + symbol * (N_SYMBOL_FIELDS + 2 * h)
        if params[P_DD_MAX] > 0.0:
            state[E_UNTIL + BLOCK_DRAWDOWN] = state[S_DD_UNTIL]
            if state[S_DD_UNTIL] > t:
                state[E_VALUE + BLOCK_DRAWDOWN] = state[S_DD_TRIP_DRAWDOWN]
            elif state[S_BREAKER_PEAK] > 0.0:
                drawdown = 1.0 - state[S_EQUITY] / state[S_BREAKER_PEAK]
                state[E_VALUE + BLOCK_DRAWDOWN] = drawdown
        opening = state[S_DAY_EQUITY]
        if params[P_DAILY_LOSS_MAX] > 0.0 and opening > 0.0:
            loss = 0.0  # a day without a mark yet has lost nothing
            low = opening
            if t < state[S_DAY_START] + DAY_MS:
                low = state[S_DAY_LOW]
                loss = (opening - low) / opening
            state[E_VALUE + BLOCK_DAILY_LOSS] = loss
            if low <= opening * (1.0 - params[P_DAILY_LOSS_MAX]):
                state[E_UNTIL + BLOCK_DAILY_LOSS] = state[S_DAY_START] + DAY_MS
        if params[P_SL_GUARD_COUNT] >= 1.0:
            until, trip = state[base + Y_SL_UNTIL], state[base + Y_SL_TRIP_TS]
            if state[S_SL_UNTIL] > until:
                until, trip = state[S_SL_UNTIL], state[S_SL_TRIP_TS]
            state[E_UNTIL + BLOCK_STOPLOSS_GUARD] = until
            state[E_VALUE + BLOCK_STOPLOSS_GUARD] = trip
        if params[P_LOW_PROFIT_TRADES] >= 1.0:
            state[E_UNTIL + BLOCK_LOW_PROFIT] = state[base + Y_LOW_UNTIL]
            state[E_VALUE + BLOCK_LOW_PROFIT] = state[base + Y_LOW_TRIP_SUM]
        last = state[base + Y_LAST_SL]
        if params[P_COOLDOWN_MS] >= 0.0:
            state[E_VALUE + BLOCK_COOLDOWN] = last
            if last > -np.inf:  # -inf + inf would be NaN
                state[E_UNTIL + BLOCK_COOLDOWN] = last + params[P_COOLDOWN_MS]
    # The kill switch and bad input block at any time, a NaN one included.
    found = BLOCK_NONE
    if state[E_UNTIL + BLOCK_KILL_SWITCH] == np.inf:
        found = BLOCK_KILL_SWITCH
    elif state[E_UNTIL + BLOCK_INVALID] == np.inf:
        found = BLOCK_INVALID
    else:
        for code in range(BLOCK_DRAWDOWN, N_BLOCK):
            if state[E_UNTIL + code] > t:
                found = code
                break
    state[E_CODE] = found
    return found


def risk_scale(state: np.ndarray, params: np.ndarray, volatility_ratio: float) -> float:
    """Return the size multiplier in (0, 1] for the account now (see the module doc).

    The explain block receives each factor and what it measured; the params copy is refreshed.
    """
    for i in range(N_PARAMS):
        state[S_PARAMS + i] = params[i]
    state[S_CONFIGURED] = 1.0
    floor = params[P_SCALE_FLOOR]
    h = int(state[S_HISTORY])
    win_rate = np.nan
    trades = params[P_SCALE_WIN_TRADES]
    if trades >= 1.0 and state[S_TRADES_FILLED] >= trades:
        wins = 0
        slot = int(state[S_TRADES_NEXT])
        for back in range(1, int(trades) + 1):
            if state[N_HEADER + h + (slot - back + h) % h] > 0.0:
                wins += 1
        win_rate = wins / int(trades)
    drawdown = np.nan
    if state[S_PEAK] > 0.0:
        drawdown = 1.0 - state[S_EQUITY] / state[S_PEAK]
    state[E_WIN_RATE] = win_rate
    state[E_DRAWDOWN] = drawdown
    state[E_VOL_RATIO] = volatility_ratio
    state[E_WIN_FACTOR] = 1.0
    state[E_DRAWDOWN_FACTOR] = 1.0
    state[E_VOL_FACTOR] = 1.0
    state[E_SCALE] = 1.0
    if not (floor > 0.0 and floor <= 1.0):
        return 1.0
    scale = 1.0
    for which in range(3):
        # Win rate is worse when lower: mirror it so every factor is worse when larger.
        if which == 0:
            x, full, low = -win_rate, -params[P_SCALE_WIN_FULL], -params[P_SCALE_WIN_FLOOR]
        elif which == 1:
            x, full, low = drawdown, params[P_SCALE_DD_FULL], params[P_SCALE_DD_FLOOR]
        else:
            x, full, low = volatility_ratio, params[P_SCALE_VOL_FULL], params[P_SCALE_VOL_FLOOR]
        if math.isnan(x) or not (math.isfinite(full) and math.isfinite(low)) or x <= full:
            factor = 1.0
        elif x >= low:
            factor = floor
        else:
            factor = floor + (1.0 - floor) * ((low - x) / (low - full))
            if factor > 1.0:
                factor = 1.0
        state[E_WIN_FACTOR + 2 * which] = factor
        scale *= factor
    if scale < floor:
        scale = floor
    state[E_SCALE] = scale
    return scale
