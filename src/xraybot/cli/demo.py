"""``xraybot demo``: the embedded demo on 127.0.0.1 (simulator, check, market, paper order,
screen and X-ray), then backtests on the candles bundled in the package, then the risk
layer's decision for the next entry on a few of the simulator's perpetuals, and last three
paper users traded by the embedded runtime on the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from xraybot.cli.exchange import print_check
from xraybot.cli.output import JsonPath, stdout, write_json
from xraybot.cli.xray_cmd import collect, print_summary, write_text
from xraybot.exchange.config import ExchangeConfig
from xraybot.runtime.exchanges import build_limiter
from xraybot.services.demo import DemoReport, running_simulator, tour
from xraybot.xray.report import XrayReport
from xraybot.xray.report_html import render_html

if TYPE_CHECKING:
    from rich.progress import Progress

    from xraybot.services.demo_backtest import DemoBacktest
    from xraybot.services.demo_risk import DemoRisk, RiskRow
    from xraybot.services.demo_trading import DemoTrading

BACKTEST_REPORT = "backtest-report.html"


def demo(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Simulator port.")] = 8800,
    symbols: Annotated[int, typer.Option(min=10, help="Synthetic symbols to list.")] = 2600,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the synthetic market.")] = 0,
    report: Annotated[
        Path, typer.Option(help="Where to write the X-ray report (one self-contained HTML file).")
    ] = Path("xray-report.html"),
    backtest_report: Annotated[
        Path | None,
        typer.Option(
            help=f"Where to write the backtest report; default {BACKTEST_REPORT} next to the "
            "X-ray report.",
            dir_okay=False,
        ),
    ] = None,
    seconds: Annotated[
        float | None,
        typer.Option(help="Keep the simulator up this long afterwards; default until Ctrl-C."),
    ] = None,
    json_path: JsonPath = None,
) -> None:
    """Run the demo: a local MEXC-like exchange, a check, the busiest markets, a paper order,
    a market X-ray, backtests and a walk-forward on the bundled sample, then the risk layer's
    leverage, size, stop and liquidation for the next entry on a few perpetuals, then three
    paper users trading on the simulator for an hour of its time (a few seconds of ours)."""
    console = stdout()
    with console.status(f"starting the simulator with {symbols} synthetic symbols …"):
        simulator = running_simulator(port=port, symbols=symbols, seed=seed)
        sim_url, listed = simulator.__enter__()
    try:
        console.print(f"[green]simulator[/green] {sim_url}: {listed} symbols listed")
        config = ExchangeConfig(exchange="sim", sim_url=sim_url)
        demo_report, xray = asyncio.run(_run(config, listed))
        print_summary(xray, console)
        write_text(report, render_html(xray))
        console.print(f"[green]X-ray report[/green] written to {report.resolve()}")
        backtest_path = backtest_report or report.parent / BACKTEST_REPORT
        backtest = backtest_step(backtest_path, console)
        risk = risk_step(sim_url, console)
        trading = trading_step(sim_url, report.parent, console)
        if json_path is not None:
            payload = _as_json(demo_report)
            payload["xray_report"] = str(report.resolve())
            payload["screen"] = None if xray.screen is None else xray.screen.as_dict()
            payload["backtest"] = backtest.as_dict() | {"report": str(backtest_path.resolve())}
            payload["risk"] = risk.as_dict()
            payload["trading"] = trading.as_dict()
            write_json(json_path, payload)
        _linger(sim_url, seconds)
    finally:
        simulator.__exit__(None, None, None)


async def _run(config: ExchangeConfig, listed: int) -> tuple[DemoReport, XrayReport]:
    # One limiter for every client of the demo: the simulator enforces MEXC's limits
    # (contract/detail: once per 5 s) across them all, as MEXC would.
    limiter = build_limiter(config)
    console = stdout()
    try:
        with console.status("checking the exchange, ranking markets, placing a paper order …"):
            demo_report = await tour(config.sim_url, listed, limiter)
        _print(demo_report)
        console.print("screening the whole universe and taking an X-ray of the market …")
        xray = await collect(
            config, "sim", symbols=None, top_n=30, timeframe="1h", candles=500, limiter=limiter
        )
    finally:
        if limiter is not None:
            await limiter.aclose()
    return demo_report, xray


def _linger(sim_url: str, seconds: float | None) -> None:
    if seconds == 0:
        return
    console = stdout()
    console.print(
        f"\nThe simulator keeps running at {sim_url} "
        f"({'Ctrl-C stops it' if seconds is None else f'for {seconds:g} s'}). Try:\n"
        f"  XRAYBOT_SIM_URL={sim_url} .venv/bin/xraybot exchange check"
    )
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        console.print("stopped")


def _print(report: DemoReport) -> None:
    console = stdout()
    print_check(report.check)
    table = Table(title="busiest spot markets (24h quote volume)")
    for column in ("symbol", "last", "24h volume (USDT)", "spread %"):
        table.add_column(column, justify="right" if column != "symbol" else "left")
    for ticker in report.top_by_volume:
        spread = ticker.spread_pct
        table.add_row(
            ticker.symbol,
            f"{ticker.last:,}",
            f"{ticker.quote_volume_24h:,.0f}",
            "-" if spread is None else f"{spread:.3f}",
        )
    console.print(table)
    order = report.paper_order
    console.print(
        f"paper order: {order.side} {order.filled} {order.symbol} at {order.average_price} "
        f"({order.status}); USDT {report.paper_usdt_before:,.2f} → {report.paper_usdt_after:,.2f}"
    )


def _as_json(report: DemoReport) -> dict[str, object]:
    order = report.paper_order
    return {
        "sim_url": report.sim_url,
        "symbols": report.symbols,
        "check": report.check.as_dict(),
        "top_by_volume": [
            {"symbol": t.symbol, "last": t.last, "quote_volume_24h": t.quote_volume_24h}
            for t in report.top_by_volume
        ],
        "paper_order": {
            "symbol": order.symbol,
            "side": order.side.value,
            "status": order.status.value,
            "filled": order.filled,
            "average_price": order.average_price,
            "client_order_id": order.client_order_id,
        },
        "paper_usdt_before": report.paper_usdt_before,
        "paper_usdt_after": report.paper_usdt_after,
    }


# -- the backtest step ------------------------------------------------------------------


def backtest_step(path: Path, console: Console) -> DemoBacktest:
    """Backtest built-ins on the bundled sample, print the figures, write the HTML report."""
    from xraybot.services.demo_backtest import render_report, sample_backtest

    console.print("backtesting built-in strategies on the bundled sample (Binance 1h, 2025) …")
    with _Bar(console) as bar:
        backtest = sample_backtest(progress=bar)
    print_backtest(backtest, console)
    write_text(path, render_report(backtest))
    console.print(f"[green]backtest report[/green] written to {path.resolve()}")
    first = backtest.runs[0].result
    console.print(
        "[dim]try: .venv/bin/xraybot backtest --strategy ema_cross --data-dir "
        f"{_sample_dir()} --exchange {first.exchange} --symbols {first.symbol} "
        f"--timeframe {first.timeframe} --report report.html[/dim]"
    )
    return backtest


def _sample_dir() -> Path:
    from xraybot.data.sample import sample_dir

    return sample_dir()


def print_backtest(backtest: DemoBacktest, console: Console) -> None:
    """The backtests in one table, the walk-forward in a few lines."""
    s = backtest.settings
    table = Table(
        title=f"backtests on the bundled sample ({backtest.exchange} {backtest.timeframe}; "
        f"fee {s.fee_rate:.1%}, stake {s.stake}, {s.equity:,.0f} USDT each)"
    )
    for column in ("symbol", "strategy", "trades", "return", "buy & hold", "Sharpe", "max DD"):
        table.add_column(column, justify="left" if column in ("symbol", "strategy") else "right")
    for run in backtest.runs:
        m = run.metrics
        table.add_row(
            run.result.symbol,
            run.result.strategy,
            str(m.trades),
            _signed(m.total_return),
            _signed(m.buy_and_hold_return),
            _number(m.sharpe),
            _number(m.max_drawdown, ".1%"),
        )
    console.print(table)
    wf = backtest.walk_forward
    if wf is None:
        return
    r = wf.report
    console.print(
        f"walk-forward of {r.strategy} on {wf.symbol}: {len(r.windows)} {r.mode} windows, "
        f"{r.trials} {r.sampler} trials each, optimizing {r.objective} in-sample"
    )
    for w in r.windows:
        oos = w.oos_metrics.get(wf.symbol)
        params = ", ".join(f"{k}={v}" for k, v in w.params.items())
        console.print(
            f"  window {w.window.index + 1}: picked {params} → out-of-sample "
            + ("no run" if oos is None else f"{_signed(oos.total_return)}, {oos.trades} trades")
        )
    combined = wf.oos_metrics
    efficiency = "-" if r.efficiency is None else f"{r.efficiency:.2f}"
    console.print(
        "  out-of-sample overall: "
        + ("-" if combined is None else f"{_signed(combined.total_return)} ")
        + f"(walk-forward efficiency {efficiency}; 1 = out-of-sample kept the in-sample pace)"
    )


def _signed(value: float) -> str:
    return _number(value, "+.1%")


def _number(value: float, spec: str = ".2f") -> str:
    return format(value, spec) if value == value and abs(value) != float("inf") else "-"


# -- the risk step ----------------------------------------------------------------------


def risk_step(sim_url: str, console: Console) -> DemoRisk:
    """Explain the next entry on a few of the simulator's perpetuals and print the table."""
    from xraybot.services.demo_risk import risk_tour

    with console.status("explaining the next entry: leverage, size, stop, liquidation …"):
        risk = asyncio.run(risk_tour(sim_url))
    print_risk(risk, console)
    first = risk.rows[0].symbol if risk.rows else "BTC/USDT"
    console.print(
        f"[dim]try: XRAYBOT_SIM_URL={sim_url} .venv/bin/xraybot risk explain --exchange sim "
        f"--config examples/risk.toml --symbol {first}[/dim]"
    )
    return risk


