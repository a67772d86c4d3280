"""Reconciliation properties: a consistent crash leaves nothing unexplained once the plan is
applied, and an injected inconsistency is fixed or refused, never silently accepted.

The journal is the real MemoryJournal; the exchange is an in-memory order book holding
exactly what the world below says happened (the simulator end to end is in test_reconcile_sim).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.markets import swap_market
from xraybot.exchange.port import ExchangeGateway, OrderReport, PositionReport, TradeReport
from xraybot.model.fills import Position
from xraybot.model.market import Market
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import Direction, IntentKind, OrderIntent, OrderType, Side
from xraybot.storage.memory import MemoryJournal, MemoryOrderRepository, MemoryStore
from xraybot.trading.order_fills import fill_from_trade, position_after_fill
from xraybot.trading.reconcile import apply_plan, gather_views
from xraybot.trading.reconcile_fills import order_after_fill
from xraybot.trading.reconcile_plan import diff_state

pytestmark = pytest.mark.properties

S = OrderStatus
T0 = 1_763_000_000_000
NOW = T0 + 10_000_000
USER = "u1"
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
MARKETS = {symbol: swap_market(symbol) for symbol in SYMBOLS}
FATES = ("open", "filled", "canceled", "lost")
INJECTIONS = (
    "none",
    "foreign_position",
    "journal_closed_but_open",
    "missing_trade",
    "amount",
    "unknown_bot_order",
    "foreign_order",
)


@dataclass
class BookExchange:
    """The exchange side of one account: every order ever placed, its trades, no matching."""

    orders: dict[str, OrderReport] = field(default_factory=dict)  # by client id
    trades: list[TradeReport] = field(default_factory=list)
    extra_position: dict[str, Decimal] = field(default_factory=dict)
    cancels: int = 0

    async def markets(self) -> dict[str, Market]:
        return dict(MARKETS)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        return [
            o
            for o in self.orders.values()
            if not o.status.is_terminal and symbol in (None, o.symbol)
        ]

    async def fetch_my_trades(
        self, symbol: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[TradeReport]:
        return [t for t in self.trades if t.symbol == symbol]

    async def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[PositionReport]:
        found = []
        for symbol in symbols or SYMBOLS:
            net = self.net(symbol)
            if net != 0:
                found.append(
                    PositionReport(
                        symbol=symbol,
                        direction=Direction.LONG if net > 0 else Direction.SHORT,
                        contracts=abs(net),
                        entry_price=Decimal(100),
                        leverage=1,
                        liquidation_price=None,
                        unrealized_pnl=None,
                        ts_ms=NOW,
                    )
                )
        return found

    def net(self, symbol: str) -> Decimal:
        fills = sum(
            (t.amount if t.side is Side.BUY else -t.amount for t in self.all_trades(symbol)),
            Decimal(0),
        )
        return fills + self.extra_position.get(symbol, Decimal(0))

    def all_trades(self, symbol: str) -> list[TradeReport]:
        return [t for t in self.executed if t.symbol == symbol]

    executed: list[TradeReport] = field(default_factory=list)  # including any the API drops

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport | None:
        return self.orders.get(client_order_id or "")

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport:
        self.cancels += 1
        found = self.orders[client_order_id or ""]
        if not found.status.is_terminal:
            found = dataclasses.replace(found, status=S.CANCELED)
            self.orders[found.client_order_id or ""] = found
        return found


@dataclass(frozen=True)
class Planned:
    intent: OrderIntent
    fate: str
    fills: tuple[Decimal, ...]  # executed on the exchange, in order
    known: int  # how many of them the journal recorded before the crash
    journal_status: OrderStatus  # when no fill is known


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Planned], str, int, int]:
    planned = []
    for leg in range(draw(st.integers(1, 5))):
        amount = draw(st.integers(1, 4))
        fate = draw(st.sampled_from(FATES))
        if fate in ("filled", "lost"):
            executed = amount if fate == "filled" else 0
        else:
            executed = draw(st.integers(0, amount - 1))
        known = draw(st.integers(0, executed))
        choices = [S.PENDING_SUBMIT, S.UNKNOWN] + ([] if fate == "lost" else [S.OPEN])
        intent = OrderIntent(
            user_id=USER,
            strategy="prop",
            symbol=draw(st.sampled_from(SYMBOLS)),
            side=draw(st.sampled_from(list(Side))),
            kind=IntentKind.OPEN,
            order_type=OrderType.LIMIT,
            amount=Decimal(amount),
            price=Decimal(100),
            signal_ts_ms=T0,
            leg=leg,
        )
        planned.append(
            Planned(intent, fate, (Decimal(1),) * executed, known, draw(st.sampled_from(choices)))
        )
    injection = draw(st.sampled_from(INJECTIONS))
    target = draw(st.integers(0, len(planned) - 1))
    stale_after = draw(st.sampled_from([0, 10**12]))
    return planned, injection, target, stale_after


async def _build(
    planned: list[Planned], injection: str, target: int
) -> tuple[MemoryJournal, MemoryOrderRepository, BookExchange]:
    store = MemoryStore()
    journal, orders = MemoryJournal(store), MemoryOrderRepository(store)
    exchange = BookExchange()
    positions: dict[str, Position | None] = {}
    ts = T0
    for index, plan in enumerate(planned):
        intent, cid = plan.intent, plan.intent.client_order_id
        order = await journal.record_intent(intent, T0)
        if plan.fate == "lost":
            continue
        eid = f"E{index}"
        for number, amount in enumerate(plan.fills):
            ts += 1000
            report = TradeReport(
                symbol=intent.symbol,
                fill_id=f"F{index}-{number}",
                exchange_order_id=eid,
                client_order_id=cid,
                side=intent.side,
                price=Decimal(100 + number),
                amount=amount,
                fee=Decimal(0),
                fee_currency="USDT",
                ts_ms=ts,
                is_maker=False,
            )
            exchange.trades.append(report)
            if number < plan.known:
                fill = fill_from_trade(report, order)
                order = order_after_fill(order, fill)
                held = positions.get(intent.symbol)
                position, closed = position_after_fill(held, fill, order, MARKETS[intent.symbol])
                positions[intent.symbol] = (
                    None if position is None or not position.amount else position
                )
                await journal.record_fill(fill, order, position, closed)
        if plan.known == 0 and plan.journal_status is not S.PENDING_SUBMIT:
            extra = {"exchange_order_id": eid} if plan.journal_status is S.OPEN else {}
            order = order.transition(plan.journal_status, T0, **extra)
            await journal.record_order_update(order)
        filled = sum(plan.fills, Decimal(0))
        status = {"filled": S.FILLED, "canceled": S.CANCELED}.get(plan.fate, S.OPEN)
        if status is S.OPEN and filled > 0:
            status = S.PARTIALLY_FILLED
        exchange.orders[cid] = OrderReport(
            symbol=intent.symbol,
            exchange_order_id=eid,
            client_order_id=cid,
            status=status,
            side=intent.side,
            amount=intent.amount,
            filled=filled,
            average_price=None,
            price=intent.price,
            fee=None,
            fee_currency=None,
            ts_ms=T0,
        )
    exchange.executed = list(exchange.trades)
    await _inject(injection, planned[target], journal, orders, exchange)
    return journal, orders, exchange


async def _inject(
    injection: str,
    plan: Planned,
    journal: MemoryJournal,
    orders: MemoryOrderRepository,
    exchange: BookExchange,
) -> None:
    cid, symbol = plan.intent.client_order_id, plan.intent.symbol
    if injection == "foreign_position":
        exchange.extra_position[symbol] = Decimal(1)  # someone traded the account by hand
    elif injection == "journal_closed_but_open":
        stored = await orders.get(cid)
        assert stored is not None
        if not stored.is_terminal:
            closed = stored.transition(S.CANCELED, max(T0, stored.updated_ts_ms))
            await journal.record_order_update(closed)
    elif injection == "missing_trade" and plan.fills:
        exchange.trades = [t for t in exchange.trades if t.client_order_id != cid][:]
    elif injection == "amount" and cid in exchange.orders and plan.known < plan.intent.amount:
        # Only orders the journal still has open: closed ones are history, not re-checked.
        found = exchange.orders[cid]
        exchange.orders[cid] = dataclasses.replace(found, amount=found.amount + 1)
    elif injection in ("unknown_bot_order", "foreign_order"):
        stray = "xb" + "q" * 30 if injection == "unknown_bot_order" else "by-hand-1"
        exchange.orders[stray] = OrderReport(
            symbol=symbol,
            exchange_order_id="X1",
            client_order_id=stray,
            status=S.OPEN,
            side=Side.BUY,
            amount=Decimal(1),
            filled=Decimal(0),
            average_price=None,
            price=Decimal(50),
            fee=None,
            fee_currency=None,
            ts_ms=T0,
        )


async def _agree(journal: MemoryJournal, exchange: BookExchange, open_before: set[str]) -> None:
    """Assert the journal explains the exchange: positions, order fills and liveness."""
    for symbol in SYMBOLS:
        held = await journal.position(USER, symbol)
        ours = Decimal(0) if held is None else held.amount
        if held is not None and held.direction is Direction.SHORT:
            ours = -ours
        assert ours == exchange.net(symbol), symbol
    store = journal.store
    for cid, theirs in exchange.orders.items():
        if theirs.client_order_id == "by-hand-1":
            assert theirs.status is S.OPEN  # foreign: never touched
            continue
        stored: Order | None = store.orders.get(cid)
        if stored is None:
            assert theirs.status.is_terminal  # a stray bot order must have been cancelled
            continue
        assert stored.filled == theirs.filled, cid
        if cid in open_before:  # reconciled now: the whole order must match
            assert stored.amount == theirs.amount, cid
        assert stored.is_terminal == theirs.status.is_terminal, cid


async def _run(world: tuple[list[Planned], str, int, int]) -> None:
    planned, injection, target, stale_after = world
    journal, orders, exchange = await _build(planned, injection, target)
    gateway = cast(ExchangeGateway, exchange)  # the port methods reconciliation calls
    views = await gather_views(USER, gateway, journal, orders, symbols=SYMBOLS)
    plan = diff_state(*views, now_ms=NOW, stale_after_ms=stale_after)
    before = copy.deepcopy(journal.store)
    open_before = {o.client_order_id for o in await orders.open_orders(USER)}
    report = await apply_plan(plan, journal, gateway, now_ms=NOW)
    event(f"{injection}: {'ok' if report.ok else 'refused'}")
    if not report.ok:
        assert injection != "none", report.reasons
        assert report.alert is not None
        assert report.reasons
        assert journal.store == before
        assert exchange.cancels == 0
        return
    again = await gather_views(USER, gateway, journal, orders, symbols=SYMBOLS)
    second = diff_state(*again, now_ms=NOW, stale_after_ms=stale_after)
    assert second.ok, [c.describe() for c in second.conflicts]
    assert not second.has_actions
    await _agree(journal, exchange, open_before)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_applying_the_plan_makes_journal_and_exchange_agree_or_refuses(
    world: tuple[list[Planned], str, int, int],
) -> None:
    asyncio.run(_run(world))
