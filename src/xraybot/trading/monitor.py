"""The position monitor: stops, targets, trailing and break-even moves, the kill switch.

Per open position (``Journal.positions``) the monitor holds the ``ProtectionPlan`` decided
with its OPEN (``trading.step``: the stop level, the TAKE_PROFIT intents, the ExitRules):

- Take-profits (the final target and each partial target) rest on the exchange as limit
  orders, resized to the OPEN's filled amount and sent through the OrderManager, so they
  are journaled first and keep the step's deterministic client ids. A target the exchange
  will not take (under its minimums) is watched locally instead.
- The stop is watched locally: neither the simulator nor the order path places stop
  orders (``OrderManager`` refuses STOP_MARKET; ``exchange.ordering`` says why), so on each
  closed candle ``matching.rules.intrabar_exit`` (stop first, gap fills) and on each price
  tick the same rule on a single price decide whether it is hit. The stop in force is the
  backtest kernel's: ``risk.exits`` break-even and trailing levels from the favourable
  extreme of the candles already closed, bound through ``protective_stop``.
- A hit stop cancels the resting targets (on spot they hold the coins), then closes what
  the journal still holds with one market order under the plan's STOP_LOSS id (leg 0): a
  second pass on the same tick finds that order journaled and places nothing new.
- ``close_all`` / ``close_everything`` (the kill switch) cancel the user's resting orders and
  market-close every position under LIQUIDATE ids, reduce-only on swaps.
- ``margin_alerts`` compares each futures position's liquidation price with the last price
  and returns an alert (data, not a notification) when the distance is under a threshold.

The plans live in memory and are not stored: after a restart ``restore`` rebuilds each open
position's plan deterministically from the journal and the exchange's closed candles (the
journaled OPEN order found by its deterministic id, the window it was decided on,
``monitor_types.rebuild_plan``) and seeds the trailing/break-even extreme from the candles
closed since the entry. Targets placed before keep their ids and are never placed twice.
A position without a plan is reported by ``check`` as unprotected.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from xraybot.exchange.port import ExchangeGateway
from xraybot.exchange.retry import with_retries
from xraybot.matching.rules import EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, intrabar_exit
from xraybot.model.candles import timeframe_to_ms
from xraybot.model.errors import InvalidInputError, InvalidOrderError, UnknownSymbolError
from xraybot.model.fills import Position
from xraybot.model.ids import derive_client_order_id
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import Order
from xraybot.model.signals import IntentKind, OrderIntent, OrderType
from xraybot.risk.exits import favourable_extreme
from xraybot.trading.monitor_types import (
    MarginAlert,
    MonitorAction,
    MonitorReport,
    ProtectionPlan,
    StopLevel,
    direction_code,
    rebuild_plan,
    sized_targets,
    stop_now,
)
from xraybot.trading.order_manager import MarketLookup, OrderManager
from xraybot.trading.ports import Clock, Journal, OrderRepository
from xraybot.trading.step_types import StepConfig, window_size

log = structlog.get_logger(__name__)

__all__ = [
    "MarginAlert",
    "MonitorAction",
    "MonitorReport",
    "PositionMonitor",
    "ProtectionPlan",
    "kill_switch",
]

# Resting orders the monitor owns and cancels before closing: targets and partial closes.
_PROTECTIVE = frozenset({IntentKind.TAKE_PROFIT, IntentKind.REDUCE})
_MAX_CLOSE_LEGS = 8
# Candles between an OPEN's signal candle and its first fill searched at a restart.
_SIGNAL_SEARCH = 16


def _resting_protection(order: Order) -> bool:
    # Market orders in flight settle by themselves; canceling one could strand a close.
    return order.kind in _PROTECTIVE and order.order_type is not OrderType.MARKET


@dataclass(slots=True)
class _Watch:
    plan: ProtectionPlan
    best: float | None = None
    seed: float | None = None  # best price seen before a restart (``restore``)
    stop: StopLevel = field(default_factory=lambda: StopLevel(math.nan))
    local: dict[int, OrderIntent] = field(default_factory=dict)  # leg -> target watched here
    dropped: set[int] = field(default_factory=set)  # legs that could not be traded at all


class PositionMonitor:
    """Protects one exchange account's positions (see the module docstring).

    ``liquidation_alert`` is the fraction of the price (0.1 = 10 %) under which the distance
    to a futures position's liquidation price raises a ``MarginAlert``.
    """

    def __init__(
        self,
        order_manager: OrderManager,
        gateway: ExchangeGateway,
        journal: Journal,
        orders: OrderRepository,
        clock: Clock,
        markets: MarketLookup | None = None,
        *,
        liquidation_alert: Decimal = Decimal("0.1"),
    ) -> None:
        if not Decimal(0) < liquidation_alert < Decimal(1):
            raise InvalidInputError(
                f"liquidation_alert must be a fraction in (0, 1) such as 0.1; "
                f"found {liquidation_alert}."
            )
        self._manager = order_manager
        self._gateway = gateway
        self._journal = journal
        self._orders = orders
        self._clock = clock
        self._markets = markets or self._gateway_market
        self._alert = liquidation_alert
        self._watches: dict[tuple[str, str], _Watch] = {}
        self._users: set[str] = set()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    # -- plans ----------------------------------------------------------------------------

    def watch(self, plan: ProtectionPlan, best: float | None = None) -> None:
        """Protect ``plan``'s position from now on (a newer plan replaces an older one).

        ``best``: the favourable extreme of the candles closed since the entry, if known.
        """
        current = self._watches.get(plan.key)
        if current is None or current.plan != plan:
            self._watches[plan.key] = _Watch(plan, seed=best)
        self._users.add(plan.user_id)

    async def restore(
        self, position: Position, config: StepConfig, timeframe: str
    ) -> ProtectionPlan | None:
        """Rebuild and watch the plan of ``position`` after a restart (module docstring).

        None when the journal holds no OPEN of it (opened by hand or by an older version).
        """
        tf = timeframe_to_ms(timeframe)
        first = position.opened_ts_ms // tf * tf
        opened = None
        for k in range(_SIGNAL_SEARCH):
            cid = derive_client_order_id(
                position.user_id,
                position.strategy,
                position.symbol,
                first - k * tf,
                IntentKind.OPEN,
                0,
            )
            opened = await self._orders.get(cid)
            if opened is not None:
                break
        if opened is None:
            return None
        exits = config.exit_rules()
        size = config.window or window_size(
            config.strategy, config.params, exits, config.profile.sizing.volatility_period
        )
        now = self._clock.now_ms()
        since = opened.signal_ts_ms - (size - 1) * tf
        fetch = functools.partial(self._gateway.fetch_ohlcv, position.symbol, timeframe, since, now)
        candles = (await with_retries(fetch)).closed(now)
        signal_end = opened.signal_ts_ms + tf
        plan = rebuild_plan(opened, candles.closed(signal_end).tail(size), exits, config.market)
        best = float(position.entry_price)
        code = direction_code(plan.direction)
        for i in range(len(candles)):
            if int(candles.ts_ms[i]) >= signal_end:
                best = favourable_extreme(code, best, float(candles.high[i]), float(candles.low[i]))
        self.watch(plan, best)
        return plan

    def plan(self, user_id: str, symbol: str) -> ProtectionPlan | None:
        found = self._watches.get((user_id, symbol))
        return None if found is None else found.plan

    def stop_level(self, user_id: str, symbol: str) -> float:
        """The stop in force for the position (NaN: none), as of the last closed candle."""
        found = self._watches.get((user_id, symbol))
        return math.nan if found is None else found.stop.price

    # -- placing the targets --------------------------------------------------------------

    async def place(self, user_id: str) -> MonitorReport:
        """Place the resting take-profits of every protected open position of ``user_id``."""
        report = MonitorReport()
        for key, w in list(self._watches.items()):
            if key[0] != user_id:
                continue
            async with self._lock(key):
                position = await self._open_position(w)
                if position is not None:
                    report += await self._place_targets(w, position)
        return report

    async def _place_targets(self, w: _Watch, position: Position) -> MonitorReport:
        plan = w.plan
        market = await self._markets(plan.symbol)
        filled = await self._opened_amount(plan, position)
        actions: list[MonitorAction] = []
        sized = sized_targets(plan, filled, market)
        for target in sized:
            if target.leg in w.local or target.leg in w.dropped:
                continue
            stored = await self._orders.get(target.client_order_id)
            if stored is not None:
                continue  # placed before (maybe filled already): never twice
            try:
                order = await self._manager.submit(target)
            except InvalidOrderError as e:
                w.local[target.leg] = target
                actions.append(self._act(plan, "watched_locally", None, str(e)))
                continue
            actions.append(
                self._act(plan, "placed", order.client_order_id, f"{target.reason} {order.status}")
            )
        return MonitorReport(actions=tuple(actions))

    async def _opened_amount(self, plan: ProtectionPlan, position: Position) -> Decimal:
        cid = derive_client_order_id(
            plan.user_id, plan.strategy, plan.symbol, plan.signal_ts_ms, IntentKind.OPEN, 0
        )
        opened = await self._orders.get(cid)
        if opened is not None and opened.filled > 0:
            return opened.filled
        return position.amount

    # -- ticks ----------------------------------------------------------------------------

    async def on_candle(
        self, user_id: str, symbol: str, *, open: float, high: float, low: float
    ) -> MonitorReport:
        """Check one closed candle against the stop and the local targets, then move the stop.

        The candle's own extreme moves the trailing and break-even stops only for the next
        candle, as in the backtest kernel.
        """
        return await self._tick(user_id, symbol, open, high, low, closed=True)

    async def on_price(self, user_id: str, symbol: str, price: float) -> MonitorReport:
        """Check one last price (a ticker) against the stop and the local targets."""
        return await self._tick(user_id, symbol, price, price, price, closed=False)

    async def check(self, user_id: str) -> MonitorReport:
        """One full pass for ``user_id``: refresh the resting orders (recording their fills),
        place missing targets, check each position at its last price, watch the margin."""
        self._users.add(user_id)
        await self._manager.poll_open(user_id)
        report = await self.place(user_id)
        unprotected: list[str] = []
        for position in await self._journal.positions(user_id):
            if (user_id, position.symbol) not in self._watches:
                unprotected.append(f"{user_id} {position.symbol}: no protection plan")
                continue
            ticker = await self._gateway.fetch_ticker(position.symbol)
            report += await self.on_price(user_id, position.symbol, float(ticker.last))
        report += MonitorReport(
            alerts=tuple(await self.margin_alerts(user_id)), unprotected=tuple(unprotected)
        )
        return report

    async def _tick(
        self, user_id: str, symbol: str, open: float, high: float, low: float, *, closed: bool
    ) -> MonitorReport:
        key = (user_id, symbol)
        w = self._watches.get(key)
        if w is None:
            return MonitorReport()
        async with self._lock(key):
            await self._manager.poll_open(user_id, symbol)
            position = await self._open_position(w)
            if position is None:
                return await self._finish(w)
            report = await self._place_targets(w, position)
            plan = w.plan
            market = await self._markets(symbol)
            entry = float(position.entry_price)
            if w.best is None:
                w.best = entry if w.seed is None else w.seed
                w.stop = stop_now(plan, entry, w.best, float(market.taker_fee_rate))
            code = direction_code(plan.direction)
            target_leg, target = self._nearest_local(w)
            price, reason = intrabar_exit(code, open, high, low, w.stop.price, target)
            if reason == EXIT_STOP_LOSS:
                what = "trailing stop" if w.stop.trailing else "stop-loss"
                detail = f"{what} {w.stop.price:.8g} hit at {price:.8g}"
                return report + await self._close(w, IntentKind.STOP_LOSS, detail, "stop_loss")
            if reason == EXIT_TAKE_PROFIT:
                report += await self._take_local(w, position, target_leg, price)
            if closed:
                w.best = favourable_extreme(code, w.best, high, low)
                moved = stop_now(plan, entry, w.best, float(market.taker_fee_rate))
                if moved.price != w.stop.price and not (
                    math.isnan(moved.price) and math.isnan(w.stop.price)
                ):
                    was = w.stop.price
                    w.stop = moved
                    what = "trailing" if moved.trailing else "break-even"
                    report += MonitorReport(
                        actions=(
                            self._act(
                                plan, "stop_moved", None, f"{what}: {was:.8g} -> {moved.price:.8g}"
                            ),
                        )
                    )
            return report

    def _nearest_local(self, w: _Watch) -> tuple[int, float]:
        sign = 1 if direction_code(w.plan.direction) > 0 else -1
        best_leg, best = -1, math.nan
        for leg, target in w.local.items():
            if target.price is None:
                continue
            level = float(target.price)
            if math.isnan(best) or sign * level < sign * best:
                best_leg, best = leg, level
        return best_leg, best

    async def _take_local(
        self, w: _Watch, position: Position, leg: int, price: float
    ) -> MonitorReport:
        target = w.local.pop(leg)
        amount = min(target.amount, position.amount)
        # A limit the exchange refused is journaled under the target's id: close as REDUCE.
        refused = await self._orders.get(target.client_order_id) is not None
        kind = IntentKind.REDUCE if refused else target.kind
        intent = dataclasses.replace(
            target, kind=kind, order_type=OrderType.MARKET, price=None, amount=amount
        )
        detail = f"target {target.price} reached at {price:.8g}"
        try:
            order = await self._submit(intent)
        except InvalidOrderError as e:
            log.warning("local target not executable", client_order_id=intent.client_order_id)
            w.dropped.add(leg)
            return MonitorReport(actions=(self._act(w.plan, "refused", None, f"{detail}: {e}"),))
        return MonitorReport(actions=(self._act(w.plan, "take_profit", order, detail),))

    # -- closing --------------------------------------------------------------------------

    async def close_all(self, user_id: str, reason: str = "kill switch") -> MonitorReport:
        """Cancel ``user_id``'s resting orders and market-close each of their positions."""
        self._users.add(user_id)
        report = MonitorReport()
        for order in await self._orders.open_orders(user_id):
            # Market orders in flight settle by themselves; canceling one could strand a close.
            if order.order_type is not OrderType.MARKET:
                report += await self._cancel(order)
        for position in await self._journal.positions(user_id):
            key = (user_id, position.symbol)
            w = self._watches.get(key) or _Watch(self._adopted_plan(position))
            async with self._lock(key):
                report += await self._close(w, IntentKind.LIQUIDATE, reason, "closed")
        return report

    async def close_everything(self, reason: str = "kill switch") -> MonitorReport:
        """``close_all`` for every user this monitor has seen."""
        report = MonitorReport()
        for user_id in sorted(self._users):
            report += await self.close_all(user_id, reason)
        return report

    async def _close(self, w: _Watch, kind: IntentKind, detail: str, action: str) -> MonitorReport:
        plan = w.plan
        report = MonitorReport()
        for order in await self._orders.open_orders(plan.user_id, plan.symbol):
            if _resting_protection(order):
                report += await self._cancel(order)
        position = await self._open_position(w)
        if position is None:
            return report + await self._finish(w)
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
        order = await self._submit(intent)
        report += MonitorReport(actions=(self._act(plan, action, order, detail),))
        if await self._open_position(w) is None:
            report += await self._finish(w)
        return report

    async def _finish(self, w: _Watch) -> MonitorReport:
        """The position is gone: cancel what still protects it and forget the plan."""
        report = MonitorReport()
        plan = w.plan
        for order in await self._orders.open_orders(plan.user_id, plan.symbol):
            if _resting_protection(order):
                report += await self._cancel(order)
        if self._watches.get(plan.key) is w:
            del self._watches[plan.key]
        return report

    async def _cancel(self, order: Order) -> MonitorReport:
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

    async def _submit(self, intent: OrderIntent) -> Order:
        # A journaled id (an earlier pass, or before a restart) is settled, never resent.
        return await self._manager.submit(intent)

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

    # -- margin ---------------------------------------------------------------------------

    async def margin_alerts(self, user_id: str) -> list[MarginAlert]:
        """Alerts for ``user_id``'s futures positions near their liquidation price."""
        swaps = []
        for position in await self._journal.positions(user_id):
            market = await self._markets(position.symbol)
            if market.kind is MarketKind.SWAP:
                swaps.append(position.symbol)
        if not swaps:
            return []
        alerts: list[MarginAlert] = []
        for report in await self._gateway.fetch_positions(swaps):
            liq = report.liquidation_price
            if liq is None or liq <= 0:
                continue
            price = (await self._gateway.fetch_ticker(report.symbol)).last
            distance = abs(price - liq) / price
            if distance < self._alert:
                alert = MarginAlert(
                    user_id=user_id,
                    symbol=report.symbol,
                    price=price,
                    liquidation_price=liq,
                    distance=distance,
                    threshold=self._alert,
                )
                log.warning("liquidation near", user_id=user_id, symbol=report.symbol)
                alerts.append(alert)
        return alerts

    # -- plumbing -------------------------------------------------------------------------

    async def _open_position(self, w: _Watch) -> Position | None:
        position = await self._journal.position(w.plan.user_id, w.plan.symbol)
        if position is None or not position.is_open:
            return None
        return position

    @staticmethod
    def _adopted_plan(position: Position) -> ProtectionPlan:
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

    @staticmethod
    def _act(
        plan: ProtectionPlan, action: str, order: Order | str | None, detail: str
    ) -> MonitorAction:
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

    async def _gateway_market(self, symbol: str) -> Market:
        market = (await self._gateway.markets()).get(symbol)
        if market is None:
            raise UnknownSymbolError(
                f"{self._gateway.exchange_id} lists no market {symbol!r}; check the symbol."
            )
        return market

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())


async def kill_switch(
    monitors: Iterable[PositionMonitor], reason: str = "kill switch"
) -> MonitorReport:
    """Close everything on every monitor (one per exchange account)."""
    report = MonitorReport()
    for monitor in monitors:
        report += await monitor.close_everything(reason)
    return report
