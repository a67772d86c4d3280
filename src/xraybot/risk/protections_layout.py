"""The protections' data: the params vector, reason codes, the state array and its builders.

``risk.protections`` holds the rules that read and write this state; every name here is
importable from there too. The functions are in the numba-compilable subset (``risk.kernel``
compiles them unchanged), and numba freezes the constants into the compiled rules, so this
module is in ``backtest.numba_cache.COMPILED_IN``.

State layout (float64, ``h = history``, ``n = n_symbols``; ``state_size(n, h)`` long):

- ``[0, N_HEADER)`` header: the ``S_*`` fields (``S_PARAMS`` holds the ``N_PARAMS`` params
  copy), then the explain block ``E_*``, rewritten by every ``entry_block`` (the code, symbol
  and time checked; per code ``E_UNTIL + code``, the end of its pause, -inf if none or off, and
  ``E_VALUE + code``, its measured number) and every ``risk_scale`` (each factor and its input).
- ``[N_HEADER, N_HEADER + h)`` the account's stop-loss times, a ring (``S_SL_FILLED``,
  ``S_SL_NEXT``); ``[N_HEADER + h, N_HEADER + 2h)`` the account's trade pnls, a ring
  (``S_TRADES_FILLED``, ``S_TRADES_NEXT``).
- from ``N_HEADER + 2h``, per symbol ``i`` a block of ``N_SYMBOL_FIELDS + 2h`` at
  ``symbol_base(n, h, i)``: the ``Y_*`` fields, then that symbol's stop-loss times ring
  (``+ N_SYMBOL_FIELDS``) and its trade returns ring (``+ N_SYMBOL_FIELDS + h``).

"No time" is -inf, "no value" NaN; kill-switch flags are 0.0/1.0. ``history`` must cover the
largest count a protection looks back over (``history_needed(params)``); a count above it can
never be reached.
"""

from __future__ import annotations

import math

import numpy as np

DAY_MS = 86_400_000.0
MAX_HISTORY = 1000  # the longest look-back a count may ask for (it sizes the state)

# -- params vector -----------------------------------------------------------------------
P_COOLDOWN_MS = 0  # pause after a stop-loss, per symbol
P_SL_GUARD_COUNT = 1  # stop-losses that trip the guard
P_SL_GUARD_WINDOW_MS = 2  # ... within this span
P_SL_GUARD_PAUSE_MS = 3  # ... pause this long
P_SL_GUARD_SCOPE = 4  # SCOPE_SYMBOL or SCOPE_ACCOUNT
P_DD_MAX = 5  # drawdown fraction from the peak that trips the breaker
P_DD_PAUSE_MS = 6  # +inf or NaN: until reset_drawdown
P_LOW_PROFIT_TRADES = 7  # trades summed
P_LOW_PROFIT_MIN = 8  # lock when their returns add up to less
P_LOW_PROFIT_PAUSE_MS = 9
P_DAILY_LOSS_MAX = 10  # loss fraction of the day's starting equity
P_SCALE_FLOOR = 11  # smallest multiplier, in (0, 1]
P_SCALE_WIN_TRADES = 12  # trades the win rate is measured over
P_SCALE_WIN_FULL = 13  # win rate at or above which the factor is 1
P_SCALE_WIN_FLOOR = 14  # win rate at or below which it is the floor
P_SCALE_DD_FULL = 15  # drawdown at or below which the factor is 1
P_SCALE_DD_FLOOR = 16  # drawdown at or above which it is the floor
P_SCALE_VOL_FULL = 17  # volatility ratio at or below which the factor is 1
P_SCALE_VOL_FLOOR = 18  # volatility ratio at or above which it is the floor
N_PARAMS = 19

SCOPE_SYMBOL = 0
SCOPE_ACCOUNT = 1
KILL_GLOBAL = 0
KILL_ACCOUNT = 1

# -- reason codes, in checking order -----------------------------------------------------
BLOCK_NONE = 0
BLOCK_KILL_SWITCH = 1
BLOCK_INVALID = 2
BLOCK_DRAWDOWN = 3
BLOCK_DAILY_LOSS = 4
BLOCK_STOPLOSS_GUARD = 5
BLOCK_LOW_PROFIT = 6
BLOCK_COOLDOWN = 7
N_BLOCK = 8

BLOCK_NAMES: dict[int, str] = {
    BLOCK_NONE: "none",
    BLOCK_KILL_SWITCH: "kill_switch",
    BLOCK_INVALID: "invalid",
    BLOCK_DRAWDOWN: "max_drawdown",
    BLOCK_DAILY_LOSS: "daily_loss",
    BLOCK_STOPLOSS_GUARD: "stoploss_guard",
    BLOCK_LOW_PROFIT: "low_profit",
    BLOCK_COOLDOWN: "cooldown",
}

