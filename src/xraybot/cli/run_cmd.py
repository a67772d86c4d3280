"""``xraybot run``: every active user in one process (the embedded runtime).

Paper users trade on simulated fills over the exchange's real market data; a ``live`` user
trades only when the command is started with ``--allow-live`` (otherwise that user is
refused and named, while paper users run). Stops on Ctrl-C / SIGTERM, or after
``--seconds``, finishing the work in flight; a later run picks up from the journal.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.cli.state import state_of

if TYPE_CHECKING:
    from xraybot.runtime.embedded import RunStats


def register(root: typer.Typer) -> None:
    root.command("run")(run)


def run(
    ctx: typer.Context,
    allow_live: Annotated[
        bool,
        typer.Option("--allow-live", help="Let users whose settings say live trade real money."),
    ] = False,
    seconds: Annotated[
        float | None,
        typer.Option("--seconds", min=0.0, help="Stop after this many seconds (default: never)."),
    ] = None,
    json_path: JsonPath = None,
) -> None:
    """Trade every active user: one shared candle feed, each user's strategy per candle."""
    context = state_of(ctx).context()
    stats = asyncio.run(_run(context, allow_live=allow_live, seconds=seconds))
    _print(stats)
    if json_path is not None:
        write_json(json_path, stats.as_dict())


async def _run(context: Any, *, allow_live: bool, seconds: float | None) -> RunStats:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from xraybot.runtime.clock import LiveClock, wall_ms
    from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
    from xraybot.runtime.embedded_users import (
        GatewayFactory,
        OpenCredentials,
        journal_fills,
        load_users,
    )
    from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway
    from xraybot.services.users import UserService, keyring_from
    from xraybot.storage import SqlJournal, SqlOrderRepository, create_engine
    from xraybot.storage.journal_queries import SqlJournalQueries
    from xraybot.storage.kill_switch import SqlKillSwitch
    from xraybot.storage.users import SqlUserRepository

    config = context.config
    engine = create_engine(config.storage)
    pool = build_pool(config.exchange, build_limiter(config.exchange))
    try:
        repo = SqlUserRepository(engine)
        users = await load_users(repo)
        open_credentials: OpenCredentials | None = None
        if config.users.resolved_master_key() is not None:
            keyring = keyring_from(config.users, context.redactor)
            open_credentials = UserService(repo, context.redactor, keyring).credentials
        publics: dict[str, Any] = {}

        async def public(exchange: str) -> Any:
            if exchange not in publics:
                publics[exchange] = await public_gateway(pool, exchange)
            return publics[exchange]

        # Journal times follow the exchange's clock (the simulator's may be far from ours).
        offset = 0
        if users:
            before = wall_ms()
            server = await (await public(users[0].settings.exchange)).fetch_time()
            offset = server - (before + wall_ms()) // 2
        runtime = EmbeddedRuntime(
            users,
            gateways=GatewayFactory(
                public=public,
                open_credentials=open_credentials,
                pool=pool,
                # A restarted paper account is rebuilt from its journaled fills.
                paper_fills=journal_fills(SqlJournalQueries(engine)),
            ),
            journal=SqlJournal(engine),
            orders=SqlOrderRepository(engine),
            clock=LiveClock(offset_ms=lambda: offset),
            # The operator's kill switch (`xraybot kill`), read on every candle.
            settings=EmbeddedSettings(
                allow_live=allow_live, kill_switch=SqlKillSwitch(engine).read
            ),
        )
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=stderr(), transient=True) as progress:
            task = progress.add_task("trading (Ctrl-C stops)", total=None)

            async def tick() -> None:
                while True:
                    decided = sum(runtime.stats.decisions.values())
                    orders = len(runtime.stats.submitted)
                    progress.update(
                        task,
                        description=f"trading: {decided} decisions, {orders} orders (Ctrl-C stops)",
                    )
                    await asyncio.sleep(0.5)

            ticker = asyncio.ensure_future(tick())
            try:
                return await runtime.run(seconds)
            finally:
                ticker.cancel()
    finally:
        await pool.close()
        await engine.dispose()


def _print(stats: RunStats) -> None:
    from rich.table import Table

    console = stdout()
    table = Table(title="xraybot run")
    for name in ("user", "symbol", "decisions"):
        table.add_column(name)
    for (user, symbol), n in sorted(stats.decisions.items()):
        table.add_row(user, symbol, str(n))
    console.print(table)
    console.print(f"orders submitted: {len(stats.submitted)}; step errors: {stats.errors}")
    for user, why in sorted(stats.refused.items()):
        console.print(f"refused {user}: {why}", markup=False)
