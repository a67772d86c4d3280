"""The risk layer inside the compiled backtest loops: size, protect and limit each entry.

Both loops (one symbol, a shared account) call these steps, which call the compiled twins
(``risk.kernel``) of the risk layer's scalar rules, so a backtest takes the decisions the live
bot would: ``risk.sizing`` sizes, ``risk.protections`` blocks and scales, ``risk.limits``
refuses or shrinks. With the risk layer off the loops never call them and keep their own
stake sizing, bit for bit the results they gave before it existed.

An entry due at the open of candle t passes, in order (the rules' steps only when they are on):

1. the protections: ``entry_block`` at the open's time (the kill switch trips first when its
   time has come);
2. the leverage: ``BacktestSettings.leverage``, or with auto leverage ``leverage_for`` at the
   slipped fill price and the exit rules' stop, capped by it;
3. the limits' room (``limit_room``): none left (max open positions reached, an exposure cap
   used up) refuses the entry before it is sized, naming the limit (``limit_block``);
4. the sizing: the stake, or ``stake_notional`` with the stop, the volatility of candle t-1
   and (Kelly) the closed trades' win rate and payoff; then the protections' dynamic risk
   multiplier ``risk_scale``; a size of nothing refuses the entry;
5. the limits (``limit_block``): an entry over one shrinks to the room (or is skipped with
   ``K_SHRINK`` 0, or when the room is below the minimum notional);
6. the minimum notional.

Every refused or shrunk entry is one row of the events record (``E_*``, kind and reason
code); every sized entry one row of the entries record (``EN_*``: the equity, cash and open
notional it was judged on, what it opened). Exits feed ``record_exit`` and the Kelly
statistics, dated at the open for exits at the open and at the candle's close for exits
within it (the latest the live bot could have seen them); the equity at every close feeds
``record_equity``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit

from xraybot.backtest.kernel_layout import (
    E_CODE,
    E_INDEX,
    E_KIND,
    E_SYMBOL,
    EN_CASH,
    EN_CLUSTER_NOTIONAL,
    EN_COST,
    EN_EQUITY,
    EN_INDEX,
    EN_LEVERAGE,
    EN_NOTIONAL,
    EN_OPEN_NOTIONAL,
    EN_SCALE,
    EN_SYMBOL,
    F_AMOUNT,
    F_ENTRY_PRICE,
    F_PNL,
    I_REASON,
    K_AMOUNT,
    K_AUTO_LEVERAGE,
    K_KELLY_CAP,
    K_KELLY_MIN_TRADES,
    K_KILL_AT,
    K_LEVERAGE_SAFETY,
    K_MARGIN_MULTIPLIER,
    K_MAX_CLUSTER,
    K_MAX_OPEN,
    K_MAX_SYMBOL,
    K_MAX_TOTAL,
    K_MIN_NOTIONAL,
    K_RULES,
    K_SHRINK,
    K_SIZING,
    K_TARGET_VOL,
    KIND_LIMIT,
    KIND_PROTECTION,
    KIND_SHRUNK,
    KIND_SIZING,
    R_FEE,
    R_LEVERAGE,
    R_MMR,
    R_STOP_ATR,
    R_STOP_PCT,
    S_LOSS_SUM,
    S_LOSSES,
    S_TRADES,
    S_WIN_SUM,
    S_WINS,
    SIZING_BELOW_MIN,
    SIZING_NOTHING,
    SIZING_STAKE,
)
from xraybot.backtest.numba_cache import drop_stale_cache
from xraybot.matching.kernel import slippage_price_nb
from xraybot.risk.kernel import (
    entry_block_nb,
    leverage_for_nb,
    limit_block_nb,
    limit_room_nb,
    record_exit_nb,
    risk_scale_nb,
    set_kill_switch_nb,
    stake_notional_nb,
    stop_level_nb,
)
from xraybot.risk.protections import KILL_ACCOUNT, S_KILL_ACCOUNT
from xraybot.risk.sizing import SIZE_KELLY

# The first compiled module the loops import: before any function is first called (that is
# when numba loads its cache), drop the cache if a compiled-in rule changed.
drop_stale_cache()

# A payoff so large that Kelly's share is the win rate (stake_notional wants it finite).
_UNBOUNDED_PAYOFF = 1e12

_F = TypeVar("_F", bound=Callable[..., Any])


def step(fn: _F) -> _F:
    """Compile a per-position step: disk-cached and without reference counting.

    Steps allocate nothing. With reference counting, every call increfs and decrefs each
    array argument atomically, which made holding a position ~7x slower than the loop itself.
    """
    compiled = njit(cache=True, _nrt=False)(fn)  # type: ignore[call-overload]
    return cast(_F, compiled)


@njit(cache=True)
def off_state() -> Any:
    """An empty protection state of the real one's type, for runs without the rules."""
    return np.empty(0)


