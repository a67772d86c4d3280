"""The live candle feed: one fetch per pair per closed candle, fanned out to every subscriber.

Subscribers name the (symbol, timeframe) pairs they need; the feed follows the union of
them. A pair is fetched once per closed candle however many subscribers share it, and a
subscriber joining a pair already followed costs no request: it gets the current window
at once. Subscribers leave freely; a pair nobody wants any more stops being fetched.

Every candle handed out has closed on the *exchange's* clock (see ``feed_pair``): the
offset between our clock and the exchange's is measured at start and every
``time_sync_s``, and its uncertainty (half the round trip) plus ``clock_margin_ms`` is
subtracted before judging. Late candles are polled again with backoff, gaps are
backfilled from the last candle held, duplicates are handed out once, and a corrected
candle replaces the one held and is reported in ``FeedEvent.corrected``.

Each pair's window is written to a :class:`WindowStore` *before* its subscribers are told,
so a worker woken by the event reads the new window: in memory (embedded mode) or packed
in Redis (distributed mode, ``CacheWindowStore``). Time is injected (``clock`` in ms and
``sleep`` in seconds) so tests drive the feed deterministically.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType

import structlog

from xraybot.data.feed_events import (
    Callback,
    EventKind,
    FeedEvent,
    FeedSettings,
    FeedStats,
    Subscription,
)
from xraybot.data.feed_pair import CandleSource, CandleStream, PairLoop
from xraybot.data.feed_window import MemoryWindowStore, Pair, WindowStore, check_pair
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, TemporaryError, XraybotError

log = structlog.get_logger(__name__)

Clock = Callable[[], int]  # milliseconds
Sleep = Callable[[float], Awaitable[None]]  # seconds
_START_ATTEMPTS = 5


def wall_clock_ms() -> int:
    """Return the local wall clock in ms (the default clock)."""
    return time.time_ns() // 1_000_000


def streams_candles(source: CandleSource) -> bool:
    """Return whether ``source`` pushes candles (a gateway over a ccxt.pro client)."""
    return bool(getattr(source, "has_websockets", False)) and hasattr(source, "watch_ohlcv")


class CandleFeed:
    """Live closed candles for many subscribers, fetched once per pair and candle."""

    def __init__(
        self,
        source: CandleSource | CandleStream,
        store: WindowStore | None = None,
        settings: FeedSettings | None = None,
        *,
        clock: Clock = wall_clock_ms,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Feed from ``source``; windows go to ``store`` (default: this process's memory)."""
        self.source: CandleSource = source
        self.store: WindowStore = store if store is not None else MemoryWindowStore()
        self.settings = settings if settings is not None else FeedSettings()
        self.counters = FeedStats()
        self._clock = clock
        self._sleep = sleep
        watch = self.settings.watch
        self._watch = streams_candles(source) if watch is None else watch
        self._offset_ms = 0
        self._uncertainty_ms = 0
        self._loops: dict[Pair, PairLoop] = {}
        self._subscribers: dict[Pair, set[Subscription]] = {}
        self._subscriptions: set[Subscription] = set()
        self._sync_task: asyncio.Task[None] | None = None
        self._started = False

    # -- time -------------------------------------------------------------------------

    @property
    def offset_ms(self) -> int:
        """Return the exchange's clock minus ours, as last measured."""
        return self._offset_ms

    @property
    def offset_uncertainty_ms(self) -> int:
        """Return how far off the offset may be (half the round trip that measured it)."""
        return self._uncertainty_ms

    def exchange_now_ms(self) -> int:
        """Return the exchange's time now, less the offset's uncertainty and the margin."""
        margin = self._uncertainty_ms + self.settings.clock_margin_ms
        return self._clock() + self._offset_ms - margin

    async def sleep(self, seconds: float) -> None:
        """Sleep on the injected clock."""
        await self._sleep(seconds)

    async def sleep_until(self, exchange_ms: int) -> None:
        """Return once the exchange's clock (as judged by ``exchange_now_ms``) reaches it."""
        while (wait_ms := exchange_ms - self.exchange_now_ms()) > 0:
            await self._sleep(wait_ms / 1000)

    async def sync_clock(self) -> None:
        """Measure the exchange's clock offset (one request)."""
        self.counters.time_syncs += 1
        before = self._clock()
        server = await self.source.fetch_time()
        after = self._clock()
        self._offset_ms = server - (before + after) // 2
        self._uncertainty_ms = (after - before + 1) // 2

    async def _sync_forever(self) -> None:
        while True:
            await self._sleep(self.settings.time_sync_s)
            try:
                await self.sync_clock()
            except XraybotError as e:  # keep the last offset; the next round tries again
                log.warning("exchange clock sync failed; keeping the last offset", error=str(e))

    # -- lifecycle --------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Return whether the feed is running (start() done, stop() not yet)."""
        return self._started

    @property
    def pairs(self) -> frozenset[Pair]:
        """Return the pairs being followed (the union of every subscriber's)."""
        return frozenset(self._subscribers)

    @property
    def stats(self) -> FeedStats:
        """Return a copy of the counters."""
        return self.counters.copy()

    async def start(self) -> None:
        """Measure the clock offset, then follow every subscribed pair."""
        if self._started:
            return
        backoff = self.settings.backoff_s
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                await self.sync_clock()
                break
            except TemporaryError as e:
                if attempt == _START_ATTEMPTS:
                    raise
                log.warning("exchange clock sync failed; retrying", error=str(e))
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.settings.max_backoff_s)
        self._started = True
        self._sync_task = asyncio.ensure_future(self._sync_forever())
        for pair in list(self._subscribers):
            self._follow(pair)
        for subscription in self._subscriptions:
            subscription.start_pump(self._callback_failed)

    async def stop(self) -> None:
        """Stop every task and close every subscription (their readers see the end)."""
        self._started = False
        tasks = [loop.task for loop in self._loops.values() if loop.task is not None]
        if self._sync_task is not None:
            tasks.append(self._sync_task)
            self._sync_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops.clear()
        subscriptions, self._subscriptions = list(self._subscriptions), set()
        self._subscribers.clear()
        await asyncio.gather(*(s.shut() for s in subscriptions))

    async def __aenter__(self) -> CandleFeed:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- subscribers ------------------------------------------------------------------

    def subscribe(self, pairs: Iterable[Pair], callback: Callback | None = None) -> Subscription:
        """Follow ``pairs`` for a new subscriber; events go to ``callback`` or its queue.

        A pair already followed is not fetched again: its current window comes at once as
        a SNAPSHOT event; a new pair's SNAPSHOT comes when its window is loaded.
        """
        wanted = {check_pair(pair) for pair in pairs}
        if not wanted:
            raise InvalidInputError(
                "a feed subscription needs at least one (symbol, timeframe) pair; found none."
            )
        subscription = Subscription(
            feed=self, pairs=wanted, callback=callback, max_pending=self.settings.max_pending
        )
        self._subscriptions.add(subscription)
        for pair in sorted(wanted):
            self._subscribers.setdefault(pair, set()).add(subscription)
            loop = self._loops.get(pair)
            if loop is not None and loop.window is not None:
                subscription.offer(self._snapshot(loop.window))
            elif self._started:
                self._follow(pair)
        if self._started:
            subscription.start_pump(self._callback_failed)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        """End ``subscription``; pairs no other subscriber needs stop being fetched."""
        if subscription not in self._subscriptions:
            await subscription.shut()
            return
        self._subscriptions.discard(subscription)
        ended: list[PairLoop] = []
        for pair in subscription.pairs:
            others = self._subscribers.get(pair)
            if others is None:
                continue
            others.discard(subscription)
            if not others:
                del self._subscribers[pair]
                loop = self._loops.pop(pair, None)
                if loop is not None:
                    ended.append(loop)
        await subscription.shut()
        for loop in ended:
            if loop.task is not None and loop.task is not asyncio.current_task():
                loop.task.cancel()
                await asyncio.gather(loop.task, return_exceptions=True)
            await self._forget(loop.pair)

    async def window(self, symbol: str, timeframe: str) -> Candles | None:
        """Return the pair's current window of closed candles, or None if not loaded."""
        loop = self._loops.get((symbol, timeframe))
        if loop is not None and loop.window is not None:
            return loop.window
        return await self.store.read(symbol, timeframe)

    def _snapshot(self, window: Candles) -> FeedEvent:
        return FeedEvent(
            kind=EventKind.SNAPSHOT,
            symbol=window.symbol,
            timeframe=window.timeframe,
            window=window,
            closed=window,
            corrected=Candles.empty(window.symbol, window.timeframe),
        )

    def _callback_failed(self) -> None:
        self.counters.callback_errors += 1

    def _follow(self, pair: Pair) -> None:
        if pair in self._loops:
            return
        loop = PairLoop(self, pair[0], pair[1], watch=self._watch)
        self._loops[pair] = loop
        loop.task = asyncio.ensure_future(loop.run())

    async def _forget(self, pair: Pair) -> None:
        try:
            await self.store.delete(*pair)
        except XraybotError as e:
            self.counters.store_errors += 1
            log.warning("could not delete a feed window", pair=pair, error=str(e))

    # -- called by the pair loops (feed_pair.FeedHost) ------------------------------------

    async def publish(self, loop: PairLoop, event: FeedEvent) -> None:
        """Store ``event.window`` as the pair's window, then tell the pair's subscribers."""
        try:
            await self.store.write(event.window)
        except XraybotError as e:  # the store is a cache: subscribers still get the event
            self.counters.store_errors += 1
            log.warning("could not store a feed window", pair=loop.pair, error=str(e))
        if self._loops.get(loop.pair) is not loop:
            return  # unsubscribed meanwhile
        # Set only now: a subscriber joining during the write got the previous window,
        # and gets this event below, so no candle reaches it twice.
        loop.window = event.window
        for subscription in self._subscribers.get(loop.pair, ()):
            if not subscription.offer(event):
                self.counters.events_dropped += 1

    async def drop(self, loop: PairLoop, reason: str) -> None:
        """Stop feeding the pair and tell its subscribers why."""
        if self._loops.get(loop.pair) is not loop:
            return
        del self._loops[loop.pair]
        self.counters.dropped_pairs += 1
        log.warning("feed pair dropped", pair=loop.pair, reason=reason)
        empty = Candles.empty(loop.symbol, loop.timeframe)
        event = FeedEvent(
            kind=EventKind.DROPPED,
            symbol=loop.symbol,
            timeframe=loop.timeframe,
            window=empty,
            closed=empty,
            corrected=empty,
            reason=reason,
        )
        for subscription in self._subscribers.pop(loop.pair, set()):
            subscription.pairs.discard(loop.pair)
            subscription.offer(event)
        await self._forget(loop.pair)


__all__ = [
    "CandleFeed",
    "CandleSource",
    "CandleStream",
    "Clock",
    "EventKind",
    "FeedEvent",
    "FeedSettings",
    "FeedStats",
    "Sleep",
    "Subscription",
    "streams_candles",
    "wall_clock_ms",
]
