"""``xraybot check-bias``: does a strategy peek ahead, or depend on how much history it sees?

Runs ``backtest.bias`` on every symbol: the lookahead check (signals recomputed on the series
cut after sampled candles) and the warm-up check (signals recomputed without the first
candles). Exit code 1 when either check finds a bias on any symbol, so CI can gate on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xraybot.backtest.bias import DEFAULT_MAX_POINTS, DEFAULT_TOLERANCE
from xraybot.cli import research as opt
from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.model.errors import InvalidInputError

if TYPE_CHECKING:
    from xraybot.backtest.bias_report import BiasReport

BIAS_FOUND_EXIT_CODE = 1


def register(app: typer.Typer) -> None:
    """Add ``check-bias`` to ``app``."""
    app.command("check-bias")(check_bias)


def check_bias(
    strategy: opt.StrategyOpt,
    exchange: opt.ExchangeOpt,
    symbols: opt.SymbolsOpt,
    timeframe: opt.TimeframeOpt = "1h",
    params: opt.ParamsOpt = None,
    data_dir: opt.DataDirOpt = None,
    start: opt.StartOpt = None,
    end: opt.EndOpt = None,
    max_points: Annotated[
        int,
        typer.Option(
            "--max-points",
            help="Candles the lookahead check cuts after (signal candles first).",
        ),
    ] = DEFAULT_MAX_POINTS,
    offsets: Annotated[
        str | None,
        typer.Option(
            "--offsets",
            help="Candles to drop from the start in the warm-up check, comma-separated "
            "(default: 1, a tenth and a quarter of the series).",
        ),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance", help="Relative deviation a feature may show in the warm-up check."
        ),
    ] = DEFAULT_TOLERANCE,
    json_path: JsonPath = None,
) -> None:
    """Check a strategy for lookahead and for warm-up (recursive) bias on stored candles."""
    from xraybot.backtest.bias import check_bias as run_checks
    from xraybot.strategy.registry import load_strategy

    chosen = load_strategy(strategy)
    resolved = chosen.resolve(opt.parse_params(params))
    starts = _parse_offsets(offsets)
    series = opt.load_candles(data_dir, exchange, symbols, timeframe, start, end)
    reports: list[BiasReport] = []
    with _progress(stderr()) as bar:
        for candles in series:
            task = bar.add_task(f"check-bias {candles.symbol}", total=None)

            def step(done: int, total: int, task: Any = task) -> None:
                bar.update(task, completed=done, total=total)

            reports.append(
                run_checks(
                    chosen,
                    candles,
                    resolved,
                    max_points=max_points,
                    offsets=starts,
                    tolerance=tolerance,
                    progress=step,
                )
            )
    passed = all(r.passed for r in reports)
    if json_path is not None:
        write_json(
            json_path,
            {
                "strategy": chosen.name,
                "params": resolved,
                "exchange": exchange,
                "timeframe": timeframe,
                "passed": passed,
                "results": [{"exchange": exchange, **r.to_dict()} for r in reports],
            },
        )
    print_reports(reports, stdout())
    if not passed:
        raise typer.Exit(BIAS_FOUND_EXIT_CODE)


def _parse_offsets(text: str | None) -> list[int] | None:
    if text is None or not text.strip():
        return None
    items = [item.strip() for item in text.split(",")]
    if not all(item.isdigit() and int(item) >= 1 for item in items):
        raise InvalidInputError(
            f"--offsets must be comma-separated whole numbers of candles >= 1, e.g. 1,500; "
            f"found {text!r}."
        )
    return [int(item) for item in items]


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _verdict(passed: bool) -> str:
    return "[green]ok[/green]" if passed else "[bold red]BIAS[/bold red]"


def print_reports(reports: list[BiasReport], console: Console) -> None:
    """One row per symbol and check: verdict, what was checked, what differed."""
    table = Table(title=f"bias checks: {reports[0].strategy}" if reports else "bias checks")
    for name, justify in (("symbol", "left"), ("check", "left"), ("verdict", "left"),
                          ("checked", "right"), ("finding", "left")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for report in reports:
        ahead, warm = report.lookahead, report.warmup
        table.add_row(
            report.symbol,
            "lookahead",
            _verdict(ahead.passed),
            f"{ahead.points} candles ({ahead.signal_points_checked} of {ahead.signal_points} "
            "signalling)",
            "" if ahead.passed else ahead.describe(),
        )
        suggested = warm.suggested_warmup
        needs = "none suffices" if suggested is None else str(suggested)
        table.add_row(
            report.symbol,
            "warm-up",
            _verdict(warm.passed),
            f"starts {', '.join(str(k) for k in warm.offsets)}; declared {warm.declared}, "
            f"needs {needs}",
            "" if warm.passed else warm.describe(),
        )
    console.print(table)
    failed = [r.symbol for r in reports if not r.passed]
    if failed:
        console.print(
            f"[bold red]bias found[/bold red] in {len(failed)} of {len(reports)} series: "
            f"{', '.join(failed)}.",
            markup=True,
        )
    else:
        console.print(f"no bias found in {len(reports)} series.")
