"""The live feed's semantics on a small in-test exchange: what the simulator cannot stage.

Time is a FakeTime (the feed's injected clock and sleep), so every step is deterministic:
late, skipped, corrected and duplicated candles, outages and backfills, a skewed exchange
clock, unknown symbols, subscribers coming and going (websockets: test_feed_watch.py).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.feed import (
    BTC,
    ETH,
    GRACE_MS,
    MARGIN_MS,
    MINUTE,
    T0,
    FakeExchange,
    FakeTime,
    assert_final,
    drain,
    make_feed,
    next_close,
    settle,
    started,
)
from xraybot.data.feed import CandleFeed, EventKind, FeedEvent, FeedSettings, Subscription
from xraybot.data.feed_window import MemoryWindowStore
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError


async def test_load_then_one_request_per_closed_candle_with_final_values() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    feed, sub = await started(time, exchange, [BTC])
    (snapshot,) = drain(sub)
    assert snapshot.kind is EventKind.SNAPSHOT
    assert snapshot.window.ts_ms.tolist() == [T0 - k * MINUTE for k in range(5, 0, -1)]
    assert_final(snapshot.window)
    for minute in range(1, 4):
        await next_close(time)
        (event,) = drain(sub)
        assert event.kind is EventKind.UPDATE
        assert event.closed.ts_ms.tolist() == [T0 + (minute - 1) * MINUTE]
        assert len(event.corrected) == 0
        assert event.window.ts_ms[-1] == event.closed.ts_ms[-1]
        assert len(event.window) == 5
        assert_final(event.window)
        assert exchange.fetch_count() == 1 + minute
    assert feed.stats.closed_candles == 3
    assert feed.stats.late_retries == 0
    await feed.stop()


async def test_subscribers_share_one_fetch_and_joiners_cost_nothing() -> None:
    time = FakeTime()
    exchange = FakeExchange(time, symbols=("BTC/USDT", "ETH/USDT"))
    feed = make_feed(time, exchange)
    early = [feed.subscribe([BTC, ETH]) for _ in range(20)]
    await feed.start()
    await settle()
    assert exchange.fetch_count() == 2
    late = [feed.subscribe([BTC]) for _ in range(20)]
    assert exchange.fetch_count() == 2  # a followed pair costs a joiner no request
    for sub in late:
        (snapshot,) = drain(sub)
        assert snapshot.kind is EventKind.SNAPSHOT
        assert snapshot.window is await feed.window(*BTC)
    for sub in early:
        assert [e.kind for e in drain(sub)] == [EventKind.SNAPSHOT] * 2
    await next_close(time)
    assert exchange.fetch_count() == 4
    assert all(len(drain(sub)) == 2 for sub in early)
    assert all(len(drain(sub)) == 1 for sub in late)
    await feed.stop()


async def test_a_late_candle_is_retried_and_never_handed_out_forming() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    feed, sub = await started(time, exchange, [BTC])
    drain(sub)
    exchange.lag_ms = 4_000  # the exchange shows T0 forming until 4 s after its close
    await next_close(time)
    assert drain(sub) == []  # polled, found it still forming, waiting to ask again
    assert feed.stats.late_retries >= 1
    await time.advance_to(T0 + MINUTE + 4_000 + 15_000)
    (event,) = drain(sub)
    assert event.closed.ts_ms.tolist() == [T0]
    assert_final(event.closed)
    assert feed.stats.closed_candles == 1
    await feed.stop()


@pytest.mark.parametrize("skew_ms", [-7_000, 7_000])
async def test_the_exchange_clock_decides_not_ours(skew_ms: int) -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    exchange.skew_ms = skew_ms
    feed, sub = await started(time, exchange, [BTC])
    drain(sub)
    assert feed.offset_ms == skew_ms
    for _ in range(3):
        close = (exchange.now_ms() // MINUTE + 1) * MINUTE
        await time.advance_to(close - skew_ms + GRACE_MS + MARGIN_MS + 1)
        (event,) = drain(sub)
        assert int(event.closed.ts_ms[-1]) + MINUTE == close
    # Polled right after each close on the exchange's clock: no early poll, no retry.
    assert feed.stats.late_retries == 0
    assert exchange.fetch_count() == 4
    await feed.stop()


async def test_an_outage_is_backfilled_in_one_update_without_duplicates() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    feed, sub = await started(time, exchange, [BTC])
    drain(sub)
    exchange.down = True
    await time.advance(3 * MINUTE + 10_000)
    assert drain(sub) == []
    assert feed.stats.error_retries >= 3
    exchange.down = False
    await time.advance(31_000)
    (event,) = drain(sub)
    assert event.closed.ts_ms.tolist() == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    assert_final(event.window)
    assert feed.stats.backfills == 1
    await next_close(time)
    (after,) = drain(sub)
    assert after.closed.ts_ms.tolist() == [T0 + 3 * MINUTE]
    await feed.stop()


async def test_an_outage_longer_than_the_window_reloads_it() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    feed, sub = await started(time, exchange, [BTC])
    drain(sub)
    exchange.down = True
    await time.advance(12 * MINUTE)
    exchange.down = False
    await time.advance(31_000)
    (event,) = drain(sub)
    now = exchange.now_ms() // MINUTE * MINUTE
    assert event.window.ts_ms.tolist() == [now - k * MINUTE for k in range(5, 0, -1)]
    assert event.closed.ts_ms.tolist() == event.window.ts_ms.tolist()
    assert feed.stats.reloads == 1
    await feed.stop()


async def test_a_corrected_candle_replaces_the_one_handed_out() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    feed, sub = await started(time, exchange, [BTC])
    await next_close(time)
    drain(sub)
    exchange.corrections[T0] = 999.0
    await next_close(time)
    (event,) = drain(sub)
    assert event.closed.ts_ms.tolist() == [T0 + MINUTE]
    assert event.corrected.ts_ms.tolist() == [T0]
    assert event.corrected.close[0] == 999.0
    assert event.window.close[event.window.ts_ms.tolist().index(T0)] == 999.0
    assert feed.stats.corrections == 1
    await feed.stop()


async def test_a_candle_seen_twice_is_handed_out_once() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    feed, sub = await started(time, exchange, [BTC])
    drain(sub)
    await next_close(time)
    assert len(drain(sub)) == 1
    loop = feed._loops[BTC]
    await loop._poll_once()  # the same answer again (and each poll repeats the last candle)
    await loop._poll_once()
    assert drain(sub) == []
    assert feed.stats.closed_candles == 1
    await feed.stop()


async def test_a_minute_without_trades_is_a_hole_after_patience() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    exchange.skipped = {T0 + MINUTE}  # no trades in that minute: the exchange has no candle
    feed, sub = await started(time, exchange, [BTC])
    drain(sub)
    await next_close(time)
    # Nothing shows T0 has closed (no later candle) until the clock is patience past it.
    await time.advance_to(T0 + MINUTE + 29_000)
    assert drain(sub) == []
    await time.advance_to(T0 + MINUTE + 30_000 + MARGIN_MS + 16_000)
    assert [e.closed.ts_ms.tolist() for e in drain(sub)] == [[T0]]
    assert 1 <= feed.stats.late_retries <= 8  # backed off, bounded by the patience
    await next_close(time)
    await next_close(time)
    closed = [ts for e in drain(sub) for ts in e.closed.ts_ms.tolist()]
    assert closed == [T0 + 2 * MINUTE]  # the minute without trades stays a hole
    await feed.stop()


async def test_an_unknown_symbol_is_dropped_and_its_subscribers_told() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    feed, sub = await started(time, exchange, [BTC, ("NOPE/USDT", "1m")])
    events = {e.symbol: e for e in drain(sub)}
    assert events["NOPE/USDT"].kind is EventKind.DROPPED
    assert "NOPE/USDT" in (events["NOPE/USDT"].reason or "")
    assert events["BTC/USDT"].kind is EventKind.SNAPSHOT
    assert feed.pairs == {BTC}
    assert sub.pairs == {BTC}
    await next_close(time)
    assert [e.symbol for e in drain(sub)] == ["BTC/USDT"]
    assert exchange.fetch_count("NOPE/USDT") == 1
    await feed.stop()


async def test_a_failed_load_is_retried_with_backoff() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    feed = make_feed(time, exchange)
    sub = feed.subscribe([BTC])
    await feed.start()
    exchange.down = True
    await time.advance(2_000)
    assert drain(sub) == []
    assert feed.stats.error_retries >= 2
    exchange.down = False
    await time.advance(5_000)
    assert [e.kind for e in drain(sub)] == [EventKind.SNAPSHOT]
    await feed.stop()


async def test_the_last_subscriber_leaving_stops_the_pair() -> None:
    time = FakeTime()
    exchange = FakeExchange(time, symbols=("BTC/USDT", "ETH/USDT"))
    feed, first = await started(time, exchange, [BTC, ETH])
    second = feed.subscribe([BTC])
    await first.close()
    assert feed.pairs == {BTC}
    assert await feed.window(*ETH) is None  # its stored window is gone too
    await next_close(time)
    await next_close(time)
    assert exchange.fetch_count("ETH/USDT") == 1
    assert exchange.fetch_count("BTC/USDT") == 3
    assert len(drain(second)) == 3  # its snapshot and two updates
    with pytest.raises(InvalidInputError, match="closed"):
        await first.get()
    await feed.stop()


async def test_stop_leaves_no_task_behind_and_ends_readers() -> None:
    before = asyncio.all_tasks()
    time = FakeTime()
    exchange = FakeExchange(time, symbols=("BTC/USDT", "ETH/USDT"))
    received: list[FeedEvent] = []

    async def keep(event: FeedEvent) -> None:
        received.append(event)

    async with make_feed(time, exchange) as feed:
        feed.subscribe([BTC], callback=keep)
        reader = feed.subscribe([ETH])
        await settle()
        await next_close(time)
        consumed = asyncio.ensure_future(_read_all(reader))
        await settle()
    assert len(await consumed) == 2  # the reader's loop ended when the feed stopped
    assert [e.kind for e in received] == [EventKind.SNAPSHOT, EventKind.UPDATE]
    assert asyncio.all_tasks() - before == set()


async def _read_all(subscription: Subscription) -> list[FeedEvent]:
    return [event async for event in subscription]


async def test_a_failing_callback_does_not_stop_the_others() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    got: list[EventKind] = []

    async def broken(event: FeedEvent) -> None:
        raise RuntimeError("subscriber bug")

    async def fine(event: FeedEvent) -> None:
        got.append(event.kind)

    feed = make_feed(time, exchange)
    feed.subscribe([BTC], callback=broken)
    feed.subscribe([BTC], callback=fine)
    await feed.start()
    await settle()
    await next_close(time)
    assert got == [EventKind.SNAPSHOT, EventKind.UPDATE]
    assert feed.stats.callback_errors == 2
    await feed.stop()


async def test_a_subscriber_that_falls_behind_loses_the_oldest_events() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    feed, sub = await started(time, exchange, [BTC], max_pending=2)
    for _ in range(4):
        await next_close(time)
    events = drain(sub)
    assert [int(e.closed.ts_ms[-1]) for e in events] == [T0 + 2 * MINUTE, T0 + 3 * MINUTE]
    assert sub.events_dropped == 3
    assert feed.stats.events_dropped == 3
    await feed.stop()


def test_settings_and_pairs_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="window"):
        FeedSettings(window=0)
    with pytest.raises(InvalidInputError, match="grace_s"):
        FeedSettings(grace_s=-1)
    feed = CandleFeed(FakeExchange(FakeTime()))
    with pytest.raises(InvalidInputError, match="timeframe"):
        feed.subscribe([("BTC/USDT", "1 minute")])
    with pytest.raises(InvalidInputError, match="at least one"):
        feed.subscribe([])


class GatedStore(MemoryWindowStore):
    """A window store whose writes wait until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.writing = 0

    async def write(self, window: Candles) -> None:
        self.writing += 1
        await self.gate.wait()
        await super().write(window)
        self.writing -= 1


async def test_subscribers_hear_of_a_window_only_once_it_is_stored() -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    store = GatedStore()
    feed = CandleFeed(exchange, store, FeedSettings(window=5), clock=time.clock, sleep=time.sleep)
    early = feed.subscribe([BTC])
    await feed.start()
    await settle()
    drain(early)
    store.gate.clear()
    await next_close(time)
    assert store.writing == 1
    assert early.pending == 0  # not told before the window is stored
    joiner = feed.subscribe([BTC])  # joins while the write is in flight
    store.gate.set()
    await settle()
    (update,) = drain(early)
    stored = await store.read(*BTC)
    assert stored is update.window
    snapshot, joined_update = drain(joiner)
    assert snapshot.kind is EventKind.SNAPSHOT
    assert int(snapshot.window.ts_ms[-1]) == T0 - MINUTE  # the window as stored before
    assert joined_update is update  # ... then the new candle, once
    await feed.stop()
