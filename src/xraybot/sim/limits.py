"""Server-side rate limits with MEXC's published budgets and weights (research doc §6).

Spot v3: every endpoint has its own budget of ``spot_weight`` per ``spot_window_ms``,
counted per API key for keyed requests and per client IP for public ones, each request
costing MEXC's documented weight. Contract v1: ``contract_requests`` per
``contract_window_ms`` per endpoint, and ``contract/detail`` its own tighter budget.

Windows slide: a request is admitted when the weight admitted in the last window plus its
own fits the budget. A client that keeps its own sliding window of the same size never
sees a 429. Refused requests cost nothing and get HTTP 429 with ``Retry-After`` (whole
seconds until enough weight has left the window).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from xraybot.sim.config import RateLimits
from xraybot.sim.replies import CONTRACT_RATE_LIMITED, MexcJSON

SPOT_PREFIX = "/api/v3/"
CONTRACT_PUBLIC_PREFIX = "/api/v1/contract/"
CONTRACT_PRIVATE_PREFIX = "/api/v1/private/"
CONTRACT_DETAIL = "/api/v1/contract/detail"

# MEXC's documented weights; anything unlisted weighs 1.
SPOT_WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "exchangeInfo"): 10,
    ("GET", "trades"): 5,
    ("GET", "order"): 2,
    ("GET", "openOrders"): 3,
    ("GET", "allOrders"): 10,
    ("GET", "account"): 10,
    ("GET", "myTrades"): 10,
    ("GET", "tradeFee"): 20,
    ("GET", "capital/config/getall"): 10,
}
SPOT_ALL_TICKERS_WEIGHT = 40  # ticker/24hr without a symbol

# Path parameters are not part of the endpoint: kline/BTC_USDT and kline/ETH_USDT share a budget.
_TEMPLATED = (
    "/api/v1/contract/kline/fair_price/",
    "/api/v1/contract/kline/index_price/",
    "/api/v1/contract/kline/",
    "/api/v1/contract/depth/",
    "/api/v1/private/order/get/",
    "/api/v1/private/order/external/",
    "/api/v1/private/order/list/open_orders/",
)


def endpoint_of(path: str) -> str:
    """Return the endpoint a path counts against (path parameters replaced by ``*``)."""
    for prefix in _TEMPLATED:
        if path.startswith(prefix):
            return prefix + "*"
    return path


def spot_weight(method: str, path: str, query: str) -> int:
    """Return MEXC's weight of a spot v3 request."""
    name = path[len(SPOT_PREFIX) :]
    if name == "ticker/24hr":
        return 1 if "symbol=" in query else SPOT_ALL_TICKERS_WEIGHT
    return SPOT_WEIGHTS.get((method, name), 1)


class SlidingWindow:
    """Weights admitted in the last ``window_s`` seconds, against a budget."""

    def __init__(self, budget: int, window_s: float) -> None:
        self.budget = budget
        self.window_s = window_s
        self._entries: deque[tuple[float, int]] = deque()
        self._used = 0

    def admit(self, now: float, weight: int) -> float | None:
        """Admit ``weight`` now and return None, or return the seconds to wait."""
        horizon = now - self.window_s
        while self._entries and self._entries[0][0] <= horizon:
            self._used -= self._entries.popleft()[1]
        if self._used + weight <= self.budget:
            self._entries.append((now, weight))
            self._used += weight
            return None
        if weight > self.budget:
            return self.window_s
        excess = self._used + weight - self.budget
        for stamp, entry_weight in self._entries:
            excess -= entry_weight
            if excess <= 0:
                return stamp + self.window_s - now
        return self.window_s  # not reached: the entries sum to more than the excess


class RateLimiter:
    """All the windows, keyed by (endpoint, caller)."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._windows: dict[tuple[str, str, str], SlidingWindow] = {}

    def reset(self) -> None:
        """Forget all counted requests."""
        self._windows.clear()

    def check(
        self, *, method: str, path: str, query: str, client_ip: str, api_key: str | None
    ) -> float | None:
        """Count the request; return None if admitted, else seconds until it would be."""
        if not self.limits.enabled:
            return None
        caller = f"key:{api_key}" if api_key else f"ip:{client_ip}"
        limits = self.limits
        if path.startswith(SPOT_PREFIX):
            budget, window_ms = limits.spot_weight, limits.spot_window_ms
            weight = spot_weight(method, path, query)
        elif path == CONTRACT_DETAIL:
            budget, window_ms = limits.contract_detail_requests, limits.contract_detail_window_ms
            weight = 1
        elif path.startswith((CONTRACT_PUBLIC_PREFIX, CONTRACT_PRIVATE_PREFIX)):
            budget, window_ms = limits.contract_requests, limits.contract_window_ms
            weight = 1
        else:
            return None
        key = (method, endpoint_of(path), caller)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = SlidingWindow(budget, window_ms / 1000)
        return window.admit(self._clock(), weight)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


class RateLimitMiddleware:
    """ASGI middleware answering HTTP 429 with ``Retry-After`` when a budget is spent."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        client = scope.get("client")
        wait_s = self.limiter.check(
            method=scope["method"],
            path=path,
            query=scope.get("query_string", b"").decode("latin-1"),
            client_ip=client[0] if client else "unknown",
            api_key=_header(scope, b"x-mexc-apikey") or _header(scope, b"apikey"),
        )
        if wait_s is None:
            await self.app(scope, receive, send)
            return
        retry_after = str(max(1, math.ceil(wait_s)))
        if path.startswith(SPOT_PREFIX):
            body: dict[str, object] = {
                "code": 429,
                "msg": f"Too many requests; retry after {retry_after} s.",
            }
        else:
            body = {
                "success": False,
                "code": CONTRACT_RATE_LIMITED,
                "message": f"Excessive frequency; retry after {retry_after} s.",
            }
        response = MexcJSON(body, status_code=429, headers={"Retry-After": retry_after})
        await response(scope, receive, send)
