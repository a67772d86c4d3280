"""The runtime rests a swap position's stop on the exchange, once, across a restart.

A swap paper user's stop becomes a STOP_MARKET trigger order once the OPEN fills; a spot
user's stays a local watch. After a restart the paper account rests the journal's stop again
(reconciliation passes) and no second stop is placed; the exit signal's close cancels it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import pytest

from tests.support.embedded import (
    STRATEGY,
    SWAP,
    CountingGateway,
    add_user,
    advance,
    decided,
    wait_for,
)
from tests.support.paper_restart import runtime_for
from tests.support.sim import make_gateway
from xraybot.model.signals import IntentKind, OrderType
from xraybot.runtime.embedded_users import load_users
from xraybot.storage import SqlOrderRepository
from xraybot.storage.users import SqlUserRepository

SPOT = "BTC/USDT"
PAIRS = [("rs", SPOT), ("rw", SWAP)]


@pytest.fixture(scope="module")
def sim_seed() -> int:
    # The same simulator prices as test_paper_restart, which these tests were written on.
    return 11


def risk(market: str) -> dict[str, Any]:
    return {"market": market, "timeframe": "1m", "exits": {"stop_loss_pct": 0.5}}


async def resting_on(gateway: Any) -> set[str | None]:
    """The client ids of the orders resting on the paper exchange (the stop, once placed)."""
    return {r.client_order_id for r in await gateway.fetch_open_orders(SWAP)}


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(2000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def resting_stops(orders: SqlOrderRepository, user_id: str) -> list[Any]:
    return [
        o
        for o in await orders.open_orders(user_id)
        if o.kind is IntentKind.STOP_LOSS and o.order_type is OrderType.STOP_MARKET
    ]


async def test_a_swap_stop_rests_once_and_survives_a_restart(
    sim: Any,
    engine: Any,
    tmp_path: Path,
) -> None:
    strategy = tmp_path / "always.py"
    strategy.write_text(STRATEGY)
    repo = SqlUserRepository(engine)
    await add_user(repo, "rs", strategy, symbols=(SPOT,), risk=risk("spot"))
    await add_user(repo, "rw", strategy, market="swap", symbols=(SWAP,), risk=risk("swap"))
    orders = SqlOrderRepository(engine)
    public = CountingGateway(make_gateway(sim.url, None, None))
    try:
        first, made = runtime_for(sim, await load_users(repo), engine, public)
        try:
            await first.start()
            assert first.stats.refused == {}
            await wait_for(decided(first, PAIRS, 1), "the first decision")
            await eventually(
                lambda: _nonempty(resting_stops(orders, "rw")), "the resting stop in the journal"
            )
            on_exchange = await resting_on(made.made["rw"])
        finally:
            await first.stop()
        stops = await resting_stops(orders, "rw")
        assert len(stops) == 1
        assert stops[0].stop_price is not None
        assert on_exchange == {stops[0].client_order_id}
        assert await resting_stops(orders, "rs") == []  # spot: watched locally

        second, remade = runtime_for(sim, await load_users(repo), engine, public)
        try:
            await second.start()
            assert second.stats.refused == {}, second.stats.refused
            assert [o.client_order_id for o in await resting_stops(orders, "rw")] == [
                stops[0].client_order_id
            ]
            assert await resting_on(remade.made["rw"]) == on_exchange
            await advance(sim)
            await wait_for(decided(second, PAIRS, 1), "the exit candle")
            await eventually(
                lambda: _empty(resting_on(remade.made["rw"])), "the stop cancelled by the close"
            )
        finally:
            await second.stop()
    finally:
        await public.inner.close()
    assert await resting_stops(orders, "rw") == []


async def _nonempty(pending: Awaitable[Collection[Any]]) -> bool:
    return len(await pending) > 0


async def _empty(pending: Awaitable[Collection[Any]]) -> bool:
    return len(await pending) == 0
