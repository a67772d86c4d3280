"""A paper account survives a restart exactly: rebuilt from the journal's fills at start-up.

A spot and a swap paper user trade on the local simulator, the runtime stops while both
hold a position, a second runtime starts on the same journal: reconciliation passes, each
paper wallet and position equals the one the first run ended with, and trading goes on.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.embedded import (
    STRATEGY,
    SWAP,
    CountingGateway,
    Sim,
    add_user,
    advance,
    decided,
    wait_for,
)
from tests.support.paper_restart import runtime_for
from tests.support.sim import make_gateway
from xraybot.exchange.paper import PaperGateway
from xraybot.matching.ledger import LedgerPosition
from xraybot.model.fills import Position
from xraybot.runtime.embedded_users import load_users
from xraybot.storage import SqlJournal
from xraybot.storage.users import SqlUserRepository

SPOT = "BTC/USDT"
PAIRS = [("ps", SPOT), ("pw", SWAP)]


@pytest.fixture(scope="module")
def sim_seed() -> int:
    # The synthetic prices these restart tests were written against (the default is 7).
    return 11


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
