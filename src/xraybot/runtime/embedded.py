"""The embedded runtime: every user in one process, one shared candle feed, one journal.

Start-up: each active user is checked (a ``live`` user needs ``allow_live``, else they are
refused with ``LiveTradingRefusedError`` and logged while paper users run), given a gateway
(paper or live, ``embedded_users``) and reconciled (``trading.reconcile.reconcile_user``); a
user whose state cannot be reconciled is not traded and the alert is logged.

Then one ``CandleFeed`` per exchange follows the union of every user's (symbol, timeframe):
one fetch per pair per closed candle, fanned out. Each user's candles are traded
by ``embedded_trading`` once every symbol they follow has delivered the candle, in the
portfolio kernel's order: the position monitor (stops, targets), the exits, then the entries,
strongest signal first, each through ``trading.step.decide`` with the user's protection chain
and every other open position counted by the limits (``embedded_account``), and sent through
the user's ``OrderManager`` (journaled before sent, deterministic client order ids). A
SNAPSHOT's last candle is decided too, unless the journal already holds an OPEN or CLOSE order
signalled on that very candle (client ids are deterministic): so a restart neither repeats nor
contradicts a decision made before it, and a decision made again would yield the same client
ids, which the order manager finds instead of placing a second order.
The journal is where a restart picks up.

``stop()`` (SIGINT/SIGTERM under ``run``) refuses new candles, waits for the decisions in
flight, stops the feeds and closes the gateways; everything decided is already journaled.

Each user has a ``trading.monitor.PositionMonitor`` (an OPEN's stop and targets become its
``ProtectionPlan``) and one ``risk.protections_chain.ProtectionChain`` built from their risk
profile (``embedded_account``). Protection plans live in memory; at start-up each open
position's plan is rebuilt from the journal (``PositionMonitor.restore``), else it is logged
as unprotected, and the chain is fed every closed trade of the journal, so a cooldown or a
lock active before a restart still blocks after it.

Screener-driven users are picked by ``embedded_selection`` (at start-up, then every
``selection_interval``); the kill switch and periodic reconciliation run in
``embedded_kill``; paper accounts are rebuilt from the journal at start-up.

TODO: the feed window is sized at start-up only; margin alerts are logged, not acted on;
notifications (their own issue).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from xraybot.data.feed import CandleFeed, FeedEvent, FeedSettings, Sleep, wall_clock_ms
from xraybot.data.feed_events import Subscription
from xraybot.exchange.retry import with_retries
from xraybot.model.errors import LiveTradingRefusedError, OperationalError, XraybotError
from xraybot.model.market import Market
from xraybot.model.orders import Order
from xraybot.runtime.embedded_admit import Wiring, admit_user
from xraybot.runtime.embedded_kill import (
    DEFAULT_RECONCILE_EVERY_MS,
    GuardStats,
    KillSource,
    RuntimeGuard,
)
from xraybot.runtime.embedded_selection import (
    DEFAULT_SELECTION_INTERVAL_S,
    SymbolPicker,
    picked_configs,
)
from xraybot.runtime.embedded_trading import CandleTrading, Trader
from xraybot.runtime.embedded_users import GatewayFactory, RunUser
from xraybot.trading.ports import Clock, Journal, OrderRepository
from xraybot.trading.step import StepConfig, window_size

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddedSettings:
    """How the runtime runs: live permission, feed pacing, clocks for tests and replays."""

    allow_live: bool = False
    feed: FeedSettings | None = None  # None: defaults, window sized to the users' strategies
    feed_clock: Callable[[], int] | None = None  # ms; None: the wall clock
    sleep: Sleep = asyncio.sleep
    # Adjusts each (user, symbol) step config after it is built from the user's settings;
    # a replay uses it to trade with the backtest's own strategy object and exits.
    step_config: Callable[[StepConfig], StepConfig] | None = None
    # Seconds between screens + selections for screener-driven users (embedded_selection).
    selection_interval: float = DEFAULT_SELECTION_INTERVAL_S
    # The operators' kill switch (``storage.kill_switch.SqlKillSwitch.read``), read on every
    # candle; None: no switch. Periodic reconciliation every so many ms; None: never.
    kill_switch: KillSource | None = None
    reconcile_every_ms: int | None = DEFAULT_RECONCILE_EVERY_MS


@dataclass(slots=True)
class RunStats:
    """What the runtime did; tests and the CLI read it."""

    refused: dict[str, str] = field(default_factory=dict)  # user id -> why
    live_refused: set[str] = field(default_factory=set)  # of those: live without allow_live
    decisions: Counter[tuple[str, str]] = field(default_factory=Counter)  # (user, symbol)
    # user -> open time of the newest closed candle whose trading finished (decided or
    # failed: either way it sends nothing more); tests wait on it, errors can't count twice.
    traded_through: dict[str, int] = field(default_factory=dict)
    submitted: list[Order] = field(default_factory=list)
    errors: int = 0
    guard: GuardStats = field(default_factory=GuardStats)  # kill switch, reconciliation

    def as_dict(self) -> dict[str, object]:
        return {
            "refused": dict(self.refused),
            "live_refused": sorted(self.live_refused),
            "decisions": {f"{u} {s}": n for (u, s), n in sorted(self.decisions.items())},
            "traded_through": dict(sorted(self.traded_through.items())),
            "submitted": [o.client_order_id for o in self.submitted],
            "errors": self.errors,
            **self.guard.as_dict(),
        }


class EmbeddedRuntime:
    """All users in one process (see the module docstring)."""

    def __init__(
        self,
        users: Sequence[RunUser],
        *,
        gateways: GatewayFactory,
        journal: Journal,
        orders: OrderRepository,
        clock: Clock,
        settings: EmbeddedSettings | None = None,
    ) -> None:
        self._users = list(users)
        self._gateways = gateways
        self._journal = journal
        self._orders = orders
        self._clock = clock
        self._settings = settings if settings is not None else EmbeddedSettings()
        self.stats = RunStats()
        self._guard = RuntimeGuard(
            kill=self._settings.kill_switch,
            reconcile_every_ms=self._settings.reconcile_every_ms,
            journal=journal,
            orders=orders,
            clock=clock,
            stats=self.stats.guard,
        )
        self.traders: dict[str, Trader] = {}
        self._feeds: dict[str, CandleFeed] = {}
        self._subscriptions: list[tuple[CandleFeed, Subscription]] = []
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._started = False
        self.picker = SymbolPicker(
            gateways.public, clock.now_ms, interval_s=self._settings.selection_interval
        )
        self._reselect: asyncio.Task[None] | None = None
        self._trading = CandleTrading(
            journal=journal,
            orders=orders,
            clock=clock,
            guard=self._guard,
            picker=self.picker,
            decisions=self.stats.decisions,
            traded_through=self.stats.traded_through,
            submitted=self.stats.submitted,
            on_error=self._count_error,
        )

    def _count_error(self) -> None:
        self.stats.errors += 1

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Admit, wire and reconcile every user, then start the shared feeds."""
        if self._started:
            return
        self._started = True
        for user in self._users:
            try:
                trader = await self._admit(user)
            except LiveTradingRefusedError as e:
                self.stats.live_refused.add(user.user_id)
                self._refuse(user.user_id, str(e))
                continue
            except XraybotError as e:
                self._refuse(user.user_id, f"{type(e).__name__}: {e}")
                continue
            if trader is not None:
                self.traders[user.user_id] = trader
        by_exchange: dict[str, list[Trader]] = {}
        for trader in self.traders.values():
            by_exchange.setdefault(trader.user.settings.exchange, []).append(trader)
        for exchange, traders in by_exchange.items():
            feed = CandleFeed(
                await self._gateways.public(exchange),
                settings=self._feed_settings(traders),
                clock=self._settings.feed_clock or wall_clock_ms,
                sleep=self._settings.sleep,
            )
            self._feeds[exchange] = feed
            for trader in traders:
                pairs = [(symbol, trader.user.timeframe) for symbol in trader.configs]
                if not pairs:
                    continue  # a screener-driven user the selection left idle, for now
                sub = feed.subscribe(pairs, self._callback(trader))
                self._subscriptions.append((feed, sub))
            await feed.start()
        if any(t.user.settings.selection.screener for t in self.traders.values()):
            self._reselect = asyncio.ensure_future(self._reselect_forever())
        log.info(
            "embedded runtime started",
            users=sorted(self.traders),
            refused=sorted(self.stats.refused),
            exchanges=sorted(self._feeds),
        )

    async def stop(self) -> None:
        """Take no new candle, finish the decisions in flight, stop feeds, close gateways."""
        self._stopping = True
        if self._reselect is not None:
            self._reselect.cancel()
            await asyncio.gather(self._reselect, return_exceptions=True)
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)
        for feed in self._feeds.values():
            await feed.stop()
        self._feeds.clear()
        self._subscriptions.clear()
        for trader in self.traders.values():
            try:
                await trader.gateway.close()
            except XraybotError as e:
                log.warning("closing a gateway failed", user_id=trader.user.user_id, error=str(e))
        log.info("embedded runtime stopped", **self.stats.as_dict())

    async def run(self, seconds: float | None = None, *, handle_signals: bool = True) -> RunStats:
        """Start, trade until SIGINT/SIGTERM (or ``seconds``), then stop gracefully.

        Raise LiveTradingRefusedError when every user was refused for want of
        ``allow_live``, and OperationalError when no user could be traded at all.
        """
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, done.set)
                    installed.append(sig)
        try:
            await self.start()
            if not self.traders:
                raise self._nobody()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=seconds)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.stop()
        return self.stats

    def _nobody(self) -> XraybotError:
        refused = self.stats.refused
        if not refused:
            return OperationalError(
                "no active user to trade; found none. Add one with `xraybot users add`."
            )
        lines = "; ".join(f"{user}: {why}" for user, why in sorted(refused.items()))
        if set(refused) == self.stats.live_refused:
            return LiveTradingRefusedError(lines)
        return OperationalError(f"no user could be traded: {lines}")

    # -- start-up -------------------------------------------------------------------------

    async def _admit(self, user: RunUser) -> Trader | None:
        async def pick(markets: Mapping[str, Market]) -> dict[str, StepConfig]:
            return await self._picked(user, markets, set())

        wiring = Wiring(
            gateways=self._gateways,
            journal=self._journal,
            orders=self._orders,
            clock=self._clock,
            allow_live=self._settings.allow_live,
            step_config=self._settings.step_config,
        )
        # A timeout or a 5xx at start-up is waited out and the whole admission tried again
        # (reconciliation is idempotent): one slow answer must not leave a user untraded
        # for the whole run. Anything else refuses the user at once.
        trader = await with_retries(lambda: admit_user(user, wiring, pick))
        if isinstance(trader, str):
            self._refuse(user.user_id, trader)
            return None
        return trader

    def _refuse(self, user_id: str, why: str) -> None:
        self.stats.refused[user_id] = why
        log.error("user not traded", user_id=user_id, reason=why)

    def _feed_settings(self, traders: Sequence[Trader]) -> FeedSettings:
        base = self._settings.feed if self._settings.feed is not None else FeedSettings()
        if self._settings.feed is not None:
            return base
        if not any(t.configs for t in traders):
            return base  # every user idle: the selection has picked nothing yet
        need = max(
            window_size(c.strategy, c.params, c.exit_rules(), c.profile.sizing.volatility_period)
            for t in traders
            for c in t.configs.values()
        )
        return dataclasses.replace(base, window=max(base.window, need))

    # -- per candle -----------------------------------------------------------------------

    def _callback(self, trader: Trader) -> Callable[[FeedEvent], Awaitable[None]]:
        async def on_event(event: FeedEvent) -> None:
            if self._stopping:
                return
            task = asyncio.ensure_future(self._trading.on_event(trader, event))
            self._inflight.add(task)
            try:
                await asyncio.shield(task)
            finally:
                self._inflight.discard(task)

        return on_event

    # -- screener-driven users (embedded_selection) --------------------------------------

    async def _picked(
        self, user: RunUser, markets: Mapping[str, Market], traded: set[str]
    ) -> dict[str, StepConfig]:
        """Step configs for the symbols the selection newly picks for a screener user; the
        journal's open positions stay managed (closing only) when no longer picked."""
        held = {p.symbol for p in await self._journal.positions(user.user_id)}
        try:
            pick = await self.picker.pick(user)
        except XraybotError as e:  # not an empty pick: keep what is traded, try again later
            self.stats.errors += 1
            log.error(
                "selection failed; the next one tries again", user_id=user.user_id, error=str(e)
            )
            pick = None
        new = set() if pick is None else self.picker.apply(user.user_id, traded | held, pick)
        symbols = tuple(sorted(new | (held - traded)))
        return picked_configs(user, markets, symbols)

    async def _reselect_forever(self) -> None:
        interval_ms = self._settings.selection_interval * 1000
        due = self._clock.now_ms() + interval_ms
        while not self._stopping:
            if self._clock.now_ms() < due:
                await self._settings.sleep(min(60.0, (due - self._clock.now_ms()) / 1000))
                continue
            due = self._clock.now_ms() + interval_ms
            for trader in list(self.traders.values()):
                if trader.user.settings.selection.screener:
                    await self._reselect_one(trader)

    async def _reselect_one(self, trader: Trader) -> None:
        user = trader.user
        try:
            markets = await with_retries(trader.gateway.markets)
            async with trader.lock:
                added = await self._picked(user, markets, set(trader.configs))
                if self._settings.step_config is not None:
                    added = {s: self._settings.step_config(c) for s, c in added.items()}
                trader.configs.update(added)
                trader.risk.chain.add_symbols(list(added))
        except XraybotError as e:  # the next scheduled pick tries again
            self.stats.errors += 1
            log.error("selection failed", user_id=user.user_id, error=str(e))
            return
        feed = self._feeds.get(user.settings.exchange)
        if added and feed is not None:
            pairs = [(symbol, user.timeframe) for symbol in added]
            self._subscriptions.append((feed, feed.subscribe(pairs, self._callback(trader))))
            log.info("following newly selected symbols", user_id=user.user_id, symbols=list(added))


def users_by_id(users: Sequence[RunUser]) -> Mapping[str, RunUser]:
    return {u.user_id: u for u in users}


__all__ = ["EmbeddedRuntime", "EmbeddedSettings", "RunStats", "Trader", "users_by_id"]
