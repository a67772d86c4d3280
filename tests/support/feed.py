"""Helpers for the live-feed tests: a driven clock, a small exchange, a feed.

``FakeTime`` is the feed's injected clock and sleep: time moves only when a test advances
it, stepping through every sleeper's deadline in order. ``FakeExchange`` implements the
gateway methods the feed uses, with knobs for what the simulator cannot easily produce:
a skewed clock, candles published late, candles corrected after the close, outages,
skipped candles, and websocket pushes. The last helpers build a feed on both and step it
from one candle close to the next.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from xraybot.data.feed import CandleFeed, FeedEvent, FeedSettings, Subscription
from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.errors import ExchangeUnavailableError, InvalidInputError, UnknownSymbolError

MINUTE = 60_000
T0 = 1_763_000_040_000  # a minute boundary


async def settle(rounds: int = 200) -> None:
    """Let every ready task run until they all wait (no real I/O happens meanwhile)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class FakeTime:
    """A clock in ms and a sleep that returns only when the test moves the clock."""

    def __init__(
        self,
        now_ms: int = T0,
        *,
        read: Callable[[], int] | None = None,
        move: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self._now = now_ms
        self._read = read
        self._move = move
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def clock(self) -> int:
        return self._read() if self._read is not None else self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        deadline = self.clock() + max(1, math.ceil(seconds * 1000))
        future = asyncio.get_running_loop().create_future()
        entry = (deadline, future)
        self._waiters.append(entry)
        try:
            await future
        finally:
            self._waiters.remove(entry)

    @property
    def sleepers(self) -> int:
        return sum(1 for _, f in self._waiters if not f.done())

    def next_deadline(self) -> int | None:
        return min((d for d, f in self._waiters if not f.done()), default=None)

    def wake(self) -> None:
        now = self.clock()
        for deadline, future in self._waiters:
            if deadline <= now and not future.done():
                future.set_result(None)

    async def _step_to(self, target: int) -> None:
        step = target - self.clock()
        if step > 0:
            if self._move is not None:
                await self._move(step)
            else:
                self._now += step
        self.wake()

    async def advance(self, ms: int) -> None:
        """Move time ``ms`` forward, stopping at each sleeper's deadline on the way."""
        target = self.clock() + ms
        while True:
            await settle()
            due = self.next_deadline()
            if due is None or due > target:
                break
            await self._step_to(max(due, self.clock()))
        await self._step_to(target)
        await settle()

    async def jump_to(self, target_ms: int) -> None:
        """Move time straight to ``target_ms`` and wake the sleepers due (no stepping)."""
        await self._step_to(target_ms)

    async def advance_to(self, target_ms: int) -> None:
        await self.advance(max(0, target_ms - self.clock()))


def final_row(ts_ms: int, tf_ms: int) -> tuple[float, float, float, float, float]:
    """Return the closed candle the fake exchange publishes for ``ts_ms``."""
    base = 100.0 + (ts_ms // tf_ms) % 50
    return base, base + 2.0, base - 1.0, base + 1.0, 10.0


def forming_row(ts_ms: int, tf_ms: int, done_ms: int) -> tuple[float, float, float, float, float]:
    """Return the candle as it looks ``done_ms`` into its life (differs from the final)."""
    o, h, low, c, _ = final_row(ts_ms, tf_ms)
    part = done_ms / tf_ms
    return o, o + (h - o) * part, low, o + (c - o) * part - 0.5, 10.0 * part


class FakeExchange:
    """The gateway methods the feed calls, over a deterministic series of candles."""

    def __init__(self, time: FakeTime, *, symbols: tuple[str, ...] = ("BTC/USDT",)) -> None:
        self.time = time
        self.symbols = set(symbols)
        self.skew_ms = 0  # the exchange's clock minus ours
        self.lag_ms = 0  # candles appear this long after the exchange's clock passes them
        self.skipped: set[int] = set()  # open times with no candle (no trades)
        self.corrections: dict[int, float] = {}  # open time -> corrected close
        self.down = False  # every request fails with ExchangeUnavailableError
        self.fetches: list[tuple[str, int | None, int | None, int | None]] = []
        self.time_requests = 0
        self.has_websockets = False
        self.watch_refused = False
        self.watch_error: Exception | None = None  # raised by the next push
        self.watch_broken = False  # every watch fails at once (a socket that cannot connect)
        self.watch_rows = 3  # how many recent rows a push carries
        self._pushed = asyncio.Event()
        self._data_ms = 0  # how far its candles have got: never back, whatever the lag does

    def data_time(self) -> int:
        """Return the time up to which the exchange's candles are built (now less the lag)."""
        self._data_ms = max(self._data_ms, self.now_ms() - self.lag_ms)
        return self._data_ms

    def now_ms(self) -> int:
        return self.time.clock() + self.skew_ms

    def fetch_count(self, symbol: str | None = None) -> int:
        return sum(1 for f in self.fetches if symbol is None or f[0] == symbol)

    def _rows(
        self, symbol: str, timeframe: str, since_ms: int | None, until_ms: int | None, limit: int
    ) -> Candles:
        tf = timeframe_to_ms(timeframe)
        data_time = self.data_time()
        forming = data_time // tf * tf
        last = forming if until_ms is None else min(forming, until_ms - 1)
        first = last - (limit - 1) * tf if since_ms is None else since_ms // tf * tf
        rows = []
        for ts in range(first, last + 1, tf):
            if ts in self.skipped:
                continue
            if ts == forming:
                rows.append((ts, *forming_row(ts, tf, data_time - ts)))
                continue
            o, h, low, c, v = final_row(ts, tf)
            c = self.corrections.get(ts, c)
            rows.append((ts, o, max(h, c), min(low, c), c, v))
        rows = rows[:limit] if since_ms is not None else rows[-limit:]
        columns = list(zip(*rows, strict=True)) if rows else [()] * 6
        return Candles(
            symbol,
            timeframe,
            np.array(columns[0], dtype=np.int64),
            *(np.array(col, dtype=np.float64) for col in columns[1:]),
        )

    async def fetch_time(self) -> int:
        await asyncio.sleep(0)
        self.time_requests += 1
        if self.down:
            raise ExchangeUnavailableError("the fake exchange is down")
        return self.now_ms()

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles:
        await asyncio.sleep(0)
        self.fetches.append((symbol, since_ms, until_ms, limit))
        if self.down:
            raise ExchangeUnavailableError("the fake exchange is down")
        if symbol not in self.symbols:
            raise UnknownSymbolError(f"the fake exchange lists no market {symbol!r}")
        return self._rows(symbol, timeframe, since_ms, until_ms, limit or 500)

    def push(self) -> None:
        """Wake every pending watch_ohlcv with the candles as they are now."""
        self._pushed.set()

    async def watch_ohlcv(self, symbol: str, timeframe: str) -> Candles:
        if self.watch_refused:
            raise InvalidInputError("the fake exchange has no websocket candles")
        await asyncio.sleep(0)
        if self.watch_broken:
            raise ExchangeUnavailableError("the fake exchange's socket does not connect")
        self._pushed.clear()
        await self._pushed.wait()
        if self.watch_error is not None:
            error, self.watch_error = self.watch_error, None
            raise error
        if symbol not in self.symbols:
            raise UnknownSymbolError(f"the fake exchange lists no market {symbol!r}")
        return self._rows(symbol, timeframe, None, None, self.watch_rows)


BTC = ("BTC/USDT", "1m")
ETH = ("ETH/USDT", "1m")
MARGIN_MS = 250  # FeedSettings.clock_margin_ms (the fake exchange answers in no time)
GRACE_MS = 500


def make_feed(time: FakeTime, exchange: FakeExchange, **settings: Any) -> CandleFeed:
    return CandleFeed(
        exchange,
        settings=FeedSettings(**{"window": 5, **settings}),
        clock=time.clock,
        sleep=time.sleep,
    )


def drain(subscription: Subscription) -> list[FeedEvent]:
    events = []
    while subscription.pending:
        events.append(subscription._queue.popleft())
    return events


def assert_final(candles: Candles) -> None:
    """Every row is the exchange's closed candle, never a forming one."""
    for i, ts in enumerate(candles.ts_ms.tolist()):
        o, _h, _low, c, v = final_row(ts, MINUTE)
        assert (candles.open[i], candles.close[i], candles.volume[i]) == (o, c, v)


async def started(
    time: FakeTime, exchange: FakeExchange, pairs: list[tuple[str, str]], **settings: Any
) -> tuple[CandleFeed, Subscription]:
    feed = make_feed(time, exchange, **settings)
    subscription = feed.subscribe(pairs)
    await feed.start()
    await settle()
    return feed, subscription


async def next_close(time: FakeTime, minutes: int = 1) -> None:
    """Advance just past the poll time of the candle closing ``minutes`` from now."""
    close = (time.clock() // MINUTE + minutes) * MINUTE
    await time.advance_to(close + GRACE_MS + MARGIN_MS + 1)
