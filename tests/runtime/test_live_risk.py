"""The live step's protections survive a restart: the chain is rebuilt from the journal.

A paper user (SQLite journal, the simulator) with a 2 % stop and a 5-minute cooldown opens a
position; the price falls through the stop, which closes it at a loss. The strategy wants in
on every candle, so only the cooldown keeps it out. The runtime stops and a second one starts
on the same journal: its chain, fed from the journal's trades, still blocks the symbol until
the cooldown ends, and the entry goes out on the first candle after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import partial
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
from xraybot.runtime.embedded import EmbeddedRuntime
from xraybot.runtime.embedded_account import exit_time
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


COOLDOWN_MS = 5 * MINUTE


def reached(runtime: EmbeddedRuntime, pair: tuple[str, str], count: int) -> bool:
    return runtime.stats.decisions[pair] >= count


async def test_a_cooldown_active_before_a_restart_still_blocks_after_it(
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
        "risk": {
            "market": "spot",
            "timeframe": "1m",
            "exits": {"stop_loss_pct": 0.02},
            "protections": {"cooldown": "5m"},
        },
    }
    await repo.create(profile, settings)
    journal = SqlJournal(engine)
    public = make_gateway(sim.url, None, None)
    pair = ("p1", SYMBOL)
    clock = sim.market.clock
    try:
        first = runtime_for(sim, await load_users(repo), engine, public)
        try:
            await first.start()
            await wait_for(lambda: first.stats.decisions[pair] >= 1, "the opening decision")
            plan = first.traders["p1"].monitor.plan(*pair)
            assert plan is not None
            assert plan.stop_price is not None
            sim.market.set_price("BTC", float(plan.stop_price) * 0.95)
            clock.advance(MINUTE)
            await wait_for(lambda: first.stats.decisions[pair] >= 2, "the stop's candle")
        finally:
            await first.stop()
        trades = await journal.trades("p1")
        assert [t.exit_reason for t in trades] == ["stop_loss"]
        assert trades[0].net_pnl < 0
        assert await kinds(engine) == [("open", "filled"), ("stop_loss", "filled")]
        cooled = exit_time(trades[0], MINUTE) + COOLDOWN_MS  # the kernel's dating

        second = runtime_for(sim, await load_users(repo), engine, public)
        try:
            await second.start()
            chain = second.traders["p1"].risk.chain
            verdict = chain.check(SYMBOL, clock.now_ms())
            assert not verdict.allowed
            assert verdict.blocked_by == "cooldown"
            decided = 0
            while True:  # one candle at a time until an entry goes out
                decided += 1
                await wait_for(partial(reached, second, pair, decided), f"decision {decided}")
                opens = [k for k, _ in await kinds(engine)].count("open")
                if opens == 2 or clock.now_ms() > cooled + 3 * MINUTE:
                    break
                clock.advance(MINUTE)
        finally:
            await second.stop()
    finally:
        await public.close()
    assert second.stats.errors == 0
    assert opens == 2, "the entry should go out once the cooldown has ended"
    entry = [o for o in second.stats.submitted if o.kind.value == "open"]
    assert len(entry) == 1
    # Blocked on every candle decided before the cooldown's end, taken on the first after it.
    assert entry[0].signal_ts_ms + MINUTE >= cooled
    assert entry[0].signal_ts_ms < cooled
    assert decided >= 2, "the restarted runtime should have refused at least one candle"
