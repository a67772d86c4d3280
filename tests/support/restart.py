"""The runtime on the fake simulator with an always-in strategy, for the restart-protection
tests: a fresh simulator, a migrated journal, and ways to wait and read the orders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.sim.fakes import START_MS, FakeClock, FakeMarket, Sim, running_sim
from tests.sim.fakes import test_config as fake_sim_config
from xraybot.data.feed import FeedSettings
from xraybot.exchange.port import ExchangeGateway
from xraybot.runtime.clock import LiveClock
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_users import GatewayFactory
from xraybot.storage import (
    SqlJournal,
    SqlOrderRepository,
    StorageConfig,
    create_engine,
    migrate,
    tables,
)
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


@contextmanager
def fake_sim() -> Iterator[Sim]:
    """The fake simulator, its clock half a minute into the first candle."""
    market = FakeMarket(FakeClock(START_MS + 30_000))
    with running_sim(fake_sim_config(), market) as running:
        yield running


@asynccontextmanager
async def journal_engine(tmp_path: Path) -> AsyncIterator[Any]:
    """An engine on a freshly migrated SQLite journal under ``tmp_path``, disposed after."""
    config = StorageConfig(data_dir=tmp_path / "data")
    await migrate.upgrade_async(config.sqlalchemy_url())
    eng = create_engine(config)
    yield eng
    await eng.dispose()
