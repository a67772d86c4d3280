"""Performance fees per user: open an account, record cash flows, issue monthly statements.

Accounting only; no money moves. The arithmetic (high-water mark, the fee, the statement)
is ``trading/fees.py``; this module decides where the numbers come from and keeps them
(``storage/fees.py``).

**Equity.** A user's equity at a moment ``t`` is realized, never marked to market::

    equity(t) = opening equity
              + cash flows recorded after the opening and before t
              + realized PnL, net of exchange fees, of the user's trades that closed
                (exit time) at or after the opening and before t

read from the journal's closed trades (archived ones included). An open position counts in
the month it closes, so a statement never depends on a price read after the fact and
issuing it again later gives the same numbers. The opening equity is given when the
account is opened (``--equity``, required for a live user, whose exchange balance is not
the journal's to know). A paper user's defaults to their ``paper.balance`` setting plus the
realized PnL of the trades they closed before the opening: their paper equity then.
The rate defaults to the user's ``fees.performance_rate`` setting.

**Months.** Statements are calendar months in UTC, settled in order: the first is the month
the account opened in, each next one the month after the last settled. Settling an ended
month stores the statement whole and moves the account in one transaction; asking for it
again returns the stored statement. A month still running is only previewed: computed
(through any ended months not settled yet), never stored, the account untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from xraybot.model.errors import InvalidInputError
from xraybot.model.fills import Trade
from xraybot.model.users import TradingMode
from xraybot.runtime.clock import wall_ms
from xraybot.storage.fees import SqlFeeStore, StoredCashFlow, StoredFeeAccount, StoredStatement
from xraybot.storage.journal_queries import MAX_PAGE_SIZE, PageRequest, SqlJournalQueries
from xraybot.storage.users import SqlUserRepository, unknown_user
from xraybot.trading.fees import CashFlow, FeeAccount, month_bounds, monthly_statement
from xraybot.users.settings import UserSettings, settings_from

ZERO = Decimal(0)
StatementStatus = Literal["settled", "stored", "preview"]


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def parse_month(text: str) -> tuple[int, int]:
    """Read ``YYYY-MM`` into (year, month); raise InvalidInputError naming the format."""
    year, sep, month = text.strip().partition("-")
    if not sep or not (year.isdigit() and month.isdigit()) or len(year) != 4:
        raise InvalidInputError(f"a month is written YYYY-MM, e.g. 2026-10; found {text!r}.")
    month_bounds(int(year), int(month))  # checks the range
    return int(year), int(month)


def month_of(ts_ms: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return moment.year, moment.month


def _next(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _model(account: StoredFeeAccount) -> FeeAccount:
    return FeeAccount(
        user_id=account.user_id,
        rate=account.rate,
        high_water_mark=account.high_water_mark,
        settled_ts_ms=account.settled_ts_ms,
        fees_charged=account.fees_charged,
        net_deposits=account.net_deposits,
    )


def _stored(before: StoredFeeAccount, after: FeeAccount, year: int, month: int) -> StoredFeeAccount:
    return StoredFeeAccount(
        user_id=before.user_id,
        rate=after.rate,
        opening_equity=before.opening_equity,
        high_water_mark=after.high_water_mark,
        fees_charged=after.fees_charged,
        net_deposits=after.net_deposits,
        opened_ts_ms=before.opened_ts_ms,
        settled_ts_ms=after.settled_ts_ms,
        settled_month=month_label(year, month),
    )


def _money(payload: dict[str, Any], key: str) -> Decimal:
    return Decimal(str(payload[key]))


@dataclass(frozen=True, slots=True)
class StatementResult:
    """A month's statement: ``settled`` now, ``stored`` earlier, or a ``preview``."""

    status: StatementStatus
    statement: dict[str, Any]  # MonthlyStatement.to_dict() plus opening_equity, net_deposits
    issued_ts_ms: int | None

    @property
    def label(self) -> str:
        return month_label(int(self.statement["year"]), int(self.statement["month"]))

    @property
    def performance_fee(self) -> Decimal:
        return _money(self.statement, "performance_fee")

    @property
    def equity_end(self) -> Decimal:
        return _money(self.statement, "equity_end")

    @property
    def net_deposits(self) -> Decimal:
        return _money(self.statement, "net_deposits")

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "issued_ts_ms": self.issued_ts_ms,
            "statement": self.statement,
        }


