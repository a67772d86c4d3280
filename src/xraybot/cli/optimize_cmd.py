"""``xraybot optimize``: search a strategy's parameters in-sample, report them out-of-sample.

One progress bar runs over the trials; then a table of the best parameter sets (one for a
single objective, the Pareto front for several) with their in-sample and out-of-sample
figures, and the best set's figures per symbol. ``--json PATH`` writes
``OptimizationReport.to_dict()``. Optuna and the numba kernel are imported inside the command,
so the CLI starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from xraybot.cli import research as opt
from xraybot.cli.output import JsonPath, stderr, stdout, write_json
from xraybot.model.errors import InvalidInputError

if TYPE_CHECKING:
    from xraybot.backtest.optimize import Evaluation, OptimizationReport


def register(app: typer.Typer) -> None:
    """Add ``optimize`` to ``app``."""
    app.command("optimize")(optimize)


def optimize(
    strategy: opt.StrategyOpt,
    exchange: opt.ExchangeOpt,
    symbols: opt.SymbolsOpt,
    timeframe: opt.TimeframeOpt = "1h",
    data_dir: opt.DataDirOpt = None,
    start: opt.StartOpt = None,
    end: opt.EndOpt = None,
    trials: Annotated[int, typer.Option("--trials", help="Trials this run adds.")] = 100,
    objective: Annotated[
        str | None,
        typer.Option("--objective", help="One metric to optimize (default sharpe)."),
    ] = None,
    objectives: Annotated[
        str | None,
        typer.Option(
            "--objectives",
            help="Several metrics for a Pareto front, e.g. return,max_drawdown (drawdowns are "
            "minimized, the rest maximized).",
        ),
    ] = None,
    sampler: Annotated[
        str, typer.Option("--sampler", help="tpe, nsga2 (genetic, for fronts) or grid.")
    ] = "tpe",
    space: Annotated[
        str | None,
        typer.Option(
            "--space",
            help='Search space as JSON, e.g. \'{"rsi_period": {"low": 7, "high": 28}, '
            '"entry_level": [25, 30, 35], "exit_level": 70}\' (default: every declared range).',
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", help="Worker processes on this machine.")
    ] = 1,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Optuna storage shared by machines, e.g. postgresql://user@host/db or "
            "sqlite:///study.db (default: in memory, or a temporary file for --workers > 1).",
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Study name; the same name and --storage join one study."),
    ] = None,
    oos: Annotated[
        float,
        typer.Option("--oos", help="Share of every series held out for out-of-sample (0.3)."),
    ] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Sampler seed.")] = 0,
    pruning: Annotated[
        bool,
        typer.Option(
            "--pruning/--no-pruning", help="Stop poor trials early (single objective only)."
        ),
    ] = True,
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
    """Optimize a strategy's parameters (Optuna) and show the best sets out-of-sample."""
    from xraybot.backtest.optimize import optimize as run_optimize

    if objective is not None and objectives is not None:
        raise InvalidInputError(
            "give --objective (one metric) or --objectives (several), not both."
        )
    names = _objective_names(objective, objectives)
    search_with = opt.parse_sampler(sampler)
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
    with opt.StageBar(stderr(), ": trials") as bar:
        report = run_optimize(
            strategy,
            series,
            settings,
            space=search,
            trials=trials,
            objectives=names,
            sampler=search_with,
            workers=workers,
            storage=storage,
            study_name=study,
            seed=seed,
            oos_fraction=oos,
            pruning=pruning,
            progress=bar,
        )
    if json_path is not None:
        write_json(json_path, report.to_dict())
    print_report(report, stdout())


def _objective_names(objective: str | None, objectives: str | None) -> tuple[str, ...]:
    if objectives is None:
        return ((objective or "sharpe").strip(),)
    names = tuple(n.strip() for n in objectives.split(",") if n.strip())
    if not names:
        raise InvalidInputError(
            f"--objectives must name metrics separated by commas, e.g. return,max_drawdown; "
            f"found {objectives!r}."
        )
    return names


