"""limited_client_class: the real ccxt mexc client, paced by our limiter, on a local server.

The server here is a few MEXC routes with answers the tests choose (429s with a given
Retry-After, delays); the full simulator is exercised by the pool tests and the bench.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.servers import serve_asgi
from xraybot.exchange.quirks import ccxt_config
from xraybot.exchange.ratelimit import (
    Budget,
    MemoryRateLimiter,
    Request,
    limited_client_class,
)
from xraybot.model.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "mexc"
if not FIXTURES.is_dir():
    FIXTURES = Path("/work/shared/fixtures/mexc")
MINUTE_MS = 60_000


class LocalMexc:
    """The handful of MEXC routes these tests need, counting what it serves."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        symbols = json.loads((FIXTURES / "real-sample.spot-exchangeInfo-symbols.json").read_text())
        self.exchange_info = {"timezone": "CST", "serverTime": 0, "symbols": symbols}
        self.app = Starlette(
            routes=[
                Route("/api/v3/exchangeInfo", self.info),
                Route("/api/v1/contract/detail", self.detail),
                Route("/api/v3/capital/config/getall", self.currencies),
                Route("/api/v3/klines", self.klines),
                Route("/api/v3/account", self.account),
                Route("/api/v3/ping", self.ping),
            ]
        )

    def _count(self, request: HttpRequest) -> None:
        self.hits[request.url.path] = self.hits.get(request.url.path, 0) + 1

    async def info(self, request: HttpRequest) -> Response:
        self._count(request)
        return JSONResponse(self.exchange_info)

    async def detail(self, request: HttpRequest) -> Response:
        self._count(request)
        return JSONResponse({"success": True, "code": 0, "data": []})

    async def currencies(self, request: HttpRequest) -> Response:
        self._count(request)
        return JSONResponse([])

    async def account(self, request: HttpRequest) -> Response:
        self._count(request)
        return JSONResponse({"canTrade": True, "balances": [], "updateTime": None})

    async def klines(self, request: HttpRequest) -> Response:
        self._count(request)
        start = int(request.query_params["startTime"])
        limit = int(request.query_params.get("limit", "500"))
        rows = [
            [t, "1", "2", "0.5", "1.5", "10", t + MINUTE_MS - 1, "15"]
            for t in range(start, start + limit * MINUTE_MS, MINUTE_MS)
        ]
        return JSONResponse(rows)

    async def ping(self, request: HttpRequest) -> Response:
        """`?n=N`: odd N answers 429 with Retry-After N after N ms (-1: no header); even N {}."""
        self._count(request)
        n = int(request.query_params.get("n", "0"))
        await asyncio.sleep(n / 1000)
        if n % 2:
            headers = {"Retry-After": str(n)} if n > 0 else {}
            return JSONResponse({"msg": "Too Many Requests"}, status_code=429, headers=headers)
        return JSONResponse({})


