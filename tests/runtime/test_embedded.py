"""The embedded runtime end to end on the local simulator with a SQLite journal.

The simulator's clock is frozen and advanced one candle at a time; the feed and the order
manager read that clock, so each advance is exactly one closed candle for every user.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.servers import serve_asgi
from tests.support.sim import (
    START_MS,
    admin,
    make_gateway,
    make_order,
    new_account,
    sim_orders,
)
from xraybot.data.feed import FeedSettings
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.candles import Candles
from xraybot.model.signals import Side
from xraybot.model.users import TradingMode, UserProfile
from xraybot.runtime.clock import LiveClock
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_users import GatewayFactory, RunUser, load_users
from xraybot.sim.app import create_app
from xraybot.sim.clock import SimClock
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.sim.synthetic import SyntheticMarket
from xraybot.storage import (
    SqlJournal,
    SqlOrderRepository,
    StorageConfig,
    create_engine,
    migrate,
    tables,
)
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


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    clock = SimClock(START_MS - START_MS % MINUTE + 30_000, speed=0)
    market = SyntheticMarket(clock, n_symbols=12, seed=7)
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_asgi(create_app(config, market)) as url:
        yield Sim(url, clock)


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


@pytest.fixture
def storage(tmp_path: Path) -> StorageConfig:
    config = StorageConfig(data_dir=tmp_path / "data")
    migrate.upgrade(config.sqlalchemy_url())
    return config


@pytest.fixture
def strategy_file(tmp_path: Path) -> Path:
    path = tmp_path / "always.py"
    path.write_text(STRATEGY)
    return path


@pytest.fixture
async def engine(storage: StorageConfig) -> AsyncIterator[Any]:
    eng = create_engine(storage)
    yield eng
    await eng.dispose()


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


async def test_paper_users_share_one_feed_trade_and_live_user_is_refused(
    sim: Sim, engine: Any, strategy_file: Path
) -> None:
    repo = SqlUserRepository(engine)
    for user_id in ("p1", "p2"):
        await add_user(repo, user_id, strategy_file)
    await add_user(repo, "l1", strategy_file, mode="live", market="swap", symbols=(SWAP,))
    users = await load_users(repo)
    assert [u.user_id for u in users] == ["l1", "p1", "p2"]
    public = CountingGateway(make_gateway(sim.url, None, None))
    runtime = runtime_for(sim, users, engine, public)
    pairs = [(u, s) for u in ("p1", "p2") for s in SPOT]
    try:
        await runtime.start()
        assert set(runtime.stats.refused) == {"l1"}
        assert "--allow-live" in runtime.stats.refused["l1"]
        assert set(runtime.traders) == {"p1", "p2"}
        await wait_for(decided(runtime, pairs, 1), "the first decision")
        loaded = dict(public.ohlcv)
        ticks = 3
        for k in range(ticks):
            await advance(sim)
            await wait_for(decided(runtime, pairs, k + 2), f"candle {k + 2}")
    finally:
        await runtime.stop()
        await public.inner.close()
    # One candle request per symbol per tick, however many users follow it.
    assert {s: public.ohlcv[s] - loaded[s] for s in SPOT} == {s: ticks for s in SPOT}
    assert runtime.stats.errors == 0
    orders = await journal_orders(engine)
    ids = [o[0] for o in orders]
    assert len(ids) == len(set(ids))
    # Open, close, open, close on each of 2 symbols for each of 2 users.
    assert Counter(o[1] for o in orders) == {"p1": 8, "p2": 8}
    assert {o[3] for o in orders} == {"filled"}
    journal = SqlJournal(engine)
    for user_id in ("p1", "p2"):
        trades = await journal.trades(user_id)
        assert sorted(t.symbol for t in trades) == sorted(SPOT * 2)
        assert await journal.positions(user_id) == []


async def test_stop_and_restart_places_no_order_twice(
    sim: Sim, engine: Any, strategy_file: Path
) -> None:
    repo = SqlUserRepository(engine)
    await add_user(repo, "p1", strategy_file)
    await add_user(repo, "l1", strategy_file, mode="live", market="swap", symbols=(SWAP,))
    key, secret = new_account(sim.url)
    keys = {"l1": ApiCredentials(api_key=key, secret=secret)}

    async def live(user: RunUser, creds: ApiCredentials) -> ExchangeGateway:
        return make_gateway(sim.url, creds.api_key, creds.secret)

    pairs = [("p1", s) for s in SPOT] + [("l1", SWAP)]
    public = CountingGateway(make_gateway(sim.url, None, None))
    try:
        first = runtime_for(
            sim, await load_users(repo), engine, public, allow_live=True, live=live, keys=keys
        )
        try:
            await first.start()
            assert first.stats.refused == {}
            await wait_for(decided(first, pairs, 1), "the first decision")
            await advance(sim)
            await wait_for(decided(first, pairs, 2), "candle 2")
            await advance(sim)
            await wait_for(decided(first, pairs, 3), "candle 3")
        finally:
            await first.stop()
        before = await journal_orders(engine)
        # In a position on every pair: the restart must take it over, not open another.
        assert Counter(o[1] for o in before) == {"p1": 6, "l1": 3}

        second = runtime_for(
            sim, await load_users(repo), engine, public, allow_live=True, live=live, keys=keys
        )
        try:
            await second.start()
            assert second.stats.refused == {}, second.stats.refused
            await asyncio.sleep(0.3)  # the snapshots arrive; the last candle was decided
            assert second.stats.submitted == []
            assert await journal_orders(engine) == before
            await advance(sim)
            await wait_for(decided(second, pairs, 1), "the first candle after the restart")
        finally:
            await second.stop()
    finally:
        await public.inner.close()
    after = await journal_orders(engine)
    ids = [o[0] for o in after]
    assert len(ids) == len(set(ids))
    assert Counter(o[1] for o in after) == {"p1": 8, "l1": 4}
    assert {o[3] for o in after} == {"filled"}
    on_exchange = [o["client_order_id"] for o in sim_orders(sim.url, key)]
    assert len(on_exchange) == len(set(on_exchange)) == 4
    assert set(on_exchange) == {o[0] for o in after if o[1] == "l1"}
    journal = SqlJournal(engine)
    assert await journal.positions("p1") == []
    assert await journal.positions("l1") == []


async def test_monitor_places_the_target_and_a_close_cancels_it_first(
    sim: Sim, engine: Any, strategy_file: Path
) -> None:
    repo = SqlUserRepository(engine)
    risk = {"market": "spot", "timeframe": "1m", "exits": {"take_profit_pct": 0.5}}
    await add_user(repo, "p1", strategy_file, symbols=("BTC/USDT",), risk=risk)
    public = CountingGateway(make_gateway(sim.url, None, None))
    runtime = runtime_for(sim, await load_users(repo), engine, public)
    pair = [("p1", "BTC/USDT")]
    try:
        await runtime.start()
        await wait_for(decided(runtime, pair, 1), "the first decision")
        resting = await SqlOrderRepository(engine).open_orders("p1")
        assert [o.kind.value for o in resting] == ["take_profit"]
        await advance(sim)
        await wait_for(decided(runtime, pair, 2), "candle 2")
    finally:
        await runtime.stop()
        await public.inner.close()
    assert runtime.stats.errors == 0
    kinds = Counter((o[2], o[3]) for o in await journal_orders(engine))
    assert kinds == {("BTC/USDT", "filled"): 2, ("BTC/USDT", "canceled"): 1}
    assert await SqlJournal(engine).positions("p1") == []


async def test_unreconcilable_user_is_refused_and_sigterm_stops_gracefully(
    sim: Sim, engine: Any, strategy_file: Path
) -> None:
    repo = SqlUserRepository(engine)
    await add_user(repo, "p1", strategy_file, symbols=("BTC/USDT",))
    await add_user(repo, "l2", strategy_file, mode="live", market="swap", symbols=(SWAP,))
    key, secret = new_account(sim.url)
    hand = make_gateway(sim.url, key, secret)
    try:  # a position opened by hand: the journal cannot explain it
        await hand.create_order(make_order(SWAP, Side.BUY, "1", client_order_id="byhand1"))
    finally:
        await hand.close()

    async def live(user: RunUser, creds: ApiCredentials) -> ExchangeGateway:
        return make_gateway(sim.url, creds.api_key, creds.secret)

    public = CountingGateway(make_gateway(sim.url, None, None))
    runtime = runtime_for(
        sim,
        await load_users(repo),
        engine,
        public,
        allow_live=True,
        live=live,
        keys={"l2": ApiCredentials(api_key=key, secret=secret)},
    )

    async def terminate_after_first_candle() -> None:
        await wait_for(decided(runtime, [("p1", "BTC/USDT")], 1), "the first decision")
        os.kill(os.getpid(), signal.SIGTERM)

    try:
        killer = asyncio.ensure_future(terminate_after_first_candle())
        stats = await runtime.run(seconds=30)
        await killer
    finally:
        await public.inner.close()
    assert set(stats.refused) == {"l2"}
    assert "will not guess" in stats.refused["l2"]
    assert set(runtime.traders) == {"p1"}
    orders = await journal_orders(engine)
    assert [(o[1], o[3]) for o in orders] == [("p1", "filled")]
    assert [o["client_order_id"] for o in sim_orders(sim.url, key)] == ["byhand1"]
