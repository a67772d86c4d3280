"""The decision step: one closed candle in, order intents and their reasons out.

``decide`` is pure (no I/O, no clock): the caller passes the candles, the time, the account
as it knows it and the user's protection chain. It evaluates the strategy on the trailing
window of closed candles (``strategy.guard.compute_signals``), reads the last row and applies
the backtest kernel's rules (``backtest/kernel.py``), decided on candle t's close where the
kernel acts at t+1's open:

- in a position, its exit signal (or the time exit) gives one CLOSE intent for the whole
  amount, ``reduce_only`` on a swap; nothing else happens on that candle, so an exit and a
  re-entry never share a candle;
- flat, exactly one allowed entry signal (a long and a short together cancel) gives an OPEN
  intent, after the risk chain in the kernel's order (``trading.step_entry``): protections, stop,
  leverage, sizing, dynamic scale, limits (shrinking to their room when it is big enough);
- the stop-loss and take-profit levels ride along as intents of their own, conditional on the
  OPEN filling: a STOP_LOSS (stop-market, reduce-only on a swap) and a TAKE_PROFIT (limit),
  plus one TAKE_PROFIT per partial target (legs 1, 2, ...). They carry the OPEN's signal
  time, so their client ids are as deterministic as its own. The position monitor places them
  once the OPEN has filled (resized to the filled amount) and owns what moves afterwards:
  trailing stops, break-even moves.

Every intent's client order id derives from (user, strategy, symbol, signal candle ts, kind,
leg) (``model.ids``): a redelivered step yields the same ids, so the order manager can tell a
retry from a new order.
"""

from __future__ import annotations

import math

from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.model.fills import Position
from xraybot.model.market import MarketKind
from xraybot.model.signals import Direction, IntentKind, OrderIntent, OrderType
from xraybot.risk.exits import ExitRules, time_exit_due
from xraybot.risk.protections_chain import ProtectionChain
from xraybot.strategy.guard import compute_signals
from xraybot.trading.step_entry import entry_step
from xraybot.trading.step_types import (
    WINDOW_MARGIN,
    AccountView,
    Directions,
    SignalRow,
    StepConfig,
    StepDecision,
    window_size,
)

__all__ = [
    "WINDOW_MARGIN",
    "AccountView",
    "Directions",
    "SignalRow",
    "StepConfig",
    "StepDecision",
    "decide",
    "window_size",
]


def decide(
    candles: Candles,
    now_ms: int,
    config: StepConfig,
    account: AccountView,
    protections: ProtectionChain | None = None,
) -> StepDecision:
    """Decide on the last candle closed by ``now_ms`` (see the module docstring).

    ``candles`` is the market's series (more than the window is fine; candles not yet closed
    at ``now_ms`` are ignored). ``protections`` None switches the protections off. Raises
    StrategyError when the strategy fails and InvalidInputError for a series of another
    symbol.
    """
    market = config.market
    symbol = market.symbol
    if candles.symbol != symbol:
        raise InvalidInputError(
            f"decide for {symbol}: the candles are of {candles.symbol}; pass that market's series."
        )
    exits = config.exit_rules()
    size = config.window or window_size(
        config.strategy, config.params, exits, config.profile.sizing.volatility_period
    )
    closed = candles.closed(now_ms)
    if len(closed) == 0:
        return StepDecision(symbol=symbol, skipped=(f"no {symbol} candle closed by {now_ms}",))
    window = closed.tail(size)
    signals = compute_signals(config.strategy, window, config.params)
    last = len(window) - 1
    short = signals.has_short and config.directions != "long"
    entry_short = (
        bool(signals.entry_short[last]) if short and signals.entry_short is not None else False
    )
    exit_short = (
        bool(signals.exit_short[last]) if short and signals.exit_short is not None else False
    )
    row = SignalRow(
        ts_ms=int(window.ts_ms[last]),
        close=float(window.close[last]),
        entry_long=bool(signals.entry_long[last]),
        exit_long=bool(signals.exit_long[last]),
        entry_short=entry_short,
        exit_short=exit_short,
        strength=None if signals.strength is None else float(signals.strength[last]),
    )
    position = account.position
    if position is not None and position.is_open:
        return _exit_step(config, exits, window, row, position)
    return entry_step(config, exits, window, row, account, protections)


def _exit_step(
    config: StepConfig, exits: ExitRules, window: Candles, row: SignalRow, position: Position
) -> StepDecision:
    """A held position: close it on its exit signal or time exit, else hold."""
    symbol = config.market.symbol
    side = "long" if position.direction is Direction.LONG else "short"
    signalled = row.exit_long if position.direction is Direction.LONG else row.exit_short
    tf = window.timeframe_ms
    # Candles held at the next open, counted as the kernel does: from the entry candle's open.
    held = (row.ts_ms + tf - (position.opened_ts_ms // tf) * tf) // tf
    limit = math.nan if exits.time_exit_candles is None else float(exits.time_exit_candles)
    if signalled:
        reason = f"exit signal on the {side} position"
    elif time_exit_due(float(held), limit):
        reason = f"time exit: {held} candles held, limit {exits.time_exit_candles}"
    else:
        return StepDecision(
            symbol=symbol, row=row, skipped=(f"holding {side}: no exit signal, no time exit",)
        )
    close = OrderIntent(
        user_id=config.user_id,
        strategy=config.strategy.name,
        symbol=symbol,
        side=position.direction.exit_side,
        kind=IntentKind.CLOSE,
        order_type=OrderType.MARKET,
        amount=position.amount,
        signal_ts_ms=row.ts_ms,
        reduce_only=config.market.kind is MarketKind.SWAP,
        leverage=position.leverage,
        reason=reason,
    )
    return StepDecision(
        symbol=symbol,
        row=row,
        intents=(close,),
        skipped=("no entry on the candle of an exit",),
    )
