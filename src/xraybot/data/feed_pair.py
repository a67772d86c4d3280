"""One pair's life in the live feed: load the window, then settle each candle as it closes.

Candle X is closed when the exchange shows a later candle (its own clock passed X's close
and it has moved on), or when the exchange's clock is ``late_patience_s`` past X's close
(for exchanges that publish no candle without trades). Waiting for the later candle,
not only for the clock, is what makes a *late* candle safe: an exchange whose clock says
X has closed while its candles still show X forming is asked again, never believed early.
The *horizon* is the open time of the latest candle settled: closed, or known absent.

Polling: sleep until ``close + grace`` on the exchange's clock, then fetch from the last
candle held (one request: that candle again, to catch a correction, the new ones, and the
forming one), retrying with backoff while the exchange has not closed the candle yet.
A fetch from the last candle held is also the backfill: after an outage or a skipped
poll it returns every candle missed, or, past a window's length, the window is reloaded.

Websockets: each push (ccxt.pro keeps the recent candles) is absorbed like a poll's
answer. No push by ``close + grace + late_patience`` (a quiet market or a stalled socket)
means one poll; an error means a backfill by REST before watching again, and a socket
that keeps failing is tried once per candle while the candles are polled on schedule.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol, cast

import structlog

from xraybot.data.feed_events import EventKind, FeedEvent, FeedSettings, FeedStats
from xraybot.data.feed_window import Merge, closed_part, merge_window
from xraybot.data.ports import CandleSource, CandleStream
from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.errors import (
    InvalidInputError,
    RateLimitError,
    TemporaryError,
    UnknownSymbolError,
    XraybotError,
)

log = structlog.get_logger(__name__)
_STREAM_RETRIES = 3  # websocket failures in a row retried quickly before polling on schedule


class FeedHost(Protocol):
    """The feed as a pair loop sees it (``CandleFeed`` implements it)."""

    source: CandleSource
    settings: FeedSettings
    counters: FeedStats

    def exchange_now_ms(self) -> int:
        """Return the exchange's time now, less the offset's uncertainty."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def sleep_until(self, exchange_ms: int) -> None: ...

    async def publish(self, loop: PairLoop, event: FeedEvent) -> None:
        """Store ``event.window`` as the pair's window, then tell the pair's subscribers."""
        ...

    async def drop(self, loop: PairLoop, reason: str) -> None:
        """Stop feeding the pair and tell its subscribers why."""
        ...


class PairDroppedError(Exception):
    """Ends a pair's loop after the host was told (never leaves this module's callers)."""


