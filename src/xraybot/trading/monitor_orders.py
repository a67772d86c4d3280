"""The position monitor's orders: resting take-profits, local targets, closes and cancels.

``trading.monitor`` decides *when* (a stop hit, a target reached, the kill switch); this
module decides *what goes to the exchange*, always through the ``OrderManager`` so every
order is journaled first under a deterministic client id derived from the plan:

- take-profits rest as limit orders resized to the OPEN's filled amount; one the exchange
  will not take (under its minimums) is handed back to be watched locally;
- a close cancels the resting protection first (on spot it holds the coins), then sends one
  market order under the plan's id for that kind and the first leg not ended short of
  closing the position, so every pass over the same journal picks the same id.

``Watch`` is the monitor's mutable per-position state, shared by both modules.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from xraybot.model.errors import InvalidOrderError
from xraybot.model.fills import Position
from xraybot.model.ids import derive_client_order_id
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import IntentKind, OrderIntent, OrderType
from xraybot.trading.monitor_types import (
    MonitorAction,
    MonitorReport,
    ProtectionPlan,
    StopLevel,
    sized_targets,
)
from xraybot.trading.order_manager import MarketLookup, OrderManager
from xraybot.trading.ports import Journal, OrderRepository

log = structlog.get_logger(__name__)

# Resting orders the monitor owns and cancels before closing: targets, partial closes, and
# (``resting_protection``) the stop resting on the exchange.
PROTECTIVE = frozenset({IntentKind.TAKE_PROFIT, IntentKind.REDUCE})
_MAX_CLOSE_LEGS = 8
# Candles between an OPEN's signal candle and its first fill searched at a restart.
_SIGNAL_SEARCH = 16


def resting_protection(order: Order) -> bool:
    # Market orders in flight settle by themselves; canceling one could strand a close.
    if order.order_type is OrderType.MARKET:
        return False
    return order.kind in PROTECTIVE or order.order_type is OrderType.STOP_MARKET


@dataclass(slots=True)
class Watch:
    """What the monitor knows of one protected position between ticks."""

    plan: ProtectionPlan
    best: float | None = None
    seed: float | None = None  # best price seen before a restart (``restore``)
    stop: StopLevel = field(default_factory=lambda: StopLevel(math.nan))
    local: dict[int, OrderIntent] = field(default_factory=dict)  # leg -> target watched here
    dropped: set[int] = field(default_factory=set)  # legs that could not be traded at all
    resting_leg: int | None = None  # leg of the latest resting stop (None: not looked up)
    resting_off: bool = False  # the exchange refused a resting stop: local watch only


def act(plan: ProtectionPlan, action: str, order: Order | str | None, detail: str) -> MonitorAction:
    cid = order.client_order_id if isinstance(order, Order) else order
    if isinstance(order, Order):
        detail = f"{detail} ({order.status})"
    return MonitorAction(
        user_id=plan.user_id,
        symbol=plan.symbol,
        action=action,
        client_order_id=cid,
        detail=detail,
    )


def adopted_plan(position: Position) -> ProtectionPlan:
    """A plan for a position the monitor has none for: enough to close it, no levels."""
    return ProtectionPlan(
        user_id=position.user_id,
        strategy=position.strategy,
        symbol=position.symbol,
        direction=position.direction,
        signal_ts_ms=position.opened_ts_ms,
        opened_amount=position.amount,
        leverage=position.leverage,
    )


class ProtectiveOrders:
    """Sends, cancels and sizes the monitor's orders for one exchange account."""

    def __init__(
        self,
        manager: OrderManager,
        journal: Journal,
        orders: OrderRepository,
        markets: MarketLookup,
    ) -> None:
        self._manager = manager
        self._journal = journal
        self._orders = orders
        self._markets = markets

    async def open_position(self, plan: ProtectionPlan) -> Position | None:
        position = await self._journal.position(plan.user_id, plan.symbol)
        if position is None or not position.is_open:
            return None
        return position

    async def place_targets(self, w: Watch, position: Position) -> MonitorReport:
        """Place the plan's missing take-profits; a refused one moves to ``w.local``."""
        plan = w.plan
        market = await self._markets(plan.symbol)
        filled = await self.opened_amount(plan, position)
        actions: list[MonitorAction] = []
        for target in sized_targets(plan, filled, market):
            if target.leg in w.local or target.leg in w.dropped:
                continue
            stored = await self._orders.get(target.client_order_id)
            if stored is not None:
                continue  # placed before (maybe filled already): never twice
            try:
                order = await self._manager.submit(target)
            except InvalidOrderError as e:
                w.local[target.leg] = target
                actions.append(act(plan, "watched_locally", None, str(e)))
                continue
            actions.append(
                act(plan, "placed", order.client_order_id, f"{target.reason} {order.status}")
            )
        return MonitorReport(actions=tuple(actions))

    async def journaled_open(self, position: Position, tf_ms: int) -> Order | None:
        """The journaled OPEN of ``position``: its signal candle is one of the
        ``_SIGNAL_SEARCH`` candles up to the one it was filled in."""
        first = position.opened_ts_ms // tf_ms * tf_ms
        for k in range(_SIGNAL_SEARCH):
            cid = derive_client_order_id(
                position.user_id,
                position.strategy,
                position.symbol,
                first - k * tf_ms,
                IntentKind.OPEN,
                0,
            )
            opened = await self._orders.get(cid)
            if opened is not None:
                return opened
        return None

    async def refused_targets(
        self, plan: ProtectionPlan, position: Position, market: Market
    ) -> dict[int, OrderIntent]:
        """The targets the exchange refused as limits (watched locally), by leg."""
        local: dict[int, OrderIntent] = {}
        filled = await self.opened_amount(plan, position)
        for target in sized_targets(plan, filled, market):
            stored = await self._orders.get(target.client_order_id)
            if stored is not None and stored.status is OrderStatus.REJECTED:
                local[target.leg] = target
        return local

    async def opened_amount(self, plan: ProtectionPlan, position: Position) -> Decimal:
        cid = derive_client_order_id(
            plan.user_id, plan.strategy, plan.symbol, plan.signal_ts_ms, IntentKind.OPEN, 0
        )
        opened = await self._orders.get(cid)
        if opened is not None and opened.filled > 0:
            return opened.filled
        return position.amount

    async def take_local(
        self, w: Watch, position: Position, leg: int, price: float, *, detail: str = ""
    ) -> MonitorReport:
        """Close the share of local target ``leg`` at market: ``price`` reached it."""
        target = w.local.pop(leg)
        amount = min(target.amount, position.amount)
        # A limit the exchange refused is journaled under the target's id: close as REDUCE.
        refused = await self._orders.get(target.client_order_id) is not None
        kind = IntentKind.REDUCE if refused else target.kind
        intent = dataclasses.replace(
            target,
            kind=kind,
            order_type=OrderType.MARKET,
            price=None,
            amount=amount,
            reason=detail or target.reason,
        )
        detail = detail or f"target {target.price} reached at {price:.8g}"
        try:
            # A journaled id (an earlier pass, or before a restart) is settled, never resent.
            order = await self._manager.submit(intent)
        except InvalidOrderError as e:
            log.warning("local target not executable", client_order_id=intent.client_order_id)
            w.dropped.add(leg)
            return MonitorReport(actions=(act(w.plan, "refused", None, f"{detail}: {e}"),))
        return MonitorReport(actions=(act(w.plan, "take_profit", order, detail),))

    async def close(
        self, plan: ProtectionPlan, kind: IntentKind, detail: str, action: str
    ) -> tuple[MonitorReport, bool]:
        """Cancel the resting protection and market-close the position.

        Returns the report and whether the position is gone afterwards.
        """
        report = await self.cancel_protection(plan)
        position = await self.open_position(plan)
        if position is None:
            return report, True
        market = await self._markets(plan.symbol)
        intent = OrderIntent(
            user_id=plan.user_id,
            strategy=plan.strategy,
            symbol=plan.symbol,
            side=position.direction.exit_side,
            kind=kind,
            order_type=OrderType.MARKET,
            amount=position.amount,
            signal_ts_ms=plan.signal_ts_ms,
            reduce_only=market.kind is MarketKind.SWAP,
            leverage=position.leverage,
            leg=await self._close_leg(plan, kind),
            reason=detail,
        )
        order = await self._manager.submit(intent)
        report += MonitorReport(actions=(act(plan, action, order, detail),))
        return report, await self.open_position(plan) is None

    async def cancel_protection(self, plan: ProtectionPlan) -> MonitorReport:
        report = MonitorReport()
        for order in await self._orders.open_orders(plan.user_id, plan.symbol):
            if resting_protection(order):
                report += await self.cancel(order)
        return report

    async def cancel(self, order: Order) -> MonitorReport:
        done = await self._manager.cancel(order.client_order_id)
        return MonitorReport(
            actions=(
                MonitorAction(
                    user_id=order.user_id,
                    symbol=order.symbol,
                    action="canceled",
                    client_order_id=order.client_order_id,
                    detail=str(done.status),
                ),
            )
        )

    async def _close_leg(self, plan: ProtectionPlan, kind: IntentKind) -> int:
        """The leg of the close to send: the first one not ended without closing the position.

        Leg 0 normally. A close that ended (filled short of the position, refused, canceled)
        while the position is still open is followed by the next leg, so the ids stay
        deterministic: every pass over the same journal picks the same leg.
        """
        for leg in range(_MAX_CLOSE_LEGS):
            cid = derive_client_order_id(
                plan.user_id, plan.strategy, plan.symbol, plan.signal_ts_ms, kind, leg
            )
            stored = await self._orders.get(cid)
            if stored is None or not stored.is_terminal:
                return leg
        raise InvalidOrderError(
            f"{plan.user_id} {plan.symbol}: {_MAX_CLOSE_LEGS} {kind} closes ended without "
            "closing the position; close it by hand and check the account."
        )
