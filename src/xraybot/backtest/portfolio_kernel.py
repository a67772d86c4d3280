"""The compiled loop of a shared-account portfolio (``backtest.portfolio`` states its rules).

It walks the union of the symbols' candle times with the per-position steps of
``backtest.kernel`` and the risk steps of ``backtest.kernel_risk``, so every rule is the
single-symbol one. With the risk layer on, the entries of a time are judged in their order
against the account as it stands: the protections, the sizing, then the limits with the
open positions counted and their notional marked at their last closes, plus the entries of
that time already made; a candidate the rules refuse does not stop the ones after it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from xraybot.backtest import kernel_steps as k
from xraybot.backtest.kernel import risk_off
from xraybot.backtest.kernel_layout import (
    I_SYMBOL,
    K_ACTIVE,
    K_CLOSE_MS,
    K_RULES,
    N_E,
    N_EN,
    N_F,
    N_I,
    N_POS,
    N_STATS,
    P_BEST,
    P_DIR,
    P_ENTRY,
    P_QTY,
    R_LEVERAGE,
    R_MAX_OPEN,
)
from xraybot.backtest.kernel_risk import risk_entry, risk_exits, step
from xraybot.matching.rules import EXIT_END, EXIT_NONE
from xraybot.risk.kernel import favourable_extreme_nb, record_equity_nb

__all__ = ["I_SYMBOL", "run_portfolio_kernel", "simulate_portfolio"]


@step
def account_value(pos: Any, last_close: Any, cash: float) -> float:
    """Free cash plus every position marked at its symbol's last close."""
    value = cash
    for s in range(pos.shape[0]):
        value += k.mark_value(pos[s], last_close[s])
    return value


@step
def cluster_notional(pos: Any, last_close: Any, cluster: Any, symbol: int) -> float:
    """Open notional of ``symbol``'s correlation cluster (``cluster`` -1: the symbol alone)."""
    mine = cluster[symbol]
    if mine < 0:
        return k.notional(pos[symbol], last_close[symbol])
    total = 0.0
    for s in range(pos.shape[0]):
        if cluster[s] == mine:
            total += k.notional(pos[s], last_close[s])
    return total


