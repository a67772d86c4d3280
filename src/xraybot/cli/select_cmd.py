"""``xraybot select``: screen, backtest the survivors out of sample, keep the ones that pass.

Two sources, as for ``xraybot screen``: live (``--exchange`` alone) screens the exchange now,
downloads what the store lacks of the survivors' candles (resuming, with a progress bar) and
backtests them; stored (``--data-dir`` and/or ``--as-of``) screens the store as of a past
time (default: the newest stored candle) and reads candles closed by then, asking no exchange
anything. Every survivor ends selected or rejected with its reasons; results come from the
backtest result cache when nothing changed (``--no-cache`` skips it).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from xraybot.cli.backtest_cache import open_cache
from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.cli.parsing import parse_time_ms
from xraybot.data.config import resolve_data_dir
from xraybot.model.errors import InvalidInputError

if TYPE_CHECKING:
    from xraybot.backtest.select import SelectionConfig, SelectionReport, SymbolSelection
    from xraybot.data.download import DownloadReport
    from xraybot.data.store import CandleStore
    from xraybot.exchange.config import ExchangeConfig
    from xraybot.model.candles import Candles
    from xraybot.xray.config import ScreenConfig
    from xraybot.xray.screen_result import ScreenResult

DAY_MS = 86_400_000
Threshold = Annotated[str | None, typer.Option(show_default=False)]


def register(app: typer.Typer) -> None:
    """Add ``xraybot select`` to ``app``."""
    app.command("select")(select)


def select(
    ctx: typer.Context,
    exchange: Annotated[
        str | None,
        typer.Option(help="mexc, sim or another ccxt exchange id; default from the config."),
    ] = None,
    screen_config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Screen TOML with a \\[screen] table (examples/screen.toml); default: the "
            "built-in screen.",
            dir_okay=False,
        ),
    ] = None,
    select_config: Annotated[
        Path | None,
        typer.Option(
            "--select-config",
            help="Selection TOML with a \\[select] table (examples/select.toml).",
            dir_okay=False,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Screen and backtest this store as of --as-of (default: its newest candle); "
            "without it the exchange is screened live and the default store is used.",
            file_okay=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Stored data as of this ISO date/time (UTC) or epoch ms."),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(help='A strategy name or FILE.py[:Class], or "auto" (the recommended one).'),
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Backtest candles, e.g. 1h (default: the select config).")
    ] = None,
    top: Annotated[
        int | None, typer.Option(help="Backtest the screen's N best (overrides its top).")
    ] = None,
    min_return: Annotated[
        str | None, typer.Option(help='OOS total return, 0.05 = 5 % ("off" to skip).')
    ] = None,
    min_sharpe: Annotated[str | None, typer.Option(help='OOS Sharpe ("off" to skip).')] = None,
    max_drawdown: Annotated[
        str | None, typer.Option(help='OOS max drawdown, 0.25 = 25 % ("off" to skip).')
    ] = None,
    min_trades: Annotated[str | None, typer.Option(help='OOS trades ("off" to skip).')] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Always recompute; do not read or write the cache.")
    ] = False,
    json_path: JsonPath = None,
) -> None:
    """Backtest the screener's survivors out of sample; keep those that pass the thresholds."""
    from xraybot.backtest.select import load_select_config, select_config_from, select_symbols
    from xraybot.cli.screen import RichProgress
    from xraybot.cli.state import state_of
    from xraybot.exchange.quirks import quirks_for
    from xraybot.xray.config import ScreenConfig, load_screen_config

    chosen = load_select_config(select_config) if select_config is not None else None
    base = chosen.model_dump(exclude_unset=True) if chosen is not None else {}
    options = {
        "strategy": strategy,
        "timeframe": timeframe,
        "min_return": min_return,
        "min_sharpe": min_sharpe,
        "max_drawdown": max_drawdown,
        "min_trades": min_trades,
    }
    given = {k: v for k, v in options.items() if v is not None}
    if "strategy" in given and given["strategy"] != base.get("strategy"):
        base.pop("params", None)  # the file's params belong to the file's strategy
    config = select_config_from({**base, **given}, where="the select config and options")
    screen = load_screen_config(screen_config) if screen_config is not None else ScreenConfig()
    if top is not None:
        if top < 1:
            raise InvalidInputError(f"--top must be at least 1; found {top}.")
        screen = screen.with_changes(top=top)
    as_of_ms = parse_time_ms(as_of, "--as-of") if as_of is not None else None
    exchange_config = state_of(ctx).context().config.exchange
    exchange_id = exchange or exchange_config.exchange
    quirks_for(exchange_id)  # an unknown exchange fails here, naming it
    stored = data_dir is not None or as_of is not None
    root = resolve_data_dir(data_dir)
    found = asyncio.run(
        _gather(exchange_config, exchange_id, screen, config, root, stored=stored, as_of=as_of_ms)
    )
    cache = None if no_cache else open_cache(ctx)
    try:
        with RichProgress(stderr()) as progress:
            report = select_symbols(
                found.candles, config, exchange=exchange_id, cache=cache, progress=progress
            )
    finally:
        if cache is not None:
            cache.close()
    report = _with_missing(report, found, config)
    if json_path is not None:
        write_json(json_path, _json(report, found, exchange_id, root))
    print_report(report, found, stdout())