# -- state header: zeros, then -inf times, then NaN values --------------------------------
S_N_SYMBOLS = 0
S_HISTORY = 1
S_CONFIGURED = 2  # 1.0 once a params copy is held
S_KILL_GLOBAL = 3
S_KILL_ACCOUNT = 4
S_SL_FILLED = 5
S_SL_NEXT = 6
S_TRADES_FILLED = 7
S_TRADES_NEXT = 8
S_TRADES = 9  # exits recorded
S_KILL_GLOBAL_SINCE = 10
S_KILL_ACCOUNT_SINCE = 11
S_DD_UNTIL = 12
S_DD_TRIP_TS = 13
S_SL_UNTIL = 14  # account-scope stop-loss guard pause
S_SL_TRIP_TS = 15
S_EQUITY = 16  # last equity mark
S_EQUITY_TS = 17
S_PEAK = 18  # highest mark since the start or reset_drawdown (risk_scale's drawdown)
S_BREAKER_PEAK = 19  # the breaker's peak, restarted by each trip
S_DD_TRIP_DRAWDOWN = 20
S_DAY_START = 21  # UTC midnight of the day tracked
S_DAY_EQUITY = 22  # equity the day started with
S_DAY_LOW = 23  # lowest mark of the day
S_PARAMS = 24
# explain block
E_CODE = S_PARAMS + N_PARAMS
E_SYMBOL = E_CODE + 1
E_TS = E_CODE + 2
E_UNTIL = E_CODE + 3  # + code
E_VALUE = E_UNTIL + N_BLOCK  # + code
E_SCALE = E_VALUE + N_BLOCK
E_WIN_RATE = E_SCALE + 1
E_WIN_FACTOR = E_SCALE + 2
E_DRAWDOWN = E_SCALE + 3
E_DRAWDOWN_FACTOR = E_SCALE + 4
E_VOL_RATIO = E_SCALE + 5
E_VOL_FACTOR = E_SCALE + 6
N_HEADER = E_SCALE + 7

# -- per-symbol fields: zeros, then -inf times, then NaN --------------------------------
Y_SL_FILLED = 0
Y_SL_NEXT = 1
Y_TRADES_FILLED = 2
Y_TRADES_NEXT = 3
Y_LAST_SL = 4  # time of the last stop-loss
Y_SL_UNTIL = 5
Y_SL_TRIP_TS = 6
Y_LOW_UNTIL = 7
Y_LOW_TRIP_TS = 8
Y_LOW_TRIP_SUM = 9
N_SYMBOL_FIELDS = 10


def block_name(code: int) -> str:
    """Return the name of a ``BLOCK_*`` code (plain Python only)."""
    return BLOCK_NAMES.get(code, f"block_{code}")


# -- scalar core -------------------------------------------------------------------------
# numba-compilable: no calls to other plain functions, comparisons instead of min/max (their
# NaN handling differs between CPython and numba), int and float codes in, no exceptions.


def state_size(n_symbols: int, history: int) -> int:
    """Return the length of the state array for ``n_symbols`` and ``history`` (>= 1)."""
    h = history if history > 1 else 1
    n = n_symbols if n_symbols > 0 else 0
    return N_HEADER + 2 * h + n * (N_SYMBOL_FIELDS + 2 * h)


def symbol_base(n_symbols: int, history: int, symbol: int) -> int:
    """Return the index of ``symbol``'s block in a state of that shape."""
    h = history if history > 1 else 1
    return N_HEADER + 2 * h + symbol * (N_SYMBOL_FIELDS + 2 * h)


def default_params() -> np.ndarray:
    """Return a params vector with every protection and scale factor off (all NaN)."""
    return np.full(N_PARAMS, np.nan)


def history_needed(params: np.ndarray) -> int:
    """Return the smallest ``history`` that holds every count ``params`` looks back over.

    Capped at ``MAX_HISTORY`` so junk params cannot ask for a huge state.
    """
    need = 1
    for index in (P_SL_GUARD_COUNT, P_LOW_PROFIT_TRADES, P_SCALE_WIN_TRADES):
        value = params[index]
        if value >= MAX_HISTORY:
            need = MAX_HISTORY
        elif value >= 1.0 and math.ceil(value) > need:
            need = math.ceil(value)
    return need


def protection_state(n_symbols: int, history: int) -> np.ndarray:
    """Return a fresh state for ``n_symbols`` symbols keeping ``history`` (>= 1) events each."""
    h = history if history > 1 else 1
    n = n_symbols if n_symbols > 0 else 0
    state = np.zeros(N_HEADER + 2 * h + n * (N_SYMBOL_FIELDS + 2 * h))
    state[S_N_SYMBOLS] = n
    state[S_HISTORY] = h
    state[S_KILL_GLOBAL_SINCE:S_EQUITY] = -np.inf
    state[S_EQUITY : S_PARAMS + N_PARAMS] = np.nan
    state[E_SYMBOL] = -1.0
    state[E_TS] = np.nan
    state[E_UNTIL : E_UNTIL + N_BLOCK] = -np.inf
    state[E_VALUE : E_VALUE + N_BLOCK] = np.nan
    state[E_SCALE:N_HEADER] = 1.0
    for index in (E_WIN_RATE, E_DRAWDOWN, E_VOL_RATIO):
        state[index] = np.nan
    for symbol in range(n):
        base = N_HEADER + 2 * h + symbol * (N_SYMBOL_FIELDS + 2 * h)
        state[base + Y_LAST_SL : base + Y_LOW_TRIP_SUM] = -np.inf
        state[base + Y_LOW_TRIP_SUM] = np.nan
    return state