@njit(cache=True)
def run_portfolio_kernel(
    timeline: Any,
    starts: Any,
    ts: Any,
    open_: Any,
    high: Any,
    low: Any,
    close: Any,
    entry_long: Any,
    exit_long: Any,
    entry_short: Any,
    exit_short: Any,
    strength: Any,
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
    cluster: Any,
) -> tuple[Any, Any, Any, Any, Any, Any, Any, int, Any, int, Any, int]:
    """Run concatenated series (series s is rows ``starts[s]:starts[s+1]``) as one account.

    Returns per step of ``timeline`` equity, exposure and free cash; per candle row the
    symbol's contribution (net cash flows + mark) and its notional over the account equity;
    the trade rows (``I_SYMBOL`` names the series, indices are within it) and their count;
    then the risk events and sized entries (``backtest.kernel_risk``) and their counts.
    ``risk``, ``prot``, ``state``, ``volatility``/``volatility_ratio`` (per candle row) and
    ``cluster`` (per series, -1 for none) are read only when ``risk[K_ACTIVE]`` is 1.
    """
    symbols = starts.shape[0] - 1
    steps = timeline.shape[0]
    rows = ts.shape[0]
    equity = np.empty(steps)
    exposure = np.empty(steps)
    cash_at = np.empty(steps)
    value = np.empty(rows)
    held = np.empty(rows)
    capacity = rows * (partials.shape[0] + 1) + symbols
    tf = np.empty((capacity, N_F))
    ti = np.empty((capacity, N_I), dtype=np.int64)
    pos = np.zeros((symbols, N_POS))
    cursor = starts[:-1].copy()
    last_close = np.zeros(symbols)
    flow = np.zeros(symbols)  # each symbol's net cash flows: credits - costs + funding
    active = np.zeros(symbols, dtype=np.bool_)
    acted = np.zeros(symbols, dtype=np.bool_)
    candidates = np.empty(symbols, dtype=np.int64)
    directions = np.empty(symbols, dtype=np.int64)
    keys = np.empty(symbols)
    max_open = int(rules[R_MAX_OPEN])
    risky = risk[K_ACTIVE] > 0.0
    rules_on = risk[K_RULES] > 0.0
    records = rows if risky else 0
    events = np.empty((records, N_E), dtype=np.int64)
    entries = np.empty((records, N_EN))
    stats = np.zeros(N_STATS)
    n_events = 0
    n_entries = 0
    close_ms = int(risk[K_CLOSE_MS]) if risky else 0
    cash = equity0
    row = 0
    for j in range(steps):
        now = timeline[j]
        # 1. funding and exits at the open
        for s in range(symbols):
            i = cursor[s]
            active[s] = i < starts[s + 1] and ts[i] == now
            acted[s] = False
            if not active[s] or pos[s, P_DIR] == 0.0:
                continue
            p = pos[s]
            paid = k.funding_flow(p, ts[i - 1], now, open_[i], rules)
            cash += paid
            flow[s] += paid
            local = i - starts[s]
            reason = k.open_exit_reason(p, local, exit_long[i - 1], exit_short[i - 1], rules)
            if reason != EXIT_NONE:
                credit = k.market_close(
                    p, open_[i], rates[i - 1], local, reason, rules, s, tf, ti, row
                )
                row += 1
                cash += credit
                flow[s] += credit
                acted[s] = True
                if risky:
                    after = account_value(pos, last_close, cash)
                    risk_exits(tf, ti, row - 1, row, s, now, after, risk, prot, state, stats)
        # 2. entries, strongest signal first, then in series order (a stable sort)
        wanted = 0
        for s in range(symbols):
            i = cursor[s]
            if active[s] and not acted[s] and pos[s, P_DIR] == 0.0 and i > starts[s]:
                direction = k.entry_direction(rules, entry_long[i - 1], entry_short[i - 1])
                if direction != 0:
                    candidates[wanted] = s
                    directions[wanted] = direction
                    keys[wanted] = -strength[i - 1]
                    wanted += 1
        if wanted > 0:
            open_now = 0
            marked = cash
            open_notional = 0.0
            for s in range(symbols):
                if pos[s, P_DIR] != 0.0:
                    open_now += 1
                    marked += k.mark_value(pos[s], last_close[s])
                    open_notional += k.notional(pos[s], last_close[s])
            order = np.argsort(keys[:wanted], kind="mergesort")
            for o in order:
                if open_now >= max_open and not rules_on:
                    break
                s = candidates[o]
                i = cursor[s]
                slots = max_open - open_now
                cost = k.stake_cost(rules, cash, marked, slots if slots > 1 else 1)
                leverage = rules[R_LEVERAGE]
                if risky:
                    cost, leverage, n_events = risk_entry(
                        directions[o],
                        open_[i],
                        rates[i - 1],
                        atr[i - 1],
                        volatility[i - 1],
                        volatility_ratio[i - 1],
                        now,
                        i - starts[s],
                        s,
                        marked,
                        cash,
                        cost,
                        open_now,
                        open_notional,
                        cluster_notional(pos, last_close, cluster, s),
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
                spent = k.open_position(
                    pos[s],
                    directions[o],
                    open_[i],
                    rates[i - 1],
                    cost,
                    i - starts[s],
                    atr[i - 1],
                    rules,
                    leverage,
                )
                if spent > 0.0:
                    cash -= spent
                    flow[s] -= spent
                    open_now += 1
                    if risky:
                        n_entries += 1
                        # Marked at the fill until the symbol's next close.
                        last_close[s] = pos[s, P_ENTRY]
                        open_notional += pos[s, P_QTY] * pos[s, P_ENTRY]
        # 3. stops and targets within the candle, then the marks
        for s in range(symbols):
            if not active[s]:
                continue
            i = cursor[s]
            p = pos[s]
            first = row
            if p[P_DIR] != 0.0:
                credit, row = k.bar_exits(
                    p,
                    i - starts[s],
                    open_[i],
                    high[i],
                    low[i],
                    rates[i - 1],
                    rules,
                    partials,
                    s,
                    tf,
                    ti,
                    row,
                )
                cash += credit
                flow[s] += credit
            if p[P_DIR] != 0.0:
                p[P_BEST] = favourable_extreme_nb(int(p[P_DIR]), p[P_BEST], high[i], low[i])
            last_close[s] = close[i]
            held[i] = k.notional(p, close[i])
            value[i] = flow[s] + k.mark_value(p, close[i])
            if risky and row > first:
                after = account_value(pos, last_close, cash)
                risk_exits(tf, ti, first, row, s, now + close_ms, after, risk, prot, state, stats)
        marked = cash
        open_notional = 0.0
        for s in range(symbols):
            marked += k.mark_value(pos[s], last_close[s])
            open_notional += k.notional(pos[s], last_close[s])
        exposure[j] = k.exposure_of(open_notional, marked)
        for s in range(symbols):
            if not active[s]:
                continue
            i = cursor[s]
            held[i] = k.exposure_of(held[i], marked)
            cursor[s] = i + 1
            if i + 1 == starts[s + 1] and pos[s, P_DIR] != 0.0:
                local = i - starts[s]
                credit = k.market_close(
                    pos[s], close[i], rates[i], local, EXIT_END, rules, s, tf, ti, row
                )
                row += 1
                cash += credit
                flow[s] += credit
                value[i] = flow[s]
                if risky:
                    after = account_value(pos, last_close, cash)
                    risk_exits(
                        tf, ti, row - 1, row, s, now + close_ms, after, risk, prot, state, stats
                    )
        closing = cash
        for s in range(symbols):
            closing += k.mark_value(pos[s], last_close[s])
        equity[j] = closing
        cash_at[j] = cash
        if rules_on:
            record_equity_nb(state, now + close_ms, closing)
    return (
        equity,
        exposure,
        cash_at,
        value,
        held,
        tf,
        ti,
        row,
        events,
        n_events,
        entries,
        n_entries,
    )


@njit(cache=True)
def simulate_portfolio(
    timeline: Any,
    starts: Any,
    ts: Any,
    open_: Any,
    high: Any,
    low: Any,
    close: Any,
    entry_long: Any,
    exit_long: Any,
    entry_short: Any,
    exit_short: Any,
    strength: Any,
    atr: Any,
    rates: Any,
    rules: Any,
    partials: Any,
    equity0: float,
) -> tuple[Any, Any, Any, Any, Any, Any, Any, int]:
    """``run_portfolio_kernel`` without the risk layer: its first eight results."""
    risk, prot, state, vol, ratio = risk_off()
    out = run_portfolio_kernel(
        timeline,
        starts,
        ts,
        open_,
        high,
        low,
        close,
        entry_long,
        exit_long,
        entry_short,
        exit_short,
        strength,
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
        np.empty(0, dtype=np.int64),
    )
    return out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7]
