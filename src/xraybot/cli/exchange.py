"""``xraybot exchange …``: check the connection to an exchange or the local simulator."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from xraybot.cli.output import JsonPath, stdout, write_json
from xraybot.cli.state import state_of
from xraybot.exchange.config import ExchangeConfig
from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway
from xraybot.services.exchange_check import ExchangeCheck, check_exchange

app = typer.Typer(help="Exchange connectivity.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    exchange: Annotated[
        str | None,
        typer.Option(help="ccxt exchange id (mexc, binance, ...) or sim; default from config."),
    ] = None,
    json_path: JsonPath = None,
) -> None:
    """Show connectivity, clock offset, market count and rate-limit headroom."""
    config = state_of(ctx).context().config.exchange
    exchange_id = exchange or config.exchange
    with stdout().status(f"checking {exchange_id} …"):
        report = asyncio.run(_run(config, exchange_id))
    if json_path is not None:
        write_json(json_path, report.as_dict())
    print_check(report)


async def _run(config: ExchangeConfig, exchange_id: str) -> ExchangeCheck:
    limiter = build_limiter(config)
    pool = build_pool(config, limiter)
    try:
        gateway = await public_gateway(pool, exchange_id)
        return await check_exchange(gateway, limiter)
    finally:
        await pool.close()
        if limiter is not None:
            await limiter.aclose()


def print_check(report: ExchangeCheck) -> None:
    table = Table(title=f"{report.exchange}: reachable", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("round trip", f"{report.round_trip_ms:.0f} ms")
    table.add_row("clock offset (exchange − local)", f"{report.clock_offset_ms:+.0f} ms")
    table.add_row("markets (spot / swap)", f"{report.spot_markets} / {report.swap_markets}")
    table.add_row("active markets", str(report.active_markets))
    table.add_row("spot tickers in one call", f"{report.tickers} in {report.tickers_ms:.0f} ms")
    for h in report.headroom:
        table.add_row(
            f"headroom: {h.name}",
            f"{h.remaining:g} of {h.capacity:g} per {h.window_s:g} s",
        )
    stdout().print(table)
