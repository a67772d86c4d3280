"""A stop crossed while the bot was down closes the position at the next start, once.

The runtime opens a position on the simulator (a paper user, SQLite journal) and stops.
While nothing runs, one closed candle trades through the stop and the price comes back;
the next start finds that candle when it rebuilds the plan and closes at market with a
reason naming the candle and the level. A third start finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sim.fakes import START_MS, FakeClock, FakeMarket, Sim, running_sim
from tests.sim.fakes import test_config as fake_sim_config
from tests.support.restart import (
    MINUTE,
    STRATEGY,
    SYMBOL,
    journal_engine,
    kinds,
    runtime_for,
    wait_for,
)
from tests.support.sim import make_gateway
from xraybot.model.candles import Candles
from xraybot.model.users import TradingMode, UserProfile
from xraybot.runtime.embedded_users import load_users
from xraybot.storage import SqlJournal
from xraybot.storage.users import SqlUserRepository


class DippingMarket(FakeMarket):
    """The fake market, with candles whose low the test pushes down after the fact."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.dips: dict[int, float] = {}  # candle open ms -> low

    def candles(self, symbol_id: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
        c = super().candles(symbol_id, timeframe, start_ms, end_ms)
        if not self.dips or timeframe != "1m":
            return c
        low = c.low.copy()
        for i, ts in enumerate(c.ts_ms):
            if int(ts) in self.dips:
                low[i] = min(low[i], self.dips[int(ts)])
        return Candles(c.symbol, c.timeframe, c.ts_ms, c.open, c.high, low, c.close, c.volume)


@pytest.fixture
def sim() -> Iterator[Sim]:
    market = DippingMarket(FakeClock(START_MS + 30_000))
    with running_sim(fake_sim_config(), market) as running:
        yield running


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Any]:
    async with journal_engine(tmp_path) as eng:
        yield eng


@pytest.fixture
async def public(sim: Sim) -> AsyncIterator[Any]:
    gateway = make_gateway(sim.url, None, None)
    yield gateway
    await gateway.close()


async def test_a_stop_crossed_while_down_closes_once_at_restart(
    sim: Sim,
    engine: Any,
    public: Any,
    tmp_path: Path,
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
    pair = ("p1", SYMBOL)

    first = runtime_for(sim, await load_users(repo), engine, public)
    try:
        await first.start()
        await wait_for(lambda: first.stats.decisions[pair] >= 1, "the opening decision")
        decided = first.traders["p1"].monitor.plan(*pair)
    finally:
        await first.stop()
    assert decided is not None
    assert decided.stop_price is not None
    assert await kinds(engine) == [("open", "filled")]

    # Down for three candles: the middle one trades 5 % under the stop, the price comes back.
    dip_ts = START_MS + MINUTE
    dip_low = float(decided.stop_price) * 0.95
    sim.market.dips[dip_ts] = dip_low
    sim.market.clock.advance(3 * MINUTE)

    second = runtime_for(sim, await load_users(repo), engine, public)
    try:
        await second.start()
        restored = second.traders["p1"].monitor.restore_report()
    finally:
        await second.stop()
    (closed,) = restored.of("stop_loss")
    assert "while the bot was down" in closed.detail
    assert f"{float(decided.stop_price):.8g}" in closed.detail
    assert "filled" in closed.detail
    trades = await journal.trades("p1")
    assert [t.exit_reason for t in trades] == ["stop_loss"]
    # Closed at market now (the price came back), not at the level crossed while down.
    assert trades[0].exit_price > decided.stop_price
    stops_after_second = [k for k, _ in await kinds(engine)].count("stop_loss")
    assert stops_after_second == 1

    third = runtime_for(sim, await load_users(repo), engine, public)
    try:
        await third.start()
        again = third.traders["p1"].monitor.restore_report()
    finally:
        await third.stop()
    assert again.of("stop_loss") == ()
    orders = await kinds(engine)
    assert [k for k, _ in orders].count("stop_loss") == 1, orders
    assert orders.count(("stop_loss", "filled")) == 1
    assert [t.exit_reason for t in await journal.trades("p1")].count("stop_loss") == 1
