"""A small async byte cache over Redis or process memory; never the source of truth.

Anything stored here may vanish at any time (eviction, restart, TTL): callers must be able
to rebuild it from the journal or the exchange.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from xraybot.model.errors import InvalidInputError, TemporaryError


class Cache(Protocol):
    """What the caches offer: bytes by key, with an optional time to live."""

    async def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or None if absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store ``value`` under ``key``, expiring after ``ttl_s`` seconds if given."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...

    async def aclose(self) -> None:
        """Release connections (or memory) held by the cache."""
        ...


def _check_ttl(ttl_s: float | None) -> None:
    if ttl_s is not None and not (math.isfinite(ttl_s) and ttl_s > 0):
        raise InvalidInputError(
            f"cache ttl_s must be a positive number of seconds or None; found {ttl_s!r}."
        )


def _check_value(value: object) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidInputError(
            f"the cache stores bytes; found {type(value).__name__}. Encode the value first."
        )


def describe_redis_url(url: str) -> str:
    """Render a Redis URL for messages with any password masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


class MemoryCache:
    """A process-local cache with per-key expiry (a monotonic clock, not wall time)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[bytes, float | None]] = {}

    async def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or None if absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and time.monotonic() >= expires_at:
            del self._entries[key]
            return None
        return value

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store ``value`` under ``key``, expiring after ``ttl_s`` seconds if given."""
        _check_ttl(ttl_s)
        _check_value(value)
        expires_at = None if ttl_s is None else time.monotonic() + ttl_s
        self._entries[key] = (bytes(value), expires_at)

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        self._entries.pop(key, None)

    async def aclose(self) -> None:
        """Drop every entry."""
        self._entries.clear()


class RedisCache:
    """A cache in Redis under ``key_prefix``, so deployments and tests can share a server."""

    def __init__(self, url: str, key_prefix: str = "xraybot:cache:") -> None:
        self._url = url
        self._prefix = key_prefix
        self._client = aioredis.Redis.from_url(url)

    @contextmanager
    def _redis_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except RedisError as e:
            # A cache outage is temporary by nature and never loses data: retry or recompute.
            raise TemporaryError(
                f"{action} failed on Redis at {describe_redis_url(self._url)} "
                f"({type(e).__name__}: {e}). Check that Redis is running; the journal is "
                "unaffected, cached values are rebuilt when it is back."
            ) from e

    async def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or None if absent or expired."""
        with self._redis_errors(f"reading cache key {key!r}"):
            value = await self._client.get(self._prefix + key)
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store ``value`` under ``key``, expiring after ``ttl_s`` seconds if given."""
        _check_ttl(ttl_s)
        _check_value(value)
        # Millisecond expiry: sub-second TTLs (rate windows) are common.
        expire_ms = None if ttl_s is None else max(1, round(ttl_s * 1000))
        with self._redis_errors(f"writing cache key {key!r}"):
            await self._client.set(self._prefix + key, bytes(value), px=expire_ms)

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        with self._redis_errors(f"deleting cache key {key!r}"):
            await self._client.delete(self._prefix + key)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


__all__ = ["Cache", "MemoryCache", "RedisCache", "describe_redis_url"]
