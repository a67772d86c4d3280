"""Performance-fee records: one account per user, their cash flows, the issued statements.

Storage sits below ``trading`` in the layers, so it keeps its own plain records and knows
nothing of how a fee is computed (``trading/fees.py``; the service converts). Rules the
database keeps, whatever the caller does:

- a cash flow is accepted only after the account's last settlement (a settled month never
  changes afterwards);
- a month's statement is written once: settling it again returns the stored one;
- settling writes the statement and moves the account in one transaction, and only if the
  account and the month's flows are still what the statement was computed from (another
  writer in between makes it fail with nothing written).

Writers of one account are serialized on its row: ``FOR UPDATE`` on PostgreSQL, the
``BEGIN IMMEDIATE`` write lock on SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from xraybot.model.errors import InvalidInputError, TemporaryError
from xraybot.storage import tables
from xraybot.storage.db import reading, transaction, upsert_statement
from xraybot.storage.rows import from_row, to_row

_accounts = tables.fee_accounts
_flows = tables.fee_cash_flows
_statements = tables.fee_statements


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFeeAccount:
    """A fee account as stored: the state after its last settled month (``settled_month``).

    ``settled_ts_ms`` is the end of the last settled period (the opening time before the
    first); flows recorded since are not applied to the mark until their month is settled.
    """

    user_id: str
    rate: Decimal
    opening_equity: Decimal
    high_water_mark: Decimal
    fees_charged: Decimal
    net_deposits: Decimal
    opened_ts_ms: int
    settled_ts_ms: int
    settled_month: str | None = None  # "YYYY-MM"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCashFlow:
    """Money the user moved in (> 0) or out (< 0) of the account at ``ts_ms``."""

    user_id: str
    ts_ms: int
    amount: Decimal
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredStatement:
    """One settled month, stored whole: ``payload`` is the statement as JSON-ready data."""

    user_id: str
    year: int
    month: int
    performance_fee: Decimal
    payload: dict[str, Any] = field(hash=False)
    issued_ts_ms: int

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def _no_account(user_id: str) -> InvalidInputError:
    return InvalidInputError(
        f"user {user_id!r} has no fee account; found none. Open one first: "
        f"`xraybot fees open --user {user_id}`."
    )


async def _locked_account(connection: AsyncConnection, user_id: str) -> StoredFeeAccount:
    query = sa.select(_accounts).where(_accounts.c.user_id == user_id).with_for_update()
    row = (await connection.execute(query)).mappings().first()
    if row is None:
        raise _no_account(user_id)
    return from_row(StoredFeeAccount, row)


class SqlFeeStore:
    """Fee accounts, cash flows and statements in the journal's database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def open(self, account: StoredFeeAccount, now_ms: int) -> None:
        """Store a new account; a user already holding one is refused (nothing changes)."""
        async with transaction(self._engine, f"opening the fee account of {account.user_id}") as c:
            insert = upsert_statement(c, _accounts)
            row = to_row(account, updated_ts_ms=now_ms)
            result = await c.execute(insert.values(**row).on_conflict_do_nothing())
            if result.rowcount == 1:
                return
        existing = await self.account(account.user_id)
        opened = existing.opened_ts_ms if existing is not None else "?"
        raise InvalidInputError(
            f"user {account.user_id!r} already has a fee account (opened at {opened}); found "
            f"one. An account is opened once: see it with `xraybot fees show --user "
            f"{account.user_id}`."
        )

    async def account(self, user_id: str) -> StoredFeeAccount | None:
        async with reading(self._engine, f"reading the fee account of {user_id}") as connection:
            query = sa.select(_accounts).where(_accounts.c.user_id == user_id)
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else from_row(StoredFeeAccount, row)

    async def record_flow(self, flow: StoredCashFlow, now_ms: int) -> None:
        """Store a deposit or withdrawal; refused when it falls in a settled period."""
        if flow.amount == 0:
            raise InvalidInputError(
                f"a cash flow of user {flow.user_id!r} must be > 0 (deposit) or < 0 "
                "(withdrawal); found 0."
            )
        action = f"recording a cash flow of {flow.user_id}"
        async with transaction(self._engine, action) as connection:
            account = await _locked_account(connection, flow.user_id)
            if flow.ts_ms <= account.settled_ts_ms:
                settled = account.settled_month or "the opening"
                raise InvalidInputError(
                    f"user {flow.user_id!r}: a cash flow at {flow.ts_ms} falls at or before "
                    f"{account.settled_ts_ms} (settled up to {settled}); found it too late. "
                    "Settled months never change: record it at a later time."
                )
            await connection.execute(
                sa.insert(_flows).values(**to_row(flow, recorded_ts_ms=now_ms))
            )

    async def flows(
        self, user_id: str, *, after_ms: int | None = None, until_ms: int | None = None
    ) -> list[StoredCashFlow]:
        """The user's flows with ``after_ms < ts_ms < until_ms`` (either bound optional)."""
        query = (
            sa.select(_flows)
            .where(_flows.c.user_id == user_id)
            .order_by(_flows.c.ts_ms, _flows.c.id)
        )
        if after_ms is not None:
            query = query.where(_flows.c.ts_ms > after_ms)
        if until_ms is not None:
            query = query.where(_flows.c.ts_ms < until_ms)
        async with reading(self._engine, f"reading the cash flows of {user_id}") as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [from_row(StoredCashFlow, row) for row in rows]

    async def statement(self, user_id: str, year: int, month: int) -> StoredStatement | None:
        query = sa.select(_statements).where(
            _statements.c.user_id == user_id,
            _statements.c.year == year,
            _statements.c.month == month,
        )
        action = f"reading the {year:04d}-{month:02d} statement of {user_id}"
        async with reading(self._engine, action) as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else from_row(StoredStatement, row)

    async def statements(self, user_id: str) -> list[StoredStatement]:
        """Every statement issued to the user, oldest month first."""
        query = (
            sa.select(_statements)
            .where(_statements.c.user_id == user_id)
            .order_by(_statements.c.year, _statements.c.month)
        )
        async with reading(self._engine, f"reading the statements of {user_id}") as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [from_row(StoredStatement, row) for row in rows]

    async def settle(
        self,
        statement: StoredStatement,
        *,
        before: StoredFeeAccount,
        after: StoredFeeAccount,
        flows_until_ms: int,
        flow_count: int,
    ) -> tuple[StoredStatement, bool]:
        """Write ``statement`` and move the account from ``before`` to ``after``, or neither.

        Returns the stored statement and True when this call wrote it; a statement already
        issued for the month is returned as stored (False) and nothing changes. The account
        must still be ``before`` and hold ``flow_count`` unsettled flows before
        ``flows_until_ms``, the ones the statement was computed from.
        """
        user_id = statement.user_id
        action = f"settling the {statement.label} statement of {user_id}"
        async with transaction(self._engine, action) as connection:
            stored = await _locked_account(connection, user_id)
            query = sa.select(_statements).where(
                _statements.c.user_id == user_id,
                _statements.c.year == statement.year,
                _statements.c.month == statement.month,
            )
            existing = (await connection.execute(query)).mappings().first()
            if existing is not None:
                return from_row(StoredStatement, existing), False
            count_query = (
                sa.select(sa.func.count())
                .select_from(_flows)
                .where(
                    _flows.c.user_id == user_id,
                    _flows.c.ts_ms > before.settled_ts_ms,
                    _flows.c.ts_ms < flows_until_ms,
                )
            )
            count = (await connection.execute(count_query)).scalar_one()
            if stored != before or count != flow_count:
                raise TemporaryError(
                    f"the fee account of {user_id!r} changed while its {statement.label} "
                    "statement was computed (a flow or another settlement came in between); "
                    "found it changed, nothing was written. Run the statement again."
                )
            await connection.execute(sa.insert(_statements).values(**to_row(statement)))
            values = to_row(after, updated_ts_ms=statement.issued_ts_ms)
            del values["user_id"]
            await connection.execute(
                sa.update(_accounts).where(_accounts.c.user_id == user_id).values(**values)
            )
        return statement, True


__all__ = ["SqlFeeStore", "StoredCashFlow", "StoredFeeAccount", "StoredStatement"]
