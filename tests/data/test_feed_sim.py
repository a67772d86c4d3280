"""The live feed against the real simulator through the real ccxt client and the pool.

The simulator's market clock is frozen (speed 0) and moved through ``/_sim/clock/advance``;
the feed reads that same clock, so a candle closes exactly when the test says. Requests
are counted by the server itself (an ASGI wrapper around the simulator app), per path.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.support.feed import MINUTE, FakeTime
from tests.support.servers import serve_asgi
from tests.support.sim import START_MS
from xraybot.data.feed import CandleFeed, EventKind, FeedEvent, FeedSettings, Subscription
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.pool import ExchangePool
from xraybot.exchange.ratelimit import MemoryRateLimiter
from xraybot.model.market import MarketKind
from xraybot.runtime.exchanges import public_gateway
from xraybot.sim.app import create_app
from xraybot.sim.clock import SimClock
from xraybot.sim.config import SimConfig
from xraybot.sim.synthetic import SyntheticMarket

KLINES = "/api/v3/klines"
SYMBOLS = 5
SUBSCRIBERS = 50
WAIT_S = 30.0  # a hang guard only: nothing here asserts on time


class RequestCounter:
    """ASGI wrapper counting the HTTP requests the simulator receives, by path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.counts[scope["path"]] += 1
        await self.app(scope, receive, send)


@dataclass
class FrozenSim:
    url: str
    clock: SimClock
    requests: Counter[str]


@contextmanager
def frozen_sim() -> Iterator[FrozenSim]:
    clock = SimClock(START_MS, speed=0)
    counter = RequestCounter(
        create_app(SimConfig(), SyntheticMarket(clock, n_symbols=SYMBOLS, seed=7))
    )
    with serve_asgi(counter) as url:
        yield FrozenSim(url, clock, counter.counts)


@pytest.fixture
def sim() -> Iterator[FrozenSim]:
    # One per test: its markets load (contract/detail: 1 per 5 s) must not be rate-limited.
    with frozen_sim() as running:
        yield running


@pytest.fixture
async def gateway(sim: FrozenSim) -> AsyncIterator[CcxtGateway]:
    limiter = MemoryRateLimiter()  # MEXC's limits, as in production
    pool = ExchangePool(limiter=limiter, sim_url=sim.url)
    try:
        yield await public_gateway(pool, "sim")
    finally:
        await pool.close()
        await limiter.aclose()


def market_time(sim: FrozenSim) -> FakeTime:
    """The feed's clock and sleep: the simulator's market clock, moved through its admin API."""

    async def advance(ms: int) -> None:
        async with httpx.AsyncClient() as client:
            answer = await client.post(f"{sim.url}/_sim/clock/advance", json={"ms": ms})
            answer.raise_for_status()

    return FakeTime(read=sim.clock.now_ms, move=advance)


async def events(subscription: Subscription, count: int) -> list[FeedEvent]:
    return [await asyncio.wait_for(subscription.get(), WAIT_S) for _ in range(count)]


async def spot_symbols(gateway: CcxtGateway) -> list[str]:
    markets = await gateway.markets()
    return sorted(s for s, m in markets.items() if m.kind is MarketKind.SPOT)[:SYMBOLS]


async def test_one_request_per_symbol_per_closed_candle_for_any_number_of_subscribers(
    sim: FrozenSim, gateway: CcxtGateway
) -> None:
    symbols = await spot_symbols(gateway)
    assert len(symbols) == SYMBOLS
    pairs = [(symbol, "1m") for symbol in symbols]
    time = market_time(sim)
    feed = CandleFeed(gateway, settings=FeedSettings(window=60), clock=time.clock, sleep=time.sleep)
    first = [feed.subscribe(pairs) for _ in range(SUBSCRIBERS // 2)]
    sim.requests.clear()
    await feed.start()
    try:
        for subscriber in first:
            assert {e.kind for e in await events(subscriber, SYMBOLS)} == {EventKind.SNAPSHOT}
        assert sim.requests[KLINES] == SYMBOLS  # one load per symbol, not per subscriber
        second = [feed.subscribe(pairs) for _ in range(SUBSCRIBERS - len(first))]
        assert all(s.pending == SYMBOLS for s in second)  # their windows came at once
        assert sim.requests[KLINES] == SYMBOLS  # ... and cost no request
        subscribers = first + second
        for subscriber in second:
            await events(subscriber, SYMBOLS)

        for _ in range(3):
            before = sim.requests[KLINES]
            close = (sim.clock.now_ms() // MINUTE + 1) * MINUTE
            await time.jump_to(close + 2_000)
            for subscriber in subscribers:
                got = await events(subscriber, SYMBOLS)
                assert {e.symbol for e in got} == set(symbols)
                for event in got:
                    assert event.kind is EventKind.UPDATE
                    assert event.closed.ts_ms.tolist() == [close - MINUTE]
            assert sim.requests[KLINES] - before == SYMBOLS  # per closed candle: one per symbol
        assert feed.stats.late_retries == 0
        assert feed.stats.error_retries == 0

        # What was handed out is what the exchange now reports as closed: never a forming candle.
        for symbol in symbols:
            window = await feed.window(symbol, "1m")
            assert window is not None
            assert len(window) == 60
            truth = await gateway.fetch_ohlcv(symbol, "1m", since_ms=int(window.ts_ms[0]), limit=60)
            assert truth.ts_ms.tolist() == window.ts_ms.tolist()
            assert truth.close.tolist() == window.close.tolist()
            assert truth.volume.tolist() == window.volume.tolist()

        # Subscribers leave: pairs nobody wants stop costing requests.
        for subscriber in subscribers:
            await subscriber.close()
        assert feed.pairs == frozenset()
        keep = feed.subscribe(pairs[:2])
        await events(keep, 2)
        before = sim.requests[KLINES]
        close = (sim.clock.now_ms() // MINUTE + 1) * MINUTE
        await time.jump_to(close + 2_000)
        await events(keep, 2)
        assert sim.requests[KLINES] - before == 2
    finally:
        await feed.stop()


async def test_an_unknown_symbol_on_the_simulator_is_dropped(
    sim: FrozenSim, gateway: CcxtGateway
) -> None:
    symbols = await spot_symbols(gateway)
    time = market_time(sim)
    feed = CandleFeed(gateway, settings=FeedSettings(window=10), clock=time.clock, sleep=time.sleep)
    subscriber = feed.subscribe([(symbols[0], "1m"), ("NOPE/USDT", "1m")])
    async with feed:
        got = {e.symbol: e for e in await events(subscriber, 2)}
    assert got["NOPE/USDT"].kind is EventKind.DROPPED
    assert "NOPE/USDT" in (got["NOPE/USDT"].reason or "")
    assert got[symbols[0]].kind is EventKind.SNAPSHOT
    assert len(got[symbols[0]].window) == 10
