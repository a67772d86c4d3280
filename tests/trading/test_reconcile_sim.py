"""Reconciliation end to end: the real ccxt gateway against the simulator, a SqlJournal on SQLite.

While the "bot" is down, orders reach the exchange without their answers being journaled,
a bot-shaped order nobody journaled and a foreign order appear; after reconciliation the
journal explains the account, and a hand-made trade afterwards gets the user refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.sim import make_gateway, make_order, new_account, serve_sim
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import Direction, IntentKind, OrderIntent, OrderType, Side
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.storage import SqlJournal, SqlOrderRepository, StorageConfig, create_engine, migrate
from xraybot.trading.reconcile import reconcile_user

S = OrderStatus
SWAP = "BTC/USDT:USDT"
HOUR = 3_600_000
USER = "u1"


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config) as url:
        yield url


@pytest.fixture
async def gateway(sim_url: str) -> AsyncIterator[CcxtGateway]:
    gw = make_gateway(sim_url, *new_account(sim_url))
    yield gw
    await gw.close()


@pytest.fixture
def storage(tmp_path: Path) -> StorageConfig:
    config = StorageConfig(data_dir=tmp_path / "data")
    migrate.upgrade(config.sqlalchemy_url())  # blocking: outside the test's event loop
    return config


def intent(leg: int, side: Side, amount: str, price: Decimal | None = None) -> OrderIntent:
    return OrderIntent(
        user_id=USER,
        strategy="test",
        symbol=SWAP,
        side=side,
        kind=IntentKind.OPEN,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        amount=Decimal(amount),
        price=price,
        signal_ts_ms=1_763_000_000_000,
        leg=leg,
    )


async def test_reconcile_after_downtime_adopts_records_cancels_then_refuses(
    gateway: CcxtGateway, storage: StorageConfig
) -> None:
    engine = create_engine(storage)
    try:
        journal, orders = SqlJournal(engine), SqlOrderRepository(engine)
        now = await gateway.fetch_time()
        far = ((await gateway.fetch_ticker(SWAP)).last * Decimal("0.7")).quantize(Decimal(1))
        # Sent, answers lost: a market buy that filled and a resting limit buy.
        filled = await journal.record_intent(intent(0, Side.BUY, "2"), now)
        resting = await journal.record_intent(intent(1, Side.BUY, "1", far), now)
        for order in (filled, resting):
            await gateway.create_order(order)
        # Journaled long ago and never sent.
        never = await journal.record_intent(intent(2, Side.BUY, "1", far), now - 2 * HOUR)
        # Ours by shape but unknown to the journal, and someone else's.
        stray = make_order(SWAP, Side.BUY, "1", order_type=OrderType.LIMIT, price=str(far))
        foreign = make_order(
            SWAP, Side.BUY, "1", order_type=OrderType.LIMIT, price=str(far), client_order_id="hand1"
        )
        for order in (stray, foreign):
            await gateway.create_order(order)

        report = await reconcile_user(
            USER, gateway, journal, orders, symbols=[SWAP], now_ms=now, stale_after_ms=HOUR
        )
        assert report.ok, report.alert
        assert (report.recorded, report.canceled, report.foreign) == (1, 1, 1)

        async def stored(order: Order) -> Order:
            found = await orders.get(order.client_order_id)
            assert found is not None
            return found

        assert (await stored(filled)).status is S.FILLED
        assert [f.amount for f in await journal.fills(filled.client_order_id)] == [Decimal(2)]
        assert (await stored(resting)).status is S.OPEN
        assert (await stored(resting)).exchange_order_id is not None
        assert (await stored(never)).status is S.REJECTED
        position = await journal.position(USER, SWAP)
        assert position is not None
        assert (position.direction, position.amount) == (Direction.LONG, Decimal(2))
        [held] = await gateway.fetch_positions([SWAP])
        assert held.contracts == position.amount
        swept = await gateway.fetch_order(SWAP, client_order_id=stray.client_order_id)
        assert swept is not None
        assert swept.status is S.CANCELED
        still_open = {o.client_order_id for o in await gateway.fetch_open_orders(SWAP)}
        assert still_open == {resting.client_order_id, "hand1"}

        again = await reconcile_user(
            USER, gateway, journal, orders, symbols=[SWAP], now_ms=now, stale_after_ms=HOUR
        )
        assert again.ok, again.alert
        assert (again.recorded, again.adopted, again.canceled) == (0, 0, 0)

        # Someone trades the account by hand: the journal cannot explain the position.
        await gateway.create_order(make_order(SWAP, Side.BUY, "1", client_order_id="hand2"))
        refused = await reconcile_user(
            USER, gateway, journal, orders, symbols=[SWAP], now_ms=now, stale_after_ms=HOUR
        )
        assert not refused.ok
        assert refused.alert is not None
        assert "holds 3" in refused.alert
        assert "journal explains 2" in refused.alert
        assert (await journal.position(USER, SWAP)) == position  # nothing guessed
    finally:
        await engine.dispose()
