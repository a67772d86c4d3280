"""A timeout at start-up is waited out: the user is admitted on a later try, not refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.embedded import CountingGateway, Sim, add_user, decided, runtime_for, wait_for
from tests.support.sim import make_gateway
from xraybot.exchange.port import Ticker
from xraybot.model.errors import ExchangeUnavailableError
from xraybot.runtime.embedded_users import load_users
from xraybot.storage.users import SqlUserRepository


class TimesOutFirst(CountingGateway):
    """The public gateway whose first ticker requests time out, as a loaded exchange's do."""

    def __init__(self, inner: Any, failures: int) -> None:
        super().__init__(inner)
        self.failures = failures
        self.tickers = 0

    async def fetch_ticker(self, symbol: str) -> Ticker:
        self.tickers += 1
        if self.tickers <= self.failures:
            raise ExchangeUnavailableError(f"sim failed to fetch the ticker of {symbol}: timeout")
        ticker: Ticker = await self.inner.fetch_ticker(symbol)
        return ticker


async def test_a_timeout_during_admission_is_retried(
    sim: Sim,
    engine: Any,
    strategy_file: Path,
) -> None:
    repo = SqlUserRepository(engine)
    await add_user(repo, "p1", strategy_file, symbols=("BTC/USDT",))
    await add_user(repo, "p2", strategy_file, market="swap", symbols=("BTC/USDT:USDT",))
    public = TimesOutFirst(make_gateway(sim.url, None, None), failures=1)
    runtime = runtime_for(sim, await load_users(repo), engine, public)
    try:
        await runtime.start()
        assert runtime.stats.refused == {}
        assert set(runtime.traders) == {"p1", "p2"}
        await wait_for(decided(runtime, [("p1", "BTC/USDT")], 1), "the first decision")
    finally:
        await runtime.stop()
        await public.inner.close()
    assert public.tickers > 1
