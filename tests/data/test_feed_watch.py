"""The live feed over websockets (ccxt.pro watch_ohlcv), on the in-test exchange's pushes."""

from __future__ import annotations

from typing import Any

from tests.support.feed import (
    BTC,
    GRACE_MS,
    MARGIN_MS,
    MINUTE,
    T0,
    FakeExchange,
    FakeTime,
    assert_final,
    drain,
    next_close,
    settle,
    started,
)
from xraybot.data.feed import CandleFeed, Subscription
from xraybot.model.errors import ExchangeUnavailableError


async def watching(time: FakeTime, **knobs: Any) -> tuple[CandleFeed, Subscription, FakeExchange]:
    exchange = FakeExchange(time)
    exchange.has_websockets = True
    for name, value in knobs.items():
        setattr(exchange, name, value)
    feed, sub = await started(time, exchange, [BTC])
    drain(sub)
    return feed, sub, exchange


async def test_pushes_hand_out_closed_candles_without_polling() -> None:
    time = FakeTime()
    feed, sub, exchange = await watching(time)
    for minute in range(3):
        await time.advance(MINUTE // 2)
        exchange.push()  # the forming candle moved: nothing closed
        await settle()
        assert drain(sub) == []
        await time.advance(MINUTE // 2)
        exchange.push()  # the next candle opened: the previous one closed
        await settle()
        exchange.push()  # the same rows again: a duplicate
        await settle()
        (event,) = drain(sub)
        assert event.closed.ts_ms.tolist() == [T0 + minute * MINUTE]
        assert_final(event.closed)
    assert exchange.fetch_count() == 1  # the load only
    await feed.stop()


async def test_no_push_after_the_close_falls_back_to_a_poll() -> None:
    time = FakeTime()
    feed, sub, exchange = await watching(time)
    await time.advance(MINUTE + GRACE_MS + 30_000 + MARGIN_MS + 1)
    (event,) = drain(sub)
    assert event.closed.ts_ms.tolist() == [T0]
    assert exchange.fetch_count() == 2
    await feed.stop()


async def test_a_broken_stream_is_backfilled_by_rest_before_watching_again() -> None:
    time = FakeTime()
    feed, sub, exchange = await watching(time)
    await time.advance(MINUTE + 10_000)
    exchange.watch_error = ExchangeUnavailableError("socket closed")
    exchange.push()
    await time.advance(1_000)
    (event,) = drain(sub)
    assert event.closed.ts_ms.tolist() == [T0]
    assert feed.stats.error_retries == 1
    assert exchange.fetch_count() == 2
    await time.advance(MINUTE)
    exchange.push()
    await settle()
    (event,) = drain(sub)
    assert event.closed.ts_ms.tolist() == [T0 + MINUTE]
    assert exchange.fetch_count() == 2
    await feed.stop()


async def test_a_socket_that_keeps_failing_backs_off_and_polls_once_per_candle() -> None:
    time = FakeTime()
    feed, sub, exchange = await watching(time, watch_broken=True)
    await time.advance(3 * MINUTE + 1_000)
    assert [e.closed.ts_ms.tolist() for e in drain(sub)] == [[T0], [T0 + MINUTE], [T0 + 2 * MINUTE]]
    assert exchange.fetch_count() == 4  # the load, then one REST poll per closed candle
    assert feed.stats.error_retries < 20  # backed off, not a tight loop
    await feed.stop()


async def test_a_push_that_starts_after_a_hole_is_backfilled_first() -> None:
    time = FakeTime()
    feed, sub, exchange = await watching(time, watch_rows=1)
    await time.advance(MINUTE + 1_000)
    exchange.push()  # carries only the forming candle: T0 must come from REST
    await settle()
    (event,) = drain(sub)
    assert event.closed.ts_ms.tolist() == [T0]
    assert exchange.fetch_count() == 2
    await feed.stop()


async def test_refused_websockets_fall_back_to_polling() -> None:
    time = FakeTime()
    feed, sub, _exchange = await watching(time, watch_refused=True)
    await next_close(time)
    (event,) = drain(sub)
    assert event.closed.ts_ms.tolist() == [T0]
    assert feed._loops[BTC].watch is False
    await feed.stop()
