"""``xraybot walkforward``: optimize in-sample, trade out-of-sample, window after window.

One progress bar runs over windows x trials; then a table per window (ranges, best
parameters, in- and out-of-sample figures, efficiency), the stitched out-of-sample result per
symbol, the walk-forward efficiency and the parameter stability. ``--json PATH`` writes
``WalkForwardReport.to_dict()``. Optuna and the numba kernel are imported inside the command.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from xraybot.cli import research as opt
from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.model.errors import InvalidInputError

if TYPE_CHECKING:
    from xraybot.backtest.metrics import Metrics
    from xraybot.backtest.walkforward import WalkForwardReport, WindowReport

DAY_MS = 86_400_000


def register(app: typer.Typer) -> None:
    """Add ``walkforward`` to ``app``."""
    app.command("walkforward")(walkforward)


def walkforward(
    strategy: opt.StrategyOpt,
    exchange: opt.ExchangeOpt,
    symbols: opt.SymbolsOpt,
    timeframe: opt.TimeframeOpt = "1h",
    data_dir: opt.DataDirOpt = None,
    start: opt.StartOpt = None,
    end: opt.EndOpt = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode", help="rolling (fixed in-sample length) or anchored (grows from the start)."
        ),
    ] = "rolling",
    windows: Annotated[
        int | None,
        typer.Option(
            "--windows",
            help="Out-of-sample windows (default 5; with --is-days/--oos-days: as many as fit).",
        ),
    ] = None,
    is_fraction: Annotated[
        float | None,
        typer.Option(
            "--is-fraction", help="In-sample share of one in+out-of-sample pair (default 0.75)."
        ),
    ] = None,
    is_days: Annotated[
        float | None, typer.Option("--is-days", help="In-sample length in days (with --oos-days).")
    ] = None,
    oos_days: Annotated[
        float | None,
        typer.Option("--oos-days", help="Out-of-sample length in days (with --is-days)."),
    ] = None,
    space: Annotated[
        str | None,
        typer.Option(
            "--space",
            help='Search space as JSON, e.g. \'{"rsi_period": {"low": 7, "high": 28}, '
            '"entry_level": [25, 30, 35]}\' (default: every declared range).',
        ),
    ] = None,
    trials: Annotated[int, typer.Option("--trials", help="Optimizer trials per window.")] = 50,
    objective: Annotated[
        str, typer.Option("--objective", help="Metric the optimizer maximizes, e.g. sharpe.")
    ] = "sharpe",
    sampler: Annotated[str, typer.Option("--sampler", help="tpe, nsga2 or grid.")] = "tpe",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (window k uses seed + k).")] = 0,
    workers: Annotated[int, typer.Option("--workers", help="Optimizer worker processes.")] = 1,
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
    json_path: JsonPath = None,
) -> None:
    """Walk-forward: optimize each in-sample window, evaluate its best parameters after it."""
    from xraybot.backtest.walkforward import walk_forward
    from xraybot.strategy.registry import load_strategy

    if mode not in ("rolling", "anchored"):
        raise InvalidInputError(f"--mode must be rolling or anchored; found {mode!r}.")
    if (is_days is None) != (oos_days is None):
        raise InvalidInputError("give --is-days and --oos-days together, or neither.")
    if is_days is not None and is_fraction is not None:
        raise InvalidInputError(
            "--is-fraction splits by candle counts and --is-days/--oos-days by durations; "
            "give one or the other."
        )
    search_with = opt.parse_sampler(sampler)
    chosen = load_strategy(strategy)
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
        max_open_trades=1,
    )
    search = opt.parse_space(space)
    series = opt.load_candles(data_dir, exchange, symbols, timeframe, start, end)
    with opt.StageBar(stderr()) as bar:
        report = walk_forward(
            chosen,
            series,
            settings,
            mode="anchored" if mode == "anchored" else "rolling",
            windows=windows,
            is_fraction=0.75 if is_fraction is None else is_fraction,
            is_period=None if is_days is None else _days_ms(is_days, "--is-days"),
            oos_period=None if oos_days is None else _days_ms(oos_days, "--oos-days"),
            space=search,
            trials=trials,
            objective=objective,
            sampler=search_with,
            seed=seed,
            workers=workers,
            exchange=exchange,
            progress=bar,
        )
    if json_path is not None:
        write_json(json_path, report.to_dict())
    print_report(report, stdout())


def _days_ms(days: float, option: str) -> int:
    ms = round(days * DAY_MS)
    if ms <= 0:
        raise InvalidInputError(f"{option} must be more than 0 days; found {days!r}.")
    return int(ms)


# -- output -----------------------------------------------------------------------------


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def _pct(value: float | None, spec: str = "+.2%") -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return format(value, spec)


def _num(value: float | None, spec: str = ".2f") -> str:
    if value is None or value != value:
        return "-"
    return format(value, spec)


def _mean(values: Iterable[float]) -> float | None:
    finite = [v for v in values if v == v and abs(v) != float("inf")]
    return sum(finite) / len(finite) if finite else None


def _params_text(params: Any) -> str:
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _window_row(w: WindowReport) -> list[str]:
    is_m: list[Metrics] = list(w.is_metrics.values())
    oos_m: list[Metrics] = list(w.oos_metrics.values())
    win = w.window
    return [
        str(win.index + 1),
        f"{_day(win.is_start_ms)} → {_day(win.is_end_ms)}",
        f"{_day(win.oos_start_ms)} → {_day(win.oos_end_ms)}",
        _params_text(w.params),
        _num(_mean(m.sharpe for m in is_m)),
        _pct(_mean(m.total_return for m in is_m)),
        _num(_mean(m.sharpe for m in oos_m)),
        _pct(_mean(m.total_return for m in oos_m)),
        _pct(_mean(m.max_drawdown for m in oos_m), ".2%"),
        str(sum(m.trades for m in oos_m)),
        _num(w.efficiency),
    ]


def print_report(report: WalkForwardReport, console: Console) -> None:
    """Print the per-window table, the stitched out-of-sample results and the summary."""
    several = len(report.symbols) > 1
    table = Table(
        title=f"walk-forward {report.strategy} ({report.mode}, {len(report.windows)} windows x "
        f"{report.trials} trials, objective {report.objective})"
        + (" — figures are means over symbols" if several else ""),
        title_justify="left",
    )
    left = ("in-sample", "out-of-sample", "best parameters")
    for name in ("#", *left, "IS sharpe", "IS return", "OOS sharpe", "OOS return",
                 "OOS max DD", "OOS trades", "WFE"):  # fmt: skip
        table.add_column(name, justify="left" if name in left else "right")
    for w in report.windows:
        table.add_row(*_window_row(w))
    console.print(table)

    combined = Table(title="out-of-sample, stitched", title_justify="left")
    for name in ("symbol", "candles", "trades", "return", "buy&hold", "CAGR", "sharpe",
                 "max DD"):  # fmt: skip
        combined.add_column(name, justify="left" if name == "symbol" else "right")
    for symbol, m in report.combined_metrics.items():
        combined.add_row(
            symbol,
            str(m.candles),
            str(m.trades),
            _pct(m.total_return),
            _pct(m.buy_and_hold_return),
            _pct(m.cagr),
            _num(m.sharpe),
            _pct(m.max_drawdown, ".2%"),
        )
    console.print(combined)

    stability = Table(title="parameter stability", title_justify="left")
    for name in ("parameter", "values", "mean", "std", "cv", "score"):
        stability.add_column(name, justify="left" if name in ("parameter", "values") else "right")
    for p in report.stability.parameters:
        values = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in p.values)
        stability.add_row(
            p.name, values, _num(p.mean, ".4g"), _num(p.std, ".4g"), _num(p.cv, ".3f"),
            f"{p.score:.2f}",
        )  # fmt: skip
    console.print(stability)
    console.print(
        f"walk-forward efficiency: {_num(report.efficiency)} (out-of-sample "
        f"{_pct(report.oos_rate)} a year vs in-sample {_pct(report.is_rate)}, "
        "continuously compounded)"
        + ("" if report.efficiency is not None else " — undefined: the in-sample did not gain")
    )
    console.print(
        f"parameter stability: {_num(report.stability.score)} (1 = the same every window)"
    )
