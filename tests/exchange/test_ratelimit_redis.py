"""RedisRateLimiter against the real Redis: two clients share one limit, as two processes do.

Times are recorded with time.time(), the clock Redis's TIME reads too (the test Redis runs
on this machine): the admission we record is after Redis admitted, the answer we record
is before Redis hears of it, so any excess we found would be a real one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.support.ratelimit import max_alive_weight
from tests.support.servers import free_port
from xraybot.exchange.ratelimit import Budget, RedisRateLimiter
from xraybot.model.errors import InvalidInputError, TemporaryError

LimiterFactory = Callable[..., RedisRateLimiter]


@pytest.fixture
async def make_limiter(redis_url: str, redis_prefix: str) -> AsyncIterator[LimiterFactory]:
    made: list[RedisRateLimiter] = []

    def build(**kwargs: Any) -> RedisRateLimiter:
        limiter = RedisRateLimiter(redis_url, redis_prefix, **kwargs)
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        await limiter.aclose()


async def test_two_clients_never_exceed_the_capacity_together(
    make_limiter: LimiterFactory,
) -> None:
    capacity, window_s = 10, 0.3
    budget = Budget("shared", capacity, window_s)
    first, second = make_limiter(margin=0.0), make_limiter(margin=0.0)
    rng = random.Random(7)
    held: list[tuple[float, float, float]] = []

    async def worker(limiter: RedisRateLimiter, steps: list[tuple[int, float]]) -> None:
        for weight, answer_s in steps:
            async with limiter.hold([(budget, weight, "public")]):
                admitted = time.time()
                await asyncio.sleep(answer_s)
                held.append((admitted, time.time(), weight))

    jobs = [
        [(rng.randint(1, 4), rng.choice([0, 0, 0.05, 0.2])) for _ in range(3)] for _ in range(10)
    ]
    await asyncio.gather(
        *(worker(first if i % 2 else second, steps) for i, steps in enumerate(jobs))
    )
    assert len(held) == 30
    assert max_alive_weight(held, window_s) <= capacity


async def test_the_full_capacity_is_used(make_limiter: LimiterFactory) -> None:
    budget = Budget("full", 5, 0.3)
    first, second = make_limiter(margin=0.0), make_limiter(margin=0.0)
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire(budget, 1, "public") for limiter in [first, second] * 8))
    # 16 at 5 per window: 5 at once, then 5 more as each of three windows ends.
    assert time.monotonic() - start >= 0.9


async def test_a_heavy_waiter_is_not_starved_by_another_process(
    make_limiter: LimiterFactory,
) -> None:
    budget = Budget("claim", 10, 0.2)
    light, heavy = make_limiter(margin=0.0), make_limiter(margin=0.0)
    stream_done: list[float] = []

    async def stream() -> None:
        for _ in range(20):
            await light.acquire(budget, 1, "public")
        stream_done.append(time.monotonic())

    async def big() -> float:
        await asyncio.sleep(0.1)
        await heavy.acquire(budget, 10, "public")
        return time.monotonic()

    big_task = asyncio.create_task(big())
    await asyncio.gather(*(stream() for _ in range(5)))
    # Once it waits, its claim keeps the light stream from taking all the room.
    assert await big_task < max(stream_done)


async def test_a_penalty_from_one_client_blocks_the_other(make_limiter: LimiterFactory) -> None:
    budget = Budget("blocked", 100, 1.0)
    first, second = make_limiter(), make_limiter()
    await first.penalize(budget, "public", 0.4)
    assert await second.headroom(budget, "public") == 0.0
    start = time.monotonic()
    await second.acquire(budget, 1, "public")
    assert time.monotonic() - start >= 0.35
    assert await second.headroom(budget, "public") == 99.0


async def test_a_cancelled_waiter_leaves_nothing_behind(
    make_limiter: LimiterFactory, redis_url: str, redis_prefix: str
) -> None:
    budget = Budget("cancel", 1, 0.3)
    limiter = make_limiter(margin=0.0)
    await limiter.acquire(budget, 1, "public")
    waiting = asyncio.create_task(limiter.acquire(budget, 1, "public"))
    await asyncio.sleep(0.05)
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.exists(f"{redis_prefix}cancel|public:claim") == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await client.exists(f"{redis_prefix}cancel|public:claim") == 0
    finally:
        await client.aclose()
    await limiter.acquire(budget, 1, "public")


async def test_every_key_expires(
    make_limiter: LimiterFactory, redis_url: str, redis_prefix: str
) -> None:
    limiter = make_limiter()
    await limiter.acquire_many(
        [(Budget("a", 10, 1.0), 1, "public"), (Budget("b", 10, 2.0, per_key=True), 1, "key:1")]
    )
    await limiter.penalize(Budget("c", 10, 1.0), "public", 5)
    async with limiter.hold([(Budget("d", 10, 1.0), 1, "public")]):
        client = aioredis.Redis.from_url(redis_url)
        try:
            keys = sorted([k.decode() async for k in client.scan_iter(match=f"{redis_prefix}*")])
            names = [key.removeprefix(redis_prefix) for key in keys]
            assert names == ["a|public:done", "b|key:1:done", "c|public:block", "d|public:inflight"]
            for key in keys:
                assert 0 < await client.pttl(key) <= 125_000
        finally:
            await client.aclose()


async def test_unreachable_redis_is_a_temporary_error() -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    limiter = RedisRateLimiter(url, "x:")
    try:
        with pytest.raises(TemporaryError, match="cannot reach Redis at") as caught:
            await limiter.acquire(Budget("k", 10, 1.0), 1, "public")
        assert "s3cret" not in str(caught.value)
    finally:
        await limiter.aclose()


async def test_impossible_weights_are_refused_before_redis(make_limiter: LimiterFactory) -> None:
    with pytest.raises(InvalidInputError, match="more than budget"):
        await make_limiter().acquire(Budget("k", 10, 1.0), 11, "public")