# -- output -----------------------------------------------------------------------------


def _pct(value: float | None, spec: str = "+.2%") -> str:
    if value is None or value != value or abs(value) == float("inf"):
        return "-"
    return format(value, spec)


def _num(value: float | None, spec: str = ".3f") -> str:
    if value is None or value != value:
        return "-"
    return format(value, spec)


def _params_text(params: Any, fixed: Any) -> str:
    shown = {k: v for k, v in params.items() if k not in fixed or fixed[k] != v}
    return "\n".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())


def _objective_cells(evaluation: Evaluation | None, names: tuple[str, ...]) -> list[str]:
    if evaluation is None:
        return ["-"] * len(names)
    return [_num(evaluation.objectives[name], ".4g") for name in names]


def print_report(report: OptimizationReport, console: Console) -> None:
    """Print the run summary, the best sets (IS and OOS) and the best set per symbol."""
    goals = ", ".join(
        f"{o} ({d})" for o, d in zip(report.objectives, report.directions, strict=True)
    )
    console.print(
        f"study [bold]{report.study_name}[/] ({report.storage}): {report.trials} trials run — "
        f"{report.completed} complete, {report.pruned} pruned, {report.failed} failed; "
        f"{report.study_trials} in the study. Sampler {report.sampler}, objectives {goals}."
    )
    several = len(report.symbols) > 1
    front = len(report.objectives) > 1
    table = Table(
        title=("Pareto front" if front else "best parameters")
        + f" — in-sample {1 - report.oos_fraction:.0%}, out-of-sample {report.oos_fraction:.0%}"
        + (" (means over symbols)" if several else ""),
        title_justify="left",
    )
    left = ("trial: parameters",)
    columns = [*left, *(f"IS {o}" for o in report.objectives)]
    columns += [f"OOS {o}" for o in report.objectives]
    columns += ["OOS return", "OOS max DD", "OOS trades"]
    for name in columns:
        if name in left:
            table.add_column(name, no_wrap=True)
        else:
            table.add_column(name, justify="left" if name in left else "right")
    for c in report.best:
        oos = c.out_of_sample
        table.add_row(
            f"#{c.trial}\n{_params_text(c.params, report.fixed)}",
            *_objective_cells(c.in_sample, report.objectives),
            *_objective_cells(oos, report.objectives),
            _pct(oos.aggregate.mean_return) if oos else "-",
            _pct(oos.aggregate.mean_max_drawdown, ".2%") if oos else "-",
            str(oos.aggregate.trades) if oos else "-",
        )
    console.print(table)
    best = report.best[0]
    if several:
        per = Table(title=f"trial {best.trial} per symbol", title_justify="left")
        for name in ("symbol", "IS sharpe", "OOS sharpe", "OOS return", "OOS max DD",
                     "OOS trades", "OOS buy&hold"):  # fmt: skip
            if name == "symbol":
                per.add_column(name, no_wrap=True)
            else:
                per.add_column(name, justify="right")
        for i, symbol in enumerate(report.symbols):
            is_m = best.in_sample.per_symbol[i]
            oos_m = None if best.out_of_sample is None else best.out_of_sample.per_symbol[i]
            per.add_row(
                symbol,
                _num(is_m.sharpe),
                _num(oos_m.sharpe) if oos_m else "-",
                _pct(oos_m.total_return) if oos_m else "-",
                _pct(oos_m.max_drawdown, ".2%") if oos_m else "-",
                str(oos_m.trades) if oos_m else "-",
                _pct(oos_m.buy_and_hold_return) if oos_m else "-",
            )
        console.print(per)
    fixed = ", ".join(f"{k}={v}" for k, v in report.fixed.items())
    if fixed:
        console.print(f"held fixed: {fixed}")
    for note in report.warnings:
        console.print(f"[yellow]note:[/] {note}")