@dataclass(frozen=True, slots=True)
class FeeAccountView:
    """An account as shown: stored state, flows not settled yet, realized equity now."""

    account: StoredFeeAccount
    pending_flows: tuple[StoredCashFlow, ...]
    equity_now: Decimal
    next_month: str
    statements: tuple[StoredStatement, ...]

    @property
    def mark_now(self) -> Decimal:
        """The mark with the pending flows applied, as the next settlement will see it."""
        return self.account.high_water_mark + sum((f.amount for f in self.pending_flows), ZERO)

    def as_dict(self) -> dict[str, Any]:
        a = self.account
        return {
            "user_id": a.user_id,
            "rate": str(a.rate),
            "opening_equity": str(a.opening_equity),
            "opened_ts_ms": a.opened_ts_ms,
            "high_water_mark": str(a.high_water_mark),
            "high_water_mark_now": str(self.mark_now),
            "fees_charged": str(a.fees_charged),
            "net_deposits": str(a.net_deposits),
            "settled_month": a.settled_month,
            "settled_ts_ms": a.settled_ts_ms,
            "next_month": self.next_month,
            "equity_now": str(self.equity_now),
            "pending_flows": [
                {"ts_ms": f.ts_ms, "amount": str(f.amount), "note": f.note}
                for f in self.pending_flows
            ],
            "statements": [
                {
                    "month": s.label,
                    "performance_fee": str(s.performance_fee),
                    "equity_end": s.payload.get("equity_end"),
                    "issued_ts_ms": s.issued_ts_ms,
                }
                for s in self.statements
            ],
        }


