"""``xraybot backtest``: a strategy over stored candles through the fast kernel.

Each symbol is an independent account unless ``--portfolio`` shares one account between them
(with ``--max-open-trades``). The risk layer sizes entries (``--sizing``, ``--auto-leverage``)
and, with ``--risk-rules`` or any protection or limit option, blocks or shrinks them as the
live bot would; the ``risk`` section of ``--json`` counts the refused entries per reason.
Results are served from the result cache when the candles, the strategy, its parameters, the
settings and the code are unchanged (``--no-cache`` skips it; so does the risk layer, whose
report the cache does not keep).
Heavy modules (numba kernel, plotly) are imported inside the command, so the process starts
fast.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xraybot.cli import research as opt
from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.model.errors import InvalidInputError

if TYPE_CHECKING:
    from xraybot.backtest.metrics import Metrics
    from xraybot.backtest.results import BacktestResult


def backtest(
    ctx: typer.Context,
    strategy: opt.StrategyOpt,
    exchange: opt.ExchangeOpt,
    symbols: opt.SymbolsOpt,
    timeframe: opt.TimeframeOpt = "1h",
    params: opt.ParamsOpt = None,
    data_dir: opt.DataDirOpt = None,
    start: opt.StartOpt = None,
    end: opt.EndOpt = None,
    equity: opt.EquityOpt = 10_000.0,
    fee: opt.FeeOpt = 0.001,
    slippage_bps: opt.SlippageBpsOpt = 0.0,
    slippage_atr: opt.SlippageAtrOpt = 0.0,
    stake: opt.StakeOpt = "all",
    stake_amount: opt.StakeAmountOpt = 1.0,
    market: opt.MarketOpt = "spot",
    directions: opt.DirectionsOpt = "long",
    leverage: opt.LeverageOpt = 1.0,
    funding_rate: opt.FundingOpt = 0.0,
    max_open_trades: opt.MaxOpenOpt = 1,
    stop_loss: opt.StopLossOpt = None,
    take_profit: opt.TakeProfitOpt = None,
    trailing: opt.TrailingOpt = None,
    time_exit: opt.TimeExitOpt = None,
    risk_rules: opt.RiskRulesOpt = False,
    sizing: opt.SizingOpt = "stake",
    risk_per_trade: opt.RiskPerTradeOpt = 0.01,
    target_volatility: opt.TargetVolOpt = 0.01,
    auto_leverage: opt.AutoLeverageOpt = False,
    cooldown: opt.CooldownOpt = None,
    max_drawdown_stop: opt.MaxDrawdownStopOpt = None,
    daily_loss: opt.DailyLossOpt = None,
    max_exposure: opt.MaxExposureOpt = None,
    kill_at: opt.KillAtOpt = None,
    portfolio: Annotated[
        bool, typer.Option("--portfolio", help="Share one account between all the symbols.")
    ] = False,
    monte_carlo: Annotated[
        int,
        typer.Option(
            "--monte-carlo", help="Resample each trade sequence this many times (0: off)."
        ),
    ] = 0,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Write an HTML report (equity, drawdown, trades).", dir_okay=False
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Always recompute; do not read or write the cache.")
    ] = False,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="Run the live engine against the local simulator replaying these candles, "
            "instead of the kernel: spot, or its perpetuals with --market swap (no funding). "
            "Much slower (tens of ms per candle).",
        ),
    ] = False,
    json_path: JsonPath = None,
) -> None:
    """Backtest a strategy on stored candles: trades, metrics, buy-and-hold, HTML report."""
    from xraybot.backtest.metrics import compute_metrics
    from xraybot.strategy.registry import load_strategy

    started = time.perf_counter()
    chosen = load_strategy(strategy)
    resolved = chosen.resolve(opt.parse_params(params))
    exits = opt.exit_overrides(
        chosen,
        resolved,
        stop_loss=stop_loss,
        take_profit=take_profit,
        trailing=trailing,
        time_exit=time_exit,
    )
    risk, rules_on = opt.build_risk(
        risk_rules=risk_rules,
        sizing=sizing,
        risk_per_trade=risk_per_trade,
        target_volatility=target_volatility,
        auto_leverage=auto_leverage,
        cooldown=cooldown,
        max_drawdown_stop=max_drawdown_stop,
        daily_loss=daily_loss,
        max_exposure=max_exposure,
        kill_at=kill_at,
    )
    settings = opt.build_settings(
        equity=equity,
        fee=fee,
        slippage_bps=slippage_bps,
        slippage_atr=slippage_atr,
        stake=stake,
        stake_amount=stake_amount,
        market=market,
        directions=directions,
        leverage=leverage,
        funding_rate=funding_rate,
        max_open_trades=max_open_trades,
        exits=exits,
        risk=risk,
        risk_rules=rules_on,
    )
    if settings.risk_layer is not None and not no_cache:
        # The cache keeps trades and curves, not the risk report: recompute.
        no_cache = True
        stderr().print("cache: skipped (the risk layer is on)")
    if monte_carlo < 0:
        raise InvalidInputError(f"--monte-carlo must be >= 0 runs; found {monte_carlo}.")
    series = opt.load_candles(data_dir, exchange, symbols, timeframe, start, end)
    if replay:
        if portfolio:
            raise InvalidInputError(
                "--replay runs each symbol's own paper account; found --portfolio too. "
                "Drop one of them."
            )
        _run_replay(series, strategy, chosen, resolved, settings, json_path, started)
        return
    cache_outcomes: dict[str, str] = {}
    portfolio_payload: dict[str, Any] | None = None
    if portfolio:
        from xraybot.backtest.portfolio import run_portfolio

        with _progress(stderr()) as bar:
            task = bar.add_task("portfolio", total=1)
            combined = run_portfolio(series, chosen, resolved, settings, exchange=exchange)
            bar.advance(task)
        results = list(combined.results)
        portfolio_payload = combined.summary()
    else:
        results = _run_each(
            ctx, series, chosen, resolved, settings, exchange, no_cache, cache_outcomes
        )
    metrics = [compute_metrics(result) for result in results]
    payload: dict[str, Any] = {
        "strategy": chosen.name,
        "params": resolved,
        "settings": _settings_dict(settings),
        "results": [
            _result_dict(result, m, cache_outcomes.get(result.symbol), monte_carlo)
            for result, m in zip(results, metrics, strict=True)
        ],
        "elapsed_s": round(time.perf_counter() - started, 3),
    }
    if portfolio_payload is not None:
        payload["portfolio"] = portfolio_payload
    if json_path is not None:
        write_json(json_path, payload)
    if report is not None:
        from xraybot.backtest.report import write_report

        write_report(results, metrics, report, title=f"{chosen.name} backtest")
    _print(stdout(), results, metrics, cache_outcomes, report)
    if portfolio_payload is not None:
        _print_portfolio(stdout(), portfolio_payload)


def _run_each(
    ctx: typer.Context,
    series: list[Any],
    chosen: Any,
    resolved: dict[str, Any],
    settings: Any,
    exchange: str,
    no_cache: bool,
    outcomes: dict[str, str],
) -> list[BacktestResult]:
    cache = None if no_cache else _open_cache(ctx)
    results: list[BacktestResult] = []
    with _progress(stderr()) as bar:
        task = bar.add_task("backtest", total=len(series))
        for candles in series:

            def run(candles: Any = candles) -> BacktestResult:
                # Imported on a cache miss only: a hit never loads numba.
                from xraybot.backtest.engine import run_backtest

                return run_backtest(candles, chosen, resolved, settings, exchange=exchange)

            if cache is None:
                results.append(run())
            else:
                result, outcome = cache.get_or_run(
                    candles, chosen, resolved, settings, run, exchange=exchange
                )
                outcomes[candles.symbol] = outcome.status
                if outcome.reason:
                    stderr().print(f"cache {candles.symbol}: {outcome.status} ({outcome.reason})")
                results.append(result)
            bar.update(task, advance=1, description=f"backtest {candles.symbol}")
    if cache is not None:
        cache.close()
    return results


def _run_replay(
    series: list[Any],
    spec: str,
    chosen: Any,
    resolved: dict[str, Any],
    settings: Any,
    json_path: Path | None,
    started: float,
) -> None:
    from xraybot.runtime.replay import replay

    with _progress(stderr()) as bar:
        task = bar.add_task("replay", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = replay(
            {c.symbol: c for c in series},
            chosen,
            resolved,
            settings,
            strategy_spec=spec,
            progress=progress,
        )
    rows = {symbol: trades.to_dicts() for symbol, trades in result.trades.items()}
    if json_path is not None:
        write_json(
            json_path,
            {
                "mode": "replay",
                "strategy": chosen.name,
                "params": resolved,
                "settings": _settings_dict(settings),
                "results": [
                    {
                        "symbol": symbol,
                        "first_decision_ts": result.first_decision_ts[symbol],
                        "trades": trades,
                    }
                    for symbol, trades in rows.items()
                ],
                "decisions": result.decisions,
                "errors": result.errors,
                "elapsed_s": round(time.perf_counter() - started, 3),
            },
        )
    table = Table(title="backtest --replay", title_justify="left")
    for column in ("symbol", "trades", "net pnl", "exits"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for symbol, trades in result.trades.items():
        reasons = Counter(t["exit_reason"] for t in rows[symbol])
        table.add_row(
            symbol,
            str(len(trades)),
            f"{float(trades.pnl.sum()):+,.2f}",
            " ".join(f"{_EXIT_LABELS.get(n, n)} {c}" for n, c in sorted(reasons.items())),
        )
    stdout().print(table)
    stdout().print(f"replay: {result.decisions} decisions, {result.errors} errors")


def _open_cache(ctx: typer.Context) -> Any:
    from xraybot.cli.backtest_cache import open_cache

    return open_cache(ctx)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _settings_dict(settings: Any) -> dict[str, Any]:
    from dataclasses import asdict, fields

    document = {f.name: getattr(settings, f.name) for f in fields(settings)}
    if settings.exits is not None:
        document["exits"] = asdict(settings.exits)
    if settings.risk is not None:
        document["risk"] = settings.risk.to_dict()
    return document


def _result_dict(
    result: BacktestResult, metrics: Metrics, cache: str | None, monte_carlo: int
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "exchange": result.exchange,
        "symbol": result.symbol,
        "timeframe": result.timeframe,
        "candles": result.candles,
        "start_ts": int(result.ts_ms[0]) if result.candles else None,
        "end_ts": int(result.ts_ms[-1]) if result.candles else None,
        "trades": result.trades.to_dicts(),
        "metrics": metrics.to_dict(),
    }
    if result.risk is not None:
        entry["risk"] = result.risk.to_dict()
    if cache is not None:
        entry["cache"] = cache
    if monte_carlo:
        from xraybot.backtest.robustness import monte_carlo as resample

        entry["monte_carlo"] = resample(
            result.trades, result.settings.equity, runs=monte_carlo
        ).to_dict()
    return entry


_EXIT_LABELS = {
    "signal": "sig",
    "stop_loss": "SL",
    "take_profit": "TP",
    "trailing": "trail",
    "liquidation": "liq",
    "time": "time",
    "end": "end",
}


def _print_portfolio(console: Console, summary: dict[str, Any]) -> None:
    m = summary["metrics"]
    console.print(
        f"portfolio ({summary['max_open_trades']} open at most, shared capital): "
        f"return {m['total_return']:+.2%}, Sharpe {m['sharpe'] or 0:.2f}, "
        f"max DD {m['max_drawdown']:.2%}, {m['trades']} trades, "
        f"final equity {summary['final_equity']:,.2f}"
    )
    risk = summary.get("risk")
    if risk is not None:
        _print_risk(console, "portfolio", risk["blocked"], risk["shrunk"])


def _print_risk(
    console: Console, label: str, blocked: dict[str, int], shrunk: dict[str, int]
) -> None:
    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"

    line = f"risk {label}: entries blocked: {listed(blocked)}"
    if shrunk:
        line += f"; shrunk: {listed(shrunk)}"
    console.print(line)


def _print(
    console: Console,
    results: list[BacktestResult],
    metrics: list[Metrics],
    cache: dict[str, str],
    report: Path | None,
) -> None:
    table = Table(title="backtest", title_justify="left")
    for column in ("symbol", "candles", "trades", "return", "B&H", "Sharpe", "max DD"):
        table.add_column(column, justify="right" if column != "symbol" else "left", no_wrap=True)
    table.add_column("win", justify="right")
    table.add_column("exits")
    for result, m in zip(results, metrics, strict=True):
        reasons = Counter(t["exit_reason"] for t in result.trades.to_dicts())
        table.add_row(
            result.symbol,
            str(result.candles),
            str(m.trades),
            f"{m.total_return:+.2%}",
            f"{m.buy_and_hold_return:+.2%}",
            f"{m.sharpe:.2f}",
            f"{m.max_drawdown:.2%}",
            f"{m.win_rate:.0%}" if m.trades else "-",
            " ".join(f"{_EXIT_LABELS[name]} {count}" for name, count in sorted(reasons.items())),
        )
    console.print(table)
    for result in results:
        if result.risk is not None:
            _print_risk(console, result.symbol, result.risk.blocked(), result.risk.shrunk())
    if cache:
        counts = Counter(cache.values())
        console.print("cache: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if report is not None:
        console.print(f"report: {report}")
