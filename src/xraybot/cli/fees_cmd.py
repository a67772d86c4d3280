"""``xraybot fees …``: per-user performance-fee accounts and monthly statements.

Accounting only: no money moves. Equity is realized (opening equity + cash flows + net PnL
of closed trades in the journal); see ``xraybot.services.fees``. Every command reads and
writes the journal's database named by the configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from xraybot.cli.output import JsonPath, stdout, write_json
from xraybot.cli.state import state_of
from xraybot.model.errors import InvalidInputError

if TYPE_CHECKING:
    from xraybot.services.fees import FeeAccountView, FeeService, StatementResult
    from xraybot.storage.fees import StoredCashFlow

app = typer.Typer(
    help="Performance fees: accounts, cash flows and monthly statements (no money moves).",
    no_args_is_help=True,
)
_T = TypeVar("_T")

User = Annotated[str, typer.Option("--user", help="The user's id.")]
At = Annotated[
    str | None,
    typer.Option("--at", help="When, as an ISO time in UTC or epoch ms (default: now)."),
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="fees")


def run_service(ctx: typer.Context, work: Callable[[FeeService], Awaitable[_T]]) -> _T:
    """Run ``work`` with a FeeService over the configured journal, then close the engine."""
    from xraybot.services.fees import FeeService
    from xraybot.storage.db import create_engine
    from xraybot.storage.fees import SqlFeeStore
    from xraybot.storage.journal_queries import SqlJournalQueries
    from xraybot.storage.users import SqlUserRepository

    config = state_of(ctx).context().config

    async def go() -> _T:
        engine = create_engine(config.storage)
        try:
            service = FeeService(
                SqlFeeStore(engine), SqlJournalQueries(engine), SqlUserRepository(engine)
            )
            return await work(service)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _decimal(text: str, option: str, example: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise InvalidInputError(
            f"{option} must be a decimal number such as {example}; found {text!r}."
        )
    return value


def _optional_decimal(text: str | None, option: str, example: str) -> Decimal | None:
    return None if text is None else _decimal(text, option, example)


def _time(text: str | None, option: str) -> int | None:
    from xraybot.cli.parsing import parse_time_ms

    return None if text is None else parse_time_ms(text, option)


def _iso(ts_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="seconds")


@app.command("open")
def open_account(
    ctx: typer.Context,
    user: User,
    equity: Annotated[
        str | None,
        typer.Option(
            "--equity",
            help="Opening equity in quote (default for paper users: paper.balance plus "
            "the PnL already realized; required for live users).",
        ),
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option("--rate", help="Fee rate 0 ≤ r < 1 (default: fees.performance_rate)."),
    ] = None,
    at: At = None,
    json_path: JsonPath = None,
) -> None:
    """Open a user's fee account: only gains above the opening equity will be charged."""
    opening = _optional_decimal(equity, "--equity", "25000")
    chosen = _optional_decimal(rate, "--rate", "0.2")
    at_ms = _time(at, "--at")

    async def work(service: FeeService) -> FeeAccountView:
        await service.open(user, equity=opening, rate=chosen, at_ms=at_ms)
        return await service.show(user)

    view = run_service(ctx, work)
    account = view.account
    if json_path is not None:
        write_json(json_path, view.as_dict())
    stdout().print(
        f"[green]ok[/green] fee account of {user} opened {_iso(account.opened_ts_ms)}: "
        f"equity {account.opening_equity}, rate {account.rate}.",
        highlight=False,
    )


