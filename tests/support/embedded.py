"""The embedded runtime on the local simulator: an always-trading strategy, users, a
counting public gateway, and ways to step the clock and wait for decisions."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.support.sim import START_MS, admin
from xraybot.data.feed import FeedSettings
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.candles import Candles
from xraybot.model.users import TradingMode, UserProfile
from xraybot.runtime.clock import LiveClock
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_users import GatewayFactory, RunUser
from xraybot.sim.clock import SimClock
from xraybot.storage import SqlJournal, SqlOrderRepository, tables
from xraybot.storage.kill_switch import SqlKillSwitch
from xraybot.storage.users import SqlUserRepository
from xraybot.users.credentials import ApiCredentials

MINUTE = 60_000
SPOT = ("BTC/USDT", "ETH/USDT")
SWAP = "BTC/USDT:USDT"

STRATEGY = '''
from typing import ClassVar

import numpy as np

from xraybot.strategy.base import Param, Signals, Strategy


class AlwaysTrade(Strategy):
    """In on every candle it is flat, out on every candle it holds."""

    name: ClassVar[str] = "always_trade"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def signals(self, candles, params, cache=None):
        yes = np.ones(len(candles), dtype=bool)
        return Signals(entry_long=yes, exit_long=yes.copy())

    def warmup(self, params):
        return 1
'''


@dataclass
class Sim:
    url: str
    clock: SimClock


class CountingGateway:
    """The shared public gateway, counting candle requests per symbol."""

    def __init__(self, inner: CcxtGateway) -> None:
        self.inner = inner
        self.ohlcv: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles:
        self.ohlcv[symbol] += 1
        return await self.inner.fetch_ohlcv(symbol, timeframe, since_ms, until_ms, limit)


async def add_user(
    repo: SqlUserRepository,
    user_id: str,
    strategy: Path,
    *,
    mode: str = "paper",
    market: str = "spot",
    symbols: tuple[str, ...] = SPOT,
    risk: dict[str, Any] | None = None,
) -> None:
    profile = UserProfile(
        user_id=user_id,
        name=user_id,
        created_ts_ms=START_MS,
        exchange="sim",
        mode=TradingMode(mode),
    )
    settings = {
        "exchange": "sim",
        "market": market,
        "mode": mode,
        "leverage_cap": 1,
        "selection": {"symbols": list(symbols)},
        "strategy": {"name": f"{strategy}:AlwaysTrade", "timeframe": "1m"},
        "risk": risk,
    }
    await repo.create(profile, settings)


async def fast_sleep(seconds: float) -> None:
    # The feed waits on the frozen simulator clock: check it often instead of sleeping long.
    await asyncio.sleep(min(seconds, 0.01))


def runtime_for(
    sim: Sim,
    users: list[RunUser],
    engine: Any,
    public: CountingGateway,
    *,
    allow_live: bool = False,
    live: Callable[[RunUser, ApiCredentials], Awaitable[ExchangeGateway]] | None = None,
    keys: dict[str, ApiCredentials] | None = None,
) -> EmbeddedRuntime:
    async def public_for(exchange: str) -> ExchangeGateway:
        assert exchange == "sim"
        return public  # type: ignore[return-value]

    async def open_credentials(user_id: str) -> ApiCredentials:
        assert keys is not None
        return keys[user_id]

    settings = EmbeddedSettings(
        allow_live=allow_live,
        feed=FeedSettings(window=500, grace_s=0, clock_margin_ms=0, time_sync_s=3600),
        feed_clock=sim.clock.now_ms,
        sleep=fast_sleep,
    )
    return EmbeddedRuntime(
        users,
        gateways=GatewayFactory(
            public=public_for, open_credentials=open_credentials, live_gateway=live
        ),
        journal=SqlJournal(engine),
        orders=SqlOrderRepository(engine),
        clock=LiveClock(sim.clock.now_ms),
        settings=settings,
    )


async def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def advance(sim: Sim) -> None:
    await asyncio.to_thread(admin, sim.url, "POST", "clock/advance", {"ms": MINUTE})


def decided(runtime: EmbeddedRuntime, pairs: list[tuple[str, str]], n: int) -> Callable[[], bool]:
    return lambda: all(runtime.stats.decisions[p] >= n for p in pairs)


async def journal_orders(engine: Any) -> list[tuple[str, str, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                tables.orders.c.client_order_id,
                tables.orders.c.user_id,
                tables.orders.c.symbol,
                tables.orders.c.status,
            )
        )
        return [tuple(r) for r in rows]


LiveFactory = Callable[[RunUser, ApiCredentials], Awaitable[ExchangeGateway]]


def guarded_runtime(
    sim: Sim,
    users: list[RunUser],
    engine: Any,
    public: CountingGateway,
    *,
    reconcile_every_ms: int | None = None,
    live: LiveFactory | None = None,
    keys: dict[str, ApiCredentials] | None = None,
) -> EmbeddedRuntime:
    async def public_for(exchange: str) -> ExchangeGateway:
        return public  # type: ignore[return-value]

    async def open_credentials(user_id: str) -> ApiCredentials:
        assert keys is not None
        return keys[user_id]

    settings = EmbeddedSettings(
        allow_live=live is not None,
        feed=FeedSettings(window=500, grace_s=0, clock_margin_ms=0, time_sync_s=3600),
        feed_clock=sim.clock.now_ms,
        sleep=fast_sleep,
        kill_switch=SqlKillSwitch(engine).read,
        reconcile_every_ms=reconcile_every_ms,
    )
    return EmbeddedRuntime(
        users,
        gateways=GatewayFactory(
            public=public_for, open_credentials=open_credentials, live_gateway=live
        ),
        journal=SqlJournal(engine),
        orders=SqlOrderRepository(engine),
        clock=LiveClock(sim.clock.now_ms),
        settings=settings,
    )
