"""The kill switch pulled while the embedded runtime runs, on the simulator with SQLite.

Two paper users trade ``AlwaysTrade`` (in on every flat candle, out on every held one); the
switch is pulled and cleared through ``SqlKillSwitch``, as ``xraybot kill`` does from another
process, between candles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.support.embedded import (
    SPOT,
    CountingGateway,
    Sim,
    add_user,
    advance,
    decided,
    guarded_runtime,
    wait_for,
)
from tests.support.sim import make_gateway
from xraybot.model.signals import IntentKind
from xraybot.runtime.embedded_users import load_users
from xraybot.storage import SqlJournal
from xraybot.storage.kill_switch import SqlKillSwitch
from xraybot.storage.users import SqlUserRepository


async def open_symbols(engine: Any, user_id: str) -> list[str]:
    return sorted(p.symbol for p in await SqlJournal(engine).positions(user_id))


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(2000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_kill_one_user_then_everyone_then_clear(
    sim: Sim, engine: Any, strategy_file: Path
) -> None:
    repo = SqlUserRepository(engine)
    for user_id in ("k1", "k2"):
        await add_user(repo, user_id, strategy_file)
    switch = SqlKillSwitch(engine)
    public = CountingGateway(make_gateway(sim.url, None, None))
    runtime = guarded_runtime(sim, await load_users(repo), engine, public)
    k1 = [("k1", s) for s in SPOT]
    k2 = [("k2", s) for s in SPOT]
    guard = runtime.stats.guard
    try:
        await runtime.start()
        await wait_for(decided(runtime, k1 + k2, 1), "the first decision")
        assert await open_symbols(engine, "k1") == sorted(SPOT)

        # One user's switch: their positions close, they enter nothing; the other trades on.
        await switch.pull("k1", "operator test", sim.clock.now_ms())
        await advance(sim)
        await wait_for(decided(runtime, k2, 2), "k2's second candle")
        await wait_for(lambda: guard.blocked["k1"] >= len(SPOT), "k1 blocked")
        assert guard.killed == {"k1": "operator test"}
        assert await open_symbols(engine, "k1") == []
        await advance(sim)
        await wait_for(decided(runtime, k2, 3), "k2's third candle")
        await wait_for(lambda: guard.blocked["k1"] >= 2 * len(SPOT), "k1 blocked again")
        assert await open_symbols(engine, "k1") == []  # no new entry while killed
        assert await open_symbols(engine, "k2") == sorted(SPOT)  # k2 entered again
        assert all(runtime.stats.decisions[p] == 1 for p in k1)

        # The global switch closes everyone.
        await switch.pull(None, "exchange outage", sim.clock.now_ms())
        await advance(sim)
        await wait_for(lambda: "k2" in guard.killed, "k2 killed by the global switch")
        await eventually(lambda: _flat(engine, "k2"), "k2 flat")
        # k1 was closed by its own switch already: nothing is closed twice.
        assert guard.killed == {"k1": "operator test", "k2": "exchange outage"}
        assert all(runtime.stats.decisions[p] == 3 for p in k2)

        # Cleared: the next candle trades again.
        assert await switch.clear(None)
        assert await switch.clear("k1")
        await advance(sim)
        await wait_for(decided(runtime, k1, 2), "k1 trading again")
        await wait_for(decided(runtime, k2, 4), "k2 trading again")
        assert guard.killed == {}
        assert await open_symbols(engine, "k1") == sorted(SPOT)
    finally:
        await runtime.stop()
        await public.inner.close()
    assert runtime.stats.errors == 0
    liquidations = [o for o in runtime.stats.submitted if o.kind is IntentKind.LIQUIDATE]
    assert liquidations == []  # the monitor's closes are its own, not the step's
    assert runtime.stats.as_dict()["killed"] == {}


async def _flat(engine: Any, user_id: str) -> bool:
    return await open_symbols(engine, user_id) == []
