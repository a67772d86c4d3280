"""A position opened before a restart keeps its stop after it.

The runtime opens a position on the simulator (a paper user, SQLite journal), stops, and a
second runtime starts on the same journal: it must rebuild the same protection plan, report
nothing unprotected, and close the position by its stop exactly once when the price falls
through it. The strategy never exits by itself, so only the stop can close the position.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sim.fakes import START_MS, Sim
from tests.support.restart import (
    MINUTE,
    STRATEGY,
    SYMBOL,
    fake_sim,
    journal_engine,
    kinds,
    runtime_for,
    wait_for,
)
from tests.support.sim import make_gateway
from xraybot.model.users import TradingMode, UserProfile
from xraybot.runtime.embedded_users import load_users
from xraybot.storage import SqlJournal
from xraybot.storage.users import SqlUserRepository


@pytest.fixture
def sim() -> Iterator[Sim]:
    with fake_sim() as running:
        yield running


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Any]:
    async with journal_engine(tmp_path) as eng:
        yield eng


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
