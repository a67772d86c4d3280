"""A position monitor desk on the fake simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.sim.fakes import Sim
from tests.support.sim import make_gateway, new_account, sim_orders
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import IntentKind, OrderIntent, OrderType, Side
from xraybot.risk.exits import ExitRules
from xraybot.storage.config import StorageConfig
from xraybot.storage.db import create_engine
from xraybot.storage.journal import SqlJournal
from xraybot.storage.memory import MemoryJournal, MemoryOrderRepository, MemoryStore
from xraybot.storage.orders import SqlOrderRepository
from xraybot.trading.monitor import PositionMonitor, ProtectionPlan
from xraybot.trading.order_manager import OrderManager
from xraybot.trading.ports import Journal, OrderRepository

SPOT, SWAP = "BTC/USDT", "BTC/USDT:USDT"
SIGNAL_TS = 1_700_000_000_000


async def no_sleep(seconds: float) -> None:
    del seconds


@dataclass
class Desk:
    sim: Sim
    user: str
    api_key: str
    gateway: CcxtGateway
    journal: Journal
    orders: OrderRepository
    manager: OrderManager
    monitor: PositionMonitor

    def exchange_orders(self) -> list[dict[str, Any]]:
        return sim_orders(self.sim.url, self.api_key)

    def intent(
        self,
        kind: IntentKind,
        side: Side,
        amount: str,
        *,
        symbol: str = SPOT,
        order_type: OrderType = OrderType.MARKET,
        price: str | None = None,
        stop: str | None = None,
        leg: int = 0,
        leverage: int = 1,
    ) -> OrderIntent:
        return OrderIntent(
            user_id=self.user,
            strategy="test",
            symbol=symbol,
            side=side,
            kind=kind,
            order_type=order_type,
            amount=Decimal(amount),
            signal_ts_ms=SIGNAL_TS,
            price=None if price is None else Decimal(price),
            stop_price=None if stop is None else Decimal(stop),
            reduce_only=symbol == SWAP and kind is not IntentKind.OPEN,
            leverage=leverage,
            leg=leg,
            reason=kind.value,
        )

    async def open_position(
        self,
        amount: str = "0.01",
        *,
        stop: str | None = None,
        targets: tuple[tuple[int, str, str], ...] = (),  # (leg, price, amount)
        exits: ExitRules | None = None,
        symbol: str = SPOT,
        leverage: int = 1,
        short: bool = False,
    ) -> ProtectionPlan:
        """Open a position through the manager; watch it with the plan the step would decide."""
        entry, exit_side = (Side.SELL, Side.BUY) if short else (Side.BUY, Side.SELL)
        opened = self.intent(IntentKind.OPEN, entry, amount, symbol=symbol, leverage=leverage)
        order = await self.manager.submit(opened)
        assert order.status is OrderStatus.FILLED
        intents = [opened]
        if stop is not None:
            intents.append(
                self.intent(
                    IntentKind.STOP_LOSS,
                    exit_side,
                    amount,
                    symbol=symbol,
                    order_type=OrderType.STOP_MARKET,
                    stop=stop,
                )
            )
        for leg, price, qty in targets:
            intents.append(
                self.intent(
                    IntentKind.TAKE_PROFIT,
                    exit_side,
                    qty,
                    symbol=symbol,
                    order_type=OrderType.LIMIT,
                    price=price,
                    leg=leg,
                )
            )
        plan = ProtectionPlan.from_intents(intents, exits or ExitRules())
        self.monitor.watch(plan)
        return plan

    def kinds(self) -> list[tuple[str, str]]:
        """(client order id, status) of every exchange order, in placing order."""
        return [(row["client_order_id"], row["status"]) for row in self.exchange_orders()]


@asynccontextmanager
async def open_desk(
    sim: Sim,
    user: str = "u1",
    store: MemoryStore | None = None,
    *,
    swap: str = "5000",
    storage: StorageConfig | None = None,
) -> AsyncIterator[Desk]:
    """A fresh simulator account, and a monitor over a memory (or SQL) journal."""
    key, secret = new_account(sim.url, swap=swap)
    gateway = make_gateway(sim.url, key, secret)
    engine = None
    journal: Journal
    orders: OrderRepository
    if storage is None:
        store = store or MemoryStore()
        journal, orders = MemoryJournal(store), MemoryOrderRepository(store)
    else:
        engine = create_engine(storage)
        journal, orders = SqlJournal(engine), SqlOrderRepository(engine)
    clock = sim.market.clock
    manager = OrderManager(gateway, journal, orders, clock, sleep=no_sleep)
    monitor = PositionMonitor(manager, gateway, journal, orders, clock)
    try:
        yield Desk(sim, user, key, gateway, journal, orders, manager, monitor)
    finally:
        await gateway.close()
        if engine is not None:
            await engine.dispose()
