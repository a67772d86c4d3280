"""Performance-fee accounting with a high-water mark, and the monthly statement.

Accounting only: nothing here moves money. At each period end the fee is
``rate × (equity − HWM)`` when equity is above the high-water mark, and the mark then
moves up to that equity. Deposits raise the mark and withdrawals lower it by the same
amount, so cash moving in or out never counts as a gain or a loss: the distance between
equity and the mark changes only by trading. Collecting the fee from the account is a
withdrawal like any other.

Consequences the property tests prove: a fee is never negative; the mark only falls by
withdrawals; and over any history the fees charged add up to exactly
``rate × (best flow-adjusted equity at a period end − flow-adjusted equity at opening)``,
so no gain is charged twice. Money is exact Decimal throughout; nothing is rounded here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from xraybot.model.errors import InvalidInputError
from xraybot.model.fills import Trade

ZERO = Decimal(0)


def _decimal(owner: str, field: str, value: object) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInputError(
            f"{owner}.{field} must be a finite Decimal; found {value!r} "
            f"({type(value).__name__}). Pass Decimal(str(x)) rather than a float."
        )
    return value


def _ts(owner: str, field: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInputError(
            f"{owner}.{field} must be a non-negative int of milliseconds UTC; found {value!r}."
        )
    return value


def _plain(value: Any) -> Any:
    """Turn a value into JSON-ready data: Decimals as exact strings, enums as their values."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class CashFlow:
    """Money moved in (``amount`` > 0, a deposit) or out (< 0, a withdrawal) of the account."""

    ts_ms: int
    amount: Decimal
    note: str = ""

    def __post_init__(self) -> None:
        _ts("CashFlow", "ts_ms", self.ts_ms)
        if _decimal("CashFlow", "amount", self.amount) == 0:
            raise InvalidInputError(
                "CashFlow.amount must be > 0 for a deposit or < 0 for a withdrawal; found 0."
            )

    @property
    def is_deposit(self) -> bool:
        return self.amount > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeAccount:
    """One user's fee state: the mark, the rate, what was charged and when it was last settled.

    ``net_deposits`` counts deposits minus withdrawals since the account was opened (the
    opening equity is not a deposit); ``settled_ts_ms`` is the end of the last settled period
    (the opening time before the first), and every later flow or settlement must come after it.
    """

    user_id: str
    rate: Decimal
    high_water_mark: Decimal
    settled_ts_ms: int
    fees_charged: Decimal = ZERO
    net_deposits: Decimal = ZERO

    def __post_init__(self) -> None:
        owner = f"FeeAccount({self.user_id!r})"
        if not isinstance(self.user_id, str) or not self.user_id.strip():
            raise InvalidInputError(f"{owner}.user_id must be a non-empty string.")
        rate = _decimal(owner, "rate", self.rate)
        if not ZERO <= rate < 1:
            raise InvalidInputError(
                f"{owner}.rate must be a fraction from 0 up to (not including) 1, e.g. "
                f"Decimal('0.2') for 20 %; found {rate}."
            )
        _decimal(owner, "high_water_mark", self.high_water_mark)
        _decimal(owner, "net_deposits", self.net_deposits)
        if _decimal(owner, "fees_charged", self.fees_charged) < 0:
            raise InvalidInputError(
                f"{owner}.fees_charged must be >= 0; found {self.fees_charged}."
            )
        _ts(owner, "settled_ts_ms", self.settled_ts_ms)

    @classmethod
    def open(cls, user_id: str, rate: Decimal, equity: Decimal, ts_ms: int) -> FeeAccount:
        """Start fee accounting at ``equity``: only gains above it will ever be charged."""
        if _decimal(f"FeeAccount({user_id!r})", "equity", equity) < 0:
            raise InvalidInputError(
                f"FeeAccount({user_id!r}): opening equity must be >= 0; found {equity}."
            )
        return cls(user_id=user_id, rate=rate, high_water_mark=equity, settled_ts_ms=ts_ms)

    def apply_flow(self, flow: CashFlow) -> FeeAccount:
        """Return the account after a deposit or withdrawal: the mark moves by the same amount."""
        if flow.ts_ms <= self.settled_ts_ms:
            raise InvalidInputError(
                f"FeeAccount({self.user_id!r}): a cash flow at {flow.ts_ms} falls in a period "
                f"already settled (up to {self.settled_ts_ms}); found it too late. Record "
                "flows before settling the period they belong to."
            )
        return dataclasses.replace(
            self,
            high_water_mark=self.high_water_mark + flow.amount,
            net_deposits=self.net_deposits + flow.amount,
        )

    def settle(self, equity: Decimal, ts_ms: int) -> FeeCharge:
        """Close the period ending at ``ts_ms`` with ``equity`` (after this period's flows)."""
        owner = f"FeeAccount({self.user_id!r}).settle"
        _decimal(owner, "equity", equity)
        _ts(owner, "ts_ms", ts_ms)
        if ts_ms <= self.settled_ts_ms:
            raise InvalidInputError(
                f"{owner}: the period ending {ts_ms} is not after the last settlement "
                f"{self.settled_ts_ms}; found a period settled twice or out of order."
            )
        gain = max(equity - self.high_water_mark, ZERO)
        fee = self.rate * gain
        after = dataclasses.replace(
            self,
            # Up only when a fee is charged (a zero rate charges nothing, so never moves it).
            high_water_mark=equity if fee > 0 else self.high_water_mark,
            fees_charged=self.fees_charged + fee,
            settled_ts_ms=ts_ms,
        )
        return FeeCharge(
            user_id=self.user_id,
            ts_ms=ts_ms,
            equity=equity,
            rate=self.rate,
            hwm_before=self.high_water_mark,
            hwm_after=after.high_water_mark,
            chargeable_gain=gain if fee > 0 else ZERO,
            fee=fee,
            account=after,
        )

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = _plain(self)
        return result


