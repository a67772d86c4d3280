"""services.fees over a real journal: equity from closed trades, flows, monthly settlement."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from xraybot.model import (
    Direction,
    Fill,
    IntentKind,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    Side,
    Trade,
)
from xraybot.model.errors import InvalidInputError
from xraybot.model.users import TradingMode, UserProfile
from xraybot.services.fees import FeeService
from xraybot.storage import migrate
from xraybot.storage.db import engine_from_url
from xraybot.storage.fees import SqlFeeStore
from xraybot.storage.journal import SqlJournal
from xraybot.storage.journal_queries import SqlJournalQueries
from xraybot.storage.users import SqlUserRepository
from xraybot.trading.fees import month_bounds
from xraybot.users.settings import UserSettings, with_changes

D = Decimal
OCT, OCT_END = month_bounds(2026, 10)
NOV, NOV_END = month_bounds(2026, 11)
DEC, _ = month_bounds(2026, 12)
HOUR = 3_600_000


@dataclass
class Clock:
    now: int

    def __call__(self) -> int:
        return self.now


@dataclass
class World:
    engine: AsyncEngine
    service: FeeService
    store: SqlFeeStore
    journal: SqlJournal
    users: SqlUserRepository
    clock: Clock


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'journal.sqlite3'}"
    else:
        base: URL = request.getfixturevalue("postgres_url")
        url = base.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    engine = engine_from_url(database_url)
    clock = Clock(OCT + 10 * HOUR)
    store = SqlFeeStore(engine)
    users = SqlUserRepository(engine)
    service = FeeService(store, SqlJournalQueries(engine), users, now_ms=clock)
    try:
        yield World(engine, service, store, SqlJournal(engine), users, clock)
    finally:
        await engine.dispose()


async def add_user(
    users: SqlUserRepository, *settings: str, mode: TradingMode = TradingMode.PAPER
) -> str:
    user_id = f"f{uuid.uuid4().hex[:16]}"
    chosen = with_changes(UserSettings(), list(settings), where="test")
    profile = UserProfile(user_id=user_id, name=user_id, created_ts_ms=OCT, mode=mode)
    await users.create(profile, chosen.to_document())
    return user_id


def _intent(user_id: str, kind: IntentKind, side: Side, ts_ms: int, price: Decimal) -> OrderIntent:
    return OrderIntent(
        user_id=user_id,
        strategy="ema_cross",
        symbol="BTC/USDT",
        side=side,
        kind=kind,
        order_type=OrderType.LIMIT,
        amount=D(2),
        price=price,
        signal_ts_ms=ts_ms,
        reason="test",
    )


async def journal_round_trip(
    journal: SqlJournal, user_id: str, entry_ts: int, exit_ts: int, entry: Decimal, exit_: Decimal
) -> Trade:
    """Enter, fill, exit and close 2 BTC through the journal, as the order manager does."""
    trade_id = f"t{uuid.uuid4().hex[:12]}"
    fee = D("0.2")

    async def filled(
        intent: OrderIntent, ts: int, price: Decimal, fill_id: str
    ) -> tuple[Any, Fill]:
        pending = await journal.record_intent(intent, ts)
        opened = await journal.record_order_update(
            pending.transition(OrderStatus.OPEN, ts + 1, exchange_order_id=f"x{fill_id}")
        )
        done = opened.transition(OrderStatus.FILLED, ts + 2, filled=D(2), average_price=price)
        fill = Fill(
            fill_id=fill_id,
            client_order_id=done.client_order_id,
            user_id=user_id,
            symbol="BTC/USDT",
            side=done.side,
            price=price,
            amount=D(2),
            fee=fee,
            fee_currency="USDT",
            ts_ms=ts + 2,
            is_maker=False,
        )
        return done, fill

    done, fill = await filled(
        _intent(user_id, IntentKind.OPEN, Side.BUY, entry_ts, entry),
        entry_ts,
        entry,
        "in" + trade_id,
    )
    position = Position(
        user_id=user_id,
        strategy="ema_cross",
        symbol="BTC/USDT",
        direction=Direction.LONG,
        amount=D(2),
        entry_price=entry,
        opened_ts_ms=entry_ts + 2,
        updated_ts_ms=entry_ts + 2,
        fees_paid=fee,
    )
    assert await journal.record_fill(fill, done, position, None)
    done, fill = await filled(
        _intent(user_id, IntentKind.CLOSE, Side.SELL, exit_ts - 2, exit_),
        exit_ts - 2,
        exit_,
        "out" + trade_id,
    )
    trade = Trade(
        trade_id=trade_id,
        user_id=user_id,
        strategy="ema_cross",
        symbol="BTC/USDT",
        direction=Direction.LONG,
        amount=D(2),
        entry_price=entry,
        exit_price=exit_,
        entry_ts_ms=entry_ts + 2,
        exit_ts_ms=exit_ts,
        fees=fee * 2,
        exit_reason="take_profit",
    )
    assert await journal.record_fill(fill, done, None, trade)
    return trade


async def test_open_takes_the_paper_balance_and_rate_from_the_settings(world: World) -> None:
    user = await add_user(world.users, "paper.balance=5000", "fees.performance_rate=0.25")
    account = await world.service.open(user)
    assert (account.opening_equity, account.rate) == (D(5000), D("0.25"))
    assert account.high_water_mark == D(5000)
    assert account.opened_ts_ms == world.clock.now
    view = await world.service.show(user)
    assert view.next_month == "2026-10"
    assert view.equity_now == D(5000)

    other = await add_user(world.users, "fees.performance_rate=0.25")
    explicit = await world.service.open(other, equity=D("777.7"), rate=D("0.1"), at_ms=OCT + 5)
    assert (explicit.opening_equity, explicit.rate, explicit.opened_ts_ms) == (
        D("777.7"),
        D("0.1"),
        OCT + 5,
    )


async def test_a_live_user_must_give_the_opening_equity(world: World) -> None:
    user = await add_user(world.users, "mode=live")
    with pytest.raises(InvalidInputError, match="--equity"):
        await world.service.open(user)
    await world.service.open(user, equity=D(25_000))
    with pytest.raises(InvalidInputError, match="does not exist"):
        await world.service.open("nobody-here")
    with pytest.raises(InvalidInputError, match="rate"):
        await world.service.open(await add_user(world.users), equity=D(1), rate=D(1))


async def test_a_statement_is_built_from_the_journals_closed_trades(world: World) -> None:
    user = await add_user(world.users, "paper.balance=5000", "fees.performance_rate=0.2")
    await world.service.open(user, at_ms=OCT + HOUR)
    # Closed in October: +19.5 gross, 0.4 fees. Closed in November: belongs to November.
    await journal_round_trip(
        world.journal, user, OCT + 2 * HOUR, OCT + 5 * HOUR, D("100.5"), D("110.25")
    )
    await journal_round_trip(world.journal, user, OCT_END - HOUR, NOV + HOUR, D(100), D(90))
    world.clock.now = NOV + 2 * HOUR

    result = await world.service.statement(user, 2026, 10)

    assert result.status == "settled"
    s = result.statement
    assert s["trade_count"] == 1
    assert (s["gross_pnl"], s["exchange_fees"], s["realized_pnl"]) == ("19.50", "0.4", "19.10")
    assert s["equity_end"] == "5019.10"
    assert s["performance_fee"] == "3.820"  # 0.2 × 19.10, exact
    assert s["hwm_after"] == "5019.10"
    assert s["trades"][0]["exit_ts_ms"] == OCT + 5 * HOUR
    account = (await world.service.show(user)).account
    assert account.settled_month == "2026-10"
    assert account.fees_charged == D("3.82")
    assert account.high_water_mark == D("5019.10")

    # November: the open position closed at a loss, so no fee; the mark stays.
    world.clock.now = DEC + 1
    november = await world.service.statement(user, 2026, 11)
    assert november.status == "settled"
    assert november.statement["realized_pnl"] == "-20.4"
    assert D(november.statement["performance_fee"]) == 0
    assert november.statement["hwm_after"] == "5019.10"


async def test_months_are_settled_in_order_with_a_clear_error(world: World) -> None:
    user = await add_user(world.users, "fees.performance_rate=0.2")
    await world.service.open(user, at_ms=OCT + 1)
    world.clock.now = DEC + 1
    with pytest.raises(InvalidInputError, match="must settle 2026-10 before 2026-11"):
        await world.service.statement(user, 2026, 11)
    with pytest.raises(InvalidInputError, match="opened in 2026-10"):
        await world.service.statement(user, 2026, 9)
    with pytest.raises(InvalidInputError, match="has not started"):
        await world.service.statement(user, 2027, 1)
    assert (await world.service.statement(user, 2026, 10)).status == "settled"
    assert (await world.service.statement(user, 2026, 11)).status == "settled"
    with pytest.raises(InvalidInputError, match="fees open"):
        await world.service.statement(await add_user(world.users), 2026, 10)


async def test_a_running_month_is_only_previewed(world: World) -> None:
    user = await add_user(world.users, "paper.balance=1000", "fees.performance_rate=0.5")
    await world.service.open(user, at_ms=OCT + 1)
    await journal_round_trip(world.journal, user, OCT + HOUR, OCT + 3 * HOUR, D(100), D(110))
    world.clock.now = NOV + HOUR  # October ended unsettled; November is running
    await journal_round_trip(world.journal, user, NOV + 2, NOV + 30, D(100), D(105))
    world.clock.now = NOV + 2 * HOUR
    before = await world.service.show(user)

    preview = await world.service.statement(user, 2026, 11)

    assert preview.status == "preview"
    assert preview.issued_ts_ms is None
    # Through October (not settled, computed on the way): 1000 + 19.6 → fee 9.8, mark 1019.6.
    assert preview.statement["hwm_before"] == "1019.6"
    assert preview.statement["realized_pnl"] == "9.6"
    assert preview.statement["performance_fee"] == "4.80"
    after = await world.service.show(user)
    assert after == before
    assert await world.store.statements(user) == []

    settled = await world.service.statement(user, 2026, 10)
    assert settled.status == "settled"
    assert settled.statement["performance_fee"] == "9.80"


async def test_flows_move_the_mark_and_are_never_charged(world: World) -> None:
    user = await add_user(world.users, "paper.balance=10000", "fees.performance_rate=0.2")
    await world.service.open(user, at_ms=OCT + 1)
    await world.service.record_flow(user, D(5000), at_ms=OCT + HOUR, note="top-up")
    world.clock.now = NOV + 1
    october = await world.service.statement(user, 2026, 10)
    assert october.statement["deposits"] == "5000"
    assert october.statement["equity_end"] == "15000"
    assert october.statement["hwm_after"] == "15000"
    assert october.performance_fee == 0

    with pytest.raises(InvalidInputError, match="2026-10"):
        await world.service.record_flow(user, D(1), at_ms=OCT_END - 1)
    await world.service.record_flow(user, D(-2000), at_ms=NOV + HOUR, note="payout")
    await journal_round_trip(world.journal, user, NOV + 2 * HOUR, NOV + 3 * HOUR, D(100), D(150))
    world.clock.now = NOV + 4 * HOUR
    view = await world.service.show(user)
    assert view.mark_now == D(13_000)
    assert view.equity_now == D("13099.6")
    world.clock.now = DEC + 1
    november = await world.service.statement(user, 2026, 11)
    # Only the trade's 99.6 is a gain: the withdrawal lowered the mark by 2000 as well.
    assert november.statement["withdrawals"] == "2000"
    assert november.statement["chargeable_gain"] == "99.6"
    assert november.performance_fee == D("19.92")


async def test_issuing_a_month_twice_returns_the_stored_statement(world: World) -> None:
    user = await add_user(world.users, "fees.performance_rate=0.2")
    await world.service.open(user, at_ms=OCT + 1)
    await journal_round_trip(world.journal, user, OCT + HOUR, OCT + 2 * HOUR, D(100), D(101))
    world.clock.now = NOV + 5
    first = await world.service.statement(user, 2026, 10)
    account = (await world.service.show(user)).account
    # A trade journaled late into October does not change what was issued.
    await journal_round_trip(world.journal, user, OCT + 3 * HOUR, OCT + 4 * HOUR, D(100), D(200))
    world.clock.now = NOV + 50

    again = await world.service.statement(user, 2026, 10)

    assert again.status == "stored"
    assert again.statement == first.statement
    assert again.issued_ts_ms == NOV + 5
    assert (await world.service.show(user)).account == account


class InjectedFaultError(Exception):
    """Raised by a database hook after the statement row was sent, before the account moved."""


async def test_a_fault_mid_settlement_leaves_neither_statement_nor_account(world: World) -> None:
    user = await add_user(world.users, "fees.performance_rate=0.2")
    await world.service.open(user, at_ms=OCT + 1)
    await journal_round_trip(world.journal, user, OCT + HOUR, OCT + 2 * HOUR, D(100), D(110))
    world.clock.now = NOV + 5
    before = await world.service.show(user)
    sent: list[str] = []

    def crash_before_account_update(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split()).upper()
        if text.startswith("INSERT INTO FEE_STATEMENTS"):
            sent.append(text)
        elif text.startswith("UPDATE FEE_ACCOUNTS"):
            raise InjectedFaultError("crash between the statement and the account")

    event.listen(world.engine.sync_engine, "before_cursor_execute", crash_before_account_update)
    try:
        with pytest.raises(InjectedFaultError):
            await world.service.statement(user, 2026, 10)
    finally:
        event.remove(world.engine.sync_engine, "before_cursor_execute", crash_before_account_update)

    assert sent
    assert await world.service.show(user) == before
    assert await world.store.statement(user, 2026, 10) is None
    result = await world.service.statement(user, 2026, 10)
    assert result.status == "settled"
    assert result.performance_fee == D("3.92")
