"""``xraybot risk explain``: what the risk layer would decide for the next entry, and why.

The profile is a registered user's (``--user U``: their own profile, exchange and book, see
``services.risk_explain_user``) or a TOML file's ``[risk]`` table (``--config``,
``examples/risk.toml``), never both. The market and recent candles come through the exchange
gateway (the store's candles when it holds the latest ones); the rules run in
``services.risk_explain``. Tables for people, ``--json PATH`` for programs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.cli.state import state_of
from xraybot.model.errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from xraybot.exchange.config import ExchangeConfig
    from xraybot.exchange.port import ExchangeGateway
    from xraybot.model.candles import Candles
    from xraybot.model.market import Market
    from xraybot.risk.profile import RiskProfile
    from xraybot.services.risk_explain import RiskExplanation
    from xraybot.storage.config import StorageConfig

_T = TypeVar("_T")
DEFAULT_EQUITY = 1000.0

ONE_PROFILE = (
    "--user {user} and --config {config} both name a risk profile; found both. Pass one: "
    "--user uses the user's own profile and book, --config a [risk] table (examples/risk.toml)."
)


def register(app: typer.Typer) -> None:
    """Add the ``risk`` command group (``risk explain``) to ``app``."""
    group = typer.Typer(
        name="risk",
        help="Risk layer: the sizing, leverage, limits and protections decisions.",
        no_args_is_help=True,
    )
    group.command("explain")(explain)
    app.add_typer(group, name="risk")


def explain(
    ctx: typer.Context,
    config_path: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML file with a \\[risk] table (examples/risk.toml) standing for a "
            "user; default: the built-in profile (1x, 10 % of equity, no stop).",
            dir_okay=False,
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="A registered user: their own profile, exchange, open positions and closed "
            "trades (not with --config).",
        ),
    ] = None,
    symbol: Annotated[
        str, typer.Option("--symbol", help="BTC/USDT: the swap for a swap profile.")
    ] = "BTC/USDT",
    exchange: Annotated[
        str | None,
        typer.Option(
            help="mexc, sim or another ccxt exchange id; default the user's, else the config's."
        ),
    ] = None,
    equity: Annotated[
        float | None,
        typer.Option(
            "--equity",
            help="Account equity in the quote currency; default 1000, for a paper --user "
            "their paper balance plus realized PnL (a live --user must pass it).",
        ),
    ] = None,
    direction: Annotated[str, typer.Option("--direction", help="long or short.")] = "long",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Candle store to read first (default $XRAYBOT_DATA_DIR, else a per-user "
            "data folder); the exchange is asked when it lacks the latest candles.",
            file_okay=False,
        ),
    ] = None,
    json_path: JsonPath = None,
) -> None:
    """Explain the sizing, leverage, limits and protections decision for the next entry."""
    from xraybot.data.config import resolve_data_dir
    from xraybot.exchange.quirks import quirks_for
    from xraybot.risk.profile import RiskProfile, load_risk_profile

    config = state_of(ctx).context().config
    root = resolve_data_dir(data_dir)
    if user is not None:
        if config_path is not None:
            raise InvalidInputError(ONE_PROFILE.format(user=user, config=config_path))
        result = asyncio.run(
            _run_user(
                config.exchange, config.storage, user, exchange, symbol, equity, direction, root
            )
        )
    else:
        profile = load_risk_profile(config_path) if config_path is not None else RiskProfile()
        exchange_id = exchange or config.exchange.exchange
        quirks_for(exchange_id)  # an unknown exchange fails here, naming it
        result = asyncio.run(
            _run(
                config.exchange,
                exchange_id,
                profile,
                symbol,
                DEFAULT_EQUITY if equity is None else equity,
                direction,
                root,
            )
        )
    if json_path is not None:
        write_json(json_path, result.to_dict())
    print_explanation(result, stdout())


async def _with_gateway(
    exchange_config: ExchangeConfig,
    exchange_id: str,
    work: Callable[[ExchangeGateway], Awaitable[_T]],
) -> _T:
    """Run ``work`` on the public gateway of ``exchange_id``, then close the pool."""
    from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway

    limiter = build_limiter(exchange_config)
    pool = build_pool(exchange_config, limiter)
    try:
        return await work(await public_gateway(pool, exchange_id))
    finally:
        await pool.close()
        if limiter is not None:
            await limiter.aclose()


async def _run(
    exchange_config: ExchangeConfig,
    exchange_id: str,
    profile: RiskProfile,
    symbol: str,
    equity: float,
    direction: str,
    root: Path,
) -> RiskExplanation:
    from xraybot.data.store import CandleStore
    from xraybot.services.risk_explain import explain_entry, fetch_inputs

    with _progress(stderr()) as bar:
        task = bar.add_task(f"{symbol} on {exchange_id}", total=2)

        async def fetch(
            gateway: ExchangeGateway,
        ) -> tuple[Market, Candles, str, int]:
            return await fetch_inputs(gateway, profile, symbol, store=CandleStore(root))

        market, candles, source, now_ms = await _with_gateway(exchange_config, exchange_id, fetch)
        bar.update(task, advance=1, description="risk rules")
        result = explain_entry(
            profile,
            market,
            candles,
            equity=equity,
            direction=direction,
            now_ms=now_ms,
            exchange=exchange_id,
            source=source,
        )
        bar.update(task, advance=1, description="done")
    return result


async def _run_user(
    exchange_config: ExchangeConfig,
    storage: StorageConfig,
    user_id: str,
    exchange: str | None,
    symbol: str,
    equity: float | None,
    direction: str,
    root: Path,
) -> RiskExplanation:
    """The user's profile and book from the journal's database, the market from the exchange."""
    from xraybot.data.store import CandleStore
    from xraybot.exchange.quirks import quirks_for
    from xraybot.services.fees import FeeService
    from xraybot.services.risk_explain_user import explain_user_entry, load_user, require_equity
    from xraybot.storage.db import create_engine
    from xraybot.storage.fees import SqlFeeStore
    from xraybot.storage.journal import SqlJournal
    from xraybot.storage.journal_queries import SqlJournalQueries
    from xraybot.storage.users import SqlUserRepository

    engine = create_engine(storage)
    try:
        users = SqlUserRepository(engine)
        user = await load_user(users, user_id)
        require_equity(user, equity)  # before any network call
        exchange_id = exchange or user.settings.exchange
        quirks_for(exchange_id)
        fees = FeeService(SqlFeeStore(engine), SqlJournalQueries(engine), users)

        async def work(gateway: ExchangeGateway) -> RiskExplanation:
            return await explain_user_entry(
                gateway,
                SqlJournal(engine),
                fees,
                user,
                symbol=symbol,
                equity=equity,
                direction=direction,
                store=CandleStore(root),
            )

        with _progress(stderr()) as bar:
            bar.add_task(f"{user_id}: {symbol} on {exchange_id}", total=None)
            return await _with_gateway(exchange_config, exchange_id, work)
    finally:
        await engine.dispose()


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


# -- printing ----------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.8g}"


def _rows(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    return table


def _market_rows(result: RiskExplanation) -> list[tuple[str, str]]:
    m, e = result.market, result.entry
    return [
        (
            "market",
            f"tick {m.price_tick}, amount tick {m.amount_tick}, min amount {m.min_amount}, "
            f"min notional {m.min_cost} {m.quote}, contract {m.contract_size}, taker fee "
            f"{m.taker_fee_rate}, max leverage {m.max_leverage}x",
        ),
        ("candles", f"{e.candles} closed {result.timeframe} from the {e.source}"),
        ("price", _num(e.price)),
        (
            "volatility",
            f"{_pct(e.volatility)} per candle (NATR {e.volatility_period}); now / recent mean "
            f"{_num(e.volatility_ratio)}",
        ),
        ("ATR", _num(e.atr)),
        ("stop", f"{_num(e.stop_price)} ({_pct(e.stop_distance)} away)"),
        ("target", _num(e.target_price)),
    ]


def _lines(title: str, lines: tuple[str, ...] | list[str]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("why", overflow="fold")
    for line in lines:
        table.add_row(line)
    return table


def print_explanation(result: RiskExplanation, console: Console) -> None:
    """Print each rule's decision with its numbers, then the verdict."""
    m = result.market
    title = (
        ("" if result.user is None else f"user {result.user}: ")
        + f"{result.exchange} {m.symbol} ({m.kind.value}), {result.direction}, equity "
        f"{result.equity:,.2f} {m.quote}"
    )
    console.print(_rows(title, _market_rows(result)))
    protections = Table(title="protections", title_justify="left")
    for name in ("protection", "verdict", "detail"):
        protections.add_column(name, overflow="fold")
    for reason in result.protections.reasons:
        protections.add_row(reason.protection, reason.verdict, reason.detail)
    for factor in result.scale.reasons:
        protections.add_row(
            f"dynamic risk: {factor.factor}", f"x {factor.value:.3f}", factor.detail
        )
    console.print(protections)
    lev = result.leverage
    console.print(
        _lines(
            f"leverage: {result.leverage_value}x"
            + ("" if lev is None else f" (bound by {lev.bound_by})"),
            lev.reasons if lev is not None else (),
        )
    )
    sizing = result.sizing
    console.print(
        _lines(
            f"sizing: {sizing.mode}, "
            + (f"{sizing.amount} = {sizing.notional} {m.quote}" if sizing.ok else "refused"),
            sizing.reasons,
        )
    )
    if result.limits is not None:
        limits = Table(title=f"limits: room {_num(result.limits.room)}", title_justify="left")
        for name in ("limit", "ok", "detail"):
            limits.add_column(name, overflow="fold")
        for check in result.limits.checks:
            limits.add_row(check.name, "yes" if check.passed else "NO", check.reason)
        console.print(limits)
    if result.deposit is not None:
        d = result.deposit
        console.print(
            _lines(
                f"deposit: at least {d.minimum_deposit} {d.quote} for {d.positions} position(s)",
                d.reasons,
            )
        )
    style = "bold green" if result.allowed else "bold red"
    head = "ALLOWED" if result.allowed else "NOT ALLOWED"
    console.print(f"[{style}]{head}[/{style}]: " + "; ".join(result.verdict), markup=True)
    for note in result.notes:
        console.print(f"note: {note}")
