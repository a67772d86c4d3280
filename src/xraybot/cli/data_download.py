"""``xraybot data download``: candle history into the store, many symbols at once, resumable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.cli.parsing import parse_symbols, parse_time_ms
from xraybot.cli.state import state_of
from xraybot.data.config import resolve_data_dir
from xraybot.data.download import (
    DEFAULT_CONCURRENCY,
    DownloadReport,
    SymbolReport,
    SymbolStatus,
    check_symbols,
)
from xraybot.data.download import download as download_history
from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore
from xraybot.exchange.config import ExchangeConfig
from xraybot.exchange.quirks import quirks_for
from xraybot.model.candles import timeframe_to_ms
from xraybot.model.errors import InvalidInputError
from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway


def download(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option(help="Start: ISO date/time in UTC (2024-01-01) or epoch ms.")
    ],
    exchange: Annotated[
        str | None,
        typer.Option(help="mexc, sim or another ccxt exchange id; default from the config."),
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols: BTC/USDT,ETH/USDT.")
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            help="The N spot USDT markets with most 24h quote volume (no leveraged tokens "
            "or stablecoins)."
        ),
    ] = None,
    timeframe: Annotated[str, typer.Option(help="Candle length: 1m, 5m, 1h, 4h, 1d …")] = "1h",
    until: Annotated[
        str | None,
        typer.Option(help="End (exclusive), same forms as --since; default: now."),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(help="Symbols downloaded at once (the limiter sets the pace).")
    ] = DEFAULT_CONCURRENCY,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Store root (default $XRAYBOT_DATA_DIR, else a per-user data folder).",
            file_okay=False,
        ),
    ] = None,
    json_path: JsonPath = None,
) -> None:
    """Download candle history into the store; reruns resume where the last one stopped."""
    if (symbols is None) == (top is None):
        raise InvalidInputError(
            "give exactly one of --symbols BTC/USDT,ETH/USDT or --top N; found "
            f"{'both' if symbols is not None else 'neither'}."
        )
    wanted = parse_symbols(symbols) if symbols is not None else None
    if top is not None and top < 1:
        raise InvalidInputError(f"--top must be at least 1; found {top}.")
    if not 1 <= concurrency <= 64:
        raise InvalidInputError(f"--concurrency must be from 1 to 64; found {concurrency}.")
    timeframe_to_ms(timeframe)
    since_ms = parse_time_ms(since, "--since")
    until_ms = parse_time_ms(until, "--until") if until is not None else None
    if until_ms is not None and until_ms <= since_ms:
        raise InvalidInputError(
            f"--since ({since}) must be before --until ({until}); swap or fix them."
        )
    config = state_of(ctx).context().config.exchange
    exchange_id = exchange or config.exchange
    quirks_for(exchange_id)  # an unknown exchange fails here, naming it
    root = resolve_data_dir(data_dir)
    report = asyncio.run(
        _run(
            config,
            exchange_id,
            root,
            symbols=wanted,
            top_n=top,
            timeframe=timeframe,
            since_ms=since_ms,
            until_ms=until_ms,
            concurrency=concurrency,
        )
    )
    if json_path is not None:
        write_json(json_path, {**report.as_dict(), "data_dir": str(root)})
    print_report(report, stdout())
    failed = report.with_status(SymbolStatus.FAILED)
    if failed:
        # Temporary failures only: running the same command again resumes and may finish.
        raise typer.Exit(75 if all(s.retryable for s in failed) else 1)


async def _run(
    config: ExchangeConfig,
    exchange_id: str,
    root: Path,
    *,
    symbols: list[str] | None,
    top_n: int | None,
    timeframe: str,
    since_ms: int,
    until_ms: int | None,
    concurrency: int,
) -> DownloadReport:
    limiter = build_limiter(config)
    pool = build_pool(config, limiter)
    try:
        gateway = await public_gateway(pool, exchange_id)
        if symbols is not None:
            await check_symbols(gateway, symbols)
        with RichProgress(stderr()) as progress:
            return await download_history(
                gateway,
                CandleStore(root),
                UniverseStore(root),
                exchange_id=exchange_id,
                symbols=symbols,
                top_n=top_n,
                timeframe=timeframe,
                since_ms=since_ms,
                until_ms=until_ms,
                concurrency=concurrency,
                chunk_candles=gateway.quirks.max_ohlcv_per_call,
                progress=progress,
            )
    finally:
        await pool.close()
        if limiter is not None:
            await limiter.aclose()


class RichProgress:
    """Rich bars: one per symbol in flight (candle slots walked) and one over all symbols."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._overall: TaskID | None = None
        self._bars: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def begin(self, symbols: int) -> None:
        self._overall = self._progress.add_task("all symbols", total=symbols)

    def advance(self, symbol: str, done: int, total: int) -> None:
        bar = self._bars.get(symbol)
        if bar is None:
            self._bars[symbol] = self._progress.add_task(f"  {symbol}", total=max(1, total))
        else:
            self._progress.update(bar, completed=done, total=max(1, total))

    def finished(self, report: SymbolReport) -> None:
        bar = self._bars.pop(report.symbol, None)
        if bar is not None:
            self._progress.remove_task(bar)
        if self._overall is not None:
            self._progress.advance(self._overall, 1)


def _day(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def print_report(report: DownloadReport, console: Console) -> None:
    """Print one row per symbol and a summary line."""
    table = Table(
        title=f"{report.exchange} {report.timeframe} candles, "
        f"{_day(report.since_ms)} → {_day(report.until_ms)}"
    )
    for name, justify in (
        ("symbol", "left"),
        ("status", "left"),
        ("added", "right"),
        ("stored", "right"),
        ("stored range", "left"),
        ("requests", "right"),
        ("note", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in report.symbols:
        table.add_row(
            s.symbol,
            s.status.value,
            f"{s.added:,}",
            f"{s.stored_rows:,}",
            f"{_day(s.first_ms)} → {_day(s.last_ms)}" if s.first_ms is not None else "-",
            str(s.requests),
            s.note,
        )
    console.print(table)
    counts = {status: len(report.with_status(status)) for status in SymbolStatus}
    summary = ", ".join(
        f"{n} {status.value.replace('_', ' ')}" for status, n in counts.items() if n
    )
    console.print(
        f"{len(report.symbols)} symbols: {summary}; {report.added:,} candles added with "
        f"{report.requests:,} requests in {report.elapsed_s:.1f} s."
    )
    if report.excluded:
        console.print(
            f"left out of the top (leveraged tokens, stablecoins): {', '.join(report.excluded)}"
        )
