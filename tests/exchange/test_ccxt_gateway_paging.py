"""paging.py: bounded OHLCV windows stitched into one ascending, duplicate-free series.

The page source here is an in-memory candle history that answers like MEXC does (at most
``per_call`` rows from ``since``, sometimes repeating a row across pages); the real
ccxt-to-simulator path is covered in test_ccxt_gateway_sim.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xraybot.exchange.paging import Row, collect_candles
from xraybot.model.errors import InvalidInputError

TF = 60_000


class History:
    """Candles at the given minute indexes; records every request it answers."""

    def __init__(self, minutes: list[int], *, overlap: bool = False, now_minute: int = 10_000):
        self.ts = sorted({m * TF for m in minutes})
        self.overlap = overlap
        self.now = now_minute * TF
        self.calls: list[tuple[int | None, int | None, int]] = []

    async def page(self, since: int | None, until: int | None, count: int) -> list[Row]:
        self.calls.append((since, until, count))
        if since is None:
            chosen = [t for t in self.ts if until is None or t < until][-count:]
        else:
            if self.overlap:  # some exchanges repeat the candle at `since - 1 tf`
                since -= TF
            chosen = [t for t in self.ts if t >= since and (until is None or t < until)][:count]
        return [(t, 1.0, 2.0, 0.5, 1.5, float(t // TF)) for t in chosen]

    async def now_ms(self) -> int:
        return self.now


async def collect(history: History, **kwargs: int | None) -> list[int]:
    options: dict[str, int | None] = {"since_ms": None, "until_ms": None, "limit": None}
    options.update(kwargs)
    rows = await collect_candles(
        history.page, timeframe_ms=TF, per_call=5, now_ms=history.now_ms, **options
    )
    return [r[0] // TF for r in rows]


async def test_the_latest_candles_take_one_request_and_no_clock() -> None:
    history = History(list(range(100)))
    assert await collect(history, limit=3) == [97, 98, 99]
    assert history.calls == [(None, None, 3)]


async def test_a_range_is_paged_in_windows_of_at_most_per_call() -> None:
    history = History(list(range(100)))
    got = await collect(history, since_ms=10 * TF, until_ms=23 * TF)
    assert got == list(range(10, 23))
    assert [c[0] // TF for c in history.calls] == [10, 15, 20]  # type: ignore[operator]
    assert all(c[2] == 5 and (c[1] - c[0]) <= 5 * TF for c in history.calls)  # type: ignore[operator]


async def test_until_is_exclusive_and_since_inclusive() -> None:
    history = History(list(range(20)))
    assert await collect(history, since_ms=3 * TF, until_ms=4 * TF) == [3]
    assert await collect(history, since_ms=4 * TF, until_ms=4 * TF) == []


async def test_holes_are_crossed_not_taken_for_the_end() -> None:
    history = History([*range(0, 3), *range(40, 44)])
    assert await collect(history, since_ms=0, until_ms=50 * TF) == [0, 1, 2, 40, 41, 42, 43]


async def test_since_with_a_limit_stops_early() -> None:
    history = History(list(range(100)))
    assert await collect(history, since_ms=10 * TF, limit=12) == list(range(10, 22))
    assert len(history.calls) == 3


async def test_since_with_a_small_limit_is_one_request() -> None:
    history = History(list(range(100)))
    assert await collect(history, since_ms=50 * TF, limit=4) == [50, 51, 52, 53]
    assert history.calls == [(50 * TF, None, 5)]


async def test_until_with_a_limit_returns_the_last_candles_before_it() -> None:
    history = History(list(range(100)))
    assert await collect(history, until_ms=60 * TF, limit=7) == list(range(53, 60))


async def test_no_end_given_asks_the_exchange_clock() -> None:
    history = History(list(range(30)), now_minute=29)
    assert await collect(history, since_ms=20 * TF) == list(range(20, 30))


async def test_repeated_rows_across_pages_appear_once() -> None:
    history = History(list(range(30)), overlap=True)
    assert await collect(history, since_ms=0, until_ms=30 * TF) == list(range(30))


async def test_bad_arguments_are_refused() -> None:
    history = History([])
    with pytest.raises(InvalidInputError, match="limit must be a positive"):
        await collect(history, limit=0)


@settings(max_examples=150, deadline=None)
@given(
    minutes=st.lists(st.integers(0, 200), max_size=120),
    since=st.integers(0, 220),
    span=st.integers(1, 150),
    limit=st.none() | st.integers(1, 40),
    overlap=st.booleans(),
)
async def test_paging_equals_filtering_the_whole_history(
    minutes: list[int], since: int, span: int, limit: int | None, overlap: bool
) -> None:
    history = History(minutes, overlap=overlap)
    got = await collect(history, since_ms=since * TF, until_ms=(since + span) * TF, limit=limit)
    expected = sorted({m for m in minutes if since <= m < since + span})
    assert got == (expected[:limit] if limit is not None else expected)
    assert len(history.calls) <= span // 5 + 1
