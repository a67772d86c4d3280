"""The position monitor against the simulator, on a market whose prices the test moves.

Each test opens a position through the OrderManager (journaled, on a fresh simulator
account), hands the monitor the plan the step would have decided, moves the price and
checks the exchange's own record (``/_sim/orders``) against what the monitor did.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.sim.fakes import Sim, running_sim
from tests.sim.fakes import test_config as fake_sim_config
from tests.support.monitor import SIGNAL_TS, SPOT, SWAP, Desk, open_desk
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import IntentKind, Side
from xraybot.risk.exits import ExitRules
from xraybot.storage import migrate
from xraybot.storage.config import StorageConfig
from xraybot.storage.memory import MemoryStore
from xraybot.trading.monitor import PositionMonitor, kill_switch


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim(fake_sim_config()) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_prices(sim: Sim) -> None:
    sim.market.reset_prices()


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> StorageConfig | None:
    if request.param == "memory":
        return None
    config = StorageConfig(data_dir=tmp_path / "data")
    migrate.upgrade(config.sqlalchemy_url())
    return config


@pytest.fixture
async def desk(sim: Sim, storage: StorageConfig | None) -> AsyncIterator[Desk]:
    async with open_desk(sim, storage=storage) as opened:
        yield opened


def only(rows: list[dict[str, Any]], cid: str) -> dict[str, Any]:
    found = [r for r in rows if r["client_order_id"] == cid]
    assert len(found) == 1, f"{cid} placed {len(found)} times"
    return found[0]


# -- stop-loss ------------------------------------------------------------------------------


async def test_a_long_falling_through_its_stop_is_closed_once(desk: Desk) -> None:
    plan = await desk.open_position(stop="49000", targets=((0, "52000", "0.01"),))
    placed = await desk.monitor.place(desk.user)
    [target] = placed.of("placed")
    assert only(desk.exchange_orders(), target.client_order_id or "")["status"] == "NEW"
    # A price above the stop: nothing happens, twice.
    for _ in range(2):
        report = await desk.monitor.on_price(desk.user, SPOT, 49_500.0)
        assert report.of("stop_loss") == ()
    desk.sim.market.set_price("BTC", 48_900)
    report = await desk.monitor.on_price(desk.user, SPOT, 48_900.0)
    [stop] = report.of("stop_loss")
    assert [a.client_order_id for a in report.of("canceled")] == [target.client_order_id]
    close = desk.intent(IntentKind.STOP_LOSS, Side.SELL, "0.01")
    assert stop.client_order_id == close.client_order_id  # the step's STOP_LOSS id, leg 0
    assert await desk.journal.position(desk.user, SPOT) is None
    [trade] = await desk.journal.trades(desk.user)
    assert trade.exit_reason == "stop_loss"
    assert trade.exit_price < Decimal(49_000)
    # Again on the same price, and a full pass: nothing new is placed.
    assert (await desk.monitor.on_price(desk.user, SPOT, 48_900.0)).actions == ()
    assert (await desk.monitor.check(desk.user)).actions == ()
    rows = desk.exchange_orders()
    assert len(rows) == 3  # open, target (canceled), one close
    assert only(rows, stop.client_order_id or "")["status"] == "FILLED"
    assert desk.monitor.plan(desk.user, SPOT) is None
    assert plan.signal_ts_ms == SIGNAL_TS


async def test_the_same_tick_twice_on_two_monitors_places_nothing_new(sim: Sim) -> None:
    async with open_desk(sim) as desk:
        plan = await desk.open_position(stop="49000")
        # A second monitor over the same journal and account (a restarted process).
        twin = PositionMonitor(
            desk.manager, desk.gateway, desk.journal, desk.orders, sim.market.clock
        )
        twin.watch(plan)
        sim.market.set_price("BTC", 48_000)
        first = await desk.monitor.on_candle(desk.user, SPOT, open=49_500, high=49_600, low=48_000)
        second = await twin.on_candle(desk.user, SPOT, open=49_500, high=49_600, low=48_000)
        assert len(first.of("stop_loss")) == 1
        assert second.of("stop_loss") == ()
        assert len(desk.exchange_orders()) == 2


# -- take-profit and partial closes -----------------------------------------------------------


async def test_a_take_profit_rests_on_the_exchange_and_closes_the_position(desk: Desk) -> None:
    await desk.open_position(stop="45000", targets=((0, "52000", "0.01"),))
    await desk.monitor.place(desk.user)
    assert (await desk.monitor.place(desk.user)).actions == ()  # placed once
    desk.sim.market.set_price("BTC", 52_100)
    report = await desk.monitor.check(desk.user)
    assert report.of("stop_loss") == ()
    assert await desk.journal.position(desk.user, SPOT) is None
    [trade] = await desk.journal.trades(desk.user)
    assert (trade.exit_reason, trade.exit_price) == ("take_profit", Decimal(52_000))
    assert [status for _, status in desk.kinds()] == ["FILLED", "FILLED"]


async def test_partial_targets_close_their_share_and_the_rest_stays(desk: Desk) -> None:
    # The OPEN asked for 0.02 and the targets split it; they are resized to what filled.
    await desk.open_position(
        "0.02", stop="45000", targets=((1, "51000", "0.01"), (0, "52000", "0.01"))
    )
    report = await desk.monitor.place(desk.user)
    assert len(report.of("placed")) == 2
    desk.sim.market.set_price("BTC", 51_100)
    await desk.monitor.check(desk.user)
    position = await desk.journal.position(desk.user, SPOT)
    assert position is not None
    assert position.amount == Decimal("0.01")
    [trade] = await desk.journal.trades(desk.user)
    assert (trade.exit_reason, trade.amount) == ("take_profit", Decimal("0.01"))
    # Then the stop takes the rest, after canceling the final target.
    desk.sim.market.set_price("BTC", 44_000)
    report = await desk.monitor.on_price(desk.user, SPOT, 44_000.0)
    assert len(report.of("stop_loss")) == 1
    assert len(report.of("canceled")) == 1
    assert await desk.journal.position(desk.user, SPOT) is None


async def test_a_target_the_exchange_will_not_take_is_watched_locally(desk: Desk) -> None:
    # A partial target worth 0.5 USDT is under the 1 USDT minimum: it cannot rest.
    await desk.open_position(
        "0.01", stop="45000", targets=((1, "51000", "0.00001"), (0, "52000", "0.01"))
    )
    report = await desk.monitor.place(desk.user)
    assert len(report.of("watched_locally")) == 1
    assert len(report.of("placed")) == 1
    assert len(desk.exchange_orders()) == 2  # the open and the final target
    # Reached, it is still too small to trade: refused and dropped, the position kept.
    report = await desk.monitor.on_candle(desk.user, SPOT, open=50_500, high=51_100, low=50_400)
    assert len(report.of("refused")) == 1
    again = await desk.monitor.on_candle(desk.user, SPOT, open=50_900, high=51_100, low=50_800)
    assert again.actions == ()
    assert await desk.journal.position(desk.user, SPOT) is not None
    assert len(desk.exchange_orders()) == 2


# -- trailing and break-even --------------------------------------------------------------------


async def test_the_trailing_stop_follows_the_high_and_exits(desk: Desk) -> None:
    await desk.open_position(exits=ExitRules(trailing_pct=0.02))
    assert math.isnan(desk.monitor.stop_level(desk.user, SPOT))
    # The first candle sets the best price; the trailing stop is 2 % under it.
    report = await desk.monitor.on_candle(desk.user, SPOT, open=50_000, high=52_000, low=49_800)
    assert report.of("stop_loss") == ()
    [moved] = report.of("stop_moved")
    assert "trailing" in moved.detail
    assert desk.monitor.stop_level(desk.user, SPOT) == pytest.approx(52_000 * 0.98)
    report = await desk.monitor.on_candle(desk.user, SPOT, open=51_900, high=53_000, low=51_500)
    assert report.of("stop_loss") == ()
    assert desk.monitor.stop_level(desk.user, SPOT) == pytest.approx(53_000 * 0.98)
    # The stop never moves back down.
    await desk.monitor.on_candle(desk.user, SPOT, open=52_800, high=52_900, low=52_500)
    assert desk.monitor.stop_level(desk.user, SPOT) == pytest.approx(53_000 * 0.98)
    desk.sim.market.set_price("BTC", 51_900)
    report = await desk.monitor.on_candle(desk.user, SPOT, open=52_600, high=52_700, low=51_900)
    [stop] = report.of("stop_loss")
    assert "trailing stop" in stop.detail
    [trade] = await desk.journal.trades(desk.user)
    assert trade.exit_price > trade.entry_price  # a trailing exit kept a profit


async def test_the_break_even_move_lifts_the_stop_to_cover_the_fees(desk: Desk) -> None:
    await desk.open_position(stop="48000", exits=ExitRules(breakeven_at_pct=0.01))
    position = await desk.journal.position(desk.user, SPOT)
    assert position is not None
    entry = float(position.entry_price)
    report = await desk.monitor.on_candle(desk.user, SPOT, open=50_000, high=50_200, low=49_900)
    assert report.of("stop_moved") == ()  # not yet 1 % in favour
    assert desk.monitor.stop_level(desk.user, SPOT) == 48_000
    report = await desk.monitor.on_candle(desk.user, SPOT, open=50_200, high=50_600, low=50_100)
    [moved] = report.of("stop_moved")
    assert "break-even" in moved.detail
    fee = 0.002  # the market's taker fee
    assert desk.monitor.stop_level(desk.user, SPOT) == pytest.approx(entry * (1 + fee) / (1 - fee))
    desk.sim.market.set_price("BTC", 50_150)
    report = await desk.monitor.on_candle(desk.user, SPOT, open=50_400, high=50_450, low=50_000)
    assert len(report.of("stop_loss")) == 1
    assert await desk.journal.position(desk.user, SPOT) is None


# -- kill switch --------------------------------------------------------------------------------


async def test_the_kill_switch_closes_one_user_and_leaves_the_others(sim: Sim) -> None:
    store = MemoryStore()
    async with open_desk(sim, "alice", store) as alice, open_desk(sim, "bob", store) as bob:
        await alice.open_position(stop="40000", targets=((0, "60000", "0.01"),))
        await alice.monitor.place("alice")
        await bob.open_position(stop="40000", targets=((0, "60000", "0.01"),))
        await bob.monitor.place("bob")
        report = await kill_switch([alice.monitor])
        assert len(report.of("closed")) == 1
        assert len(report.of("canceled")) == 1
        assert await alice.journal.positions("alice") == []
        assert [s for _, s in alice.kinds()] == ["FILLED", "CANCELED", "FILLED"]
        [trade] = await alice.journal.trades("alice")
        assert trade.exit_reason == "liquidate"
        # Bob's position and his resting target are untouched.
        assert len(await bob.journal.positions("bob")) == 1
        assert [s for _, s in bob.kinds()] == ["FILLED", "NEW"]
        # Pressing it again places nothing new.
        again = await alice.monitor.close_everything()
        assert again.actions == ()
        assert len(alice.exchange_orders()) == 3


async def test_the_kill_switch_closes_swaps_reduce_only(desk: Desk) -> None:
    await desk.gateway.set_leverage(SWAP, 5)
    await desk.open_position("10", symbol=SWAP, leverage=5, stop="40000")
    report = await desk.monitor.close_all(desk.user)
    [closed] = report.of("closed")
    assert await desk.journal.positions(desk.user) == []
    order = await desk.orders.get(closed.client_order_id or "")
    assert order is not None
    assert order.reduce_only
    assert order.status is OrderStatus.FILLED


async def test_a_short_swap_rising_through_its_stop_is_closed_reduce_only(desk: Desk) -> None:
    await desk.gateway.set_leverage(SWAP, 5)
    await desk.open_position(
        "10", symbol=SWAP, leverage=5, short=True, stop="51000", targets=((0, "45000", "10"),)
    )
    placed = await desk.monitor.place(desk.user)
    assert len(placed.of("placed")) == 1
    report = await desk.monitor.on_candle(desk.user, SWAP, open=50_000, high=50_900, low=49_000)
    assert report.of("stop_loss") == ()
    desk.sim.market.set_price("BTC", 51_200)
    report = await desk.monitor.on_candle(desk.user, SWAP, open=50_500, high=51_300, low=50_400)
    [stop] = report.of("stop_loss")
    order = await desk.orders.get(stop.client_order_id or "")
    assert order is not None
    assert (order.side, order.reduce_only, order.status) == (
        Side.BUY,
        True,
        OrderStatus.FILLED,
    )
    assert await desk.journal.positions(desk.user) == []
    [trade] = await desk.journal.trades(desk.user)
    assert trade.exit_price > trade.entry_price  # a short stopped out at a loss


# -- margin ---------------------------------------------------------------------------------


async def test_a_futures_position_near_liquidation_raises_an_alert(sim: Sim) -> None:
    # Cross margin: the whole 20 USDT wallet backs 500 USDT of BTC, liquidated ~4 % lower.
    async with open_desk(sim, swap="20") as desk:
        await desk.gateway.set_leverage(SWAP, 50)
        await desk.open_position("100", symbol=SWAP, leverage=50, stop="49500")
        [alert] = await desk.monitor.margin_alerts(desk.user)
        assert alert.symbol == SWAP
        assert Decimal(0) < alert.distance < Decimal("0.1")
        assert alert.liquidation_price < alert.price
        assert "liquidation price" in alert.message
        report = await desk.monitor.check(desk.user)
        assert len(report.alerts) == 1
        assert report.of("stop_loss") == ()


async def test_a_safe_futures_position_raises_no_alert(desk: Desk) -> None:
    await desk.gateway.set_leverage(SWAP, 5)
    await desk.open_position("10", symbol=SWAP, leverage=5, stop="40000")
    assert await desk.monitor.margin_alerts(desk.user) == []