# -- the data: screen, then candles ----------------------------------------------------------


@dataclass(slots=True)
class Found:
    """The screen's result and the survivors' candles, or why a survivor has none."""

    screen: ScreenResult
    order: list[str]  # the survivors, best first
    candles: dict[str, Candles] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    download: DownloadReport | None = None
    start_ms: int = 0
    end_ms: int | None = None


async def _gather(
    exchange_config: ExchangeConfig,
    exchange_id: str,
    screen: ScreenConfig,
    config: SelectionConfig,
    root: Path,
    *,
    stored: bool,
    as_of: int | None,
) -> Found:
    from xraybot.cli.screen import RichProgress
    from xraybot.data.store import CandleStore
    from xraybot.data.universe import UniverseStore
    from xraybot.model.candles import timeframe_to_ms
    from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway
    from xraybot.xray.screener import run_screen

    history_ms = math.ceil(config.history_days * DAY_MS)
    tf_ms = timeframe_to_ms(config.timeframe)
    if stored:
        store = CandleStore(root)
        as_of = as_of if as_of is not None else _newest_close(store, exchange_id, screen.timeframe)
        with RichProgress(stderr()) as progress:
            result = await run_screen(
                exchange_id,
                screen,
                store=store,
                universe=UniverseStore(root),
                as_of_ms=as_of,
                progress=progress,
            )
        found = Found(result, [r.symbol for r in result.passed], start_ms=as_of - history_ms)
        found.end_ms = as_of - tf_ms + 1  # candles closed by as-of: open + tf <= as-of
        _load(found, root, exchange_id, config.timeframe)
        return found
    limiter = build_limiter(exchange_config)
    pool = build_pool(exchange_config, limiter)
    try:
        gateway = await public_gateway(pool, exchange_id)
        with RichProgress(stderr()) as progress:
            result = await run_screen(gateway, screen, progress=progress)
        found = Found(result, [r.symbol for r in result.passed])
        if found.order:
            found.start_ms = await gateway.fetch_time() - history_ms
            found.download = await _download(gateway, root, exchange_id, config, found)
    finally:
        await pool.close()
        if limiter is not None:
            await limiter.aclose()
    _load(found, root, exchange_id, config.timeframe)
    return found


async def _download(
    gateway: Any, root: Path, exchange_id: str, config: SelectionConfig, found: Found
) -> DownloadReport:
    from xraybot.cli.data_download import RichProgress as DownloadProgress
    from xraybot.data.download import download
    from xraybot.data.store import CandleStore
    from xraybot.data.universe import UniverseStore

    with DownloadProgress(stderr()) as progress:
        return await download(
            gateway,
            CandleStore(root),
            UniverseStore(root),
            exchange_id=exchange_id,
            symbols=found.order,
            timeframe=config.timeframe,
            since_ms=found.start_ms,
            chunk_candles=gateway.quirks.max_ohlcv_per_call,
            progress=progress,
        )


def _load(found: Found, root: Path, exchange_id: str, timeframe: str) -> None:
    from xraybot.data.download import SymbolStatus
    from xraybot.data.series import load_one
    from xraybot.model.errors import XraybotError

    problems = {}
    if found.download is not None:
        bad = (SymbolStatus.FAILED, SymbolStatus.UNKNOWN, SymbolStatus.EMPTY)
        problems = {s.symbol: s.note or s.status.value for s in found.download.with_status(*bad)}
    for symbol in found.order:
        try:
            candles = load_one(root, exchange_id, symbol, timeframe, found.start_ms, found.end_ms)
        except XraybotError as e:  # one unreadable series rejects its symbol, not the run
            note = f" (download: {problems[symbol]})" if symbol in problems else ""
            found.missing[symbol] = f"no {timeframe} candles: {e}{note}"
            continue
        if len(candles):
            found.candles[symbol] = candles
        else:
            note = f": download {problems[symbol]}" if symbol in problems else ""
            found.missing[symbol] = f"no {timeframe} candles stored in the window{note}"


