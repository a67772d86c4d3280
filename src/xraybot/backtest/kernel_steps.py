"""The per-position steps of the compiled backtest loops: open, fund, exit, mark one position.

Both loops (``backtest.kernel`` for one symbol, ``backtest.portfolio_kernel`` for a shared
account) walk their candles with these, so every rule is applied the same way in both; the
semantics are stated in ``backtest.kernel``. Each step is compiled without reference counting
(``kernel_risk.step``) and allocates nothing.
"""

from __future__ import annotations

import math
from typing import Any

from xraybot.backtest.kernel_layout import (
    F_AMOUNT,
    F_ENTRY_PRICE,
    F_EXIT_PRICE,
    F_FEE,
    F_FUNDING,
    F_LEVERAGE,
    F_PNL,
    I_DIR,
    I_ENTRY,
    I_EXIT,
    I_REASON,
    I_SYMBOL,
    P_BEST,
    P_COST,
    P_DIR,
    P_ENTRY,
    P_ENTRY_INDEX,
    P_FEE,
    P_FUNDING,
    P_LEVERAGE,
    P_LIQ,
    P_NEXT_PARTIAL,
    P_QTY,
    P_QTY0,
    P_STOP,
    P_TARGET,
    R_ALLOW_LONG,
    R_ALLOW_SHORT,
    R_BREAKEVEN_PCT,
    R_FEE,
    R_FUNDING_MS,
    R_FUNDING_RATE,
    R_MMR,
    R_STAKE_AMOUNT,
    R_STAKE_MODE,
    R_STOP_ATR,
    R_STOP_PCT,
    R_TARGET_ATR,
    R_TARGET_PCT,
    R_TIME_CANDLES,
    R_TRAIL_ACTIVATION,
    R_TRAIL_PCT,
    STAKE_ALL,
    STAKE_FRACTION,
)
from xraybot.backtest.kernel_risk import step
from xraybot.matching.kernel import (
    fee_nb,
    funding_payment_nb,
    intrabar_exit_nb,
    liquidation_price_nb,
    pnl_nb,
    slippage_price_nb,
)
from xraybot.matching.rules import (
    EXIT_END,
    EXIT_LIQUIDATION,
    EXIT_NONE,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TIME,
    LONG,
    SHORT,
)
from xraybot.risk.kernel import (
    breakeven_stop_nb,
    protective_stop_nb,
    stop_level_nb,
    target_level_nb,
    time_exit_due_nb,
    trailing_stop_nb,
)

# A partial close within this share of what is held closes all of it (fractions summing to 1).
_DUST = 1e-9


# -- per-position steps -------------------------------------------------------------------
@step
def stake_cost(rules: Any, cash: float, equity: float, free_slots: int) -> float:
    """Cash to commit to a new position: margin plus entry fee, capped by the free cash."""
    if not cash > 0.0 or free_slots <= 0:
        return 0.0
    mode = rules[R_STAKE_MODE]
    if mode == STAKE_ALL:
        cost = cash / free_slots
    elif mode == STAKE_FRACTION:
        cost = rules[R_STAKE_AMOUNT] * equity
    else:
        cost = rules[R_STAKE_AMOUNT]
    return cost if cost < cash else cash


@step
def entry_direction(rules: Any, long_signal: bool, short_signal: bool) -> int:
    """LONG, SHORT or 0 from the previous candle's entry signals and the allowed directions."""
    go_long = long_signal and rules[R_ALLOW_LONG] > 0.0
    go_short = short_signal and rules[R_ALLOW_SHORT] > 0.0
    if go_long and not go_short:
        return LONG
    if go_short and not go_long:
        return SHORT
    return 0


