"""``xraybot xray``: the whole market at once — regimes, correlation, clusters, anomalies, movers
and the screener's result, as a Rich summary, one self-contained HTML file and JSON."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.cli.parsing import parse_symbols
from xraybot.cli.state import state_of
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.config import ExchangeConfig
from xraybot.exchange.quirks import quirks_for
from xraybot.exchange.ratelimit import RateLimiter
from xraybot.model.candles import timeframe_to_ms
from xraybot.model.errors import InvalidInputError, XraybotError
from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway
from xraybot.xray.config import ScreenConfig
from xraybot.xray.regime import DEFAULT_LEADER
from xraybot.xray.report import XrayReport, build_report, with_screen
from xraybot.xray.report_html import iso, render_html
from xraybot.xray.screener import run_screen
from xraybot.xray.snapshot import DEFAULT_CANDLES, DEFAULT_TOP, take_snapshot

MAX_CANDLES = 5000


def xray(
    ctx: typer.Context,
    exchange: Annotated[
        str | None, typer.Option(help="sim, mexc or another ccxt exchange id; default config.")
    ] = None,
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols: BTC/USDT,ETH/USDT.")
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            help=f"The N spot USDT markets with most 24h quote volume (default {DEFAULT_TOP} "
            "when no --symbols)."
        ),
    ] = None,
    timeframe: Annotated[str, typer.Option(help="Candle length: 1m, 5m, 1h, 4h, 1d …")] = "1h",
    candles: Annotated[
        int, typer.Option(help="Closed candles per symbol (the window every figure covers).")
    ] = DEFAULT_CANDLES,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Write the report as one self-contained HTML file.", dir_okay=False
        ),
    ] = None,
    screen: Annotated[
        bool, typer.Option(help="Run the screener (default config) and include its result.")
    ] = True,
    json_path: JsonPath = None,
) -> None:
    """X-ray the market: regimes, correlation, clusters, anomalies, movers and the screen."""
    if symbols is not None and top is not None:
        raise InvalidInputError(
            "give --symbols BTC/USDT,ETH/USDT or --top N, not both; found both."
        )
    wanted = parse_symbols(symbols) if symbols is not None else None
    top_n = None if wanted is not None else (DEFAULT_TOP if top is None else top)
    if top_n is not None and top_n < 1:
        raise InvalidInputError(f"--top must be at least 1; found {top_n}.")
    if not 2 <= candles <= MAX_CANDLES:
        raise InvalidInputError(f"--candles must be from 2 to {MAX_CANDLES}; found {candles}.")
    timeframe_to_ms(timeframe)
    if report is not None and report.suffix.lower() not in (".html", ".htm"):
        raise InvalidInputError(
            f"--report writes HTML: give a path ending in .html; found {str(report)!r}."
        )
    config = state_of(ctx).context().config.exchange
    exchange_id = exchange or config.exchange
    quirks_for(exchange_id)  # an unknown exchange fails here, naming it
    result = asyncio.run(
        collect(
            config,
            exchange_id,
            symbols=wanted,
            top_n=top_n,
            timeframe=timeframe,
            candles=candles,
            screen=screen,
        )
    )
    console = stdout()
    print_summary(result, console)
    if report is not None:
        write_text(report, render_html(result))
        console.print(f"report written to {report}")
    if json_path is not None:
        write_json(json_path, result.as_dict())


async def collect(
    config: ExchangeConfig,
    exchange_id: str,
    *,
    symbols: list[str] | None,
    top_n: int | None,
    timeframe: str,
    candles: int,
    screen: bool = True,
    leader: str = DEFAULT_LEADER,
    limiter: RateLimiter | None = None,
) -> XrayReport:
    """Fetch the snapshot and run the screener through one pooled, rate-limited client.

    Pass the process's ``limiter`` when other clients of the same exchange are running, so
    one budget paces them all (the caller then closes it).
    """
    shared_limiter = limiter is not None
    limiter = limiter if limiter is not None else build_limiter(config)
    pool = build_pool(config, limiter)
    try:
        gateway = await public_gateway(pool, exchange_id)
        with RichProgress(stderr()) as progress:
            snapshot = await take_snapshot(
                gateway,
                symbols=symbols,
                top_n=top_n,
                timeframe=timeframe,
                candles=candles,
                leader=leader,
                progress=progress,
            )
            found = build_report(snapshot, leader=leader)
            if not screen:
                return with_screen(found, None, "the screener was switched off (--no-screen).")
            return await _screen(gateway, found, progress)
    finally:
        await pool.close()
        if limiter is not None and not shared_limiter:
            await limiter.aclose()


async def _screen(gateway: CcxtGateway, found: XrayReport, progress: RichProgress) -> XrayReport:
    # The screen follows the X-ray's market regime, so the page tells one story.
    labels = None if found.market is None else (found.market.trend, found.market.volatility)
    try:
        result = await run_screen(gateway, ScreenConfig(), progress=progress, regime=labels)
    except XraybotError as e:
        return with_screen(found, None, f"the screener failed: {type(e).__name__}: {e}")
    return with_screen(found, result)


class RichProgress:
    """One bar for the candles, then one per screener stage."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def begin(self, symbols: int) -> None:
        self.stage("candles", symbols)

    def fetched(self, symbol: str) -> None:
        self.advance()

    def stage(self, description: str, total: int) -> None:
        if self._task is not None:  # a stage that skipped steps still ends full
            done = next(t for t in self._progress.tasks if t.id == self._task)
            self._progress.update(self._task, completed=done.total)
        self._task = self._progress.add_task(description, total=max(total, 1))

    def advance(self, steps: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, steps)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically: a browser never opens half a report."""
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def print_summary(report: XrayReport, console: Console) -> None:
    """Print the market regime, clusters, movers, anomalies and the screen in a few tables."""
    console.print(
        f"[bold]Market X-ray[/bold] {report.exchange} {report.timeframe}, closed candles up "
        f"to {iso(report.until_ms)}: {len(report.candles)} symbols, {report.requests} "
        f"requests in {report.elapsed_s:.1f} s"
    )
    m = report.market
    if m is not None:
        console.print(
            f"market regime: trend [bold]{m.trend}[/bold] ({m.symbol} {m.leader_trend}, "
            f"breadth {_pct(m.breadth_up)} up / {_pct(m.breadth_down)} down of "
            f"{m.breadth_symbols}), volatility [bold]{m.volatility}[/bold] "
            f"({m.volatility_percentile:.0f}th percentile)"
        )
    else:
        console.print(f"market regime: unknown — {report.notes.get('market', '')}")
    table = Table(title="Symbols")
    for name, justify in (
        ("symbol", "left"),
        ("24h %", "right"),
        ("trend", "left"),
        ("volatility", "left"),
        ("cluster", "right"),
        ("anomalies", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    changes = {mv.symbol: mv.change_pct_24h for mv in report.movers}
    counts: dict[str, int] = {}
    for a in report.anomalies:
        counts[a.symbol] = counts.get(a.symbol, 0) + 1
    labels = report.clustering.labels if report.clustering else {}
    for symbol in report.symbols:
        r = report.regimes.get(symbol)
        change = changes.get(symbol)
        table.add_row(
            symbol,
            "-" if change is None else f"{change:+.2f}",
            r.trend if r else "-",
            f"{r.volatility} ({r.volatility_percentile:.0f})" if r else "-",
            str(labels.get(symbol, "-")),
            str(counts.get(symbol, 0)),
        )
    console.print(table)
    if report.clustering is not None:
        console.print(
            f"{len(report.clustering.clusters)} clusters; one per cluster: "
            f"{', '.join(report.clustering.representatives)}"
        )
    for section, why in report.notes.items():
        console.print(f"[yellow]{section}[/yellow]: {why}")
    if report.screen is not None:
        s = report.screen
        console.print(
            f"screener: {len(s.passed)} of {s.universe_size} passed "
            f"({', '.join(p.symbol for p in s.passed[:10]) or 'none'})"
            + (f"; emptied by {s.emptied_by}" if s.emptied_by else "")
        )


def _pct(share: float) -> str:
    return "-" if share != share else f"{share:.0%}"  # NaN: no other symbols
