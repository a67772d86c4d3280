"""A paper account survives a restart exactly: rebuilt from the journal's fills at start-up.

A spot and a swap paper user trade on the local simulator, the runtime stops while both
hold a position, a second runtime starts on the same journal: reconciliation passes, each
paper wallet and position equals the one the first run ended with, and trading goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.test_embedded import (
    MINUTE,
    STRATEGY,
    SWAP,
    CountingGateway,
    Sim,
    add_user,
    advance,
    decided,
    fast_sleep,
    wait_for,
)
from tests.support.servers import serve_asgi
from tests.support.sim import START_MS, make_gateway
from xraybot.data.feed import FeedSettings
from xraybot.exchange.paper import PaperGateway
from xraybot.exchange.port import ExchangeGateway
from xraybot.matching.ledger import LedgerPosition
from xraybot.model.fills import Position
from xraybot.runtime.clock import LiveClock
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_users import GatewayFactory, RunUser, journal_fills, load_users
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
)
from xraybot.storage.journal_queries import SqlJournalQueries
from xraybot.storage.users import SqlUserRepository

SPOT = "BTC/USDT"
PAIRS = [("ps", SPOT), ("pw", SWAP)]


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    clock = SimClock(START_MS - START_MS % MINUTE + 30_000, speed=0)
    market = SyntheticMarket(clock, n_symbols=12, seed=11)
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_asgi(create_app(config, market)) as url:
        yield Sim(url, clock)


@pytest.fixture
def storage(tmp_path: Path) -> StorageConfig:
    config = StorageConfig(data_dir=tmp_path / "data")
    migrate.upgrade(config.sqlalchemy_url())
    return config


@pytest.fixture
async def engine(storage: StorageConfig) -> AsyncIterator[Any]:
    eng = create_engine(storage)
    yield eng
    await eng.dispose()


class RecordingFactory(GatewayFactory):
    """The runtime's factory, keeping each paper gateway so the test can read its ledger."""

    made: dict[str, PaperGateway]

    async def paper(self, user: RunUser, positions: Any) -> PaperGateway:
        gateway = await super().paper(user, positions)
        self.made[user.user_id] = gateway
        return gateway


def runtime_for(sim: Sim, users: list[RunUser], engine: Any, public: CountingGateway) -> Any:
    async def public_for(exchange: str) -> ExchangeGateway:
        return public  # type: ignore[return-value]

    factory = RecordingFactory(
        public=public_for, paper_fills=journal_fills(SqlJournalQueries(engine))
    )
    factory.made = {}
    settings = EmbeddedSettings(
        feed=FeedSettings(window=500, grace_s=0, clock_margin_ms=0, time_sync_s=3600),
        feed_clock=sim.clock.now_ms,
        sleep=fast_sleep,
    )
    runtime = EmbeddedRuntime(
        users,
        gateways=factory,
        journal=SqlJournal(engine),
        orders=SqlOrderRepository(engine),
        clock=LiveClock(sim.clock.now_ms),
        settings=settings,
    )
    return runtime, factory


def account(gateway: PaperGateway) -> tuple[dict[str, Decimal], list[LedgerPosition]]:
    """Each asset's total (free + used) and the open positions, without the mark-to-market."""
    totals = {a: b.free + b.used for a, b in gateway.ledger.balances().items() if b.free or b.used}
    positions = [dataclasses.replace(p, unrealized_pnl=None) for p in gateway.ledger.positions()]
    return totals, positions


async def test_paper_spot_and_swap_accounts_survive_a_restart(
    sim: Sim, engine: Any, tmp_path: Path
) -> None:
    strategy = tmp_path / "always.py"
    strategy.write_text(STRATEGY)
    repo = SqlUserRepository(engine)
    await add_user(repo, "ps", strategy, symbols=(SPOT,))
    await add_user(repo, "pw", strategy, market="swap", symbols=(SWAP,))
    journal = SqlJournal(engine)
    public = CountingGateway(make_gateway(sim.url, None, None))
    try:
        first, made = runtime_for(sim, await load_users(repo), engine, public)
        try:
            await first.start()
            assert first.stats.refused == {}
            await wait_for(decided(first, PAIRS, 1), "the first decision")
            for n in (2, 3):
                await advance(sim)
                await wait_for(decided(first, PAIRS, n), f"candle {n}")
        finally:
            await first.stop()
        before = {u: account(g) for u, g in made.made.items()}
        # Both hold a position (in on candles 1 and 3, out on 2) and have paid fees.
        held: dict[str, list[Position]] = {u: await journal.positions(u) for u in ("ps", "pw")}
        assert all(len(p) == 1 for p in held.values()), held
        assert len(before["pw"][1]) == 1
        assert before["ps"][0]["USDT"] < Decimal(10_000)

        second, remade = runtime_for(sim, await load_users(repo), engine, public)
        try:
            await second.start()
            assert second.stats.refused == {}, second.stats.refused
            assert {u: account(g) for u, g in remade.made.items()} == before
            await advance(sim)
            await wait_for(decided(second, PAIRS, 1), "the first candle after the restart")
            await wait_for(lambda: len(second.stats.submitted) >= 2, "the exits")
        finally:
            await second.stop()
    finally:
        await public.inner.close()
    assert await journal.positions("ps") == []
    assert await journal.positions("pw") == []
    for user in ("ps", "pw"):
        totals, positions = account(remade.made[user])
        assert positions == []
        assert set(totals) <= {"USDT", "BTC"}
