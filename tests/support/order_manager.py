"""An order manager desk on the fake simulator with a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.support.sim import START_MS, admin, make_gateway, new_account, sim_orders
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.model.orders import Order
from xraybot.model.signals import IntentKind, OrderIntent, OrderType, Side
from xraybot.storage import migrate
from xraybot.storage.config import StorageConfig
from xraybot.storage.db import create_engine
from xraybot.storage.journal import SqlJournal
from xraybot.storage.memory import MemoryJournal, MemoryOrderRepository, MemoryStore
from xraybot.storage.orders import SqlOrderRepository
from xraybot.trading.order_manager import OrderManager
from xraybot.trading.ports import Journal, OrderRepository

SPOT, SWAP = "BTC/USDT", "BTC/USDT:USDT"
USER = "u1"


class ManualClock:
    """The trading clock, moved by the test (it starts at the simulator's start)."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


async def no_sleep(seconds: float) -> None:
    del seconds  # backoff waits are the policy's business; tests need not sit through them


def intent(
    side: Side = Side.BUY,
    amount: str = "0.001",
    *,
    symbol: str = SPOT,
    order_type: OrderType = OrderType.MARKET,
    price: str | None = None,
    kind: IntentKind = IntentKind.OPEN,
    signal_ts_ms: int = START_MS,
    leg: int = 0,
) -> OrderIntent:
    return OrderIntent(
        user_id=USER,
        strategy="test",
        symbol=symbol,
        side=side,
        kind=kind,
        order_type=order_type,
        amount=Decimal(amount),
        signal_ts_ms=signal_ts_ms,
        price=None if price is None else Decimal(price),
        leg=leg,
    )


@dataclass
class Desk:
    """Everything one test needs: the manager and what it talks to."""

    url: str
    api_key: str
    gateway: CcxtGateway
    journal: Journal
    orders: OrderRepository
    clock: ManualClock
    manager: OrderManager

    def exchange_orders(self) -> list[dict[str, Any]]:
        return sim_orders(self.url, self.api_key)

    def faults(self, *once: str, spec: str | None = None) -> None:
        body: dict[str, Any] = {"once": list(once)}
        if spec is not None:
            body["spec"] = spec
        admin(self.url, "POST", "faults", body)

    async def journaled(self, client_order_id: str) -> Order:
        order = await self.orders.get(client_order_id)
        assert order is not None, f"{client_order_id} is not in the journal"
        return order


def sqlite_config(tmp_path: Path) -> StorageConfig:
    """A fresh SQLite journal at head (blocking migration: call outside the event loop)."""
    config = StorageConfig(data_dir=tmp_path / "data")
    migrate.upgrade(config.sqlalchemy_url())
    return config


@asynccontextmanager
async def open_desk(
    url: str,
    storage: StorageConfig | None = None,
    *,
    timeout_ms: int = 3000,
    **manager_options: Any,
) -> AsyncIterator[Desk]:
    """Open a fresh simulator account and a manager over a memory or SQL journal."""
    key, secret = new_account(url)
    gateway = make_gateway(url, key, secret, timeout_ms=timeout_ms)
    engine = None
    journal: Journal
    orders: OrderRepository
    if storage is None:
        store = MemoryStore()
        journal, orders = MemoryJournal(store), MemoryOrderRepository(store)
    else:
        engine = create_engine(storage)
        journal, orders = SqlJournal(engine), SqlOrderRepository(engine)
    clock = ManualClock()
    options: dict[str, Any] = {"sleep": no_sleep, **manager_options}
    manager = OrderManager(gateway, journal, orders, clock, **options)
    try:
        yield Desk(url, key, gateway, journal, orders, clock, manager)
    finally:
        await gateway.close()
        if engine is not None:
            await engine.dispose()
