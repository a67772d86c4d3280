"""The entry half of the decision step: the risk chain in the backtest kernel's order.

``backtest.kernel_risk.risk_entry`` decides an entry as: protections, the stop, leverage from
the stop, sizing, the dynamic-risk scale, then the limits (shrinking the entry to their room).
Here the same rules run through their Python APIs, which name the numbers behind a refusal:
``ProtectionChain.check``/``scale``, ``risk.exits.stop_level``/``target_level``,
``choose_leverage``, ``size_position`` (rounded to the market, checked against its minimums)
and ``check_limits``. The price is the signal candle's close: live, the order goes out just
after that close. A scaled or shrunk entry is re-sized as a ``fixed`` stake of the smaller
notional, so rounding and the market's minimums apply to what is actually sent.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import numpy as np

from xraybot.indicators import talib_
from xraybot.matching.rules import LONG, SHORT
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.model.market import MarketKind
from xraybot.model.signals import Direction, IntentKind, OrderIntent, OrderType
from xraybot.risk.exits import ExitRules, stop_level, target_level
from xraybot.risk.leverage import LeverageDecision, choose_leverage
from xraybot.risk.limits import check_limits
from xraybot.risk.protections_chain import ProtectionChain, ProtectionDecision, fmt_time
from xraybot.risk.sizing import SizingDecision, size_position
from xraybot.trading.step_types import (
    REGIME_SPAN,
    AccountView,
    SignalRow,
    StepConfig,
    StepDecision,
)

__all__ = ["entry_step", "regime_now"]


def _level(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def regime_now(window: Candles, period: int) -> tuple[float, float]:
    """The last candle's volatility (ATR / close) and its ratio to its ``REGIME_SPAN``-period
    mean, as ``backtest.risk_inputs.regime`` measures them (NaN when the window is short)."""
    if len(window) <= period:
        return math.nan, math.nan
    vol = talib_.natr(window.high, window.low, window.close, period) / 100.0
    span = REGIME_SPAN * period
    tail = vol[-span:]
    mean = float(np.mean(tail)) if tail.size == span and np.isfinite(tail).all() else math.nan
    now = float(vol[-1])
    return now, now / mean if mean > 0.0 else math.nan


def entry_step(
    config: StepConfig,
    exits: ExitRules,
    window: Candles,
    row: SignalRow,
    account: AccountView,
    protections: ProtectionChain | None,
) -> StepDecision:
    """A flat account: an OPEN intent (with its stop and targets) or the reason for none."""
    symbol = config.market.symbol
    go_long = row.entry_long and config.directions in ("long", "both")
    go_short = row.entry_short and config.directions in ("short", "both")
    if go_long and go_short:
        reason = "a long and a short entry signal on one candle cancel"
        return StepDecision(symbol=symbol, row=row, skipped=(reason,))
    if not (go_long or go_short):
        return StepDecision(symbol=symbol, row=row, skipped=("flat: no entry signal",))
    direction = Direction.LONG if go_long else Direction.SHORT
    decided_at = row.ts_ms + window.timeframe_ms
    protection = None
    if protections is not None:
        protection = protections.check(symbol, decided_at)
        if not protection.allowed:
            until = protection.until_ms
            when = "" if until is None or until == math.inf else f" until {fmt_time(until)}"
            reason = f"protection {protection.blocked_by} blocks the entry{when}"
            return StepDecision(symbol=symbol, row=row, skipped=(reason,), protection=protection)
    return _sized_entry(config, exits, window, row, account, protections, direction, protection)


def _sized_entry(
    config: StepConfig,
    exits: ExitRules,
    window: Candles,
    row: SignalRow,
    account: AccountView,
    protections: ProtectionChain | None,
    direction: Direction,
    protection: ProtectionDecision | None,
) -> StepDecision:
    market = config.market
    profile = config.profile
    sizing = profile.sizing
    code = LONG if direction is Direction.LONG else SHORT
    price = row.close
    atr = math.nan
    if exits.uses_atr:
        atr = float(talib_.atr(window.high, window.low, window.close, exits.atr_period)[-1])
    stop = stop_level(code, price, _level(exits.stop_loss_pct), atr, _level(exits.stop_loss_atr))
    target = target_level(
        code, price, _level(exits.take_profit_pct), atr, _level(exits.take_profit_atr)
    )
    vol, ratio = regime_now(window, sizing.volatility_period)
    notes: list[str] = []
    leverage, lev_decision = _leverage(config, direction, price, stop, vol, notes)
    head = StepDecision(symbol=market.symbol, row=row, protection=protection, leverage=lev_decision)

    def size(mode: str, amount: float) -> SizingDecision:
        return size_position(
            market,
            mode=mode,
            equity=account.equity,
            free_cash=account.free_cash,
            price=price,
            stop_price=stop if stop > 0.0 else None,
            volatility=vol if vol > 0.0 else None,
            target_volatility=sizing.target_volatility,
            amount=amount,
            win_rate=sizing.win_rate,
            payoff=sizing.payoff,
            kelly_cap=sizing.kelly_cap,
            leverage=leverage,
        )

    def fixed_for(notional: float, decision: SizingDecision) -> SizingDecision:
        fee = max(float(decision.fee_rate), 0.0)
        return size("fixed", notional * (1.0 / decision.leverage + fee))

    decided = size(sizing.mode, sizing.amount)
    notes.extend(decided.reasons)
    if decided.ok and protections is not None:
        scale = protections.scale(ratio)
        if scale.scale != 1.0:
            notes.extend(f"scale {r.factor}: {r.value:.4g} ({r.detail})" for r in scale.reasons)
            decided = fixed_for(decided.requested_notional * scale.scale, decided)
    if not decided.ok:
        refusal = decided.refusal or "the sizing rule opened nothing"
        return replace(head, skipped=(f"sizing: {refusal}",), notes=tuple(notes), sizing=decided)
    limits = check_limits(
        profile.limit_settings(),
        symbol=market.symbol,
        new_notional=float(decided.notional),
        equity=account.equity,
        positions=account.others,
        clusters=config.clusters,
        leverage=float(leverage),
    )
    if not limits.allowed:
        shrunk = fixed_for(limits.room, decided) if 0.0 < limits.room < math.inf else None
        if shrunk is None or not shrunk.ok:
            why = "; ".join(c.reason for c in limits.checks if not c.passed)
            return replace(
                head,
                skipped=(f"limits: {why}",),
                notes=tuple(notes),
                sizing=decided,
                limits=limits,
            )
        notes.append(f"shrunk to the limits' room {limits.room:.8g} {market.quote}")
        decided = shrunk
    intents = _intents(config, exits, row, direction, decided, leverage, stop, target)
    return replace(
        head,
        intents=intents,
        notes=tuple(notes),
        sizing=decided,
        limits=limits,
        stop_price=next((i.stop_price for i in intents if i.kind is IntentKind.STOP_LOSS), None),
        target_price=next(
            (i.price for i in intents if i.kind is IntentKind.TAKE_PROFIT and i.leg == 0), None
        ),
    )


def _leverage(
    config: StepConfig,
    direction: Direction,
    price: float,
    stop: float,
    vol: float,
    notes: list[str],
) -> tuple[int, LeverageDecision | None]:
    """Leverage from the stop (``choose_leverage``); no stop keeps nothing beyond it: 1x."""
    market = config.market
    lev = config.profile.leverage
    if market.kind is not MarketKind.SWAP or lev.max <= 1:
        return 1, None
    if not stop > 0.0:
        notes.append("no stop: 1x, nothing would keep the liquidation beyond it")
        return 1, None
    try:
        decision = choose_leverage(
            market,
            direction=direction,
            entry_price=price,
            stop_price=stop,
            volatility=vol if vol >= 0.0 else None,
            maintenance_margin_rate=lev.maintenance_margin_rate,
            safety=lev.safety,
            user_cap=float(lev.max),
        )
    except InvalidInputError as e:
        notes.append(f"1x: {e}")
        return 1, None
    notes.extend(decision.reasons)
    return max(decision.value, 1), decision


def _intents(
    config: StepConfig,
    exits: ExitRules,
    row: SignalRow,
    direction: Direction,
    sized: SizingDecision,
    leverage: int,
    stop: float,
    target: float,
) -> tuple[OrderIntent, ...]:
    """The OPEN, then its stop-loss and take-profits (see ``trading.step``)."""
    market = config.market
    swap = market.kind is MarketKind.SWAP
    code = LONG if direction is Direction.LONG else SHORT
    amount = sized.amount

    def intent(
        kind: IntentKind,
        order_type: OrderType,
        qty: Decimal,
        *,
        reason: str,
        leg: int = 0,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> OrderIntent:
        opening = kind is IntentKind.OPEN
        return OrderIntent(
            user_id=config.user_id,
            strategy=config.strategy.name,
            symbol=market.symbol,
            side=direction.entry_side if opening else direction.exit_side,
            kind=kind,
            order_type=order_type,
            amount=qty,
            signal_ts_ms=row.ts_ms,
            reduce_only=swap and not opening,
            leverage=leverage,
            leg=leg,
            price=price,
            stop_price=stop_price,
            reason=reason,
        )

    out = [intent(IntentKind.OPEN, OrderType.MARKET, amount, reason=f"{direction} entry signal")]
    if stop > 0.0:
        level = market.round_price(_decimal(stop))
        if level > 0:
            out.append(
                intent(
                    IntentKind.STOP_LOSS,
                    OrderType.STOP_MARKET,
                    amount,
                    stop_price=level,
                    reason="stop-loss",
                )
            )
    rest = amount
    for leg, (level_pct, fraction) in enumerate(exits.partial_targets, start=1):
        price = target_level(code, row.close, level_pct, math.nan, math.nan)
        part = market.round_amount(amount * _decimal(fraction))
        part = min(part, rest)
        if part > 0 and price > 0.0:
            rest -= part
            out.append(
                intent(
                    IntentKind.TAKE_PROFIT,
                    OrderType.LIMIT,
                    part,
                    leg=leg,
                    price=market.round_price(_decimal(price)),
                    reason=f"partial target {leg}: {fraction:g} at {level_pct:.2%}",
                )
            )
    if target > 0.0 and rest > 0:
        out.append(
            intent(
                IntentKind.TAKE_PROFIT,
                OrderType.LIMIT,
                rest,
                price=market.round_price(_decimal(target)),
                reason="take-profit",
            )
        )
    return tuple(out)
