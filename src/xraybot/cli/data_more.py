"""``xraybot data watch`` (the live feed) and ``xraybot data universe`` (point in time)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from xraybot.cli.data import DataDir, iso
from xraybot.cli.output import JsonPath, stdout, write_json
from xraybot.cli.parsing import parse_symbols, parse_time_ms
from xraybot.cli.state import state_of
from xraybot.data.config import resolve_data_dir
from xraybot.data.feed import CandleFeed
from xraybot.data.feed_events import EventKind, FeedEvent
from xraybot.data.universe import UniverseStore
from xraybot.exchange.config import ExchangeConfig
from xraybot.model.candles import timeframe_to_ms
from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway


def watch(
    ctx: typer.Context,
    symbols: Annotated[str, typer.Option(help="Comma-separated, e.g. BTC/USDT,ETH/USDT.")],
    exchange: Annotated[str | None, typer.Option(help="ccxt id or sim; default config.")] = None,
    timeframe: Annotated[str, typer.Option(help="Candle timeframe.")] = "1m",
    candles: Annotated[
        int,
        typer.Option(min=0, help="Stop after this many closed candles per pair; 0: the windows."),
    ] = 3,
    json_path: JsonPath = None,
) -> None:
    """Follow closed candles live: one request per symbol per closed candle."""
    config = state_of(ctx).context().config.exchange
    pairs = [(symbol, timeframe) for symbol in parse_symbols(symbols)]
    timeframe_to_ms(timeframe)
    events = asyncio.run(_watch(config, exchange or config.exchange, pairs, candles))
    if json_path is not None:
        write_json(json_path, {"events": events})


async def _watch(
    config: ExchangeConfig, exchange_id: str, pairs: list[tuple[str, str]], candles: int
) -> list[dict[str, Any]]:
    limiter = build_limiter(config)
    pool = build_pool(config, limiter)
    seen: list[dict[str, Any]] = []
    console = stdout()
    try:
        gateway = await public_gateway(pool, exchange_id)
        async with CandleFeed(gateway) as feed:
            subscription = feed.subscribe(pairs)
            updates, snapshots = 0, 0
            async for event in subscription:
                seen.append(_event_dict(event))
                console.print(_describe(event))
                updates += len(event.closed) if event.kind is EventKind.UPDATE else 0
                snapshots += event.kind is EventKind.SNAPSHOT
                if event.kind is EventKind.DROPPED:
                    break
                if snapshots >= len(pairs) and updates >= candles * len(pairs):
                    break
    finally:
        await pool.close()
        if limiter is not None:
            await limiter.aclose()
    return seen


def _describe(event: FeedEvent) -> str:
    if event.kind is EventKind.DROPPED:
        return f"[red]{event.symbol} {event.timeframe} dropped[/red]: {event.reason}"
    if event.kind is EventKind.SNAPSHOT:
        return (
            f"{event.symbol} {event.timeframe}: window of {len(event.window)} closed candles, "
            f"last opened {iso(int(event.window.ts_ms[-1])) if len(event.window) else '-'}"
        )
    last = len(event.closed) - 1
    return (
        f"{event.symbol} {event.timeframe} closed {iso(int(event.closed.ts_ms[last]))} "
        f"o {event.closed.open[last]:g} h {event.closed.high[last]:g} "
        f"l {event.closed.low[last]:g} c {event.closed.close[last]:g} "
        f"v {event.closed.volume[last]:g}  (local {time.strftime('%H:%M:%S')})"
    )


def _event_dict(event: FeedEvent) -> dict[str, Any]:
    return {
        "kind": event.kind.value,
        "symbol": event.symbol,
        "timeframe": event.timeframe,
        "window": len(event.window),
        "closed_ts_ms": [int(t) for t in event.closed.ts_ms],
        "corrected_ts_ms": [int(t) for t in event.corrected.ts_ms],
        "reason": event.reason,
    }


def universe(
    exchange: Annotated[str, typer.Option(help="Exchange folder in the store, e.g. binance.")],
    as_of: Annotated[str, typer.Option("--as-of", help="ISO date/time (UTC) or ms.")],
    top: Annotated[int, typer.Option(min=1, help="Show the N largest by volume.")] = 30,
    data_dir: DataDir = None,
    json_path: JsonPath = None,
) -> None:
    """List the symbols known on a past date, by that day's volume: no survivorship bias."""
    ts_ms = parse_time_ms(as_of, "--as-of")
    rows = UniverseStore(resolve_data_dir(data_dir)).as_of(exchange, ts_ms)
    if json_path is not None:
        write_json(
            json_path,
            {
                "exchange": exchange,
                "as_of_ms": ts_ms,
                "symbols": [
                    {
                        "symbol": r.symbol,
                        "listed_ms": r.listed_ms,
                        "delisted_ms": r.delisted_ms,
                        "quote_volume_24h": r.quote_volume_24h,
                        "days_listed": r.days_listed,
                    }
                    for r in rows
                ],
            },
        )
    table = Table(title=f"{exchange} as of {iso(ts_ms)}: {len(rows)} symbols known")
    for column in ("symbol", "listed", "days", "24h quote volume", "delisted"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for r in rows[:top]:
        table.add_row(
            r.symbol,
            iso(r.listed_ms),
            str(r.days_listed),
            f"{r.quote_volume_24h:,.0f}",
            iso(r.delisted_ms) if r.delisted_ms is not None else "",
        )
    stdout().print(table)
