"""What the live feed hands its subscribers: events, subscriptions, settings and counters."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING

import structlog

from xraybot.data.feed_window import Pair
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError

if TYPE_CHECKING:
    from xraybot.data.feed import CandleFeed

log = structlog.get_logger(__name__)


class EventKind(StrEnum):
    SNAPSHOT = "snapshot"  # the pair's closed window, when loaded or when you subscribed
    UPDATE = "update"  # candles closed since the last event, and/or corrections
    DROPPED = "dropped"  # the pair is no longer fed (``reason`` says why)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedEvent:
    """One change to a pair's window; every candle in it has closed."""

    kind: EventKind
    symbol: str
    timeframe: str
    window: Candles  # the pair's window after this event (empty when dropped)
    closed: Candles  # UPDATE: newly closed candles; SNAPSHOT: the window; DROPPED: empty
    corrected: Candles  # candles handed out before that the exchange has since changed
    reason: str | None = None

    @property
    def pair(self) -> Pair:
        """Return (symbol, timeframe)."""
        return self.symbol, self.timeframe


Callback = Callable[[FeedEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedSettings:
    """How the feed paces itself; durations are in seconds of the feed's (injected) clock."""

    window: int = 400  # closed candles kept per pair (+2 per load: one MEXC request)
    grace_s: float = 0.5  # poll this long after a candle's close (exchange time)
    clock_margin_ms: int = 250  # added to the clock offset's own uncertainty (half an RTT)
    backoff_s: float = 0.25  # first retry delay, doubled per retry
    max_backoff_s: float = 30.0
    late_patience_s: float = 30.0  # a candle still missing this long after close is absent
    time_sync_s: float = 600.0  # re-measure the exchange's clock offset this often
    watch: bool | None = None  # websockets (watch_ohlcv); None: when the source has them
    max_pending: int = 1024  # events queued per subscriber before the oldest are dropped

    def __post_init__(self) -> None:
        if self.window < 1:
            raise InvalidInputError(f"the feed window must be >= 1 candle; found {self.window}.")
        if self.max_pending < 1:
            raise InvalidInputError(f"max_pending must be >= 1; found {self.max_pending}.")
        if self.clock_margin_ms < 0:
            raise InvalidInputError(f"clock_margin_ms must be >= 0; found {self.clock_margin_ms}.")
        for name in ("grace_s", "backoff_s", "max_backoff_s", "late_patience_s", "time_sync_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidInputError(f"{name} must be a number of seconds >= 0; found {value}.")
        if self.backoff_s <= 0 or self.time_sync_s <= 0:
            raise InvalidInputError(
                f"backoff_s and time_sync_s must be > 0; found {self.backoff_s} and "
                f"{self.time_sync_s}."
            )


@dataclass(slots=True)
class FeedStats:
    """Counters since the feed was built (per pair, never per subscriber)."""

    fetches: int = 0  # REST candle requests: loads, polls, late retries, backfills
    time_syncs: int = 0  # server-time requests
    closed_candles: int = 0  # candles handed out as newly closed
    corrections: int = 0  # candles handed out again with changed values
    late_retries: int = 0  # polls repeated because the exchange had not closed the candle
    error_retries: int = 0  # requests repeated after a TemporaryError
    backfills: int = 0  # updates that filled a gap (more than one new candle)
    reloads: int = 0  # windows fetched again whole (gap longer than the window)
    dropped_pairs: int = 0
    events_dropped: int = 0  # events lost by subscribers whose queue was full
    callback_errors: int = 0
    store_errors: int = 0

    def copy(self) -> FeedStats:
        """Return a snapshot of the counters."""
        return FeedStats(**{f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(eq=False)
class Subscription:
    """One subscriber's view: read events with ``get()``/``async for``, or give a callback.

    Events arrive in order per pair. A subscriber that falls ``max_pending`` events behind
    loses the oldest (counted in ``events_dropped``); every event carries the whole window,
    so the next one read is still complete.
    """

    feed: CandleFeed
    pairs: set[Pair]
    callback: Callback | None
    max_pending: int
    events_dropped: int = 0
    closed: bool = False
    _queue: deque[FeedEvent] = field(default_factory=deque)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _pump: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Return how many events wait to be read."""
        return len(self._queue)

    def offer(self, event: FeedEvent) -> bool:
        """Queue ``event``; return False if the oldest pending event had to make room."""
        if self.closed:
            return True
        room = True
        if len(self._queue) >= self.max_pending:
            self._queue.popleft()
            self.events_dropped += 1
            room = False
        self._queue.append(event)
        self._changed.set()
        return room

    async def get(self) -> FeedEvent:
        """Return the next event, waiting for one; raise InvalidInputError once closed."""
        while not self._queue:
            if self.closed:
                raise InvalidInputError(
                    "this feed subscription is closed and has no events left; subscribe again."
                )
            self._changed.clear()
            await self._changed.wait()
        return self._queue.popleft()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> FeedEvent:
        if self.closed and not self._queue:
            raise StopAsyncIteration
        try:
            return await self.get()
        except InvalidInputError:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        """Unsubscribe; pairs nobody else wants stop being fetched."""
        await self.feed.unsubscribe(self)

    def start_pump(self, on_error: Callable[[], None]) -> None:
        """Start calling the callback with each event (the feed does, once started)."""
        if self.callback is not None and self._pump is None:
            self._pump = asyncio.ensure_future(self._run_callback(self.callback, on_error))

    async def _run_callback(self, callback: Callback, on_error: Callable[[], None]) -> None:
        while True:
            try:
                event = await self.get()
            except InvalidInputError:
                return
            try:
                await callback(event)
            except Exception:  # one subscriber's bug must not stop the others' feed
                on_error()
                log.exception("feed subscriber callback failed", pair=event.pair)

    async def shut(self) -> None:
        """Mark closed, wake readers and end the callback task (pending events are dropped)."""
        self.closed = True
        self._queue.clear()
        self._changed.set()
        pump, self._pump = self._pump, None
        if pump is not None and pump is not asyncio.current_task():
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)


__all__ = [
    "Callback",
    "EventKind",
    "FeedEvent",
    "FeedSettings",
    "FeedStats",
    "Subscription",
]
