"""One user's trading on a closed candle, in the portfolio kernel's order.

The feed hands out each (symbol, candle) on its own, in whatever order the fetches finish.
The kernel (``backtest.portfolio_kernel``) takes a time's decisions across the account in a
fixed order, so a user's candles wait here until every symbol they follow has delivered that
candle (or a later one; a pair the feed dropped is not waited for, and a lagging one only
until another symbol delivers the next candle), then, under the user's lock:

1. per symbol, in the user's symbol order: a SNAPSHOT candle already decided before a restart
   is skipped (``decided``), unknown orders are resolved and open ones polled, the runtime
   guard may block the user (``embedded_kill``), and the position monitor sees the candle
   (stop, targets, trailing and break-even moves) as the kernel's exits within the candle;
2. the trades the journal closed since are fed to the protections (``embedded_account``),
   then the account's equity marked at the candle's closes;
3. exits: each held symbol's step decides (exit signal, time exit) and its CLOSE is sent;
   the trades they closed are fed to the protections as each entry is judged;
4. entries: the flat symbols with an entry signal, strongest signal first then in symbol
   order (the kernel's stable sort), each decided against the account as it stands after
   the ones before it: the protections, the sizing, the limits with every other open
   position counted (``AccountView.others``, marked at its symbol's last close).

An OPEN's stop and targets become its ``ProtectionPlan`` (the position monitor places the
take-profits once the OPEN has filled and watches the stop). Every CLOSE and OPEN goes through
the user's ``OrderManager`` (journaled before sent, deterministic client order ids).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import structlog

from xraybot.data.feed_events import EventKind, FeedEvent
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.errors import TemporaryError, XraybotError
from xraybot.model.ids import derive_client_order_id
from xraybot.model.orders import Order
from xraybot.model.signals import IntentKind, OrderIntent
from xraybot.runtime.embedded_account import AccountRisk, Book
from xraybot.runtime.embedded_kill import RuntimeGuard
from xraybot.runtime.embedded_selection import SymbolPicker
from xraybot.runtime.embedded_users import RunUser
from xraybot.trading.monitor import PositionMonitor
from xraybot.trading.monitor_types import MonitorReport, ProtectionPlan
from xraybot.trading.order_manager import OrderManager
from xraybot.trading.ports import Clock, Journal, OrderRepository
from xraybot.trading.step import StepConfig, StepDecision, decide

log = structlog.get_logger(__name__)

_SENT_NOW = frozenset({IntentKind.OPEN, IntentKind.CLOSE})
_PROTECTIVE = frozenset({IntentKind.TAKE_PROFIT, IntentKind.STOP_LOSS})


@dataclass(slots=True)
class Trader:
    """One user being traded: their gateway, order manager, step config per symbol, and the
    account's protections and marks (``embedded_account``)."""

    user: RunUser
    gateway: ExchangeGateway
    manager: OrderManager
    monitor: PositionMonitor
    configs: dict[str, StepConfig]
    risk: AccountRisk
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: dict[int, dict[str, FeedEvent]] = field(default_factory=dict)  # candle ts -> ...
    latest: dict[str, int] = field(default_factory=dict)  # symbol -> newest candle delivered
    silent: set[str] = field(default_factory=set)  # pairs the feed dropped: not waited for

    def awaited(self) -> list[str]:
        """The symbols a candle waits for: every traded one the feed has not dropped."""
        return [s for s in self.configs if s not in self.silent]


def next_ready(
    pending: Mapping[int, object], latest: Mapping[str, int], awaited: Iterable[str]
) -> int | None:
    """The oldest pending candle time that may be traded now, or None to wait.

    A candle waits for every ``awaited`` symbol to deliver it, but at most one candle: once
    any symbol has delivered a later one, it is traded with what arrived, so one stuck fetch
    never holds the user's stops, exits and other symbols back.
    """
    if not pending:
        return None
    ts = min(pending)
    if max(latest.values(), default=ts) > ts:
        return ts
    if any(latest.get(symbol, -1) < ts for symbol in awaited):
        return None
    return ts


@dataclass(frozen=True, slots=True)
class _Ready:
    config: StepConfig
    event: FeedEvent

    @property
    def now_ms(self) -> int:
        return int(self.event.window.ts_ms[-1]) + self.event.window.timeframe_ms


