"""Periodic reconciliation while the embedded runtime runs, on the simulator with SQLite.

A live user trades a swap and a paper user trades spot; both are reconciled on every candle.
A position opened by hand on the live user's exchange account makes the next pass stop that
user with the alert, while the paper user trades on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.embedded import (
    MINUTE,
    SPOT,
    SWAP,
    CountingGateway,
    Sim,
    add_user,
    advance,
    decided,
    guarded_runtime,
    wait_for,
)
from tests.support.sim import make_gateway, make_order, new_account
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.signals import Side
from xraybot.runtime.embedded_users import RunUser, load_users
from xraybot.storage.users import SqlUserRepository
from xraybot.users.credentials import ApiCredentials


async def test_a_position_opened_by_hand_stops_that_user_at_the_next_pass(
    sim: Sim, engine: Any, strategy_file: Path
) -> None:
    repo = SqlUserRepository(engine)
    await add_user(repo, "p1", strategy_file)
    await add_user(repo, "l1", strategy_file, mode="live", market="swap", symbols=(SWAP,))
    key, secret = new_account(sim.url)
    keys = {"l1": ApiCredentials(api_key=key, secret=secret)}

    async def live(user: RunUser, creds: ApiCredentials) -> ExchangeGateway:
        return make_gateway(sim.url, creds.api_key, creds.secret)

    public = CountingGateway(make_gateway(sim.url, None, None))
    by_hand = make_gateway(sim.url, key, secret)
    runtime = guarded_runtime(
        sim,
        await load_users(repo),
        engine,
        public,
        reconcile_every_ms=MINUTE,
        live=live,
        keys=keys,
    )
    p1 = [("p1", s) for s in SPOT]
    l1 = [("l1", SWAP)]
    guard = runtime.stats.guard
    try:
        await runtime.start()
        assert runtime.stats.refused == {}
        await wait_for(decided(runtime, p1 + l1, 1), "the first decision")
        # A clean pass changes nothing: both users keep trading.
        await advance(sim)
        await wait_for(decided(runtime, p1 + l1, 2), "the second candle")
        assert guard.reconciled == {"p1": 1, "l1": 1}
        assert guard.stopped == {}

        await by_hand.create_order(make_order(SWAP, Side.BUY, "1"))
        await advance(sim)
        await wait_for(lambda: "l1" in guard.stopped, "l1 stopped")
        await wait_for(decided(runtime, p1, 3), "p1's third candle")
        await advance(sim)
        await wait_for(decided(runtime, p1, 4), "p1's fourth candle")
    finally:
        await runtime.stop()
        await by_hand.close()
        await public.inner.close()
    assert runtime.stats.decisions[("l1", SWAP)] == 2  # nothing decided once stopped
    assert guard.blocked["l1"] >= 2
    assert "position" in guard.stopped["l1"]
    assert "p1" not in guard.stopped
    assert runtime.stats.as_dict()["stopped"] == dict(guard.stopped)