@dataclass(frozen=True, slots=True, kw_only=True)
class FeeCharge:
    """The outcome of settling one period; ``account`` is the state to keep for the next."""

    user_id: str
    ts_ms: int
    equity: Decimal
    rate: Decimal
    hwm_before: Decimal
    hwm_after: Decimal
    chargeable_gain: Decimal
    fee: Decimal
    account: FeeAccount

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = _plain(self)
        return result


def month_bounds(year: int, month: int) -> tuple[int, int]:
    """Return [start, end) of a calendar month in UTC milliseconds."""
    if not 1 <= month <= 12 or not 1970 <= year <= 9998:
        raise InvalidInputError(
            f"a statement month must be a year from 1970 and a month 1-12; found {year}-{month}."
        )
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()) * 1000, int(end.timestamp()) * 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthlyStatement:
    """One user's month: trades, realized PnL, exchange fees, cash flows and the performance fee.

    ``realized_pnl`` is net of the exchange fees (``gross_pnl − exchange_fees``);
    ``hwm_before`` is the mark at the start of the month, before its cash flows.
    """

    user_id: str
    year: int
    month: int
    start_ts_ms: int
    end_ts_ms: int
    trades: tuple[Trade, ...]
    gross_pnl: Decimal
    exchange_fees: Decimal
    realized_pnl: Decimal
    deposits: Decimal
    withdrawals: Decimal
    equity_end: Decimal
    rate: Decimal
    hwm_before: Decimal
    hwm_after: Decimal
    chargeable_gain: Decimal
    performance_fee: Decimal
    fees_charged_total: Decimal

    @property
    def trade_count(self) -> int:
        return len(self.trades)

    def to_dict(self) -> dict[str, Any]:
        """Return the statement as JSON-ready data (money as exact decimal strings)."""
        result: dict[str, Any] = _plain(self)
        result["trade_count"] = self.trade_count
        return result


def monthly_statement(
    account: FeeAccount,
    *,
    year: int,
    month: int,
    equity_end: Decimal,
    trades: Iterable[Trade] = (),
    flows: Iterable[CashFlow] = (),
) -> tuple[MonthlyStatement, FeeAccount]:
    """Settle a calendar month and describe it; return the statement and the account after.

    ``trades`` may hold more than the month and other users' trades: those that exited in
    the month and belong to the account's user are kept. Every flow must fall in the month
    (a flow dropped would be charged as a gain or hidden as a loss). ``equity_end`` is the
    account's equity at the month's end, after its flows.
    """
    start, end = month_bounds(year, month)
    owner = f"monthly_statement({account.user_id!r}, {year}-{month:02d})"
    moved = sorted(flows, key=lambda f: f.ts_ms)
    for flow in moved:
        if not start <= flow.ts_ms < end:
            raise InvalidInputError(
                f"{owner}: a cash flow at {flow.ts_ms} is outside the month [{start}, {end}); "
                "pass only this month's deposits and withdrawals."
            )
    kept = tuple(
        sorted(
            (t for t in trades if t.user_id == account.user_id and start <= t.exit_ts_ms < end),
            key=lambda t: (t.exit_ts_ms, t.trade_id),
        )
    )
    current = account
    for flow in moved:
        current = current.apply_flow(flow)
    # The period closes at the month's last millisecond, so the next month's flows are open.
    charge = current.settle(equity_end, end - 1)
    gross = sum((t.gross_pnl for t in kept), ZERO)
    exchange_fees = sum((t.fees for t in kept), ZERO)
    statement = MonthlyStatement(
        user_id=account.user_id,
        year=year,
        month=month,
        start_ts_ms=start,
        end_ts_ms=end,
        trades=kept,
        gross_pnl=gross,
        exchange_fees=exchange_fees,
        realized_pnl=gross - exchange_fees,
        deposits=sum((f.amount for f in moved if f.is_deposit), ZERO),
        withdrawals=-sum((f.amount for f in moved if not f.is_deposit), ZERO),
        equity_end=equity_end,
        rate=account.rate,
        hwm_before=account.high_water_mark,
        hwm_after=charge.hwm_after,
        chargeable_gain=charge.chargeable_gain,
        performance_fee=charge.fee,
        fees_charged_total=charge.account.fees_charged,
    )
    return statement, charge.account


__all__ = [
    "CashFlow",
    "FeeAccount",
    "FeeCharge",
    "MonthlyStatement",
    "month_bounds",
    "monthly_statement",
]