def _newest_close(store: CandleStore, exchange_id: str, timeframe: str) -> int:
    from xraybot.model.candles import timeframe_to_ms

    lasts = [
        store.last_ts(exchange_id, key.symbol, timeframe)
        for key in store.series(exchange_id)
        if key.timeframe == timeframe
    ]
    known = [t for t in lasts if t is not None]
    if not known:
        raise InvalidInputError(
            f"no {timeframe} candles of {exchange_id} in {store.root}; give --as-of, fill the "
            f"store (`xraybot data download --exchange {exchange_id} ...` or `xraybot data "
            "import`), or drop --data-dir to screen the exchange live."
        )
    return max(known) + timeframe_to_ms(timeframe)


def _with_missing(
    report: SelectionReport, found: Found, config: SelectionConfig
) -> SelectionReport:
    """Put the survivors without candles into the report, rejected, in the screen's order."""
    from xraybot.backtest.select import SymbolSelection

    by_symbol = {s.symbol: s for s in report.symbols}
    judged = None if config.is_auto else config.strategy
    for symbol, reason in found.missing.items():
        by_symbol[symbol] = SymbolSelection(symbol, False, "data", (reason,), judged, 0, 0)
    return replace(report, symbols=tuple(by_symbol[s] for s in found.order if s in by_symbol))


# -- output -----------------------------------------------------------------------------------


def _json(report: SelectionReport, found: Found, exchange_id: str, root: Path) -> dict[str, Any]:
    return {
        **report.to_dict(),
        "exchange": exchange_id,
        "as_of_ms": found.screen.as_of_ms,
        "data_dir": str(root),
        "window": {"start_ms": found.start_ms, "end_ms": found.end_ms},
        "screen": found.screen.as_dict(),
        "download": None if found.download is None else found.download.as_dict(),
    }


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:+.2%}"


def _why(s: SymbolSelection) -> str:
    return "; ".join(s.reasons)


def _row(s: SymbolSelection) -> list[str]:
    m = s.run.metrics if s.run is not None else None
    rec = s.recommendation
    recommended = "-"
    if rec is not None and rec.strategy is not None:
        recommended = rec.strategy + (" (fallback)" if rec.fell_back else "")
    return [
        s.symbol,
        "[green]selected[/green]" if s.selected else f"[red]rejected[/red] ({s.stage})",
        _why(s) or "-",
        s.strategy or "-",
        "-" if m is None else _pct(m.total_return),
        "-" if m is None or math.isnan(m.sharpe) else f"{m.sharpe:.2f}",
        "-" if m is None else f"{m.max_drawdown:.2%}",
        "-" if m is None else str(m.trades),
        (rec.regime or "unknown") if rec is not None else "-",
        recommended,
    ]


def print_report(report: SelectionReport, found: Found, console: Console) -> None:
    """Print one row per survivor, the cache counts, and a summary line."""
    table = Table(title=f"{len(report.selected)} of {len(report.symbols)} survivors selected")
    for name, justify in (
        ("symbol", "left"), ("verdict", "left"), ("why not", "left"), ("strategy", "left"),
        ("OOS return", "right"), ("Sharpe", "right"), ("max DD", "right"), ("trades", "right"),
        ("regime", "left"), ("recommended", "left"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in report.symbols:
        table.add_row(*_row(s))
    if report.symbols:
        console.print(table)
    cache = report.cache
    if cache.enabled:
        console.print(
            f"cache: {cache.hits} from cache, {cache.computed} computed, "
            f"{len(cache.recomputed)} recomputed, {len(cache.uncached)} not cached"
        )
        for symbol, strategy, reason in (*cache.recomputed, *cache.uncached):
            console.print(f"  {symbol} {strategy}: {reason}")
    else:
        console.print(f"cache: off (--no-cache), {cache.computed} computed")
    for note in report.notes:
        console.print(f"note: {note}")
    screen = found.screen
    where = screen.exchange
    if screen.as_of_ms is not None:
        moment = datetime.fromtimestamp(screen.as_of_ms / 1000, tz=UTC)
        where += f" as of {moment:%Y-%m-%d %H:%MZ}"
    kept = ", ".join(s.symbol for s in report.selected) or "none"
    console.print(
        f"{where}: {len(screen.passed)} of {screen.universe_size} symbols survived the screen; "
        f"{len(report.selected)} selected ({kept}) in {report.elapsed_s:.1f} s."
    )
