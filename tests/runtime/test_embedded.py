"""The embedded runtime end to end on the local simulator with a SQLite journal.

The simulator's clock is frozen and advanced one candle at a time; the feed and the order
manager read that clock, so each advance is exactly one closed candle for every user.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.embedded import (
    SPOT,
    SWAP,
    CountingGateway,
    Sim,
    add_user,
    advance,
    decided,
    journal_orders,
    runtime_for,
    wait_for,
)
from tests.support.sim import make_gateway, make_order, new_account, sim_orders
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.signals import Side
from xraybot.runtime.embedded_users import RunUser, load_users
from xraybot.storage import SqlJournal, SqlOrderRepository
from xraybot.storage.users import SqlUserRepository
from xraybot.users.credentials import ApiCredentials


async def test_paper_users_share_one_feed_trade_and_live_user_is_refused(
    sim: Sim, engine: Any, strategy_file: Path
) -> None:
    repo = SqlUserRepository(engine)
    for user_id in ("p1", "p2"):
        await add_user(repo, user_id, strategy_file)
    await add_user(repo, "l1", strategy_file, mode="live", market="swap", symbols=(SWAP,))
    users = await load_users(repo)
    assert [u.user_id for u in users] == ["l1", "p1", "p2"]
    public = CountingGateway(make_gateway(sim.url, None, None))
    runtime = runtime_for(sim, users, engine, public)
    pairs = [(u, s) for u in ("p1", "p2") for s in SPOT]
    try:
        await runtime.start()
        assert set(runtime.stats.refused) == {"l1"}
        assert "--allow-live" in runtime.stats.refused["l1"]
        assert set(runtime.traders) == {"p1", "p2"}
        await wait_for(decided(runtime, pairs, 1), "the first decision")
        loaded = dict(public.ohlcv)
        ticks = 3
        for k in range(ticks):
            await advance(sim)
            await wait_for(decided(runtime, pairs, k + 2), f"candle {k + 2}")
    finally:
        await runtime.stop()
        await public.inner.close()
    # One candle request per symbol per tick, however many users follow it.
    assert {s: public.ohlcv[s] - loaded[s] for s in SPOT} == {s: ticks for s in SPOT}
    assert runtime.stats.errors == 0
    orders = await journal_orders(engine)
    ids = [o[0] for o in orders]
    assert len(ids) == len(set(ids))
    # Open, close, open, close on each of 2 symbols for each of 2 users.
    assert Counter(o[1] for o in orders) == {"p1": 8, "p2": 8}
    assert {o[3] for o in orders} == {"filled"}
    journal = SqlJournal(engine)
    for user_id in ("p1", "p2"):
        trades = await journal.trades(user_id)
        assert sorted(t.symbol for t in trades) == sorted(SPOT * 2)
        assert await journal.positions(user_id) == []


async def test_stop_and_restart_places_no_order_twice(
    sim: Sim, engine: Any, strategy_file: Path
) -> None:
    repo = SqlUserRepository(engine)
    await add_user(repo, "p1", strategy_file)
    await add_user(repo, "l1", strategy_file, mode="live", market="swap", symbols=(SWAP,))
    key, secret = new_account(sim.url)
    keys = {"l1": ApiCredentials(api_key=key, secret=secret)}

    async def live(user: RunUser, creds: ApiCredentials) -> ExchangeGateway:
        return make_gateway(sim.url, creds.api_key, creds.secret)

    pairs = [("p1", s) for s in SPOT] + [("l1", SWAP)]
    public = CountingGateway(make_gateway(sim.url, None, None))
    try:
        first = runtime_for(
            sim, await load_users(repo), engine, public, allow_live=True, live=live, keys=keys
        )
        try:
            await first.start()
            assert first.stats.refused == {}
            await wait_for(decided(first, pairs, 1), "the first decision")
            await advance(sim)
            await wait_for(decided(first, pairs, 2), "candle 2")
            await advance(sim)
            await wait_for(decided(first, pairs, 3), "candle 3")
        finally:
            await first.stop()
        before = await journal_orders(engine)
        # In a position on every pair: the restart must take it over, not open another.
        assert Counter(o[1] for o in before) == {"p1": 6, "l1": 3}

        second = runtime_for(
            sim, await load_users(repo), engine, public, allow_live=True, live=live, keys=keys
        )
        try:
            await second.start()
            assert second.stats.refused == {}, second.stats.refused
            await asyncio.sleep(0.3)  # the snapshots arrive; the last candle was decided
            assert second.stats.submitted == []
            assert await journal_orders(engine) == before
            await advance(sim)
            await wait_for(decided(second, pairs, 1), "the first candle after the restart")
        finally:
            await second.stop()
    finally:
        await public.inner.close()
    after = await journal_orders(engine)
    ids = [o[0] for o in after]
    assert len(ids) == len(set(ids))
    assert Counter(o[1] for o in after) == {"p1": 8, "l1": 4}
    assert {o[3] for o in after} == {"filled"}
    on_exchange = [o["client_order_id"] for o in sim_orders(sim.url, key)]
    assert len(on_exchange) == len(set(on_exchange)) == 4
    assert set(on_exchange) == {o[0] for o in after if o[1] == "l1"}
    journal = SqlJournal(engine)
    assert await journal.positions("p1") == []
    assert await journal.positions("l1") == []


async def test_monitor_places_the_target_and_a_close_cancels_it_first(
    sim: Sim, engine: Any, strategy_file: Path
) -> None:
    repo = SqlUserRepository(engine)
    risk = {"market": "spot", "timeframe": "1m", "exits": {"take_profit_pct": 0.5}}
    await add_user(repo, "p1", strategy_file, symbols=("BTC/USDT",), risk=risk)
    public = CountingGateway(make_gateway(sim.url, None, None))
    runtime = runtime_for(sim, await load_users(repo), engine, public)
    pair = [("p1", "BTC/USDT")]
    try:
        await runtime.start()
        await wait_for(decided(runtime, pair, 1), "the first decision")
        resting = await SqlOrderRepository(engine).open_orders("p1")
        assert [o.kind.value for o in resting] == ["take_profit"]
        await advance(sim)
        await wait_for(decided(runtime, pair, 2), "candle 2")
    finally:
        await runtime.stop()
        await public.inner.close()
    assert runtime.stats.errors == 0
    kinds = Counter((o[2], o[3]) for o in await journal_orders(engine))
    assert kinds == {("BTC/USDT", "filled"): 2, ("BTC/USDT", "canceled"): 1}
    assert await SqlJournal(engine).positions("p1") == []


async def test_unreconcilable_user_is_refused_and_sigterm_stops_gracefully(
    sim: Sim, engine: Any, strategy_file: Path
) -> None:
    repo = SqlUserRepository(engine)
    await add_user(repo, "p1", strategy_file, symbols=("BTC/USDT",))
    await add_user(repo, "l2", strategy_file, mode="live", market="swap", symbols=(SWAP,))
    key, secret = new_account(sim.url)
    hand = make_gateway(sim.url, key, secret)
    try:  # a position opened by hand: the journal cannot explain it
        await hand.create_order(make_order(SWAP, Side.BUY, "1", client_order_id="byhand1"))
    finally:
        await hand.close()

    async def live(user: RunUser, creds: ApiCredentials) -> ExchangeGateway:
        return make_gateway(sim.url, creds.api_key, creds.secret)

    public = CountingGateway(make_gateway(sim.url, None, None))
    runtime = runtime_for(
        sim,
        await load_users(repo),
        engine,
        public,
        allow_live=True,
        live=live,
        keys={"l2": ApiCredentials(api_key=key, secret=secret)},
    )

    async def terminate_after_first_candle() -> None:
        await wait_for(decided(runtime, [("p1", "BTC/USDT")], 1), "the first decision")
        os.kill(os.getpid(), signal.SIGTERM)

    try:
        killer = asyncio.ensure_future(terminate_after_first_candle())
        stats = await runtime.run(seconds=30)
        await killer
    finally:
        await public.inner.close()
    assert set(stats.refused) == {"l2"}
    assert "will not guess" in stats.refused["l2"]
    assert set(runtime.traders) == {"p1"}
    orders = await journal_orders(engine)
    assert [(o[1], o[3]) for o in orders] == [("p1", "filled")]
    assert [o["client_order_id"] for o in sim_orders(sim.url, key)] == ["byhand1"]