def print_risk(risk: DemoRisk, console: Console) -> None:
    """One row per symbol (stop, leverage, liquidation, size, verdicts), then why the
    leverages differ and, for an entry refused, why."""
    p = risk.profile
    stops = [f"{p.exits.stop_loss_pct:.0%}"] if p.exits.stop_loss_pct is not None else []
    stops += [f"{p.exits.stop_loss_atr:g} ATR"] if p.exits.stop_loss_atr is not None else []
    stake = (
        f"lose {p.sizing.amount:.0%} at the stop"
        if p.sizing.mode == "risk"
        else f"{p.sizing.mode} {p.sizing.amount:g}"
    )
    table = Table(
        title=f"risk of the next long entry on USDT perpetuals ({risk.equity:,.0f} USDT "
        f"equity; {stake}, stop {' or '.join(stops) or 'none'}, leverage cap "
        f"{p.leverage.max}x, margin x{p.margin_multiplier:g})"
    )
    columns = ["symbol", "stop", "leverage", "liquidation (past stop)", "size (margin)"]
    for column in (*columns, "limits", "protections", "min deposit"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    refused = []
    for row in risk.rows:
        table.add_row(*_risk_cells(row))
        e = row.explanation
        if e is None:
            refused.append(f"{row.symbol}: {row.refusal}")
        elif not e.allowed:
            refused.append(f"{row.symbol}: {'; '.join(e.verdict)}")
    console.print(table)
    for line in refused:
        console.print(f"  [red]no entry[/red] {line}", highlight=False)
    console.print(f"why the leverages differ: {risk.why}", highlight=False)


def _risk_cells(row: RiskRow) -> tuple[str, ...]:
    from xraybot.services.demo_risk import BOUND_LABELS

    e = row.explanation
    if e is None:
        return (row.symbol, *("-",) * 3, "[red]never[/red]", *("-",) * 3)
    entry, lev, sizing = e.entry, e.leverage, e.sizing
    stop = "-"
    if entry.stop_price is not None and entry.stop_distance is not None:
        stop = f"{entry.stop_price:,.6g} (-{entry.stop_distance:.2%})"
    leverage = f"{e.leverage_value}x"
    if lev is not None:
        leverage += f" {BOUND_LABELS.get(lev.bound_by, lev.bound_by)}"
    liquidation = "-"
    if lev is not None and lev.liquidation_price is not None:
        beyond = (lev.stop_to_liquidation or 0.0) / lev.entry_price
        liquidation = f"{lev.liquidation_price:,.6g} ({beyond:+.2%})"
    size = f"{e.notional:,.2f} ({sizing.margin:,.2f})" if e.allowed else "[red]refused[/red]"
    limits = "-"
    if e.limits is not None:
        limits = "pass" if e.limits.allowed else "shrunk" if e.allowed else "block"
    protections = "clear" if e.protections.allowed else f"{e.protections.blocked_by}"
    deposit = "-" if e.deposit is None else f"{e.deposit.minimum_deposit:,.2f}"
    return (row.symbol, stop, leverage, liquidation, size, limits, protections, deposit)


# -- the paper-trading step -------------------------------------------------------------


def trading_step(sim_url: str, folder: Path, console: Console) -> DemoTrading:
    """Trade three paper users on the simulator for a few dozen candles and print them."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    from xraybot.services.demo_trading import DEMO_USERS, paper_trading

    console.print(
        f"paper trading {len(DEMO_USERS)} users on the simulator, its clock moved one "
        "1m candle at a time …"
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with (
        _quiet("xraybot.runtime", "xraybot.trading"),
        RichProgress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar,
    ):
        task = bar.add_task("candles", total=None)
        trading = asyncio.run(
            paper_trading(
                sim_url,
                folder,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        )
    print_trading(trading, console)
    return trading


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    # Every order and monitor action is logged at INFO; the tables below say it once.
    import structlog

    if not structlog.is_configured():  # the demo sets no logging: keep stdout for tables
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        )
        try:
            yield
        finally:
            structlog.reset_defaults()
        return
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def print_trading(trading: DemoTrading, console: Console, last: int = 3) -> None:
    """A summary row per user, then each user's last few trades."""
    table = Table(
        title=f"paper trading on the simulator: {trading.candles} {trading.timeframe} candles, "
        f"{trading.orders} orders, {trading.seconds:.1f} s"
    )
    for column in ("user", "strategy", "symbol", "trades", "realized PnL", "open position"):
        table.add_column(
            column, justify="right" if column in ("trades", "realized PnL") else "left"
        )
    for r in trading.users:
        p = r.position
        held = "-" if p is None else f"{p.direction.value} {p.amount:,} @ {p.entry_price:,}"
        table.add_row(
            r.user.user_id,
            r.user.strategy,
            r.user.symbol,
            str(len(r.trades)),
            f"{r.realized_pnl:+,.2f} USDT",
            held,
        )
    console.print(table)
    for r in trading.users:
        if not r.trades:
            continue
        params = ", ".join(f"{k}={v}" for k, v in r.user.params.items())
        trades = Table(
            title=f"{r.user.user_id} ({r.user.strategy}: {params}): last "
            f"{min(last, len(r.trades))} of {len(r.trades)} trades"
        )
        left = ("entry UTC", "exit UTC", "reason")
        for column in (*left[:2], "amount", "entry price", "exit price", "net PnL", left[2]):
            trades.add_column(column, justify="left" if column in left else "right")
        for t in r.trades[-last:]:
            trades.add_row(
                _hhmm(t.entry_ts_ms),
                _hhmm(t.exit_ts_ms),
                f"{t.amount:,}",
                f"{t.entry_price:,}",
                f"{t.exit_price:,}",
                f"{t.net_pnl:+,.2f}",
                t.exit_reason,
            )
        console.print(trades)
    if trading.errors:
        console.print(f"[red]{trading.errors} step errors[/red] (see the log)")
    console.print(f"[green]journal[/green] of the demo users: {trading.journal}")


def _hhmm(ts_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%H:%M")


class _Bar:
    """A transient progress bar for the backtest step (the service's ``Progress``)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        self._progress: Progress = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: Any = None

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def stage(self, description: str, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=False)
        self._task = self._progress.add_task(description, total=max(1, total))

    def advance(self, steps: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, steps)