class PairLoop:
    """Feeds one (symbol, timeframe) pair for as long as someone subscribes to it."""

    def __init__(self, host: FeedHost, symbol: str, timeframe: str, *, watch: bool) -> None:
        self.host = host
        self.symbol = symbol
        self.timeframe = timeframe
        self.tf_ms = timeframe_to_ms(timeframe)
        self.watch = watch
        self.window: Candles | None = None  # None until loaded
        self.horizon_ms = -math.inf  # open time of the latest settled candle
        self.task: asyncio.Task[None] | None = None
        self._stream_failures = 0  # websocket errors in a row

    @property
    def pair(self) -> tuple[str, str]:
        """Return (symbol, timeframe)."""
        return self.symbol, self.timeframe

    async def run(self) -> None:
        """Load the window, then follow the pair until cancelled or dropped."""
        try:
            await self._load()
            while True:
                if self.watch:
                    await self._watch_once()
                else:
                    await self._poll_next()
        except PairDroppedError:
            return
        except Exception as e:  # a bug must surface as a dropped pair, not a silent stop
            log.exception("feed pair loop failed", symbol=self.symbol, timeframe=self.timeframe)
            await self.host.drop(self, f"the feed failed on this pair ({type(e).__name__}: {e})")

    # -- requests ---------------------------------------------------------------------

    async def _fetch(self) -> tuple[Candles, int]:
        """Fetch what the window needs now; return it with the exchange time it was asked at.

        TemporaryErrors are retried with backoff, each retry planned afresh (an outage
        widens the gap to backfill); any other error drops the pair.
        """
        settings = self.host.settings
        backoff = settings.backoff_s
        while True:
            now = self.host.exchange_now_ms()
            since, until, limit, reload = self._plan(now)
            self.host.counters.fetches += 1
            try:
                answer = await self.host.source.fetch_ohlcv(
                    self.symbol, self.timeframe, since_ms=since, until_ms=until, limit=limit
                )
            except TemporaryError as e:
                wait = await self._after_error(e, backoff, first=backoff == settings.backoff_s)
                backoff = min(wait * 2, settings.max_backoff_s)
                continue
            except XraybotError as e:  # unknown symbol, bad timeframe, refused: futile to repeat
                await self.host.drop(self, str(e))
                raise PairDroppedError from e
            if reload and self.window is not None and len(self.window):
                self.host.counters.reloads += 1
            return answer, now

    def _plan(self, now_ms: int) -> tuple[int, int, int, bool]:
        """Return (since, until, limit, reload): from the last candle held, or the window.

        ``until`` ends after the candle following the forming one, on the exchange's clock:
        left to ccxt, the end of the range would come from our own clock (ccxt's MEXC
        class does so), which may lag the exchange's and cut the forming candle off.
        """
        window = self.host.settings.window
        until = now_ms // self.tf_ms * self.tf_ms + 2 * self.tf_ms
        if self.window is not None and len(self.window):
            last = int(self.window.ts_ms[-1])
            needed = (until - last) // self.tf_ms
            if needed <= window + 2:
                return last, until, needed, False
        # The window, the forming candle and the one after it (if our clock is behind).
        return until - (window + 2) * self.tf_ms, until, window + 2, True

    async def _after_error(self, error: TemporaryError, backoff: float, *, first: bool) -> float:
        """Count and log a temporary failure, sleep the backoff, and return the wait."""
        self.host.counters.error_retries += 1
        wait = backoff
        if isinstance(error, RateLimitError) and error.retry_after_s is not None:
            wait = max(wait, error.retry_after_s)
        wait = min(wait, self.host.settings.max_backoff_s)
        # Once per streak as a warning: an outage must not log a line per pair per retry.
        (log.warning if first else log.debug)(
            "feed request failed; retrying",
            symbol=self.symbol,
            timeframe=self.timeframe,
            error=str(error),
            retry_in_s=wait,
        )
        await self.host.sleep(wait)
        return wait

    # -- settling ---------------------------------------------------------------------

    def _patience_ms(self) -> int:
        return min(self.tf_ms, round(self.host.settings.late_patience_s * 1000))

    def _absent_horizon(self, now_ms: int) -> int:
        """Return the latest candle that must have appeared by ``now_ms`` if it ever will."""
        return (now_ms - self._patience_ms()) // self.tf_ms * self.tf_ms - self.tf_ms

    async def _load(self) -> None:
        answer, now = await self._fetch()
        closed = closed_part(answer, now - self._patience_ms()).tail(self.host.settings.window)
        self.horizon_ms = max(self._answer_horizon(answer, closed), self._absent_horizon(now))
        if len(answer) == 0:
            # Nothing listed yet: the candle that just closed by the clock is settled as absent.
            self.horizon_ms = max(self.horizon_ms, now // self.tf_ms * self.tf_ms - self.tf_ms)
        event = FeedEvent(
            kind=EventKind.SNAPSHOT,
            symbol=self.symbol,
            timeframe=self.timeframe,
            window=closed,
            closed=closed,
            corrected=Candles.empty(self.symbol, self.timeframe),
        )
        await self.host.publish(self, event)

    def _answer_horizon(self, answer: Candles, closed: Candles) -> float:
        horizon = -math.inf
        if len(answer):
            # The exchange opened the last row: everything before it has closed.
            horizon = int(answer.ts_ms[-1]) - self.tf_ms
        if len(closed):
            horizon = max(horizon, int(closed.ts_ms[-1]))
        return horizon

    async def _absorb(self, answer: Candles, now_ms: int) -> None:
        """Settle what ``answer`` shows (judged at exchange time ``now_ms``) and publish."""
        closed = closed_part(answer, now_ms - self._patience_ms())
        self.horizon_ms = max(
            self.horizon_ms, self._answer_horizon(answer, closed), self._absent_horizon(now_ms)
        )
        assert self.window is not None  # loaded before any absorb
        merge: Merge = merge_window(self.window, closed, self.host.settings.window)
        if len(merge.added) == 0 and len(merge.corrected) == 0:
            return
        counters = self.host.counters
        counters.closed_candles += len(merge.added)
        counters.corrections += len(merge.corrected)
        if len(merge.added) > 1:
            counters.backfills += 1
        event = FeedEvent(
            kind=EventKind.UPDATE,
            symbol=self.symbol,
            timeframe=self.timeframe,
            window=merge.window,
            closed=merge.added,
            corrected=merge.corrected,
        )
        await self.host.publish(self, event)

    async def _poll_once(self) -> None:
        """Fetch from the last candle held (or reload the window) and absorb the answer."""
        answer, now = await self._fetch()
        await self._absorb(answer, now)

    async def _settle(self, target_ms: int) -> None:
        """Poll until the candle opened at ``target_ms`` is settled, backing off while late."""
        settings = self.host.settings
        backoff = settings.backoff_s
        while True:
            await self._poll_once()
            if self.horizon_ms >= target_ms:
                return
            self.host.counters.late_retries += 1
            await self.host.sleep(backoff)
            backoff = min(backoff * 2, settings.max_backoff_s, self.tf_ms / 4000)

    async def _poll_next(self) -> None:
        target = int(self.horizon_ms) + self.tf_ms
        grace_ms = round(self.host.settings.grace_s * 1000)
        await self.host.sleep_until(target + self.tf_ms + grace_ms)
        await self._settle(target)

    # -- websockets -------------------------------------------------------------------

    async def _watch_once(self) -> None:
        settings = self.host.settings
        target = int(self.horizon_ms) + self.tf_ms
        deadline = target + self.tf_ms + round((settings.grace_s + settings.late_patience_s) * 1000)
        source = cast(CandleStream, self.host.source)  # checked when the feed was built
        push = asyncio.ensure_future(source.watch_ohlcv(self.symbol, self.timeframe))
        timer = asyncio.ensure_future(self.host.sleep_until(deadline))
        try:
            await asyncio.wait({push, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (push, timer):
                task.cancel()
            await asyncio.gather(push, timer, return_exceptions=True)
        if push.cancelled():
            await self._settle(target)  # no push in time: ask by REST
            return
        error = push.exception()
        if isinstance(error, TemporaryError):
            self._stream_failures += 1
            if self._stream_failures > _STREAM_RETRIES:
                # The socket keeps failing: poll this candle on time, try the socket after it.
                self.host.counters.error_retries += 1
                if self._stream_failures == _STREAM_RETRIES + 1:
                    log.warning("websocket keeps failing; polling", error=str(error))
                await self._poll_next()
                return
            backoff = settings.backoff_s * 2 ** (self._stream_failures - 1)
            await self._after_error(error, backoff, first=self._stream_failures == 1)
            if self.host.exchange_now_ms() >= deadline - round(settings.late_patience_s * 1000):
                await self._poll_once()  # a candle closed meanwhile: backfill it by REST
            return
        self._stream_failures = 0
        if isinstance(error, InvalidInputError) and not isinstance(error, UnknownSymbolError):
            # No websocket candles here (quirks, or not a ccxt.pro client): poll instead.
            log.warning("websocket candles refused; polling instead", error=str(error))
            self.watch = False
            return
        if isinstance(error, XraybotError):
            await self.host.drop(self, str(error))
            raise PairDroppedError from error
        if error is not None:
            raise error
        answer = push.result()
        now = self.host.exchange_now_ms()
        last = int(self.window.ts_ms[-1]) if self.window is not None and len(self.window) else None
        if last is not None and len(answer) and int(answer.ts_ms[0]) > last + self.tf_ms:
            await self._poll_once()  # the push starts after a hole: fill it by REST first
        await self._absorb(answer, now)


__all__ = ["CandleSource", "CandleStream", "FeedHost", "PairDroppedError", "PairLoop"]
