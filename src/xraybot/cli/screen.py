"""``xraybot screen``: the whole universe through the screener chain, every rejection explained."""

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
    TimeElapsedColumn,
)
from rich.table import Table

from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.cli.parsing import parse_time_ms
from xraybot.cli.state import state_of
from xraybot.data.config import resolve_data_dir
from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore
from xraybot.exchange.config import ExchangeConfig
from xraybot.exchange.quirks import quirks_for
from xraybot.model.errors import InvalidInputError
from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway
from xraybot.xray.config import ScreenConfig, load_screen_config
from xraybot.xray.screen_result import ScreenResult, SymbolMetrics
from xraybot.xray.screener import run_screen


def screen(
    ctx: typer.Context,
    exchange: Annotated[
        str | None,
        typer.Option(help="mexc, sim or another ccxt exchange id; default from the config."),
    ] = None,
    config_path: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML file with a \\[screen] table (see examples/screen.toml); default: the "
            "built-in thresholds.",
            dir_okay=False,
        ),
    ] = None,
    top: Annotated[int | None, typer.Option(help="Keep the N best (overrides the file).")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Screen stored data as of this ISO date/time (UTC) or epoch ms; no exchange "
            "is asked anything.",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Store root for --as-of (default $XRAYBOT_DATA_DIR, else a per-user data folder).",
            file_okay=False,
        ),
    ] = None,
    json_path: JsonPath = None,
) -> None:
    """Screen every spot market: one bulk ticker call, candles for survivors only."""
    config = load_screen_config(config_path) if config_path is not None else ScreenConfig()
    if top is not None:
        if top < 1:
            raise InvalidInputError(f"--top must be at least 1; found {top}.")
        config = config.with_changes(top=top)
    as_of_ms = parse_time_ms(as_of, "--as-of") if as_of is not None else None
    exchange_config = state_of(ctx).context().config.exchange
    exchange_id = exchange or exchange_config.exchange
    quirks_for(exchange_id)  # an unknown exchange fails here, naming it
    root = resolve_data_dir(data_dir)
    result = asyncio.run(_run(exchange_config, exchange_id, config, as_of_ms, root))
    if json_path is not None:
        write_json(json_path, result.as_dict())
    print_result(result, stdout())


async def _run(
    exchange_config: ExchangeConfig,
    exchange_id: str,
    config: ScreenConfig,
    as_of_ms: int | None,
    root: Path,
) -> ScreenResult:
    if as_of_ms is not None:
        with RichProgress(stderr()) as progress:
            return await run_screen(
                exchange_id,
                config,
                store=CandleStore(root),
                universe=UniverseStore(root),
                as_of_ms=as_of_ms,
                progress=progress,
            )
    limiter = build_limiter(exchange_config)
    pool = build_pool(exchange_config, limiter)
    try:
        gateway = await public_gateway(pool, exchange_id)
        with RichProgress(stderr()) as progress:
            return await run_screen(gateway, config, progress=progress)
    finally:
        await pool.close()
        if limiter is not None:
            await limiter.aclose()


class RichProgress:
    """One bar per stage of the screen (tickers, candles, order books)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def stage(self, description: str, total: int) -> None:
        self._task = self._progress.add_task(description, total=max(1, total))

    def advance(self, steps: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, steps)


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _survivors(result: ScreenResult) -> Table:
    depth = any(r.depth_quote is not None for r in result.passed)
    table = Table(title=f"{len(result.passed)} passed")
    columns = [
        ("#", "right"), ("symbol", "left"), ("last", "right"), ("24h quote vol", "right"),
        ("spread %", "right"), ("volatility %", "right"), ("RSI", "right"),
        ("trend %", "right"), ("listed d", "right"),
    ]  # fmt: skip
    if depth:
        columns.append(("depth", "right"))
    columns += [("score", "right"), ("signals", "left")]
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i, row in enumerate(result.passed, start=1):
        table.add_row(*_cells(i, row, depth))
    return table


def _cells(i: int, row: SymbolMetrics, depth: bool) -> list[str]:
    cells = [
        str(i),
        row.symbol,
        f"{row.last:.6g}",
        f"{row.quote_volume_24h:,.0f}",
        _num(row.spread_pct, ".3f"),
        _num(row.volatility_pct, ".2f"),
        _num(row.rsi, ".1f"),
        _num(row.trend, "+.2f"),
        _num(row.listed_days, ".0f"),
    ]
    if depth:
        cells.append(_num(row.depth_quote, ",.0f"))
    cells += [_num(row.score, ".3f"), ", ".join(row.signals)]
    return cells


def _rejections(result: ScreenResult) -> Table:
    table = Table(title=f"rejected: {result.rejected_count} of {result.universe_size}")
    for name, justify in (("filter", "left"), ("rule", "left"), ("rejected", "right"),
                          ("for example", "left")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name, rejections in result.rejected.items():
        example = f"{rejections[0].symbol}: {rejections[0].reason}" if rejections else ""
        style = "bold red" if name == result.emptied_by else None
        table.add_row(name, result.rules.get(name, ""), str(len(rejections)), example, style=style)
    return table


def _distributions(result: ScreenResult) -> Table:
    keys = ("count", "min", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "max")
    table = Table(title=f"what the {result.emptied_by} filter saw")
    table.add_column("metric")
    for key in keys:
        table.add_column(key, justify="right")
    for metric, values in result.distributions.items():
        table.add_row(metric, *(f"{values[k]:,.4g}" if k in values else "-" for k in keys))
    return table


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%MZ")


def print_result(result: ScreenResult, console: Console) -> None:
    """Print the survivors, the rejections per filter and, if it emptied, the distribution."""
    if result.passed:
        console.print(_survivors(result))
    console.print(_rejections(result))
    if result.emptied_by is not None:
        console.print(
            f"[bold red]The {result.emptied_by} filter rejected every symbol that reached it"
            f"[/bold red] ({result.rules.get(result.emptied_by, '')}); loosen that threshold "
            'or make it a percentile (e.g. "p50").',
            markup=True,
        )
        if result.distributions:
            console.print(_distributions(result))
    for note in result.notes:
        console.print(f"note: {note}")
    when = f" as of {_when(result.as_of_ms)}" if result.as_of_ms is not None else ""
    console.print(
        f"{result.exchange}{when}: {len(result.passed)} of {result.universe_size} symbols "
        f"passed; {result.requests:,} requests in {result.elapsed_s:.1f} s."
    )
