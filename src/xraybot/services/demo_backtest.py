"""The demo's backtest step: built-in strategies on the bundled sample, then a short walk-forward.

Everything runs offline on the candles shipped inside the package (``xraybot.data.sample``,
Binance 1h, 2025): a mean-reversion and a trend-following built-in over a few of its symbols
with the default settings (0.1 % fee, all-in, spot, long only), each symbol and strategy an
account of its own, then a walk-forward of the first strategy on the first symbol (two
windows, a handful of trials) so the tour also shows out-of-sample figures, not only
in-sample ones. Importing this module imports numba (through the engine).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from xraybot.backtest.engine import run_backtest
from xraybot.backtest.metrics import Metrics, compute_metrics, json_safe
from xraybot.backtest.results import BacktestResult, BacktestSettings
from xraybot.backtest.walkforward import Progress, WalkForwardReport, walk_forward
from xraybot.data.sample import SAMPLE_EXCHANGE, SAMPLE_SYMBOLS, SAMPLE_TIMEFRAME, sample_dir
from xraybot.data.series import load_series
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.registry import load_strategy

__all__ = [
    "DEMO_BACKTEST_SYMBOLS",
    "DEMO_STRATEGIES",
    "BacktestRun",
    "DemoBacktest",
    "WalkForwardSummary",
    "render_report",
    "sample_backtest",
]

DEMO_BACKTEST_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
# One mean-reversion and one trend-following built-in: they win in opposite markets.
DEMO_STRATEGIES = ("rsi_reversion", "ema_cross")
DEMO_SETTINGS = BacktestSettings()  # 10,000 USDT, 0.1 % fee, all-in, spot, long only


@dataclass(frozen=True, slots=True)
class BacktestRun:
    """One strategy on one symbol: the full result and its figures."""

    result: BacktestResult
    metrics: Metrics

    def as_dict(self) -> dict[str, Any]:
        r, m = self.result, self.metrics
        return {
            "symbol": r.symbol,
            "strategy": r.strategy,
            "params": dict(r.params),
            "candles": r.candles,
            "trades": m.trades,
            "total_return": json_safe(m.total_return),
            "buy_and_hold_return": json_safe(m.buy_and_hold_return),
            "sharpe": json_safe(m.sharpe),
            "max_drawdown": json_safe(m.max_drawdown),
            "metrics": m.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class WalkForwardSummary:
    """The walk-forward as the demo shows it: per window, the parameters picked in-sample and
    what they did out-of-sample; overall, the stitched out-of-sample run and the efficiency."""

    report: WalkForwardReport
    symbol: str

    @property
    def oos_metrics(self) -> Metrics | None:
        return self.report.combined_metrics.get(self.symbol)

    def as_dict(self) -> dict[str, Any]:
        r = self.report
        oos = self.oos_metrics
        return {
            "strategy": r.strategy,
            "symbol": self.symbol,
            "mode": r.mode,
            "objective": r.objective,
            "trials": r.trials,
            "windows": [
                {
                    **w.window.to_dict(),
                    "best_params": dict(w.params),
                    "out_of_sample_metrics": {s: m.to_dict() for s, m in w.oos_metrics.items()},
                }
                for w in r.windows
            ],
            "out_of_sample_metrics": None if oos is None else oos.to_dict(),
            "efficiency": None if r.efficiency is None else json_safe(r.efficiency),
            "stability": r.stability.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class DemoBacktest:
    """What the backtest step found on the bundled sample."""

    exchange: str
    timeframe: str
    settings: BacktestSettings
    runs: tuple[BacktestRun, ...]
    walk_forward: WalkForwardSummary | None
    elapsed_s: float

    @property
    def results(self) -> list[BacktestResult]:
        return [run.result for run in self.runs]

    @property
    def metrics(self) -> list[Metrics]:
        return [run.metrics for run in self.runs]

    def as_dict(self) -> dict[str, Any]:
        return {
            "data": "bundled sample",
            "exchange": self.exchange,
            "timeframe": self.timeframe,
            "settings": asdict(self.settings),
            "runs": [run.as_dict() for run in self.runs],
            "walk_forward": None if self.walk_forward is None else self.walk_forward.as_dict(),
            "elapsed_s": round(self.elapsed_s, 3),
        }


def sample_backtest(
    symbols: Sequence[str] = DEMO_BACKTEST_SYMBOLS,
    strategies: Sequence[str] = DEMO_STRATEGIES,
    settings: BacktestSettings = DEMO_SETTINGS,
    *,
    walk_forward_windows: int = 2,
    walk_forward_trials: int = 10,
    progress: Progress | None = None,
) -> DemoBacktest:
    """Backtest ``strategies`` on ``symbols`` of the bundled sample, strategy by strategy.

    ``walk_forward_trials`` of 0 skips the walk-forward (of the first strategy on the first
    symbol, seeded, so the demo prints the same figures on every run). ``progress`` gets one
    stage for the backtests and one for the walk-forward.
    """
    unknown = [s for s in symbols if s not in SAMPLE_SYMBOLS]
    if not symbols or not strategies or unknown:
        raise InvalidInputError(
            f"the demo backtests symbols of the bundled sample ({', '.join(SAMPLE_SYMBOLS)}) "
            f"with at least one strategy; found symbols {list(symbols)} and strategies "
            f"{list(strategies)}."
        )
    started = time.perf_counter()
    loaded = [load_strategy(name) for name in strategies]
    series = load_series(sample_dir(), SAMPLE_EXCHANGE, symbols, SAMPLE_TIMEFRAME)
    if progress is not None:
        progress.stage("backtest on the bundled sample", len(loaded) * len(series))
    runs = []
    for strategy in loaded:
        for candles in series:
            result = run_backtest(candles, strategy, None, settings, exchange=SAMPLE_EXCHANGE)
            runs.append(BacktestRun(result, compute_metrics(result)))
            if progress is not None:
                progress.advance()
    summary = None
    if walk_forward_trials > 0:
        report = walk_forward(
            loaded[0],
            series[:1],
            settings,
            windows=walk_forward_windows,
            trials=walk_forward_trials,
            seed=0,
            exchange=SAMPLE_EXCHANGE,
            progress=progress,
        )
        summary = WalkForwardSummary(report, series[0].symbol)
    return DemoBacktest(
        exchange=SAMPLE_EXCHANGE,
        timeframe=SAMPLE_TIMEFRAME,
        settings=settings,
        runs=tuple(runs),
        walk_forward=summary,
        elapsed_s=time.perf_counter() - started,
    )


def render_report(backtest: DemoBacktest) -> str:
    """Return the HTML report of the backtests (one self-contained page, as ``backtest``)."""
    from xraybot.backtest.report import render_report as render

    names = list(dict.fromkeys(run.result.strategy for run in backtest.runs))
    title = f"Demo backtest: {' and '.join(names)} on the bundled sample"
    return render(backtest.results, backtest.metrics, title=title)
