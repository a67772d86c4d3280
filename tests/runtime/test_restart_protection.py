"""A position opened before a restart keeps its stop after it.

The runtime opens a position on the simulator (a paper user, SQLite journal), stops, and a
second runtime starts on the same journal: it must rebuild the same protection plan, report
nothing unprotected, and close the position by its stop exactly once when the price falls
through it. The strategy never exits by itself, so only the stop can close the position.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.sim.fakes import START_MS, FakeClock, FakeMarket, Sim, running_sim
from tests.sim.fakes import test_config as fake_sim_config
from tests.support.sim import make_gateway
from xraybot.data.feed import FeedSettings
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.users import TradingMode, UserProfile
from xraybot.runtime.clock import LiveClock
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_users import GatewayFactory, load_users
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
SYMBOL = "BTC/USDT"

STRATEGY = '''
from typing import ClassVar

import numpy as np

from xraybot.strategy.base import Param, Signals, Strategy


class AlwaysIn(Strategy):
    """In on every candle it is flat; never out by signal."""

    name: ClassVar[str] = "always_in"
    parameters: ClassVar[tuple[Param, ...]] = ()

    def signals(self, candles, params, cache=None):
        yes = np.ones(len(candles), dtype=bool)
        return Signals(entry_long=yes, exit_long=np.zeros(len(candles), dtype=bool))

    def warmup(self, params):
        return 1
'''


@pytest.fixture
def sim() -> Iterator[Sim]:
    market = FakeMarket(FakeClock(START_MS + 30_000))
    with running_sim(fake_sim_config(), market) as running:
        yield running


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Any]:
    config = StorageConfig(data_dir=tmp_path / "data")
    await migrate.upgrade_async(config.sqlalchemy_url())
    eng = create_engine(config)
    yield eng
    await eng.dispose()


async def fast_sleep(seconds: float) -> None:
    # The feed waits on the frozen market clock: check it often instead of sleeping long.
    await asyncio.sleep(min(seconds, 0.01))


def runtime_for(sim: Sim, users: Any, engine: Any, public: ExchangeGateway) -> EmbeddedRuntime:
    async def public_for(exchange: str) -> ExchangeGateway:
        assert exchange == "sim"
        return public

    async def no_credentials(user_id: str) -> ApiCredentials:
        raise AssertionError(f"a paper user needs no keys; asked for {user_id}")

    clock = sim.market.clock
    return EmbeddedRuntime(
        users,
        gateways=GatewayFactory(public=public_for, open_credentials=no_credentials),
        journal=SqlJournal(engine),
        orders=SqlOrderRepository(engine),
        clock=LiveClock(clock.now_ms),
        settings=EmbeddedSettings(
            feed=FeedSettings(window=100, grace_s=0, clock_margin_ms=0, time_sync_s=3600),
            feed_clock=clock.now_ms,
            sleep=fast_sleep,
        ),
    )


async def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def kinds(engine: Any) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(tables.orders.c.kind, tables.orders.c.status).order_by(
                tables.orders.c.created_ts_ms
            )
        )
        return [(str(r[0]), str(r[1])) for r in rows]


async def test_a_restart_rebuilds_the_stop_and_it_closes_the_position_once(
    sim: Sim, engine: Any, tmp_path: Path
) -> None:
    strategy = tmp_path / "always_in.py"
    strategy.write_text(STRATEGY)
    repo = SqlUserRepository(engine)
    profile = UserProfile(
        user_id="p1", name="p1", created_ts_ms=START_MS, exchange="sim", mode=TradingMode.PAPER
    )
    settings = {
        "exchange": "sim",
        "market": "spot",
        "mode": "paper",
        "leverage_cap": 1,
        "selection": {"symbols": [SYMBOL]},
        "strategy": {"name": f"{strategy}:AlwaysIn", "timeframe": "1m"},
        "risk": {"market": "spot", "timeframe": "1m", "exits": {"stop_loss_pct": 0.02}},
    }
    await repo.create(profile, settings)
    journal = SqlJournal(engine)
    public = make_gateway(sim.url, None, None)
    pair = ("p1", SYMBOL)
    try:
        first = runtime_for(sim, await load_users(repo), engine, public)
        try:
            await first.start()
            await wait_for(lambda: first.stats.decisions[pair] >= 1, "the opening decision")
            decided = first.traders["p1"].monitor.plan(*pair)
        finally:
            await first.stop()
        assert decided is not None
        assert decided.stop_price is not None
        position = await journal.position(*pair)
        assert position is not None
        assert position.is_open
        assert await kinds(engine) == [("open", "filled")]

        second = runtime_for(sim, await load_users(repo), engine, public)
        try:
            await second.start()
            monitor = second.traders["p1"].monitor
            assert monitor.plan(*pair) == decided  # rebuilt, not guessed
            assert (await monitor.check("p1")).unprotected == ()
            # Through the stop: the next closed candle trades below it.
            sim.market.set_price("BTC", float(decided.stop_price) * 0.95)
            sim.market.clock.advance(MINUTE)
            await wait_for(lambda: second.stats.decisions[pair] >= 1, "the candle after")
            sim.market.clock.advance(MINUTE)
            await wait_for(lambda: second.stats.decisions[pair] >= 2, "one more candle")
        finally:
            await second.stop()
    finally:
        await public.close()
    assert second.stats.errors == 0
    orders = await kinds(engine)
    assert orders.count(("stop_loss", "filled")) == 1, orders
    assert [k for k, _ in orders].count("stop_loss") == 1
    trades = await journal.trades("p1")
    assert [t.exit_reason for t in trades] == ["stop_loss"]
    assert trades[0].exit_price < decided.stop_price