@step
def log_event(events: Any, n: int, index: int, symbol: int, kind: int, code: int) -> int:
    """Write one risk event at row ``n``; return the next row."""
    events[n, E_INDEX] = index
    events[n, E_SYMBOL] = symbol
    events[n, E_KIND] = kind
    events[n, E_CODE] = code
    return n + 1


@step
def kelly_inputs(stats: Any) -> tuple[float, float]:
    """Win rate and payoff (mean win / mean loss) of the closed trades so far."""
    trades = stats[S_TRADES]
    wins = stats[S_WINS]
    losses = stats[S_LOSSES]
    if not (trades > 0.0 and wins > 0.0):
        return 0.0, 1.0  # no winner yet: no edge
    if not losses > 0.0:
        # Never lost: the payoff is unbounded and Kelly's share is the win rate.
        return wins / trades, _UNBOUNDED_PAYOFF
    return wins / trades, (stats[S_WIN_SUM] / wins) / (stats[S_LOSS_SUM] / losses)


@step
def limit_check(
    open_count: int,
    open_notional: float,
    notional: float,
    equity: float,
    cluster_notional: float,
    leverage: float,
    risk: Any,
) -> int:
    """``limit_block`` for a new position of ``notional`` on a symbol holding nothing."""
    return int(
        limit_block_nb(
            open_count,
            risk[K_MAX_OPEN],
            0.0,
            open_notional,
            notional,
            equity,
            risk[K_MAX_SYMBOL],
            risk[K_MAX_TOTAL],
            cluster_notional,
            risk[K_MAX_CLUSTER],
            risk[K_MARGIN_MULTIPLIER],
            leverage,
        )
    )