@step
def open_position(
    pos: Any,
    direction: int,
    open_price: float,
    rate: float,
    cost: float,
    index: int,
    atr: float,
    rules: Any,
    leverage: float,
) -> float:
    """Open at the open (slipped by ``rate``) committing ``cost`` at ``leverage``; return the
    cash spent."""
    price = slippage_price_nb(direction, open_price, rate)
    fee_rate = rules[R_FEE]
    if not (cost > 0.0 and price > 0.0):
        return 0.0
    qty = cost / (price * (1.0 / leverage + fee_rate))
    if not qty > 0.0:
        return 0.0
    pos[P_DIR] = direction
    pos[P_QTY] = qty
    pos[P_QTY0] = qty
    pos[P_ENTRY] = price
    pos[P_ENTRY_INDEX] = index
    pos[P_STOP] = stop_level_nb(direction, price, rules[R_STOP_PCT], atr, rules[R_STOP_ATR])
    pos[P_TARGET] = target_level_nb(direction, price, rules[R_TARGET_PCT], atr, rules[R_TARGET_ATR])
    pos[P_BEST] = price
    pos[P_NEXT_PARTIAL] = 0.0
    pos[P_COST] = cost
    pos[P_FEE] = fee_nb(qty * price, fee_rate)
    pos[P_FUNDING] = 0.0
    pos[P_LIQ] = liquidation_price_nb(direction, price, leverage, rules[R_MMR])
    pos[P_LEVERAGE] = leverage
    return cost


@step
def close_part(
    pos: Any,
    qty: float,
    price: float,
    index: int,
    reason: int,
    rules: Any,
    symbol: int,
    tf: Any,
    ti: Any,
    row: int,
) -> float:
    """Close ``qty`` of the position at ``price``, write trade ``row``; return the cash credited."""
    direction = int(pos[P_DIR])
    held = pos[P_QTY]
    fee_rate = rules[R_FEE]
    whole = qty >= held
    share = 1.0 if whole else qty / held
    cost = pos[P_COST] * share
    entry_fee = pos[P_FEE] * share
    funding = pos[P_FUNDING] * share
    exit_fee = fee_nb(qty * price, fee_rate)
    if direction == LONG and pos[P_LEVERAGE] == 1.0:
        credit = qty * price * (1.0 - fee_rate)
    else:
        credit = (cost - entry_fee) + pnl_nb(direction, pos[P_ENTRY], price, qty) - exit_fee
    # Isolated margin: a position never loses more than the margin it posted, whatever closes
    # it (a close just above the liquidation price plus its fee can cost more than that).
    if credit < 0.0:
        credit = 0.0
    tf[row, F_ENTRY_PRICE] = pos[P_ENTRY]
    tf[row, F_EXIT_PRICE] = price
    tf[row, F_AMOUNT] = qty
    tf[row, F_FEE] = entry_fee + exit_fee
    tf[row, F_FUNDING] = funding
    tf[row, F_PNL] = credit - cost + funding
    tf[row, F_LEVERAGE] = pos[P_LEVERAGE]
    ti[row, I_ENTRY] = int(pos[P_ENTRY_INDEX])
    ti[row, I_EXIT] = index
    ti[row, I_DIR] = direction
    ti[row, I_REASON] = reason
    ti[row, I_SYMBOL] = symbol
    if whole:
        pos[P_DIR] = 0.0
        pos[P_QTY] = 0.0
    else:
        pos[P_QTY] = held - qty
        pos[P_COST] -= cost
        pos[P_FEE] -= entry_fee
        pos[P_FUNDING] -= funding
    return float(credit)


@step
def funding_flow(pos: Any, prev_ts: int, ts: int, open_price: float, rules: Any) -> float:
    """Funding received at the open of a candle for the boundaries crossed since the last one."""
    rate = rules[R_FUNDING_RATE]
    if rate == 0.0 or pos[P_DIR] == 0.0:
        return 0.0
    interval = int(rules[R_FUNDING_MS])
    crossed = ts // interval - prev_ts // interval
    if crossed <= 0:
        return 0.0
    flow = crossed * funding_payment_nb(int(pos[P_DIR]), pos[P_QTY] * open_price, rate)
    pos[P_FUNDING] += flow
    return flow


@step
def open_exit_reason(pos: Any, index: int, exit_long: bool, exit_short: bool, rules: Any) -> int:
    """Why the position closes at this candle's open (signal, then time), or EXIT_NONE."""
    direction = pos[P_DIR]
    if (direction == LONG and exit_long) or (direction == SHORT and exit_short):
        return EXIT_SIGNAL
    if time_exit_due_nb(index - pos[P_ENTRY_INDEX], rules[R_TIME_CANDLES]):
        return EXIT_TIME
    return EXIT_NONE