@app.command("flow")
def flow(
    ctx: typer.Context,
    user: User,
    amount: Annotated[str, typer.Option("--amount", help="Quote amount: + deposit, - withdrawal.")],
    at: At = None,
    note: Annotated[str, typer.Option("--note", help="Why the money moved.")] = "",
    json_path: JsonPath = None,
) -> None:
    """Record a deposit or withdrawal: it moves the high-water mark, never counts as gain."""
    value = _decimal(amount, "--amount", "1000 or -250")
    at_ms = _time(at, "--at")

    async def work(service: FeeService) -> StoredCashFlow:
        return await service.record_flow(user, value, at_ms=at_ms, note=note)

    recorded = run_service(ctx, work)
    if json_path is not None:
        write_json(
            json_path,
            {
                "user_id": recorded.user_id,
                "ts_ms": recorded.ts_ms,
                "amount": str(recorded.amount),
                "note": recorded.note,
            },
        )
    kind = "deposit" if recorded.amount > 0 else "withdrawal"
    stdout().print(
        f"[green]ok[/green] {kind} of {abs(recorded.amount)} for {user} at {_iso(recorded.ts_ms)}.",
        highlight=False,
    )


def print_statement(result: StatementResult) -> None:
    from rich.table import Table

    s = result.statement
    user = s["user_id"]
    console = stdout()
    if result.status == "preview":
        console.print(
            f"[yellow]preview[/yellow]: {result.label} is still running; nothing was stored "
            "and the account is unchanged.",
        )
    elif result.status == "stored":
        console.print(f"{result.label} was issued before ({_iso(result.issued_ts_ms or 0)}).")
    else:
        console.print(f"[green]settled[/green] {result.label} for {user}.")
    table = Table(title=f"{user} · {result.label} · {result.status}")
    table.add_column("item")
    table.add_column("value", justify="right")
    rows = (
        ("trades", str(s["trade_count"])),
        ("gross PnL", s["gross_pnl"]),
        ("exchange fees", s["exchange_fees"]),
        ("realized PnL", s["realized_pnl"]),
        ("deposits", s["deposits"]),
        ("withdrawals", s["withdrawals"]),
        ("equity at month end", s["equity_end"]),
        ("high-water mark before", s["hwm_before"]),
        ("high-water mark after", s["hwm_after"]),
        ("chargeable gain", s["chargeable_gain"]),
        ("rate", s["rate"]),
        ("performance fee", s["performance_fee"]),
        ("fees charged in total", s["fees_charged_total"]),
    )
    for item, value in rows:
        table.add_row(item, value)
    console.print(table)


@app.command("statement")
def statement(
    ctx: typer.Context,
    user: User,
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM (UTC).")],
    json_path: JsonPath = None,
) -> None:
    """Settle an ended month (again: the stored statement), or preview the running one."""
    from xraybot.services.fees import parse_month

    year, number = parse_month(month)
    result = run_service(ctx, lambda service: service.statement(user, year, number))
    if json_path is not None:
        write_json(json_path, result.as_dict())
    print_statement(result)


def print_account(view: FeeAccountView) -> None:
    from rich.table import Table

    data = view.as_dict()
    console = stdout()
    for key in (
        "user_id",
        "rate",
        "opening_equity",
        "high_water_mark",
        "high_water_mark_now",
        "fees_charged",
        "net_deposits",
        "equity_now",
        "settled_month",
        "next_month",
    ):
        value = data[key]
        console.print(f"{key}: {value if value is not None else '-'}", markup=False)
    console.print(f"opened: {_iso(view.account.opened_ts_ms)}", markup=False)
    for pending in view.pending_flows:
        console.print(
            f"pending flow: {pending.amount} at {_iso(pending.ts_ms)} {pending.note}".rstrip(),
            markup=False,
        )
    if view.statements:
        table = Table(title=f"{len(view.statements)} statement(s)")
        for column in ("month", "equity at end", "performance fee", "issued"):
            table.add_column(column)
        for s in view.statements:
            table.add_row(
                s.label,
                str(s.payload.get("equity_end", "-")),
                str(s.performance_fee),
                _iso(s.issued_ts_ms),
            )
        console.print(table)


@app.command("show")
def show(ctx: typer.Context, user: User, json_path: JsonPath = None) -> None:
    """Show a user's fee account: mark, fees charged, realized equity now, statements."""
    view = run_service(ctx, lambda service: service.show(user))
    if json_path is not None:
        write_json(json_path, view.as_dict())
    print_account(view)


__all__ = ["app", "register"]
