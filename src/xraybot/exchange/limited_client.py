"""ccxt clients whose every HTTP request is paced by xraybot's limiter.

The pacing sits in ``fetch2``, the one method every ccxt REST call goes through (unified
methods, implicit endpoints and ccxt's own pagination alike), so it is applied request by
request. A 429 (ccxt RateLimitExceeded or DDoSProtection) blocks the request's budgets
for the ``Retry-After`` the exchange sent and is re-raised with ``retry_after_s`` set on
the ccxt exception, for the gateway's error translation.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import ccxt

from xraybot.exchange.budgets import budgets_for_request
from xraybot.exchange.errors import retry_after_from_headers
from xraybot.model.errors import ConfigError, TemporaryError

if TYPE_CHECKING:
    from xraybot.exchange.ratelimit import RateLimiter, Request

PUBLIC_SCOPE = "public"
_RATE_LIMITED = (ccxt.DDoSProtection, ccxt.RateLimitExceeded)
_CLASSES: dict[type[Any], type[Any]] = {}


def key_scope(api_key: str | None) -> str:
    """Return the limiter scope of an API key: a short hash, never the key itself."""
    if not api_key:
        return PUBLIC_SCOPE
    return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


def _is_signed(api: str | Sequence[str]) -> bool:
    parts = (api,) if isinstance(api, str) else api
    return any("private" in str(part).lower() for part in parts)


class _LimitedMixin:
    """Overrides placed before the ccxt class in the generated subclass's MRO."""

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        limiter: RateLimiter | None = None,
        exchange_id: str | None = None,
    ) -> None:
        self._xraybot_limiter = limiter
        self._xraybot_inflight = 0
        self._xraybot_idle = asyncio.Event()
        self._xraybot_idle.set()
        self._xraybot_headers: Mapping[str, Any] | None = None
        client = cast(Any, super())
        client.__init__(dict(config or {}))
        this = cast(Any, self)
        self.xraybot_exchange_id: str = exchange_id or this.id
        if limiter is not None and this.enableRateLimit:
            raise ConfigError(
                f"{self.xraybot_exchange_id}: ccxt's own throttle (enableRateLimit) is on "
                "while xraybot's limiter paces the client too, which would halve the "
                "throughput; build the config with enableRateLimit False "
                "(quirks.ccxt_config does by default)."
            )

    def _xraybot_requests(
        self, path: str, api: Any, method: str, params: Any, config: Any
    ) -> list[Request]:
        this = cast(Any, self)
        cost = float(this.calculate_rate_limiter_cost(api, method, path, params, config))
        budgets = budgets_for_request(
            self.xraybot_exchange_id,
            api,
            path,
            method,
            cost,
            float(this.rateLimit),
            _is_signed(api),
            params if isinstance(params, Mapping) else None,
        )
        mine = key_scope(this.apiKey)
        return [(b, w, mine if b.per_key else PUBLIC_SCOPE) for b, w in budgets]

    async def fetch2(
        self,
        path: str,
        api: Any = None,
        method: str = "GET",
        params: Any = None,
        config: Any = None,
    ) -> Any:
        """Take the request's budgets from the limiter, then send it through ccxt."""
        api = ["public"] if api is None else api
        params = {} if params is None else params
        config = {} if config is None else config
        limiter = self._xraybot_limiter
        ccxt_client = cast(Any, super())
        self._xraybot_inflight += 1
        self._xraybot_idle.clear()
        try:
            if limiter is None:
                return await ccxt_client.fetch2(path, api, method, params, config)
            requests = self._xraybot_requests(path, api, method, params, config)
            # In flight from admission to answer: the exchange counts the request somewhere
            # in between, so the limiter counts it over all of that.
            async with limiter.hold(requests):
                try:
                    return await ccxt_client.fetch2(path, api, method, params, config)
                except _RATE_LIMITED as e:
                    await self._xraybot_penalize(limiter, requests, e)
                    raise
        finally:
            self._xraybot_inflight -= 1
            if self._xraybot_inflight == 0:
                self._xraybot_idle.set()

    async def _xraybot_penalize(
        self, limiter: RateLimiter, requests: list[Request], error: BaseException
    ) -> None:
        wait = getattr(error, "retry_after_s", None)
        if wait is None:  # no Retry-After: sit out a whole window
            wait = max(budget.window_s for budget, _, _ in requests)
        for budget, _, scope in requests:
            # The 429 is the news; an unreachable limiter fails the next acquire anyway.
            with contextlib.suppress(TemporaryError):
                await limiter.penalize(budget, scope, float(wait))

    async def fetch(
        self, url: str, method: str = "GET", headers: Any = None, body: Any = None
    ) -> Any:
        """Send one HTTP request; a 429 carries the Retry-After seconds as ``retry_after_s``."""
        try:
            return await cast(Any, super()).fetch(url, method, headers, body)
        except _RATE_LIMITED as e:
            # Read synchronously after handle_errors stored this response's own headers:
            # no other request can have run in between.
            cast(Any, e).retry_after_s = retry_after_from_headers(self._xraybot_headers)
            raise

    def handle_errors(
        self,
        code: Any,
        reason: Any,
        url: Any,
        method: Any,
        headers: Any,
        body: Any,
        response: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        """Remember this response's headers (for Retry-After), then let ccxt map errors."""
        self._xraybot_headers = headers
        return cast(Any, super()).handle_errors(
            code, reason, url, method, headers, body, response, request_headers, request_body
        )

    async def wait_until_idle(self) -> None:
        """Return once no request of this client is waiting or in flight."""
        await self._xraybot_idle.wait()


def limited_client_class(ccxt_cls: type[Any]) -> type[Any]:
    """Return (once per class, cached) the subclass of `ccxt_cls` paced by a limiter.

    Build it as ``cls(config, limiter=..., exchange_id=...)`` with ccxt's enableRateLimit
    False; with ``limiter=None`` it sends requests unpaced.
    """
    if issubclass(ccxt_cls, _LimitedMixin):
        return ccxt_cls
    cls = _CLASSES.get(ccxt_cls)
    if cls is None:
        name = "Limited" + ccxt_cls.__name__
        cls = type(name, (_LimitedMixin, ccxt_cls), {"__module__": __name__})
        _CLASSES[ccxt_cls] = cls
    return cls


__all__ = ["PUBLIC_SCOPE", "key_scope", "limited_client_class"]