class RecordingLimiter(MemoryRateLimiter):
    """A real memory limiter that also writes down what it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.acquired: list[list[Request]] = []
        self.penalties: list[tuple[str, str, float]] = []

    def hold(self, requests: Sequence[Request]) -> Any:
        self.acquired.append(list(requests))
        return super().hold(requests)

    async def penalize(self, budget: Budget, scope: str, retry_after_s: float) -> None:
        self.penalties.append((budget.key, scope, retry_after_s))
        await super().penalize(budget, scope, retry_after_s)


@pytest.fixture
def server() -> Iterator[tuple[LocalMexc, str]]:
    local = LocalMexc()
    with serve_asgi(local.app) as url:
        yield local, url


def client_for(url: str, limiter: MemoryRateLimiter | None, **keys: str) -> Any:
    cls = limited_client_class(ccxt.async_support.mexc)
    config = ccxt_config("sim", api_key=keys.get("api_key"), secret=keys.get("secret"), sim_url=url)
    return cls(config, limiter=limiter, exchange_id="sim")


def test_the_subclass_is_made_once_per_ccxt_class() -> None:
    cls = limited_client_class(ccxt.async_support.mexc)
    assert limited_client_class(ccxt.async_support.mexc) is cls
    assert limited_client_class(cls) is cls
    assert issubclass(cls, ccxt.async_support.mexc)
    assert limited_client_class(ccxt.async_support.binance) is not cls


def test_ccxts_throttle_must_be_off_under_our_limiter() -> None:
    cls = limited_client_class(ccxt.async_support.mexc)
    with pytest.raises(ConfigError, match="enableRateLimit"):
        cls({"enableRateLimit": True}, limiter=MemoryRateLimiter())
    client = cls(ccxt_config("sim"), limiter=MemoryRateLimiter())
    assert client.enableRateLimit is False
    unpaced = cls({}, limiter=None)  # no limiter of ours: ccxt's own default stays
    assert unpaced.enableRateLimit is True


async def test_every_paginated_request_is_paced(server: tuple[LocalMexc, str]) -> None:
    local, url = server
    limiter = RecordingLimiter()
    client = client_for(url, limiter)
    try:
        await client.load_markets()
        since = client.milliseconds() - 1200 * MINUTE_MS
        candles = await client.fetch_ohlcv(
            "BTC/USDT", "1m", since, params={"paginate": True, "paginationCalls": 3}
        )
    finally:
        await client.close()
    assert len(candles) >= 1000
    klines = [r for r in limiter.acquired if r[0][0].key == "sim:spot:GET /api/v3/klines"]
    assert len(klines) == local.hits["/api/v3/klines"] >= 2
    assert all(r == [(r[0][0], 1.0, "public")] for r in klines)
    keys = {r[0][0].key for r in limiter.acquired}
    assert {"sim:spot:GET /api/v3/exchangeInfo", "sim:contract:GET detail"} <= keys
    info = next(r for r in limiter.acquired if r[0][0].key.endswith("exchangeInfo"))
    assert info[0][1] == 10.0  # MEXC's weight, not ccxt's 25


async def test_signed_requests_count_against_the_key(server: tuple[LocalMexc, str]) -> None:
    _, url = server
    limiter = RecordingLimiter()
    client = client_for(url, limiter, api_key="user-key-1", secret="s")
    try:
        await client.fetch_balance()
    finally:
        await client.close()
    by_key = {req[0].key: req for reqs in limiter.acquired for req in reqs}
    account = by_key["sim:spot:GET /api/v3/account"]
    assert account[1] == 10.0
    assert account[2].startswith("key:")
    assert "user-key-1" not in account[2]
    assert by_key["sim:spot:GET /api/v3/capital/config/getall"][2] == account[2]
    assert by_key["sim:spot:GET /api/v3/exchangeInfo"][2] == "public"
    assert by_key["sim:spot:GET /api/v3/account (per second)"][2] == account[2]


async def test_a_429_blocks_the_budget_for_its_retry_after(server: tuple[LocalMexc, str]) -> None:
    _, url = server
    limiter, other = RecordingLimiter(), RecordingLimiter()
    client, second = client_for(url, limiter), client_for(url, other)
    try:
        with pytest.raises(ccxt.RateLimitExceeded) as caught:
            await client.spotPublicGetPing({"n": 7})
        with pytest.raises(ccxt.RateLimitExceeded) as no_header:
            await second.spotPublicGetPing({"n": -1})
    finally:
        await client.close()
        await second.close()
    assert getattr(caught.value, "retry_after_s", None) == 7.0
    assert getattr(no_header.value, "retry_after_s", "unset") is None
    assert limiter.penalties == [("sim:spot:GET /api/v3/ping", "public", 7.0)]
    assert other.penalties == [("sim:spot:GET /api/v3/ping", "public", 10.0)]  # a whole window
    budget = Budget("sim:spot:GET /api/v3/ping", 500, 10.0)
    assert await limiter.headroom(budget, "public") == 0.0  # blocked for the next 7 s


async def test_each_429_keeps_its_own_retry_after_under_concurrency(
    server: tuple[LocalMexc, str],
) -> None:
    _, url = server
    client = client_for(url, MemoryRateLimiter())
    ns = list(range(1, 60))

    async def ping(n: int) -> float | None:
        try:
            await client.spotPublicGetPing({"n": n})
        except ccxt.RateLimitExceeded as e:
            return float(getattr(e, "retry_after_s", -1))
        return None

    try:
        # Odd n answer 429 after n ms, even n answer 200: the responses interleave.
        results = await asyncio.gather(*(ping(n) for n in ns))
    finally:
        await client.close()
    assert results == [float(n) if n % 2 else None for n in ns]