class FeeService:
    """Open fee accounts, record flows, issue statements, over the journal's database."""

    def __init__(
        self,
        store: SqlFeeStore,
        journal: SqlJournalQueries,
        users: SqlUserRepository,
        now_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self._store = store
        self._journal = journal
        self._users = users
        self._now_ms = now_ms

    async def _settings(self, user_id: str, action: str) -> tuple[UserSettings, bool]:
        profile = await self._users.get(user_id)
        if profile is None:
            raise unknown_user(user_id, action)
        document = await self._users.get_settings(user_id)
        settings = (
            UserSettings(exchange=profile.exchange, mode=profile.mode.value)
            if document is None
            else settings_from(document, where=f"the stored settings of {user_id}")
        )
        live = profile.mode is TradingMode.LIVE or settings.mode == "live"
        return settings, live

    async def _account(self, user_id: str) -> StoredFeeAccount:
        account = await self._store.account(user_id)
        if account is None:
            raise InvalidInputError(
                f"user {user_id!r} has no fee account; found none. Open one first: "
                f"`xraybot fees open --user {user_id}`."
            )
        return account

    async def _trades(self, user_id: str, since_ms: int | None, until_ms: int) -> list[Trade]:
        out: list[Trade] = []
        offset: int | None = 0
        while offset is not None:
            page = await self._journal.trades(
                user_id=user_id,
                since_ms=since_ms,
                until_ms=until_ms,
                page=PageRequest(offset=offset, limit=MAX_PAGE_SIZE),
                include_archived=True,
            )
            out.extend(page.items)
            offset = page.next_offset
        return out

    async def _realized(self, user_id: str, since_ms: int | None, until_ms: int) -> Decimal:
        trades = await self._trades(user_id, since_ms, until_ms)
        return sum((t.net_pnl for t in trades), ZERO)

    async def equity_at(self, account: StoredFeeAccount, ts_ms: int) -> Decimal:
        """Realized equity just before ``ts_ms`` (see the module docstring)."""
        flows = await self._store.flows(
            account.user_id, after_ms=account.opened_ts_ms, until_ms=ts_ms
        )
        realized = await self._realized(account.user_id, account.opened_ts_ms, ts_ms)
        return account.opening_equity + sum((f.amount for f in flows), ZERO) + realized

    async def paper_equity(self, user_id: str, at_ms: int) -> Decimal:
        """A paper user's realized equity just before ``at_ms``: their ``paper.balance`` plus
        the net PnL of every trade they closed before then."""
        settings, _ = await self._settings(user_id, "read the paper equity")
        return settings.paper.balance + await self._realized(user_id, None, at_ms)

    async def open(
        self,
        user_id: str,
        *,
        equity: Decimal | None = None,
        rate: Decimal | None = None,
        at_ms: int | None = None,
    ) -> StoredFeeAccount:
        """Open the user's fee account at ``at_ms`` (default now); see the module docstring."""
        settings, live = await self._settings(user_id, "open a fee account")
        at = self._now_ms() if at_ms is None else at_ms
        if equity is None:
            if live:
                raise InvalidInputError(
                    f"user {user_id!r} trades live, so the opening equity must be given; "
                    f"found no --equity. Pass their account's equity now, e.g. "
                    f"`xraybot fees open --user {user_id} --equity 25000`."
                )
            equity = await self.paper_equity(user_id, at)
        chosen = settings.fees.performance_rate if rate is None else rate
        opened = FeeAccount.open(user_id, chosen, equity, at)  # validates rate, equity, time
        account = StoredFeeAccount(
            user_id=user_id,
            rate=opened.rate,
            opening_equity=equity,
            high_water_mark=opened.high_water_mark,
            fees_charged=opened.fees_charged,
            net_deposits=opened.net_deposits,
            opened_ts_ms=at,
            settled_ts_ms=opened.settled_ts_ms,
        )
        await self._store.open(account, self._now_ms())
        return account

    async def record_flow(
        self, user_id: str, amount: Decimal, *, at_ms: int | None = None, note: str = ""
    ) -> StoredCashFlow:
        """Record a deposit (> 0) or withdrawal (< 0) at ``at_ms`` (default now)."""
        at = self._now_ms() if at_ms is None else at_ms
        checked = CashFlow(ts_ms=at, amount=amount, note=note)  # validates amount and time
        flow = StoredCashFlow(user_id=user_id, ts_ms=checked.ts_ms, amount=amount, note=note)
        await self._store.record_flow(flow, self._now_ms())
        return flow

    async def _compute(
        self, account: StoredFeeAccount, year: int, month: int
    ) -> tuple[dict[str, Any], StoredFeeAccount, int]:
        """The month's statement payload, the account after it, and how many flows it used."""
        start, end = month_bounds(year, month)
        flows = await self._store.flows(
            account.user_id, after_ms=account.settled_ts_ms, until_ms=end
        )
        since = max(start, account.opened_ts_ms)
        trades = await self._trades(account.user_id, since, end)
        equity_end = await self.equity_at(account, end)
        statement, after = monthly_statement(
            _model(account),
            year=year,
            month=month,
            equity_end=equity_end,
            trades=trades,
            flows=[CashFlow(ts_ms=f.ts_ms, amount=f.amount, note=f.note) for f in flows],
        )
        payload = statement.to_dict()
        payload["opening_equity"] = str(account.opening_equity)
        payload["net_deposits"] = str(after.net_deposits)
        return payload, _stored(account, after, year, month), len(flows)

    @staticmethod
    def next_month(account: StoredFeeAccount) -> tuple[int, int]:
        """The month the next settlement must be for."""
        if account.settled_month is None:
            return month_of(account.opened_ts_ms)
        year, month = parse_month(account.settled_month)
        return _next(year, month)

    async def statement(self, user_id: str, year: int, month: int) -> StatementResult:
        """Settle an ended month (or return it as issued), or preview the running one."""
        label = month_label(year, month)
        _, end = month_bounds(year, month)
        stored = await self._store.statement(user_id, year, month)
        if stored is not None:
            return StatementResult("stored", stored.payload, stored.issued_ts_ms)
        account = await self._account(user_id)
        first = month_of(account.opened_ts_ms)
        if (year, month) < first:
            raise InvalidInputError(
                f"user {user_id!r}'s fee account opened in {month_label(*first)}; found a "
                f"request for {label}, before it. Statements start with the opening month."
            )
        now = self._now_ms()
        if month_bounds(year, month)[0] > now:
            raise InvalidInputError(
                f"{label} has not started yet (now is {month_label(*month_of(now))}); "
                "found a month in the future. Ask for an ended or the running month."
            )
        due = self.next_month(account)
        if end > now:
            return await self._preview(account, due, (year, month))
        if (year, month) != due:
            raise InvalidInputError(
                f"months are settled in order: user {user_id!r} must settle "
                f"{month_label(*due)} before {label}; found {label} asked first. "
                f"Run `xraybot fees statement --user {user_id} --month {month_label(*due)}`."
            )
        payload, after, flow_count = await self._compute(account, year, month)
        issued = StoredStatement(
            user_id=user_id,
            year=year,
            month=month,
            performance_fee=_money(payload, "performance_fee"),
            payload=payload,
            issued_ts_ms=now,
        )
        written, fresh = await self._store.settle(
            issued, before=account, after=after, flows_until_ms=end, flow_count=flow_count
        )
        return StatementResult(
            "settled" if fresh else "stored", written.payload, written.issued_ts_ms
        )

    async def _preview(
        self, account: StoredFeeAccount, due: tuple[int, int], target: tuple[int, int]
    ) -> StatementResult:
        # Ended months not settled yet are computed on the way, in memory only.
        current, month = account, due
        payload: dict[str, Any] = {}
        while month <= target:
            payload, current, _ = await self._compute(current, *month)
            month = _next(*month)
        return StatementResult("preview", payload, None)

    async def show(self, user_id: str) -> FeeAccountView:
        account = await self._account(user_id)
        pending = await self._store.flows(user_id, after_ms=account.settled_ts_ms)
        now = self._now_ms()
        return FeeAccountView(
            account=account,
            pending_flows=tuple(pending),
            equity_now=await self.equity_at(account, now + 1),
            next_month=month_label(*self.next_month(account)),
            statements=tuple(await self._store.statements(user_id)),
        )


__all__ = [
    "FeeAccountView",
    "FeeService",
    "StatementResult",
    "month_label",
    "month_of",
    "parse_month",
]
