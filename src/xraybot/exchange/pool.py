"""ccxt clients, pooled: one shared public client per exchange, bounded per-user clients.

No code path builds a client per call. The public client loads the markets once (however
many callers ask at the same moment) and reloads them after ``markets_ttl_s``; a failed
reload keeps the markets it had. Private clients live in an LRU keyed by (exchange, user,
key fingerprint) and borrow the public client's parsed markets (ccxt's
``set_markets_from_exchange``: shared references, no request and no copy per user).
Evicted clients are closed once their last request has finished.

Callers should ask the pool for a client per unit of work rather than keep one: a
private client that was evicted meanwhile is closed, and ccxt refuses to use it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from xraybot.exchange import quirks
from xraybot.exchange.config import DEFAULT_SIM_URL
from xraybot.exchange.errors import translating
from xraybot.exchange.limited_client import key_scope, limited_client_class
from xraybot.exchange.ratelimit import RateLimiter
from xraybot.model.errors import InvalidInputError, XraybotError

_log = logging.getLogger(__name__)
_RETRY_FAILED_RELOAD_S = 60.0


class Credentials(Protocol):
    """A user's exchange keys (users.credentials.ApiCredentials satisfies it)."""

    @property
    def api_key(self) -> str: ...
    @property
    def secret(self) -> str: ...
    @property
    def passphrase(self) -> str | None: ...


@dataclass(slots=True)
class _Public:
    client: Any
    loaded_at: float | None = None  # clock time of the last successful load
    next_load_at: float = 0.0  # when the markets are due for a (re)load
    loading: asyncio.Task[None] | None = None


class ExchangePool:
    """Owns every ccxt client of the process; close() it on shutdown."""

    def __init__(
        self,
        *,
        limiter: RateLimiter | None,
        sim_url: str = DEFAULT_SIM_URL,
        markets_ttl_s: float = 3600,
        max_private_clients: int = 256,
        timeout_ms: int = 10_000,
        websockets: bool = False,
        clock: Callable[[], float] = time.monotonic,
        client_class: Callable[[str], type[Any]] | None = None,
    ) -> None:
        if not markets_ttl_s > 0:
            raise InvalidInputError(f"markets_ttl_s must be > 0 seconds; found {markets_ttl_s!r}.")
        if max_private_clients < 1:
            raise InvalidInputError(
                f"max_private_clients must be at least 1; found {max_private_clients!r}."
            )
        self._limiter = limiter
        self._sim_url = sim_url
        self._ttl_s = markets_ttl_s
        self._max_private = max_private_clients
        self._timeout_ms = timeout_ms
        self._clock = clock
        self._class_for = client_class or (
            lambda exchange_id: quirks.client_class(exchange_id, websockets=websockets)
        )
        self._public: dict[str, _Public] = {}
        self._private: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._retiring: dict[asyncio.Task[None], Any] = {}
        self._closed = False

    def _build(self, exchange_id: str, credentials: Credentials | None) -> Any:
        if self._closed:
            raise InvalidInputError(
                "the exchange pool is closed; build a new ExchangePool after close()."
            )
        config = quirks.ccxt_config(
            exchange_id,
            api_key=credentials.api_key if credentials else None,
            secret=credentials.secret if credentials else None,
            password=credentials.passphrase if credentials else None,
            sim_url=self._sim_url,
            timeout_ms=self._timeout_ms,
            enable_ccxt_throttle=self._limiter is None,
        )
        cls = limited_client_class(self._class_for(exchange_id))
        return cls(config, limiter=self._limiter, exchange_id=exchange_id)

    async def public(self, exchange_id: str) -> Any:
        """Return the shared public client of `exchange_id`, its markets loaded and fresh."""
        entry = self._public.get(exchange_id)
        if entry is None:
            entry = self._public[exchange_id] = _Public(self._build(exchange_id, None))
        if self._clock() >= entry.next_load_at:
            if entry.loading is None:
                entry.loading = asyncio.ensure_future(self._load_markets(exchange_id, entry))
            # Shielded: a caller that gives up must not cancel the load the others await.
            await asyncio.shield(entry.loading)
        return entry.client

    async def _load_markets(self, exchange_id: str, entry: _Public) -> None:
        try:
            with translating(exchange_id, "load the markets", client=entry.client):
                await entry.client.load_markets(reload=entry.loaded_at is not None)
        except XraybotError as e:
            if entry.loaded_at is None:
                raise
            # Stale markets beat none: keep trading on them and try again a bit later.
            entry.next_load_at = self._clock() + min(self._ttl_s, _RETRY_FAILED_RELOAD_S)
            _log.warning("%s; keeping the markets loaded before", e)
            return
        finally:
            entry.loading = None
        entry.loaded_at = self._clock()
        entry.next_load_at = entry.loaded_at + self._ttl_s
        for (eid, _, _), client in self._private.items():
            if eid == exchange_id:
                client.set_markets_from_exchange(entry.client)

    async def private(self, exchange_id: str, user_id: str, credentials: Credentials) -> Any:
        """Return `user_id`'s client for `exchange_id`, sharing the public client's markets."""
        public = await self.public(exchange_id)
        key = (exchange_id, user_id, key_scope(credentials.api_key + "\0" + credentials.secret))
        client = self._private.get(key)
        if client is not None:
            self._private.move_to_end(key)
            return client
        client = self._build(exchange_id, credentials)
        client.set_markets_from_exchange(public)
        self._private[key] = client
        while len(self._private) > self._max_private:
            _, evicted = self._private.popitem(last=False)
            self._retire(evicted)
        return client

    def _retire(self, client: Any) -> None:
        task = asyncio.ensure_future(self._close_when_idle(client))
        self._retiring[task] = client
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

    @staticmethod
    async def _close_when_idle(client: Any) -> None:
        await client.wait_until_idle()
        await client.close()

    @property
    def private_count(self) -> int:
        """Return how many private clients are open."""
        return len(self._private)

    async def wait_retired(self) -> None:
        """Return once every evicted client has finished its requests and is closed."""
        while self._retiring:
            await asyncio.gather(*list(self._retiring), return_exceptions=True)

    async def close(self) -> None:
        """Close every client (in-flight requests are cut off); the pool is unusable after."""
        self._closed = True
        clients = [entry.client for entry in self._public.values()]
        clients += list(self._private.values())
        tasks = [e.loading for e in self._public.values() if e.loading is not None]
        for task, client in list(self._retiring.items()):
            tasks.append(task)
            clients.append(client)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._public.clear()
        self._private.clear()
        results = await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        for client, result in zip(clients, results, strict=True):
            if isinstance(result, Exception):
                _log.warning("closing a %s client failed: %s", client.id, result)


__all__ = ["Credentials", "ExchangePool"]
