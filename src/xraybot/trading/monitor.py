"""The position monitor: stops, targets, trailing and break-even moves, the kill switch.

Per open position (``Journal.positions``) the monitor holds the ``ProtectionPlan`` decided
with its OPEN (``trading.step``: the stop level, the TAKE_PROFIT intents, the ExitRules):

- Take-profits (the final target and each partial target) rest on the exchange as limit
  orders, resized to the OPEN's filled amount and sent through the OrderManager, so they
  are journaled first and keep the step's deterministic client ids. A target the exchange
  will not take (under its minimums) is watched locally instead.
- The stop is watched locally: on each closed candle ``matching.rules.intrabar_exit``
  (stop first, gap fills) and on each price tick the same rule on a single price decide
  whether it is hit. The stop in force is the backtest kernel's: ``risk.exits`` break-even
  and trailing levels from the favourable extreme of the candles already closed, bound
  through ``protective_stop``.
- Where the gateway says a market takes resting stops (``resting_stops``: swap trigger
  orders), the stop in force also rests on the exchange, one at a time, moved by cancel
  and replace (``monitor_stops``); the local watch stays on as a backup. Without
  ``resting_stops`` (the default) every stop is watched locally only.
- A hit stop cancels the resting targets and stop (on spot they hold the coins), then closes what
  the journal still holds with one market order under the plan's STOP_LOSS id (leg 0): a
  second pass on the same tick finds that order journaled and places nothing new.
- ``close_all`` / ``close_everything`` (the kill switch) cancel the user's resting orders and
  market-close every position under LIQUIDATE ids, reduce-only on swaps.
- What is sent (placing, sizing, canceling, the close leg) lives in ``monitor_orders``; this
  module decides when.
- ``margin_alerts`` compares each futures position's liquidation price with the last price
  and returns an alert (data, not a notification) when the distance is under a threshold.

The plans live in memory and are not stored: after a restart ``restore`` rebuilds each open
position's plan deterministically from the journal and the exchange's closed candles (the
journaled OPEN order found by its deterministic id, the window it was decided on,
``monitor_types.rebuild_plan``) and seeds the trailing/break-even extreme from the candles
closed since the entry. Targets placed before keep their ids and are never placed twice.
A local watch does not exist while the process is down, so ``restore`` also replays those
candles through the same rules (``monitor_downtime``): a stop crossed meanwhile closes the
position at market at once (STOP_LOSS, the same id a second restart finds journaled), with
a reason naming the candle and the level; ``restore_report`` hands over what it did.
A position without a plan is reported by ``check`` as unprotected.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Iterable
from decimal import Decimal

import structlog

from xraybot.exchange.port import ExchangeGateway
from xraybot.exchange.retry import with_retries
from xraybot.matching.rules import EXIT_STOP_LOSS, EXIT_TAKE_PROFIT, intrabar_exit
from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.errors import InvalidInputError, UnknownSymbolError
from xraybot.model.fills import Position
from xraybot.model.market import Market
from xraybot.model.signals import IntentKind, OrderType
from xraybot.risk.exits import favourable_extreme
from xraybot.trading.monitor_downtime import nearest_target, replay_held
from xraybot.trading.monitor_margin import margin_alerts
from xraybot.trading.monitor_orders import ProtectiveOrders, Watch, act, adopted_plan
from xraybot.trading.monitor_stops import RestingStops, RestingStopSupport
from xraybot.trading.monitor_types import (
    MarginAlert,
    MonitorAction,
    MonitorReport,
    ProtectionPlan,
    direction_code,
    rebuild_plan,
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
        resting_stops: RestingStopSupport | None = None,
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
        self._watches: dict[tuple[str, str], Watch] = {}
        self._users: set[str] = set()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._restored = MonitorReport()
        self._protective = ProtectiveOrders(order_manager, journal, orders, self._markets)
        self._stops = RestingStops(order_manager, orders, resting_stops)

    # -- plans ----------------------------------------------------------------------------

    def watch(self, plan: ProtectionPlan, best: float | None = None) -> None:
        """Protect ``plan``'s position from now on (a newer plan replaces an older one).

        ``best``: the favourable extreme of the candles closed since the entry, if known.
        """
        current = self._watches.get(plan.key)
        if current is None or current.plan != plan:
            self._watches[plan.key] = Watch(plan, seed=best)
        self._users.add(plan.user_id)

    async def restore(
        self, position: Position, config: StepConfig, timeframe: str
    ) -> ProtectionPlan | None:
        """Rebuild and watch the plan of ``position`` after a restart (module docstring).

        None when the journal holds no OPEN of it (opened by hand or by an older version).
        """
        tf = timeframe_to_ms(timeframe)
        first = position.opened_ts_ms // tf * tf
        opened = await self._protective.journaled_open(position, tf)
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
        async with self._lock(plan.key):
            report = await self._catch_up(plan, position, candles, max(signal_end, first))
        self._restored += report
        for a in report.actions:
            log.warning("acted at restart", **a.log_fields())
        return plan

    async def _catch_up(
        self, plan: ProtectionPlan, position: Position, candles: Candles, from_ts_ms: int
    ) -> MonitorReport:
        """Watch ``plan`` again and act on what its local exits missed while nobody watched
        (``monitor_downtime``): take the local targets crossed, close if the stop was hit."""
        market = await self._markets(plan.symbol)
        local = await self._protective.refused_targets(plan, position, market)
        replay = replay_held(
            plan,
            candles,
            entry=float(position.entry_price),
            from_ts_ms=from_ts_ms,
            fee_rate=float(market.taker_fee_rate),
            local_targets={k: float(t.price) for k, t in local.items() if t.price is not None},
        )
        self.watch(plan, replay.best)
        w = self._watches[plan.key]
        w.local.update(local)
        report = MonitorReport()
        for missed in replay.missed:
            if missed.is_stop:
                return report + await self._close(
                    w, IntentKind.STOP_LOSS, missed.describe(), "stop_loss"
                )
            now_held = await self._protective.open_position(plan)
            if now_held is None:
                return report + await self._finish(w)
            report += await self._protective.take_local(
                w, now_held, missed.leg, missed.price, detail=missed.describe()
            )
        return report

    def restore_report(self) -> MonitorReport:
        """What ``restore`` did since the last call (exits missed while down), then forgets it."""
        report, self._restored = self._restored, MonitorReport()
        return report

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
                position = await self._protective.open_position(w.plan)
                if position is not None:
                    report += await self._protective.place_targets(w, position)
                    market = await self._markets(w.plan.symbol)
                    self._start_stop(w, position, market)
                    report += await self._stops.keep(w, position, market)
        return report

    def _start_stop(self, w: Watch, position: Position, market: Market) -> None:
        if w.best is None:  # the first pass: the stop the plan starts with
            entry = float(position.entry_price)
            w.best = entry if w.seed is None else w.seed
            w.stop = stop_now(w.plan, entry, w.best, float(market.taker_fee_rate))

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
            position = await self._protective.open_position(w.plan)
            if position is None:
                return await self._finish(w)
            report = await self._protective.place_targets(w, position)
            plan = w.plan
            market = await self._markets(symbol)
            entry = float(position.entry_price)
            self._start_stop(w, position, market)
            assert w.best is not None
            code = direction_code(plan.direction)
            levels = {k: float(t.price) for k, t in w.local.items() if t.price is not None}
            target_leg, target = nearest_target(code, levels)
            price, reason = intrabar_exit(code, open, high, low, w.stop.price, target)
            if reason == EXIT_STOP_LOSS:
                what = "trailing stop" if w.stop.trailing else "stop-loss"
                detail = f"{what} {w.stop.price:.8g} hit at {price:.8g}"
                return report + await self._close(w, IntentKind.STOP_LOSS, detail, "stop_loss")
            if reason == EXIT_TAKE_PROFIT:
                report += await self._protective.take_local(w, position, target_leg, price)
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
                            act(
                                plan, "stop_moved", None, f"{what}: {was:.8g} -> {moved.price:.8g}"
                            ),
                        )
                    )
            if self._stops.applies(market):
                held = position
                if reason == EXIT_TAKE_PROFIT:  # a local target took part of it
                    left = await self._protective.open_position(plan)
                    if left is None:
                        return report + await self._finish(w)
                    held = left
                report += await self._stops.keep(w, held, market)
            return report

    # -- closing --------------------------------------------------------------------------

    async def close_all(self, user_id: str, reason: str = "kill switch") -> MonitorReport:
        """Cancel ``user_id``'s resting orders and market-close each of their positions."""
        self._users.add(user_id)
        report = MonitorReport()
        for order in await self._orders.open_orders(user_id):
            # Market orders in flight settle by themselves; canceling one could strand a close.
            if order.order_type is not OrderType.MARKET:
                report += await self._protective.cancel(order)
        for position in await self._journal.positions(user_id):
            key = (user_id, position.symbol)
            w = self._watches.get(key) or Watch(adopted_plan(position))
            async with self._lock(key):
                report += await self._close(w, IntentKind.LIQUIDATE, reason, "closed")
        return report

    async def close_everything(self, reason: str = "kill switch") -> MonitorReport:
        """``close_all`` for every user this monitor has seen."""
        report = MonitorReport()
        for user_id in sorted(self._users):
            report += await self.close_all(user_id, reason)
        return report

    async def _close(self, w: Watch, kind: IntentKind, detail: str, action: str) -> MonitorReport:
        report, gone = await self._protective.close(w.plan, kind, detail, action)
        if gone:
            report += await self._finish(w)
        return report

    async def _finish(self, w: Watch) -> MonitorReport:
        """The position is gone: cancel what still protects it and forget the plan."""
        report = await self._protective.cancel_protection(w.plan)
        if self._watches.get(w.plan.key) is w:
            del self._watches[w.plan.key]
        return report

    # -- margin ---------------------------------------------------------------------------

    async def margin_alerts(self, user_id: str) -> list[MarginAlert]:
        """Alerts for ``user_id``'s futures positions near their liquidation price."""
        positions = await self._journal.positions(user_id)
        return await margin_alerts(self._gateway, self._markets, user_id, positions, self._alert)

    # -- plumbing -------------------------------------------------------------------------

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
