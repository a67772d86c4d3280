"""Feed windows: the closed-candle rule, merging, the packed form, and the stores (real Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.feed import MINUTE, T0, FakeExchange, FakeTime, settle
from xraybot.data.feed import CandleFeed, EventKind, FeedSettings
from xraybot.data.feed_window import (
    CacheWindowStore,
    MemoryWindowStore,
    WindowStore,
    check_pair,
    closed_part,
    decode_window,
    encode_window,
    merge_window,
)
from xraybot.model.candles import Candles
from xraybot.model.errors import DataValidationError, InvalidInputError
from xraybot.storage.cache import MemoryCache, RedisCache


def candles(ts: list[int], close: list[float] | None = None, symbol: str = "BTC/USDT") -> Candles:
    closes = np.array(close if close is not None else [float(t // MINUTE % 97) for t in ts])
    ones = np.ones(len(ts))
    return Candles(
        symbol, "1m", np.array(ts, dtype=np.int64), closes, closes + 1, closes - 1, closes, ones
    )


def test_rows_followed_by_a_later_row_are_closed() -> None:
    answer = candles([T0, T0 + MINUTE, T0 + 2 * MINUTE])
    # The exchange opened T0 + 2m: the two before it closed, whatever our clock says.
    assert closed_part(answer, T0).ts_ms.tolist() == [T0, T0 + MINUTE]
    # The last row closes by the cutoff only.
    assert len(closed_part(answer, T0 + 3 * MINUTE - 1)) == 2
    assert len(closed_part(answer, T0 + 3 * MINUTE)) == 3
    assert len(closed_part(candles([]), T0)) == 0
    assert len(closed_part(candles([T0]), T0)) == 0


def test_merge_adds_new_rows_replaces_corrections_and_ignores_duplicates() -> None:
    window = candles([T0 + k * MINUTE for k in range(4)])
    fresh = candles(
        [T0 + 3 * MINUTE, T0 + 4 * MINUTE, T0 + 5 * MINUTE],
        close=[float((T0 + 3 * MINUTE) // MINUTE % 97), 50.0, 51.0],
    )
    merged = merge_window(window, fresh, keep=4)
    assert merged.window.ts_ms.tolist() == [T0 + k * MINUTE for k in range(2, 6)]
    assert merged.added.ts_ms.tolist() == [T0 + 4 * MINUTE, T0 + 5 * MINUTE]
    assert len(merged.corrected) == 0  # T0 + 3m came again unchanged
    corrected = merge_window(merged.window, candles([T0 + 5 * MINUTE], close=[9.0]), keep=4)
    assert corrected.corrected.close.tolist() == [9.0]
    assert len(corrected.added) == 0
    assert corrected.window.close.tolist()[-1] == 9.0
    same = merge_window(corrected.window, corrected.window, keep=4)
    assert len(same.added) == 0
    assert len(same.corrected) == 0


@given(
    held=st.sets(st.integers(0, 60), max_size=30),
    fresh=st.dictionaries(st.integers(0, 70), st.integers(0, 3), max_size=30),
    keep=st.integers(1, 40),
)
def test_merge_keeps_the_latest_distinct_rows(
    held: set[int], fresh: dict[int, int], keep: int
) -> None:
    window = candles([T0 + m * MINUTE for m in sorted(held)]).tail(keep)
    new = candles(
        [T0 + m * MINUTE for m in sorted(fresh)],
        close=[float(m % 97 + fresh[m]) for m in sorted(fresh)],
    )
    result = merge_window(window, new, keep)
    expected: dict[int, float] = dict(
        zip(window.ts_ms.tolist(), window.close.tolist(), strict=True)
    )
    expected.update(zip(new.ts_ms.tolist(), new.close.tolist(), strict=True))
    latest = sorted(expected)[-keep:]
    assert result.window.ts_ms.tolist() == latest
    assert result.window.close.tolist() == [expected[t] for t in latest]
    held_ts = set(window.ts_ms.tolist())
    fresh_recent = {t for t in new.ts_ms.tolist() if t not in held_ts and t in latest}
    assert set(result.added.ts_ms.tolist()) == fresh_recent
    changed = {
        t
        for t, c in zip(new.ts_ms.tolist(), new.close.tolist(), strict=True)
        if t in held_ts and c != window.close[window.ts_ms.tolist().index(t)] and t in latest
    }
    assert set(result.corrected.ts_ms.tolist()) == changed


@given(
    ts=st.lists(st.integers(0, 10**6), unique=True, max_size=50).map(sorted),
    symbol=st.text(min_size=1, max_size=20),
)
def test_packed_windows_read_back_the_same(ts: list[int], symbol: str) -> None:
    window = candles([T0 + m * MINUTE for m in ts], symbol=symbol)
    back = decode_window(encode_window(window))
    assert (back.symbol, back.timeframe) == (symbol, "1m")
    for name in ("ts_ms", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(back, name), getattr(window, name))
        assert getattr(back, name).dtype == getattr(window, name).dtype


def test_a_damaged_packed_window_is_refused() -> None:
    data = encode_window(candles([T0, T0 + MINUTE]))
    with pytest.raises(DataValidationError, match="truncated"):
        decode_window(data[:-3])
    with pytest.raises(DataValidationError, match="XBW1"):
        decode_window(b"JUNK" + data[4:])


def test_pairs_are_checked() -> None:
    assert check_pair(("BTC/USDT", "4h")) == ("BTC/USDT", "4h")
    for bad in [("", "1m"), ("BTC/USDT",), ("BTC/USDT", "4 hours")]:
        with pytest.raises(InvalidInputError):
            check_pair(bad)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "memory-cache", "redis"])
async def store_pair(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[WindowStore, WindowStore]]:
    """A writer's store and a reader's store over the same place (two processes in Redis)."""
    if request.param == "memory":
        store = MemoryWindowStore()
        yield store, store
        return
    if request.param == "memory-cache":
        cache = MemoryCache()
        yield CacheWindowStore(cache, "feed:t"), CacheWindowStore(cache, "feed:t")
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    writer, reader = RedisCache(url, key_prefix=prefix), RedisCache(url, key_prefix=prefix)
    yield CacheWindowStore(writer, "feed:t"), CacheWindowStore(reader, "feed:t", ttl_s=60)
    await writer.aclose()
    await reader.aclose()


async def test_a_store_hands_readers_the_window_written(
    store_pair: tuple[WindowStore, WindowStore],
) -> None:
    writer, reader = store_pair
    assert await reader.read("BTC/USDT", "1m") is None
    first = candles([T0, T0 + MINUTE])
    await writer.write(first)
    await writer.write(candles([T0], symbol="ETH/USDT"))
    second = candles([T0 + MINUTE, T0 + 2 * MINUTE], close=[5.0, 6.0])
    await writer.write(second)
    got = await reader.read("BTC/USDT", "1m")
    assert got is not None
    assert got.ts_ms.tolist() == second.ts_ms.tolist()
    assert got.close.tolist() == [5.0, 6.0]
    await writer.delete("BTC/USDT", "1m")
    assert await reader.read("BTC/USDT", "1m") is None
    eth = await reader.read("ETH/USDT", "1m")
    assert eth is not None
    assert len(eth) == 1


async def test_the_feed_publishes_windows_to_redis_for_other_processes(
    redis_url: str, redis_prefix: str
) -> None:
    time = FakeTime()
    exchange = FakeExchange(time)
    cache, other = RedisCache(redis_url, redis_prefix), RedisCache(redis_url, redis_prefix)
    worker_view = CacheWindowStore(other, "feed:fake")
    feed = CandleFeed(
        exchange,
        CacheWindowStore(cache, "feed:fake"),
        FeedSettings(window=5),
        clock=time.clock,
        sleep=time.sleep,
    )
    sub = feed.subscribe([("BTC/USDT", "1m")])
    try:
        await feed.start()
        await settle()
        while True:  # real Redis round trips: wait for the snapshot's write to land
            snapshot = await sub.get()
            if snapshot.kind is EventKind.SNAPSHOT:
                break
        stored = await worker_view.read("BTC/USDT", "1m")
        assert stored is not None
        assert stored.ts_ms.tolist() == snapshot.window.ts_ms.tolist()
        await time.advance_to(T0 + MINUTE + 1_000)
        update = await sub.get()
        stored = await worker_view.read("BTC/USDT", "1m")
        assert stored is not None
        assert stored.ts_ms[-1] == update.closed.ts_ms[-1] == T0
        assert np.array_equal(stored.close, update.window.close)
        await sub.close()
        assert await worker_view.read("BTC/USDT", "1m") is None
    finally:
        await feed.stop()
        await cache.aclose()
        await other.aclose()