@step
def market_close(
    pos: Any,
    price: float,
    rate: float,
    index: int,
    reason: int,
    rules: Any,
    symbol: int,
    tf: Any,
    ti: Any,
    row: int,
) -> float:
    """Close all of the position with a market order at ``price`` slipped by ``rate``.

    A fill at or past the liquidation price (a gap, or slippage) fills there instead: an
    isolated position cannot lose more than the exchange lets it. A stop's fill there is a
    liquidation; a signal, time or end close keeps its reason, because it happened at the
    open (or the last close), before that candle's entries, and the slot it frees is free.
    """
    direction = int(pos[P_DIR])
    fill = slippage_price_nb(-direction, price, rate)
    liq = pos[P_LIQ]
    if direction * fill <= direction * liq:
        fill = liq
        if reason != EXIT_SIGNAL and reason != EXIT_TIME and reason != EXIT_END:
            reason = EXIT_LIQUIDATION
    return close_part(pos, pos[P_QTY], fill, index, reason, rules, symbol, tf, ti, row)


@step
def bar_exits(
    pos: Any,
    index: int,
    o: float,
    h: float,
    low: float,
    rate: float,
    rules: Any,
    partials: Any,
    symbol: int,
    tf: Any,
    ti: Any,
    row: int,
) -> tuple[float, int]:
    """Apply stops and targets within one candle; return (cash credited, next trade row)."""
    credit = 0.0
    while pos[P_DIR] != 0.0:
        direction = int(pos[P_DIR])
        entry = pos[P_ENTRY]
        best = pos[P_BEST]
        breakeven = breakeven_stop_nb(direction, entry, best, rules[R_BREAKEVEN_PCT], rules[R_FEE])
        trailing = trailing_stop_nb(
            direction, entry, best, rules[R_TRAIL_PCT], rules[R_TRAIL_ACTIVATION]
        )
        liq = pos[P_LIQ]
        stop, stop_reason = protective_stop_nb(direction, pos[P_STOP], breakeven, trailing, liq)
        target = pos[P_TARGET]
        partial = int(pos[P_NEXT_PARTIAL])
        is_partial = False
        if partial < partials.shape[0]:
            level = target_level_nb(direction, entry, partials[partial, 0], math.nan, math.nan)
            if math.isnan(target) or direction * level <= direction * target:
                target = level
                is_partial = True
        price, code = intrabar_exit_nb(direction, o, h, low, stop, target)
        if code == EXIT_NONE:
            break
        if code == EXIT_STOP_LOSS:
            if stop_reason == EXIT_LIQUIDATION:
                credit += close_part(
                    pos, pos[P_QTY], liq, index, EXIT_LIQUIDATION, rules, symbol, tf, ti, row
                )
            else:
                credit += market_close(
                    pos, price, rate, index, stop_reason, rules, symbol, tf, ti, row
                )
            row += 1
            break
        qty = pos[P_QTY]
        if is_partial:
            pos[P_NEXT_PARTIAL] = partial + 1
            part = partials[partial, 1] * pos[P_QTY0]
            if part < qty * (1.0 - _DUST):
                qty = part
        credit += close_part(pos, qty, price, index, EXIT_TAKE_PROFIT, rules, symbol, tf, ti, row)
        row += 1
    return credit, row


@step
def mark_value(pos: Any, price: float) -> float:
    """What the position adds to equity at ``price``: margin posted plus unrealized profit."""
    if pos[P_DIR] == 0.0:
        return 0.0
    return float(pos[P_COST] - pos[P_FEE]) + pnl_nb(
        int(pos[P_DIR]), pos[P_ENTRY], price, pos[P_QTY]
    )


@step
def notional(pos: Any, price: float) -> float:
    """Open notional at ``price`` (0 when flat)."""
    if pos[P_DIR] == 0.0:
        return 0.0
    return float(pos[P_QTY] * price)


@step
def exposure_of(open_notional: float, equity: float) -> float:
    """Open notional over equity; 0 when flat, infinite when equity is gone."""
    if open_notional == 0.0:
        return 0.0
    if equity > 0.0:
        return open_notional / equity
    return math.inf
