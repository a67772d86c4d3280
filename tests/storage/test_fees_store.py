"""The fee store on SQLite and PostgreSQL: round trips, order, idempotence, one transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from xraybot.model.errors import InvalidInputError, TemporaryError
from xraybot.storage import migrate
from xraybot.storage.db import engine_from_url
from xraybot.storage.fees import SqlFeeStore, StoredCashFlow, StoredFeeAccount, StoredStatement

D = Decimal
OCT_START = 1_790_812_800_000  # 2026-10-01T00:00Z
NOV_START = 1_793_491_200_000  # 2026-11-01T00:00Z


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database of each backend (blocking migrations run outside the loop)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'journal.sqlite3'}"
    else:
        base: URL = request.getfixturevalue("postgres_url")
        url = base.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = engine_from_url(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def new_user() -> str:
    return f"f{uuid.uuid4().hex[:16]}"


def opened(user_id: str, **changes: Any) -> StoredFeeAccount:
    values: dict[str, Any] = {
        "user_id": user_id,
        "rate": D("0.20"),
        "opening_equity": D("10000.00"),
        "high_water_mark": D("10000.00"),
        "fees_charged": D(0),
        "net_deposits": D(0),
        "opened_ts_ms": OCT_START + 5,
        "settled_ts_ms": OCT_START + 5,
    }
    values.update(changes)
    return StoredFeeAccount(**values)


OCTOBER_FEE = D("100.050")


def october(user_id: str, fee: Decimal = OCTOBER_FEE) -> StoredStatement:
    payload = {
        "user_id": user_id,
        "year": 2026,
        "month": 10,
        "performance_fee": str(fee),
        "equity_end": "10500.25",
        "tiny": "0.000000000000000001",
        "trades": [{"trade_id": "t1", "fees": "0.40"}],
    }
    return StoredStatement(
        user_id=user_id,
        year=2026,
        month=10,
        performance_fee=fee,
        payload=payload,
        issued_ts_ms=NOV_START + 1,
    )


def settled(account: StoredFeeAccount) -> StoredFeeAccount:
    return StoredFeeAccount(
        user_id=account.user_id,
        rate=account.rate,
        opening_equity=account.opening_equity,
        high_water_mark=D("10500.25"),
        fees_charged=D("100.050"),
        net_deposits=D("-250.5"),
        opened_ts_ms=account.opened_ts_ms,
        settled_ts_ms=NOV_START - 1,
        settled_month="2026-10",
    )


async def test_accounts_flows_and_statements_round_trip_exactly(engine: AsyncEngine) -> None:
    store = SqlFeeStore(engine)
    user = new_user()
    account = opened(user)
    await store.open(account, now_ms=OCT_START + 6)
    assert await store.account(user) == account
    assert await store.account(new_user()) is None

    flows = [
        StoredCashFlow(user_id=user, ts_ms=OCT_START + 10, amount=D("-250.50"), note="rent"),
        StoredCashFlow(user_id=user, ts_ms=NOV_START + 3, amount=D("1E+3")),
    ]
    for flow in reversed(flows):
        await store.record_flow(flow, now_ms=NOV_START + 4)
    got = await store.flows(user)
    assert got == flows
    assert [str(f.amount) for f in got] == ["-250.50", "1000"]
    assert await store.flows(user, until_ms=NOV_START) == flows[:1]
    assert await store.flows(user, after_ms=OCT_START + 10) == flows[1:]

    statement = october(user)
    written, fresh = await store.settle(
        statement, before=account, after=settled(account), flows_until_ms=NOV_START, flow_count=1
    )
    assert fresh
    assert written == statement
    read = await store.statement(user, 2026, 10)
    assert read is not None
    assert read.payload == statement.payload  # exact decimal strings survive JSON(B)
    assert str(read.performance_fee) == "100.050"
    assert await store.statements(user) == [read]
    assert await store.statement(user, 2026, 11) is None
    assert await store.account(user) == settled(account)


async def test_an_account_is_opened_once(engine: AsyncEngine) -> None:
    store = SqlFeeStore(engine)
    user = new_user()
    await store.open(opened(user), now_ms=OCT_START)
    with pytest.raises(InvalidInputError, match="already has a fee account"):
        await store.open(opened(user, rate=D("0.5")), now_ms=OCT_START)
    assert await store.account(user) == opened(user)


async def test_a_flow_needs_an_account_and_an_unsettled_time(engine: AsyncEngine) -> None:
    store = SqlFeeStore(engine)
    user = new_user()
    with pytest.raises(InvalidInputError, match="fees open --user"):
        await store.record_flow(
            StoredCashFlow(user_id=user, ts_ms=OCT_START, amount=D(1)), now_ms=OCT_START
        )
    account = opened(user)
    await store.open(account, now_ms=OCT_START)
    at_opening = StoredCashFlow(user_id=user, ts_ms=account.opened_ts_ms, amount=D(5))
    with pytest.raises(InvalidInputError, match="too late"):
        await store.record_flow(at_opening, now_ms=OCT_START)
    with pytest.raises(InvalidInputError, match="found 0"):
        await store.record_flow(
            StoredCashFlow(user_id=user, ts_ms=OCT_START + 9, amount=D(0)), now_ms=OCT_START
        )
    await store.settle(
        october(user),
        before=account,
        after=settled(account),
        flows_until_ms=NOV_START,
        flow_count=0,
    )
    late = StoredCashFlow(user_id=user, ts_ms=NOV_START - 1, amount=D(5))
    with pytest.raises(InvalidInputError, match="2026-10"):
        await store.record_flow(late, now_ms=NOV_START)
    assert await store.flows(user) == []


async def test_settling_a_month_again_returns_the_stored_statement(engine: AsyncEngine) -> None:
    store = SqlFeeStore(engine)
    user = new_user()
    account = opened(user)
    await store.open(account, now_ms=OCT_START)
    first, fresh = await store.settle(
        october(user),
        before=account,
        after=settled(account),
        flows_until_ms=NOV_START,
        flow_count=0,
    )
    assert fresh

    # Even computed differently, the month issued stays as issued, and the account too.
    again, fresh = await store.settle(
        october(user, fee=D(999)),
        before=settled(account),
        after=opened(user, fees_charged=D(999)),
        flows_until_ms=NOV_START,
        flow_count=0,
    )
    assert not fresh
    assert again.payload == first.payload
    assert again.performance_fee == D("100.050")
    assert await store.account(user) == settled(account)


async def test_a_stale_computation_is_refused_and_writes_nothing(engine: AsyncEngine) -> None:
    store = SqlFeeStore(engine)
    user = new_user()
    account = opened(user)
    await store.open(account, now_ms=OCT_START)
    # A flow came in after the statement was computed from zero flows.
    await store.record_flow(
        StoredCashFlow(user_id=user, ts_ms=OCT_START + 20, amount=D(7)), now_ms=OCT_START + 21
    )
    with pytest.raises(TemporaryError, match="Run the statement again"):
        await store.settle(
            october(user),
            before=account,
            after=settled(account),
            flows_until_ms=NOV_START,
            flow_count=0,
        )
    with pytest.raises(TemporaryError, match="changed"):
        await store.settle(
            october(user),
            before=opened(user, high_water_mark=D(1)),
            after=settled(account),
            flows_until_ms=NOV_START,
            flow_count=1,
        )
    assert await store.statement(user, 2026, 10) is None
    assert await store.account(user) == account


class InjectedFaultError(Exception):
    """Raised by the database hook between writing the statement and moving the account."""


async def test_a_fault_between_statement_and_account_leaves_neither(engine: AsyncEngine) -> None:
    store = SqlFeeStore(engine)
    user = new_user()
    account = opened(user)
    await store.open(account, now_ms=OCT_START)
    written: list[str] = []

    def fail_on_account_update(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split()).upper()
        if text.startswith("INSERT INTO FEE_STATEMENTS"):
            written.append(text)
        if text.startswith("UPDATE FEE_ACCOUNTS"):
            raise InjectedFaultError("the process died here")

    event.listen(engine.sync_engine, "before_cursor_execute", fail_on_account_update)
    try:
        with pytest.raises(InjectedFaultError):
            await store.settle(
                october(user),
                before=account,
                after=settled(account),
                flows_until_ms=NOV_START,
                flow_count=0,
            )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", fail_on_account_update)

    assert written  # the statement row had been sent when the fault hit
    assert await store.statement(user, 2026, 10) is None
    assert await store.account(user) == account
    async with engine.connect() as connection:
        count = (
            await connection.execute(
                sa.text("SELECT count(*) FROM fee_statements WHERE user_id = :u"), {"u": user}
            )
        ).scalar_one()
    assert count == 0
    # Once the fault is gone the same settlement goes through.
    _, fresh = await store.settle(
        october(user),
        before=account,
        after=settled(account),
        flows_until_ms=NOV_START,
        flow_count=0,
    )
    assert fresh