def _entry_key(decision: StepDecision, config: StepConfig) -> float | None:
    """The kernel's sort key of a flat symbol's entry signal (None: no allowed signal)."""
    row = decision.row
    if row is None:
        return None
    wants = (row.entry_long and config.directions in ("long", "both")) or (
        row.entry_short and config.directions in ("short", "both")
    )
    if not wants:
        return None
    strength = 1.0 if row.strength is None else row.strength
    return -(0.0 if math.isnan(strength) else strength)


class CandleTrading:
    """Trades each user's closed candles (see the module docstring)."""

    def __init__(
        self,
        *,
        journal: Journal,
        orders: OrderRepository,
        clock: Clock,
        guard: RuntimeGuard,
        picker: SymbolPicker,
        decisions: Counter[tuple[str, str]],
        traded_through: dict[str, int],
        submitted: list[Order],
        on_error: Callable[[], None],
    ) -> None:
        self._journal = journal
        self._orders = orders
        self._clock = clock
        self._guard = guard
        self._picker = picker
        self._decisions = decisions
        self._traded_through = traded_through
        self._submitted = submitted
        self._on_error = on_error

    async def on_event(self, trader: Trader, event: FeedEvent) -> None:
        """Take one feed event; trade every candle all the user's symbols have delivered."""
        symbol = event.symbol
        async with trader.lock:
            if event.kind is EventKind.DROPPED:
                log.warning("feed pair dropped", user_id=trader.user.user_id, reason=event.reason)
                trader.silent.add(symbol)
            elif len(event.window) > 0 and symbol in trader.configs:
                ts = int(event.window.ts_ms[-1])
                trader.silent.discard(symbol)
                trader.pending.setdefault(ts, {})[symbol] = event
                trader.latest[symbol] = max(ts, trader.latest.get(symbol, ts))
            while (due := next_ready(trader.pending, trader.latest, trader.awaited())) is not None:
                try:
                    await self._trade(trader, trader.pending.pop(due))
                finally:
                    user_id = trader.user.user_id
                    self._traded_through[user_id] = max(due, self._traded_through.get(user_id, due))

    # -- one candle of the account ----------------------------------------------------------

    async def _trade(self, trader: Trader, batch: dict[str, FeedEvent]) -> None:
        user_id = trader.user.user_id
        ready: dict[str, _Ready] = {}
        for symbol, config in list(trader.configs.items()):
            event = batch.get(symbol)
            if event is None:
                continue
            trader.risk.closes[symbol] = float(event.window.close[-1])
            item = _Ready(config, event)
            if await self._safely(user_id, symbol, self._prepare(trader, item)):
                ready[symbol] = item
        if not ready:
            return
        first = next(iter(ready.values()))
        await self._safely(user_id, "*", self._mark(trader, first))
        flat: list[tuple[float, int, str]] = []
        for order, (symbol, item) in enumerate(ready.items()):
            key: list[float | None] = [None]
            await self._safely(user_id, symbol, self._exit_or_rank(trader, item, key))
            if key[0] is not None:
                flat.append((key[0], order, symbol))
        for _, _, symbol in sorted(flat):
            item = ready[symbol]
            if await self._safely(user_id, symbol, self._enter(trader, item)):
                self._decisions[(user_id, symbol)] += 1

    async def _safely(self, user_id: str, symbol: str, work: Awaitable[bool]) -> bool:
        try:
            return await work
        except TemporaryError as e:  # the next candle tries again
            self._on_error()
            log.warning("step failed", user_id=user_id, symbol=symbol, error=str(e))
        except XraybotError as e:
            self._on_error()
            log.error("step failed", user_id=user_id, symbol=symbol, error=str(e))
        return False

    async def _prepare(self, trader: Trader, item: _Ready) -> bool:
        user_id, event = trader.user.user_id, item.event
        if event.kind is EventKind.SNAPSHOT and await self.decided(item.config, event):
            return False
        await trader.manager.resolve_unknown(user_id, event.symbol)
        await trader.manager.poll_open(user_id, event.symbol)
        if not await self._guard.allow(trader):
            return False  # killed or stopped (runtime.embedded_kill)
        if event.kind is EventKind.UPDATE:
            await self._monitor(trader, event)
        return True

    async def _book(self, trader: Trader, config: StepConfig) -> Book:
        market = config.market
        return await trader.risk.book(trader.gateway, self._journal, market.quote, market.kind)

    async def _mark(self, trader: Trader, item: _Ready) -> bool:
        """Feed the exits since the last candle, then the equity at this candle's close."""
        book = await self._book(trader, item.config)
        await trader.risk.catch_up(self._journal, book.equity)
        trader.risk.record_equity(item.now_ms - 1, book.equity)
        return True

    async def _decide(
        self, trader: Trader, item: _Ready, *, protected: bool
    ) -> tuple[StepDecision, bool]:
        """The step's decision on the candle, and whether the symbol is held."""
        symbol = item.config.market.symbol
        book = await self._book(trader, item.config)
        if protected:  # the trades this candle's exits closed count before an entry is judged
            await trader.risk.catch_up(self._journal, book.equity)
        account = trader.risk.view(book, symbol)
        now = max(item.now_ms, self._clock.now_ms())
        chain = trader.risk.chain if protected else None
        held = account.position is not None and account.position.is_open
        return decide(item.event.window, now, item.config, account, chain), held

    async def _exit_or_rank(self, trader: Trader, item: _Ready, rank: list[float | None]) -> bool:
        """Send a held symbol's CLOSE; put a flat symbol's entry key in ``rank`` (None: no
        entry signal)."""
        key = (trader.user.user_id, item.config.market.symbol)
        # Without the protections: a flat symbol's entry is decided again, in _enter.
        decision, held = await self._decide(trader, item, protected=False)
        if held:
            await self._send(trader, decision)
            self._decisions[key] += 1
            return True
        rank[0] = _entry_key(decision, item.config)
        if rank[0] is None:
            self._decisions[key] += 1  # flat, no entry signal: decided
        return True

    async def _enter(self, trader: Trader, item: _Ready) -> bool:
        decision, _ = await self._decide(trader, item, protected=True)
        await self._send(trader, decision)
        if decision.opens is not None:
            plan = ProtectionPlan.from_decision(decision, item.config.exit_rules())
            trader.monitor.watch(plan)
            await self._report(trader.monitor.place(trader.user.user_id))
        return True

    # -- orders -----------------------------------------------------------------------------

    async def _before_close(self, trader: Trader, intent: OrderIntent) -> OrderIntent | None:
        """Cancel the position's resting targets (on spot they hold the coins), then size the
        CLOSE to what the journal still holds: a target may have filled meanwhile."""
        if await self._orders.get(intent.client_order_id) is not None:
            return intent  # journaled before: the order manager settles it, never twice
        user_id = trader.user.user_id
        for order in await self._orders.open_orders(user_id, intent.symbol):
            if order.kind in _PROTECTIVE:
                await trader.manager.cancel(order.client_order_id)
        position = await self._journal.position(user_id, intent.symbol)
        if position is None or position.amount <= 0:
            return None
        if position.amount == intent.amount:
            return intent
        return dataclasses.replace(intent, amount=position.amount)

    async def _send(self, trader: Trader, decision: StepDecision) -> None:
        for intent in decision.intents:
            if intent.kind not in _SENT_NOW:
                continue  # stops and targets: the position monitor's (module docstring)
            if intent.kind is IntentKind.OPEN and not self._picker.may_open(
                intent.user_id, intent.symbol
            ):
                continue  # dropped from the user's selection: managed until flat only
            if intent.kind is IntentKind.CLOSE:
                closing = await self._before_close(trader, intent)
                if closing is None:
                    continue
                intent = closing
            order = await trader.manager.submit(intent)
            self._submitted.append(order)
            log.info(
                "order submitted",
                user_id=intent.user_id,
                symbol=intent.symbol,
                kind=intent.kind.value,
                client_order_id=order.client_order_id,
                status=order.status.value,
                reason=intent.reason,
            )

    async def decided(self, config: StepConfig, event: FeedEvent) -> bool:
        """Whether the journal holds an OPEN or CLOSE order signalled on the last candle."""
        ts_ms = int(event.window.ts_ms[-1])
        for kind in _SENT_NOW:
            cid = derive_client_order_id(
                config.user_id, config.strategy.name, config.market.symbol, ts_ms, kind, 0
            )
            if await self._orders.get(cid) is not None:
                return True
        return False

    # -- the position monitor ---------------------------------------------------------------

    async def _monitor(self, trader: Trader, event: FeedEvent) -> None:
        closed = event.closed
        for i in range(len(closed)):
            await self._report(
                trader.monitor.on_candle(
                    trader.user.user_id,
                    event.symbol,
                    open=float(closed.open[i]),
                    high=float(closed.high[i]),
                    low=float(closed.low[i]),
                )
            )

    async def _report(self, pending: Awaitable[MonitorReport]) -> None:
        report = await pending
        for a in report.actions:
            log.info("position monitor acted", **a.log_fields())
        for alert in report.alerts:
            log.warning("margin alert", message=alert.message)


__all__ = ["CandleTrading", "Trader", "next_ready"]
