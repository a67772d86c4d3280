"""ExchangePool: the real ccxt mexc client against the local simulator, loads counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import ccxt
import ccxt.async_support
import pytest

from tests.sim.fakes import DEMO_KEY, DEMO_SECRET, Sim, running_sim
from xraybot.exchange.limited_client import key_scope
from xraybot.exchange.pool import ExchangePool
from xraybot.exchange.ratelimit import Budget, MemoryRateLimiter
from xraybot.model.errors import ExchangeUnavailableError, InvalidInputError
from xraybot.users.credentials import ApiCredentials

DEMO = ApiCredentials(DEMO_KEY, DEMO_SECRET)


class Counting(ccxt.async_support.mexc):  # type: ignore[misc]
    """The real ccxt client, counting what it is built for and what it fetches."""

    # One dict per test's subclass, shared with the limited subclass pool builds from it.
    stats: ClassVar[dict[str, int]] = {}

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config or {})
        self.stats["built"] += 1
        self.load_calls = 0

    async def load_markets(self, reload: bool = False, params: Any = None) -> Any:
        self.load_calls += 1
        if self.stats["fail_loads"]:
            raise ccxt.ExchangeNotAvailable("mexc GET /api/v3/exchangeInfo 503 (test)")
        return await super().load_markets(reload, params or {})

    async def fetch_markets(self, params: Any = None) -> Any:
        self.stats["markets_fetched"] += 1
        return await super().fetch_markets(params or {})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim() as running:
        yield running


@pytest.fixture
def counting() -> type[Counting]:
    """A fresh subclass per test, so the counters start at zero."""
    stats = {"built": 0, "markets_fetched": 0, "fail_loads": 0}
    return type("CountingMexc", (Counting,), {"stats": stats})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_pool(sim: Sim, counting: type[Counting], clock: Clock) -> AsyncIterator[Any]:
    pools: list[ExchangePool] = []

    def build(**kwargs: Any) -> ExchangePool:
        settings: dict[str, Any] = {
            # The limiter sees the test's clock jumps too: contract/detail allows one
            # request per 5 s, and a market reload after a jump need not wait for it.
            "limiter": MemoryRateLimiter(clock=lambda: time.monotonic() + clock.now),
            "sim_url": sim.url,
            "markets_ttl_s": 100,
            "clock": clock,
            "client_class": lambda exchange_id: counting,
        }
        pool = ExchangePool(**{**settings, **kwargs})
        pools.append(pool)
        return pool

    yield build
    for pool in pools:
        await pool.close()


def user_keys(i: int) -> ApiCredentials:
    return ApiCredentials(f"user-{i}-api-key", f"user-{i}-secret")


async def test_concurrent_callers_share_one_public_client_and_one_load(
    make_pool: Any, counting: type[Counting]
) -> None:
    pool = make_pool()
    clients = await asyncio.gather(*(pool.public("sim") for _ in range(100)))
    first = clients[0]
    assert all(client is first for client in clients)
    assert (first.load_calls, counting.stats["markets_fetched"], counting.stats["built"]) == (
        1,
        1,
        1,
    )
    assert "BTC/USDT" in first.markets
    assert first.enableRateLimit is False  # our limiter paces it


async def test_thousand_calls_for_ten_users_build_eleven_clients(
    make_pool: Any, counting: type[Counting]
) -> None:
    pool = make_pool()
    keys = [user_keys(i) for i in range(10)]
    clients = await asyncio.gather(
        *(pool.private("sim", f"user-{i % 10}", keys[i % 10]) for i in range(1000))
    )
    assert counting.stats["built"] == 11  # 10 private + 1 public
    assert len({id(client) for client in clients}) == 10
    assert counting.stats["markets_fetched"] == 1
    public = await pool.public("sim")
    assert all(client.markets is public.markets for client in clients)  # shared, not copied
    assert pool.private_count == 10


async def test_a_private_client_signs_without_loading_markets(
    make_pool: Any, counting: type[Counting]
) -> None:
    pool = make_pool()
    client = await pool.private("sim", "demo", DEMO)
    balance = await client.fetch_balance()
    assert balance["USDT"]["free"] > 0
    assert counting.stats["markets_fetched"] == 1  # only the public client's load


async def test_markets_reload_after_the_ttl_and_reach_private_clients(
    make_pool: Any, counting: type[Counting], clock: Clock
) -> None:
    pool = make_pool()
    private = await pool.private("sim", "demo", DEMO)
    public = await pool.public("sim")
    clock.now = 99.0
    await asyncio.gather(*(pool.public("sim") for _ in range(10)))
    assert counting.stats["markets_fetched"] == 1
    clock.now = 100.0
    await asyncio.gather(*(pool.public("sim") for _ in range(10)))
    assert counting.stats["markets_fetched"] == 2  # once, for ten callers
    assert public.load_calls == 2
    assert private.markets is public.markets


async def test_a_failed_reload_keeps_the_old_markets_and_retries_later(
    make_pool: Any, counting: type[Counting], clock: Clock
) -> None:
    pool = make_pool()
    public = await pool.public("sim")
    markets = public.markets
    counting.stats["fail_loads"] = 1
    clock.now = 100.0
    assert (await pool.public("sim")).markets is markets  # no error: stale beats none
    clock.now = 159.0
    await pool.public("sim")
    assert public.load_calls == 2  # not retried within a minute
    counting.stats["fail_loads"] = 0
    clock.now = 160.0
    await pool.public("sim")
    assert public.load_calls == 3
    assert counting.stats["markets_fetched"] == 2


async def test_a_failed_first_load_is_a_model_error(
    make_pool: Any, counting: type[Counting]
) -> None:
    counting.stats["fail_loads"] = 1
    pool = make_pool()
    with pytest.raises(ExchangeUnavailableError, match="load the markets"):
        await pool.public("sim")
    counting.stats["fail_loads"] = 0
    assert "BTC/USDT" in (await pool.public("sim")).markets  # the next call tries again


async def test_the_least_recently_used_client_is_evicted_and_closed(
    make_pool: Any, counting: type[Counting]
) -> None:
    pool = make_pool(max_private_clients=3)
    first = await pool.private("sim", "user-0", user_keys(0))
    second = await pool.private("sim", "user-1", user_keys(1))
    await pool.private("sim", "user-2", user_keys(2))
    assert await pool.private("sim", "user-0", user_keys(0)) is first  # now the most recent
    await pool.private("sim", "user-3", user_keys(3))
    await pool.wait_retired()
    assert pool.private_count == 3
    assert second.closed_by_user
    assert not first.closed_by_user
    again = await pool.private("sim", "user-1", user_keys(1))
    assert again is not second
    assert counting.stats["built"] == 1 + 5


async def test_an_evicted_client_finishes_its_request_before_closing(make_pool: Any) -> None:
    limiter = MemoryRateLimiter()
    pool = make_pool(limiter=limiter, max_private_clients=1)
    client = await pool.private("sim", "demo", DEMO)
    account = Budget("sim:spot:GET /api/v3/account", 500, 10.0, per_key=True)
    await limiter.penalize(account, key_scope(DEMO_KEY), 0.3)  # the request will wait
    pending = asyncio.create_task(client.fetch_balance())
    await asyncio.sleep(0.05)
    await pool.private("sim", "other", user_keys(1))  # evicts the busy client
    assert not client.closed_by_user
    balance = await pending
    assert balance["USDT"]["free"] > 0
    await pool.wait_retired()
    assert client.closed_by_user


async def test_new_keys_get_a_new_client(make_pool: Any) -> None:
    pool = make_pool()
    old = await pool.private("sim", "user-0", user_keys(0))
    rotated = await pool.private("sim", "user-0", ApiCredentials("user-0-new-api-key", "s"))
    other_user = await pool.private("sim", "user-9", user_keys(0))
    assert len({id(old), id(rotated), id(other_user)}) == 3


async def test_close_closes_everything_and_the_pool_refuses_work(make_pool: Any) -> None:
    pool = make_pool()
    public = await pool.public("sim")
    private = await pool.private("sim", "demo", DEMO)
    await pool.close()
    assert public.closed_by_user
    assert private.closed_by_user
    with pytest.raises(InvalidInputError, match="pool is closed"):
        await pool.public("sim")


async def test_an_unknown_exchange_is_named(make_pool: Any) -> None:
    with pytest.raises(InvalidInputError, match="unknown exchange 'mexcc'"):
        await make_pool().public("mexcc")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="max_private_clients must be at least 1"):
        ExchangePool(limiter=None, max_private_clients=0)
    with pytest.raises(InvalidInputError, match="markets_ttl_s"):
        ExchangePool(limiter=None, markets_ttl_s=0)
