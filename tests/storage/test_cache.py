"""MemoryCache and RedisCache behave alike; RedisCache talks to the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from xraybot.model.errors import InvalidInputError, TemporaryError
from xraybot.storage import Cache, MemoryCache, RedisCache

CacheFactory = Callable[[str], Cache]


@pytest.fixture(params=["memory", "redis"])
async def make_cache(request: pytest.FixtureRequest) -> AsyncIterator[CacheFactory]:
    """Build caches of one kind; the suffix picks a namespace (a prefix for Redis)."""
    made: list[Cache] = []
    shared_memory: dict[str, MemoryCache] = {}

    def build(suffix: str) -> Cache:
        cache: Cache
        if request.param == "memory":
            # One MemoryCache per namespace, as two processes would each have their own.
            cache = shared_memory.setdefault(suffix, MemoryCache())
        else:
            url = request.getfixturevalue("redis_url")
            prefix = request.getfixturevalue("redis_prefix")
            cache = RedisCache(url, key_prefix=f"{prefix}{suffix}:")
        made.append(cache)
        return cache

    yield build
    for cache in made:
        await cache.aclose()


async def test_set_get_and_delete(make_cache: CacheFactory) -> None:
    cache = make_cache("a")
    assert await cache.get("k") is None

    await cache.set("k", b"\x00value\xff")
    assert await cache.get("k") == b"\x00value\xff"

    await cache.set("k", b"replaced")
    assert await cache.get("k") == b"replaced"

    await cache.delete("k")
    assert await cache.get("k") is None
    await cache.delete("never-set")  # not an error


async def test_values_expire_after_their_ttl(make_cache: CacheFactory) -> None:
    cache = make_cache("a")
    await cache.set("short", b"1", ttl_s=0.15)
    await cache.set("long", b"2", ttl_s=30)
    await cache.set("forever", b"3")
    assert await cache.get("short") == b"1"

    await asyncio.sleep(0.3)

    assert await cache.get("short") is None
    assert await cache.get("long") == b"2"
    assert await cache.get("forever") == b"3"


async def test_prefixes_keep_namespaces_apart(make_cache: CacheFactory) -> None:
    first, second = make_cache("one"), make_cache("two")
    await first.set("k", b"first")
    await second.set("k", b"second")

    assert await first.get("k") == b"first"
    assert await second.get("k") == b"second"
    await first.delete("k")
    assert await second.get("k") == b"second"


@pytest.mark.parametrize("ttl_s", [0, -1.0, float("nan"), float("inf")])
async def test_a_nonsense_ttl_is_refused(make_cache: CacheFactory, ttl_s: float) -> None:
    with pytest.raises(InvalidInputError, match="ttl_s"):
        await make_cache("a").set("k", b"v", ttl_s=ttl_s)


async def test_redis_keys_carry_the_prefix(redis_url: str, redis_prefix: str) -> None:
    cache = RedisCache(redis_url, key_prefix=redis_prefix)
    client = aioredis.Redis.from_url(redis_url)
    try:
        await cache.set("k", b"v", ttl_s=10)
        assert await client.get(f"{redis_prefix}k") == b"v"
        assert 0 < await client.pttl(f"{redis_prefix}k") <= 10_000
    finally:
        await cache.aclose()
        await client.aclose()


async def test_an_unreachable_redis_raises_storage_error_without_the_password() -> None:
    cache = RedisCache("redis://:S3cretPw@127.0.0.1:1/0", key_prefix="x:")
    try:
        with pytest.raises(TemporaryError, match=r"127\.0\.0\.1:1") as raised:
            await cache.get("k")
    finally:
        await cache.aclose()
    assert "S3cretPw" not in str(raised.value)
