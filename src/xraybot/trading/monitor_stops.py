"""Stops resting on the exchange, where it takes them (swap trigger orders).

A stop watched only by this process is gone while the process is down. Where the gateway
says a market takes resting stops (``resting_stops(market)``; MEXC swaps, see
``exchange.ordering_triggers``), the stop in force also rests on the exchange as a
reduce-only STOP_MARKET order for the whole position, so the exchange closes the position
even while nothing here runs. The local watch stays on as a backup: if it sees the stop hit
first, the close cancels the resting stop before sending its own (``monitor_orders``).

One resting stop per position at any time. Moving it (trailing, break-even, a smaller
position after a partial target) cancels the current one and places the next only once the
cancel is confirmed; a cancel still pending, or an order still unsettled, waits for the next
pass. The n-th stop of a plan has leg ``RESTING_LEG0 + n`` of the plan's STOP_LOSS ids
(legs below are the market closes), so every pass and every restart derives the same ids
and a journaled one is never placed twice. A stop that ended without closing the position
(cancelled by hand, expired, refused at trigger time) is replaced by the next leg.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

import structlog

from xraybot.model.errors import InvalidOrderError
from xraybot.model.fills import Position
from xraybot.model.ids import derive_client_order_id
from xraybot.model.market import Market, Rounding
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import IntentKind, OrderIntent, OrderType, Side
from xraybot.trading.monitor_orders import Watch, act
from xraybot.trading.monitor_types import MonitorAction, MonitorReport, ProtectionPlan
from xraybot.trading.order_manager import OrderManager
from xraybot.trading.ports import OrderRepository

log = structlog.get_logger(__name__)

RestingStopSupport = Callable[[Market], bool]
RESTING_LEG0 = 16  # legs 0..7 are the plan's market closes (monitor_orders)
_MAX_RESTING = 100_000
_UNSETTLED = frozenset(
    {OrderStatus.PENDING_SUBMIT, OrderStatus.UNKNOWN, OrderStatus.PENDING_CANCEL}
)
# Ended without closing anything: the next leg may take its place.
_ENDED = frozenset({OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


class RestingStops:
    """Places, moves and replaces the resting stop of each watched position."""

    def __init__(
        self,
        manager: OrderManager,
        orders: OrderRepository,
        supported: RestingStopSupport | None,
    ) -> None:
        self._manager = manager
        self._orders = orders
        self._supported = supported

    def applies(self, market: Market) -> bool:
        return self._supported is not None and self._supported(market)

    async def current(self, w: Watch) -> Order | None:
        """The plan's latest resting stop in the journal (None: none placed)."""
        if w.resting_leg is None:
            # After a restart: the last leg journaled is the one in force.
            leg = RESTING_LEG0 - 1
            while leg + 1 < RESTING_LEG0 + _MAX_RESTING:
                if await self._orders.get(_cid(w.plan, leg + 1)) is None:
                    break
                leg += 1
            w.resting_leg = leg
        if w.resting_leg < RESTING_LEG0:
            return None
        return await self._orders.get(_cid(w.plan, w.resting_leg))

    async def keep(self, w: Watch, position: Position, market: Market) -> MonitorReport:
        """Make the exchange hold exactly the stop in force for ``position`` (module doc)."""
        if not self.applies(market) or not w.stop.active or w.resting_off:
            return MonitorReport()
        plan = w.plan
        exit_side = position.direction.exit_side
        mode = Rounding.UP if exit_side is Side.SELL else Rounding.DOWN
        want = market.round_price(Decimal(repr(w.stop.price)), mode)
        amount = market.round_amount(position.amount)
        if want <= 0 or amount <= 0 or math.isnan(w.stop.price):
            return MonitorReport()
        actions: list[MonitorAction] = []
        current = await self.current(w)
        if current is not None and not current.is_terminal:
            if current.stop_price == want and current.amount == amount:
                return MonitorReport()
            if current.status in _UNSETTLED:
                return MonitorReport()  # settles on a later pass; never two live
            done = await self._manager.cancel(current.client_order_id)
            if done.status not in _ENDED or done.filled > 0:
                # It fired (the poll records the close) or the cancel is pending.
                return MonitorReport(actions=(act(plan, "canceled", done, "resting stop"),))
            actions.append(act(plan, "canceled", done, f"resting stop {current.stop_price}"))
        elif current is not None and (current.status not in _ENDED or current.filled > 0):
            return MonitorReport()  # it fired: the fill closes the position
        leg = RESTING_LEG0 if current is None else (w.resting_leg or RESTING_LEG0) + 1
        what = "trailing stop" if w.stop.trailing else "stop-loss"
        intent = OrderIntent(
            user_id=plan.user_id,
            strategy=plan.strategy,
            symbol=plan.symbol,
            side=exit_side,
            kind=IntentKind.STOP_LOSS,
            order_type=OrderType.STOP_MARKET,
            amount=amount,
            signal_ts_ms=plan.signal_ts_ms,
            stop_price=want,
            reduce_only=True,
            leverage=position.leverage,
            leg=leg,
            reason=f"{what} {want} resting on the exchange",
        )
        try:
            order = await self._manager.submit(intent)
        except InvalidOrderError as e:
            # The local watch keeps protecting the position; do not ask again every tick.
            w.resting_off = True
            log.warning("resting stop refused; watched locally", symbol=plan.symbol, error=str(e))
            actions.append(act(plan, "watched_locally", None, f"resting stop refused: {e}"))
            return MonitorReport(actions=tuple(actions))
        w.resting_leg = leg
        action = "stop_placed" if current is None else "stop_replaced"
        actions.append(act(plan, action, order, intent.reason))
        return MonitorReport(actions=tuple(actions))


def _cid(plan: ProtectionPlan, leg: int) -> str:
    return derive_client_order_id(
        plan.user_id, plan.strategy, plan.symbol, plan.signal_ts_ms, IntentKind.STOP_LOSS, leg
    )