@step
def risk_entry(
    direction: int,
    open_price: float,
    rate: float,
    atr: float,
    volatility: float,
    volatility_ratio: float,
    now: int,
    index: int,
    symbol: int,
    equity: float,
    cash: float,
    stake: float,
    open_count: int,
    open_notional: float,
    cluster_notional: float,
    rules: Any,
    risk: Any,
    prot: Any,
    state: Any,
    stats: Any,
    events: Any,
    n_events: int,
    entries: Any,
    n_entries: int,
) -> tuple[float, float, int]:
    """Decide one entry; return (cash to commit, its leverage, next event row).

    ``stake`` is what the stake settings would commit (``stake_cost``). A cost of 0 means no
    entry (the event says why). Otherwise entries row ``n_entries`` describes it; the caller
    keeps that row once the position is open.
    """
    rules_on = risk[K_RULES] > 0.0
    if rules_on:
        if now >= risk[K_KILL_AT] and state[S_KILL_ACCOUNT] == 0.0:
            set_kill_switch_nb(state, KILL_ACCOUNT, True, risk[K_KILL_AT])
        code = entry_block_nb(state, symbol, now, prot)
        if code != 0:
            return 0.0, 1.0, log_event(events, n_events, index, symbol, KIND_PROTECTION, code)
    fee_rate = rules[R_FEE]
    leverage = rules[R_LEVERAGE]
    price = slippage_price_nb(direction, open_price, rate)
    stop = stop_level_nb(direction, price, rules[R_STOP_PCT], atr, rules[R_STOP_ATR])
    if risk[K_AUTO_LEVERAGE] > 0.0:
        chosen = leverage_for_nb(
            direction, price, stop, volatility, rules[R_MMR], risk[K_LEVERAGE_SAFETY], leverage
        )
        # No stop (or no answer) leaves nothing to keep the liquidation beyond: no leverage.
        leverage = chosen if chosen >= 1.0 else 1.0
    per_notional = 1.0 / leverage + fee_rate  # cash committed per unit of notional
    room = math.inf
    if rules_on:
        room = limit_room_nb(
            open_count,
            risk[K_MAX_OPEN],
            0.0,
            open_notional,
            equity,
            risk[K_MAX_SYMBOL],
            risk[K_MAX_TOTAL],
            cluster_notional,
            risk[K_MAX_CLUSTER],
            risk[K_MARGIN_MULTIPLIER],
            leverage,
        )
        if not room > 0.0:
            # No room at all: any notional is refused, so limit_block names the limit.
            code = limit_check(
                open_count, open_notional, 1.0, equity, cluster_notional, leverage, risk
            )
            return 0.0, 1.0, log_event(events, n_events, index, symbol, KIND_LIMIT, code)
    mode = int(risk[K_SIZING])
    if mode == SIZING_STAKE or (mode == SIZE_KELLY and stats[S_TRADES] < risk[K_KELLY_MIN_TRADES]):
        cost = stake
        notional = cost / per_notional
    else:
        win_rate, payoff = kelly_inputs(stats)
        notional = stake_notional_nb(
            mode,
            equity,
            cash,
            risk[K_AMOUNT],
            price,
            stop,
            volatility,
            risk[K_TARGET_VOL],
            win_rate,
            payoff,
            risk[K_KELLY_CAP],
            leverage,
            fee_rate,
        )
        cost = notional * per_notional
    scale = 1.0
    if rules_on:
        scale = risk_scale_nb(state, prot, volatility_ratio)
        if scale != 1.0:
            notional *= scale
            cost = notional * per_notional
    if not (notional > 0.0 and cost > 0.0):
        return 0.0, 1.0, log_event(events, n_events, index, symbol, KIND_SIZING, SIZING_NOTHING)
    if rules_on:
        code = limit_check(
            open_count, open_notional, notional, equity, cluster_notional, leverage, risk
        )
        if code != 0:
            if not (risk[K_SHRINK] > 0.0 and room >= risk[K_MIN_NOTIONAL]):
                return 0.0, 1.0, log_event(events, n_events, index, symbol, KIND_LIMIT, code)
            notional = room
            cost = notional * per_notional
            n_events = log_event(events, n_events, index, symbol, KIND_SHRUNK, code)
    if notional < risk[K_MIN_NOTIONAL]:
        return 0.0, 1.0, log_event(events, n_events, index, symbol, KIND_SIZING, SIZING_BELOW_MIN)
    if cost > cash:
        # stake_notional never asks for more than the free cash; this only absorbs rounding.
        cost = cash
    entries[n_entries, EN_INDEX] = index
    entries[n_entries, EN_SYMBOL] = symbol
    entries[n_entries, EN_EQUITY] = equity
    entries[n_entries, EN_CASH] = cash
    entries[n_entries, EN_OPEN_NOTIONAL] = open_notional
    entries[n_entries, EN_CLUSTER_NOTIONAL] = cluster_notional
    entries[n_entries, EN_NOTIONAL] = notional
    entries[n_entries, EN_COST] = cost
    entries[n_entries, EN_LEVERAGE] = leverage
    entries[n_entries, EN_SCALE] = scale
    return cost, leverage, n_events


@step
def risk_exits(
    tf: Any,
    ti: Any,
    first: int,
    last: int,
    symbol: int,
    when: int,
    equity_after: float,
    risk: Any,
    prot: Any,
    state: Any,
    stats: Any,
) -> None:
    """Feed trade rows ``first:last`` (just closed) to the Kelly statistics and protections."""
    rules_on = risk[K_RULES] > 0.0
    for r in range(first, last):
        pnl = tf[r, F_PNL]
        notional = tf[r, F_ENTRY_PRICE] * tf[r, F_AMOUNT]
        if notional > 0.0:
            ret = pnl / notional
            stats[S_TRADES] += 1.0
            if ret > 0.0:
                stats[S_WINS] += 1.0
                stats[S_WIN_SUM] += ret
            elif ret < 0.0:
                stats[S_LOSSES] += 1.0
                stats[S_LOSS_SUM] -= ret
        if rules_on:
            record_exit_nb(state, symbol, when, pnl, int(ti[r, I_REASON]), equity_after)
