"""The position monitor's plain data: a position's protective plan, its levels, the report.

A ``ProtectionPlan`` is what the decision step decided for one OPEN: the stop-loss level,
the take-profit intents (leg 0 the final target, legs 1, 2, ... the partial targets) and
the ExitRules that move the stop afterwards. ``stop_now`` turns a plan and the best price
seen into the stop in force with the same scalar rules the backtest kernel applies
(``risk.exits``: break-even, trailing, ``protective_stop``).

``rebuild_plan`` recomputes an OPEN's plan after a restart from the journaled OPEN order and
the window it was decided on: the stop and target levels are pure functions of that window
and the exit rules (the same ``risk.exits`` calls as ``trading.step_entry``), so nothing but
the journal and the exchange's closed candles is needed to protect the position again.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from xraybot.indicators import talib_
from xraybot.matching.rules import EXIT_NONE, EXIT_TRAILING, LONG, SHORT
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import Order
from xraybot.model.signals import Direction, IntentKind, OrderIntent, OrderType, Side
from xraybot.risk.exits import (
    ExitRules,
    breakeven_stop,
    protective_stop,
    stop_level,
    target_level,
    trailing_stop,
)
from xraybot.trading.step_types import StepDecision

__all__ = [
    "MarginAlert",
    "MonitorAction",
    "MonitorReport",
    "ProtectionPlan",
    "StopLevel",
    "direction_code",
    "rebuild_plan",
    "sized_targets",
    "stop_now",
]


def direction_code(direction: Direction) -> int:
    return LONG if direction is Direction.LONG else SHORT


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtectionPlan:
    """The protection decided with one OPEN; every protective client id derives from it.

    ``signal_ts_ms`` is the OPEN's signal candle, so the stop-loss close (STOP_LOSS, leg 0),
    the take-profits (TAKE_PROFIT, their legs) and a kill-switch close (LIQUIDATE, leg 0) of
    this position have the same ids however often the monitor runs. ``opened_amount`` is the
    amount the OPEN asked for: the targets are resized by the filled share of it.
    """

    user_id: str
    strategy: str
    symbol: str
    direction: Direction
    signal_ts_ms: int
    opened_amount: Decimal
    leverage: int = 1
    stop_price: Decimal | None = None
    targets: tuple[OrderIntent, ...] = ()
    exits: ExitRules = field(default_factory=ExitRules)

    @classmethod
    def from_intents(cls, intents: Iterable[OrderIntent], exits: ExitRules) -> ProtectionPlan:
        """Build the plan of the OPEN among ``intents`` (as ``trading.step`` emits them)."""
        chosen = tuple(intents)
        opens = [i for i in chosen if i.kind is IntentKind.OPEN]
        if len(opens) != 1:
            raise InvalidInputError(
                f"a protection plan needs exactly one OPEN intent; found {len(opens)}. "
                "Pass the intents of a step decision that opened a position."
            )
        opened = opens[0]
        stops = [i for i in chosen if i.kind is IntentKind.STOP_LOSS]
        return cls(
            user_id=opened.user_id,
            strategy=opened.strategy,
            symbol=opened.symbol,
            direction=Direction.LONG if opened.side is Side.BUY else Direction.SHORT,
            signal_ts_ms=opened.signal_ts_ms,
            opened_amount=opened.amount,
            leverage=opened.leverage,
            stop_price=stops[0].stop_price if stops else None,
            targets=tuple(
                sorted(
                    (i for i in chosen if i.kind is IntentKind.TAKE_PROFIT),
                    key=lambda i: (i.leg == 0, i.leg),
                )
            ),
            exits=exits,
        )

    @classmethod
    def from_decision(cls, decision: StepDecision, exits: ExitRules) -> ProtectionPlan:
        return cls.from_intents(decision.intents, exits)

    @property
    def key(self) -> tuple[str, str]:
        return self.user_id, self.symbol


def _level(value: float | None) -> float:
    return math.nan if value is None else float(value)


def rebuild_plan(
    opened: Order, window: Candles, exits: ExitRules, market: Market
) -> ProtectionPlan:
    """The plan ``trading.step`` decided with the OPEN ``opened`` on ``window``.

    ``window`` must be the window that decision saw (its last candle the OPEN's signal candle,
    as many candles as the step's ``window_size``: the ATR depends on where it starts). The
    levels and the target legs mirror ``trading.step_entry`` so the ids match the ones the
    first plan placed; the amounts are the OPEN's, as the plan's were.
    """
    if len(window) == 0 or int(window.ts_ms[-1]) != opened.signal_ts_ms:
        found = "none" if len(window) == 0 else str(int(window.ts_ms[-1]))
        raise InvalidInputError(
            f"{opened.client_order_id}: the window must end on the signal candle "
            f"{opened.signal_ts_ms}; found {found}. Fetch the candles up to that one."
        )
    direction = Direction.LONG if opened.side is Side.BUY else Direction.SHORT
    code = direction_code(direction)
    price = float(window.close[-1])
    atr = math.nan
    if exits.uses_atr:
        atr = float(talib_.atr(window.high, window.low, window.close, exits.atr_period)[-1])
    stop = stop_level(code, price, _level(exits.stop_loss_pct), atr, _level(exits.stop_loss_atr))
    target = target_level(
        code, price, _level(exits.take_profit_pct), atr, _level(exits.take_profit_atr)
    )

    def take(qty: Decimal, level: float, leg: int, reason: str) -> OrderIntent:
        return OrderIntent(
            user_id=opened.user_id,
            strategy=opened.strategy,
            symbol=opened.symbol,
            side=direction.exit_side,
            kind=IntentKind.TAKE_PROFIT,
            order_type=OrderType.LIMIT,
            amount=qty,
            signal_ts_ms=opened.signal_ts_ms,
            reduce_only=market.kind is MarketKind.SWAP,
            leverage=opened.leverage,
            leg=leg,
            price=market.round_price(Decimal(repr(level))),
            reason=reason,
        )

    targets: list[OrderIntent] = []
    rest = opened.amount
    for leg, (level_pct, fraction) in enumerate(exits.partial_targets, start=1):
        level = target_level(code, price, level_pct, math.nan, math.nan)
        part = min(market.round_amount(opened.amount * Decimal(repr(fraction))), rest)
        if part > 0 and level > 0.0:
            rest -= part
            reason = f"partial target {leg}: {fraction:g} at {level_pct:.2%}"
            targets.append(take(part, level, leg, reason))
    if target > 0.0 and rest > 0:
        targets.append(take(rest, target, 0, "take-profit"))
    stop_price = market.round_price(Decimal(repr(stop))) if stop > 0.0 else None
    return ProtectionPlan(
        user_id=opened.user_id,
        strategy=opened.strategy,
        symbol=opened.symbol,
        direction=direction,
        signal_ts_ms=opened.signal_ts_ms,
        opened_amount=opened.amount,
        leverage=opened.leverage,
        stop_price=stop_price if stop_price is not None and stop_price > 0 else None,
        targets=tuple(sorted(targets, key=lambda i: (i.leg == 0, i.leg))),
        exits=exits,
    )


def sized_targets(plan: ProtectionPlan, filled: Decimal, market: Market) -> tuple[OrderIntent, ...]:
    """The plan's take-profits resized to the ``filled`` amount of its OPEN.

    Each partial target keeps its share of the OPEN (rounded down to the market's step);
    the final target (leg 0) takes what is left, so together they never exceed ``filled``.
    Targets sized to nothing are dropped.
    """
    out: list[OrderIntent] = []
    partial_total = Decimal(0)
    for target in sorted(plan.targets, key=lambda i: (i.leg == 0, i.leg)):
        if target.leg == 0:
            amount = filled - partial_total
        else:
            share = target.amount * filled / plan.opened_amount
            amount = min(market.round_amount(share), filled - partial_total)
            partial_total += max(amount, Decimal(0))
        if amount > 0:
            out.append(dataclasses.replace(target, amount=amount))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class StopLevel:
    """The stop in force: its price (NaN: none) and whether the trailing stop binds."""

    price: float
    trailing: bool = False
    moved: bool = False  # break-even or trailing: no longer the initial stop

    @property
    def active(self) -> bool:
        return not math.isnan(self.price)


def stop_now(plan: ProtectionPlan, entry: float, best: float, fee_rate: float) -> StopLevel:
    """Return the stop in force for ``best`` (the favourable extreme of closed candles)."""
    code = direction_code(plan.direction)
    exits = plan.exits
    initial = math.nan if plan.stop_price is None else float(plan.stop_price)
    even = math.nan
    if exits.breakeven_at_pct is not None:
        even = breakeven_stop(code, entry, best, exits.breakeven_at_pct, fee_rate)
    trail = math.nan
    if exits.trailing_pct is not None:
        trail = trailing_stop(code, entry, best, exits.trailing_pct, exits.trailing_activation_pct)
    level, reason = protective_stop(code, initial, even, trail, math.nan)
    if reason == EXIT_NONE:
        return StopLevel(math.nan)
    moved = level != initial
    return StopLevel(level, trailing=reason == EXIT_TRAILING, moved=moved)


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorAction:
    """One thing the monitor did: placed, moved, closed or canceled something."""

    user_id: str
    symbol: str
    # "placed", "watched_locally", "stop_moved", "stop_placed", "stop_replaced",
    # "stop_loss", "take_profit", "refused", "canceled", "closed"
    action: str
    client_order_id: str | None = None
    detail: str = ""

    def log_fields(self) -> dict[str, str | None]:
        """The action as structured-log fields (every caller logs the same five)."""
        return {
            "user_id": self.user_id,
            "symbol": self.symbol,
            "action": self.action,
            "client_order_id": self.client_order_id,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginAlert:
    """A futures position whose price is within ``threshold`` of its liquidation price."""

    user_id: str
    symbol: str
    price: Decimal
    liquidation_price: Decimal
    distance: Decimal  # |price - liquidation| / price
    threshold: Decimal

    @property
    def message(self) -> str:
        return (
            f"{self.user_id} {self.symbol}: price {self.price} is {self.distance:.2%} from the "
            f"liquidation price {self.liquidation_price} (alert below {self.threshold:.2%}); "
            "add margin or reduce the position."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorReport:
    """What one monitor pass did, the alerts it raised, and the positions it cannot protect."""

    actions: tuple[MonitorAction, ...] = ()
    alerts: tuple[MarginAlert, ...] = ()
    unprotected: tuple[str, ...] = ()  # "user symbol: why"

    def __add__(self, other: MonitorReport) -> MonitorReport:
        return MonitorReport(
            actions=self.actions + other.actions,
            alerts=self.alerts + other.alerts,
            unprotected=self.unprotected + other.unprotected,
        )

    def of(self, action: str) -> tuple[MonitorAction, ...]:
        return tuple(a for a in self.actions if a.action == action)
