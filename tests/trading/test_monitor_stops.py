"""Stops resting on the exchange (swap trigger orders) against the simulator.

On a swap the monitor places the stop in force as a trigger order once the OPEN filled,
moves it (cancel, then replace) when the trailing stop moves, cancels it when the position
closes otherwise, and never has two live. The exchange fires it while the bot is stopped;
the journal learns of the close at the restart's reconciliation. Spot keeps the local watch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest

from tests.sim.fakes import Sim, running_sim
from tests.sim.fakes import test_config as fake_sim_config
from tests.support.monitor import SPOT, SWAP, Desk, open_desk
from tests.support.sim import make_gateway
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import IntentKind, OrderType
from xraybot.risk.exits import ExitRules
from xraybot.sim.accounts import PlanOrder, PlanState
from xraybot.storage.memory import MemoryJournal, MemoryOrderRepository, MemoryStore
from xraybot.trading.monitor import PositionMonitor
from xraybot.trading.reconcile import reconcile_user


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim(fake_sim_config()) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_prices(sim: Sim) -> None:
    sim.market.reset_prices()


def with_resting_stops(desk: Desk) -> Desk:
    monitor = PositionMonitor(
        desk.manager,
        desk.gateway,
        desk.journal,
        desk.orders,
        desk.sim.market.clock,
        resting_stops=desk.gateway.supports_resting_stops,
    )
    return dataclasses.replace(desk, monitor=monitor)


@pytest.fixture
async def desk(sim: Sim) -> AsyncIterator[Desk]:
    async with open_desk(sim) as opened:
        yield with_resting_stops(opened)


def plans(desk: Desk) -> list[PlanOrder]:
    account = desk.sim.exchange.accounts.get(desk.api_key)
    assert account is not None
    return list(account.plan_orders.values())


def live(desk: Desk) -> list[PlanOrder]:
    return [p for p in plans(desk) if p.state is PlanState.UNTRIGGERED]


async def test_the_stop_rests_on_the_exchange_once_the_open_filled(desk: Desk) -> None:
    await desk.open_position("10", stop="49000", symbol=SWAP, leverage=10)
    report = await desk.monitor.place(desk.user)
    [placed] = report.of("stop_placed")
    [plan] = live(desk)
    assert (plan.trigger_price, plan.trigger_type, plan.vol) == (Decimal(49000), 2, Decimal(10))
    assert plan.external_oid == placed.client_order_id
    stored = await desk.orders.get(placed.client_order_id or "")
    assert stored is not None
    assert (stored.kind, stored.order_type, stored.status) == (
        IntentKind.STOP_LOSS,
        OrderType.STOP_MARKET,
        OrderStatus.OPEN,
    )
    # More passes (and a price tick above the stop) place nothing new.
    assert (await desk.monitor.place(desk.user)).actions == ()
    assert (await desk.monitor.on_price(desk.user, SWAP, 49_500.0)).actions == ()
    assert len(plans(desk)) == 1


async def test_spot_keeps_the_local_watch(desk: Desk) -> None:
    await desk.open_position("0.01", stop="49000", symbol=SPOT)
    report = await desk.monitor.place(desk.user)
    assert report.of("stop_placed") == ()
    assert plans(desk) == []
    desk.sim.market.set_price("BTC", 48_900)
    [closed] = (await desk.monitor.on_price(desk.user, SPOT, 48_900.0)).of("stop_loss")
    assert closed.client_order_id is not None
    assert await desk.journal.position(desk.user, SPOT) is None


async def test_the_trailing_stop_moves_on_the_exchange_one_live_at_a_time(desk: Desk) -> None:
    exits = ExitRules(stop_loss_pct=0.02, trailing_pct=0.02)
    await desk.open_position("10", stop="49000", symbol=SWAP, leverage=10, exits=exits)
    await desk.monitor.place(desk.user)
    [first] = live(desk)
    for high in (51_000.0, 52_000.0, 51_500.0):
        # The exchange's price follows the candles, which stay above the trailing stop.
        desk.sim.market.set_price("BTC", high - 100)
        await desk.monitor.on_candle(desk.user, SWAP, open=high - 300, high=high, low=high - 400)
        assert len(live(desk)) == 1
    [now] = live(desk)
    assert now.order_id != first.order_id
    assert now.trigger_price == Decimal("50960.00")  # 52000 * 0.98, on the tick
    canceled = [p for p in plans(desk) if p.state is PlanState.CANCELED]
    assert len(canceled) == 2  # 51000's and the initial one
    # The journal has every one, the live one last, each under its own deterministic id.
    ids = {p.external_oid for p in plans(desk)}
    assert len(ids) == 3
    for p in plans(desk):
        stored = await desk.orders.get(p.external_oid or "")
        assert stored is not None
        want = OrderStatus.OPEN if p is now else OrderStatus.CANCELED
        assert stored.status is want


async def test_a_stop_fired_while_the_bot_was_down_is_learned_at_reconciliation(
    sim: Sim,
) -> None:
    store = MemoryStore()
    async with open_desk(sim, store=store) as before:
        desk = with_resting_stops(before)
        await desk.open_position("10", stop="49000", symbol=SWAP, leverage=10)
        await desk.monitor.place(desk.user)
        [plan] = live(desk)
        key = desk.api_key
    # Nothing runs: the price falls through the stop and comes back; the exchange fires it.
    sim.market.set_price("BTC", 48_500)
    sim.exchange.match()
    sim.market.set_price("BTC", 50_000)
    sim.exchange.match()
    account = sim.exchange.accounts.get(key)
    assert account is not None
    assert account.plan_orders[plan.order_id].state is PlanState.EXECUTED
    assert account.positions == {}
    # The restart: reconciliation on the same account and journal, twice.
    journal, orders = MemoryJournal(store), MemoryOrderRepository(store)
    for _ in range(2):
        gateway = make_gateway(sim.url, key, account.secret)
        try:
            report = await reconcile_user(
                desk.user,
                gateway,
                journal,
                orders,
                symbols=[SWAP],
                now_ms=sim.market.clock.now_ms(),
            )
        finally:
            await gateway.close()
        assert report.ok, report
        assert await journal.position(desk.user, SWAP) is None
        [trade] = await journal.trades(desk.user)  # recorded once
        assert trade.exit_reason == "stop_loss"
        assert trade.exit_price < Decimal(49_000)
        stored = await orders.get(plan.external_oid or "")
        assert stored is not None
        assert stored.status is OrderStatus.FILLED


async def test_a_local_close_cancels_the_resting_stop_first(desk: Desk) -> None:
    await desk.open_position("10", stop="49000", symbol=SWAP, leverage=10)
    await desk.monitor.place(desk.user)
    # The candle traded through the stop but the exchange's last price never did.
    report = await desk.monitor.on_candle(
        desk.user, SWAP, open=49_500.0, high=49_600.0, low=48_800.0
    )
    assert report.of("stop_loss")
    assert live(desk) == []
    [plan] = plans(desk)
    assert plan.state is PlanState.CANCELED
    assert await desk.journal.position(desk.user, SWAP) is None
    assert len(await desk.journal.trades(desk.user)) == 1


async def test_a_restarted_monitor_finds_the_resting_stop_and_places_no_second(
    sim: Sim,
) -> None:
    store = MemoryStore()
    async with open_desk(sim, store=store) as opened:
        desk = with_resting_stops(opened)
        plan = await desk.open_position("10", stop="49000", symbol=SWAP, leverage=10)
        await desk.monitor.place(desk.user)
        again = with_resting_stops(desk)  # a fresh monitor over the same journal
        again.monitor.watch(plan)
        assert (await again.monitor.place(desk.user)).actions == ()
        assert (await again.monitor.on_price(desk.user, SWAP, 49_900.0)).actions == ()
        assert len(plans(desk)) == 1
