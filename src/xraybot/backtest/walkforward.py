"""Walk-forward analysis: optimize in-sample, trade the winner out-of-sample, window by window.

Windows come from :mod:`xraybot.backtest.walkforward_windows` (rolling or anchored, counts
or durations); rates, efficiency and parameter stability from
:mod:`xraybot.backtest.walkforward_stats`, whose notes define them.

**Out-of-sample runs** (:func:`oos_backtest`). Parameters chosen on window k start trading
when its IS ends, as a bot re-optimized at that moment would: the signals are computed on
``warmup_candles`` candles of history before the OOS start plus the OOS candles, so the
indicators are ready, and the last IS candle is the first decision candle (its signal fills
at the first OOS open). Entries signalled earlier are masked and every candle before the OOS
start is cut from the result, so trades and equity count only inside the OOS range. Each OOS
run starts flat with the equity the previous window ended with, and a position still open at
its end is closed at the last OOS close (reason ``end``): re-optimizing flattens the book.
The OOS results of one symbol are then stitched into one curve (:func:`stitch`).

**In-sample.** The optimizer sees exactly the IS candles (no extra history), and the IS
figures reported are a backtest of the best parameters on the same candles.

**Several symbols** are independent accounts of ``settings.equity`` each, optimized together
(one parameter set per window). A window's rate is the mean of its symbols' rates; the
overall efficiency is the ratio of the OOS-duration-weighted means of the windows' OOS and IS
rates (``None`` when the IS one is not positive).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from xraybot.backtest.engine import run_backtest
from xraybot.backtest.metrics import (
    AggregateMetrics,
    Metrics,
    aggregate_metrics,
    compute_metrics,
    json_safe,
)
from xraybot.backtest.results import BacktestResult, BacktestSettings, TradeRecords
from xraybot.backtest.walkforward_stats import (
    Stability,
    efficiency,
    metrics_rate,
    parameter_stability,
)
from xraybot.backtest.walkforward_windows import (
    Period,
    Window,
    WindowMode,
    make_windows,
    timeline,
)
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError
from xraybot.strategy.base import Params, ParamValue, Strategy
from xraybot.strategy.guard import compute_signals

if TYPE_CHECKING:
    from xraybot.backtest.optimize import Sampler
    from xraybot.backtest.optimize_space import SpaceSpec

__all__ = [
    "Progress",
    "WalkForwardReport",
    "WindowReport",
    "oos_backtest",
    "stitch",
    "walk_forward",
    "warmup_candles",
]


# -- out-of-sample runs -----------------------------------------------------------------


def warmup_candles(strategy: Strategy, params: Params, settings: BacktestSettings) -> int:
    """Candles of history an OOS run gets before its first decision candle.

    The strategy's declared warm-up, or, when ATR stops/targets or volatility-scaled slippage
    use the kernel's ATR (Wilder-smoothed), enough candles for its seed to fade, if longer.
    """
    need = max(0, int(strategy.warmup(params)))
    exits = settings.exits if settings.exits is not None else strategy.exit_rules(params)
    if exits.uses_atr or settings.slippage_atr > 0:
        need = max(need, _wilder_warmup(exits.atr_period))
    return need


def _wilder_warmup(period: int) -> int:
    # The SMA seed of a Wilder average keeps weight (1 - 1/period)^k; after this many candles
    # it is below 1e-10, the tolerance the built-in strategies declare their warm-up with.
    if period <= 1:
        return period
    return period + math.ceil(math.log(1e-10) / math.log(1.0 - 1.0 / period))


def oos_backtest(
    candles: Candles,
    strategy: Strategy,
    params: Params,
    settings: BacktestSettings,
    start_ms: int,
    end_ms: int,
    *,
    exchange: str = "",
) -> BacktestResult | None:
    """Backtest ``params`` on ``[start_ms, end_ms)`` of ``candles`` after a warm-up.

    Returns ``None`` when the series has no candle in the range. The result holds only the
    range's candles; its first entry can fill at the first candle's open, on the signal of
    the candle before it (see the module notes).
    """
    ts = candles.ts_ms
    i0 = int(np.searchsorted(ts, start_ms, side="left"))
    i1 = int(np.searchsorted(ts, end_ms, side="left"))
    if i1 <= i0:
        return None
    first = max(i0 - 1, 0)  # the first decision candle
    lo = max(0, first - warmup_candles(strategy, params, settings))
    part = candles.between(int(ts[lo]), end_ms)
    signals = compute_signals(strategy, part, params)
    stop = first - lo
    masked = replace(
        signals,
        entry_long=_mask(signals.entry_long, stop),
        entry_short=None if signals.entry_short is None else _mask(signals.entry_short, stop),
    )
    full = run_backtest(
        part,
        strategy,
        params,
        settings,
        exchange=exchange,
        signals=masked,
    )
    return _trim(full, i0 - lo, part.close)


def _mask(flags: npt.NDArray[np.bool_], stop: int) -> npt.NDArray[np.bool_]:
    out = np.array(flags, dtype=np.bool_, copy=True)
    out[:stop] = False
    return out


def _trim(result: BacktestResult, cut: int, close: npt.NDArray[np.float64]) -> BacktestResult:
    trades = result.trades
    if len(trades) and int(trades.entry_index.min()) < cut:
        raise AssertionError("an out-of-sample trade was entered during its warm-up")
    shifted = replace(
        trades, entry_index=trades.entry_index - cut, exit_index=trades.exit_index - cut
    )
    return replace(
        result,
        ts_ms=result.ts_ms[cut:],
        equity=result.equity[cut:],
        exposure=result.exposure[cut:],
        trades=shifted,
        close=close[cut:],
    )


def stitch(parts: Sequence[BacktestResult], settings: BacktestSettings) -> BacktestResult:
    """Join one symbol's consecutive OOS results into one result starting at ``settings.equity``.

    Trade indices are renumbered into the joined arrays.
    """
    if not parts:
        raise InvalidInputError("stitch needs at least one out-of-sample result; found none.")
    offsets = np.cumsum([0] + [p.candles for p in parts[:-1]])
    trades = TradeRecords(
        **{
            f.name: np.concatenate([getattr(p.trades, f.name) for p in parts])
            for f in fields(TradeRecords)
        }
    )
    shift = np.repeat(offsets, [len(p.trades) for p in parts]).astype(np.int64)
    trades = replace(
        trades, entry_index=trades.entry_index + shift, exit_index=trades.exit_index + shift
    )
    head = parts[0]
    return replace(
        head,
        params={},
        settings=settings,
        ts_ms=np.concatenate([p.ts_ms for p in parts]),
        equity=np.concatenate([p.equity for p in parts]),
        exposure=np.concatenate([p.exposure for p in parts]),
        trades=trades,
        close=np.concatenate([p.close for p in parts]),
    )


# -- the walk-forward run ---------------------------------------------------------------


class Progress(Protocol):
    """What :func:`walk_forward` reports to: one stage, advanced once per trial."""

    def stage(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


class _TrialCounter:
    """Forwards the optimizer's trial ticks to the walk-forward bar and tops up each window
    to its full share (a grid or pruned study may report fewer)."""

    def __init__(self, outer: Progress | None) -> None:
        self._outer = outer
        self.done = 0

    def stage(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        if self._outer is not None:
            self._outer.advance(steps)

    def top_up(self, target: int) -> None:
        if target > self.done:
            self.advance(target - self.done)


@dataclass(frozen=True, slots=True)
class WindowReport:
    """One window: its ranges, best IS parameters and the IS and OOS figures per symbol."""

    window: Window
    params: Mapping[str, ParamValue]
    is_metrics: Mapping[str, Metrics]
    oos_metrics: Mapping[str, Metrics]
    is_rate: float
    oos_rate: float
    efficiency: float | None
    warmup: int

    def to_dict(self) -> dict[str, Any]:
        out = self.window.to_dict()
        out.update(
            best_params=dict(self.params),
            in_sample_metrics={s: m.to_dict() for s, m in self.is_metrics.items()},
            out_of_sample_metrics={s: m.to_dict() for s, m in self.oos_metrics.items()},
            in_sample_annual_log_return=json_safe(self.is_rate),
            out_of_sample_annual_log_return=json_safe(self.oos_rate),
            efficiency=None if self.efficiency is None else json_safe(self.efficiency),
            warmup_candles=self.warmup,
            out_of_sample_trades=sum(m.trades for m in self.oos_metrics.values()),
        )
        return out


@dataclass(frozen=True, slots=True)
class WalkForwardReport:
    """Everything a walk-forward run found; ``combined`` is each symbol's stitched OOS run."""

    strategy: str
    exchange: str
    timeframe: str
    symbols: tuple[str, ...]
    mode: WindowMode
    objective: str
    sampler: str
    trials: int
    seed: int
    settings: BacktestSettings
    windows: tuple[WindowReport, ...]
    combined: Mapping[str, BacktestResult]
    combined_metrics: Mapping[str, Metrics]
    aggregate: AggregateMetrics
    is_rate: float
    oos_rate: float
    efficiency: float | None
    stability: Stability

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (times in ms, NaN and inf as ``None``)."""
        return {
            "strategy": self.strategy,
            "exchange": self.exchange,
            "timeframe": self.timeframe,
            "symbols": list(self.symbols),
            "mode": self.mode,
            "objective": self.objective,
            "sampler": self.sampler,
            "trials": self.trials,
            "seed": self.seed,
            "settings": asdict(self.settings),
            "windows": [w.to_dict() for w in self.windows],
            "combined": {
                "by_symbol": {
                    symbol: {
                        "metrics": self.combined_metrics[symbol].to_dict(),
                        "trades": result.trades.to_dicts(),
                        "ts_ms": [int(t) for t in result.ts_ms],
                        "equity": [float(e) for e in result.equity],
                    }
                    for symbol, result in self.combined.items()
                },
                "aggregate": self.aggregate.to_dict(),
                "in_sample_annual_log_return": json_safe(self.is_rate),
                "out_of_sample_annual_log_return": json_safe(self.oos_rate),
            },
            "efficiency": None if self.efficiency is None else json_safe(self.efficiency),
            "stability": self.stability.to_dict(),
        }


def walk_forward(
    strategy: Strategy,
    series: Sequence[Candles],
    settings: BacktestSettings,
    *,
    mode: WindowMode = "rolling",
    windows: int | None = None,
    is_fraction: float = 0.75,
    is_period: Period | None = None,
    oos_period: Period | None = None,
    space: Mapping[str, SpaceSpec] | None = None,
    trials: int = 50,
    objective: str = "sharpe",
    sampler: Sampler = "tpe",
    seed: int = 0,
    workers: int = 1,
    exchange: str = "",
    progress: Progress | None = None,
) -> WalkForwardReport:
    """Optimize on each window's in-sample and evaluate the best parameters out-of-sample.

    ``series`` share one timeframe (symbols are independent accounts of ``settings.equity``
    each); windows are cut by :func:`make_windows` on their union timeline. ``space``,
    ``trials``, ``objective``, ``sampler``, ``workers`` go to the optimizer (seeded
    ``seed + window index``). ``progress`` gets one stage of ``windows x trials`` ticks.
    """
    from xraybot.backtest.optimize import optimize
    from xraybot.backtest.optimize_space import search_space

    if trials < 1:
        raise InvalidInputError(f"trials must be at least 1; found {trials}.")
    searched = search_space(strategy, space).dimensions  # a bad space fails before any work
    cut = make_windows(
        timeline(series),
        mode,
        windows=windows,
        is_fraction=is_fraction,
        is_period=is_period,
        oos_period=oos_period,
        bar_ms=series[0].timeframe_ms,
    )
    counter = _TrialCounter(progress)
    if progress is not None:
        progress.stage(f"walk-forward: {len(cut)} windows x {trials} trials", len(cut) * trials)
    running = {s.symbol: settings.equity for s in series}
    oos_parts: dict[str, list[BacktestResult]] = {s.symbol: [] for s in series}
    reports = []
    for w in cut:
        in_sample = [
            s for s in (c.between(w.is_start_ms, w.is_end_ms) for c in series) if len(s) >= 2
        ]
        found = optimize(
            strategy,
            in_sample,
            settings,
            space=space,
            trials=trials,
            objectives=(objective,),
            sampler=sampler,
            workers=workers,
            seed=seed + w.index,
            oos_fraction=0.0,
            progress=counter,
        )
        counter.top_up((w.index + 1) * trials)
        params = strategy.resolve(found.best_params)
        is_metrics = {
            s.symbol: compute_metrics(
                run_backtest(s, strategy, params, settings, exchange=exchange)
            )
            for s in in_sample
        }
        oos_metrics = {}
        for candles in series:
            if running[candles.symbol] <= 0:
                continue  # wiped out: this account cannot trade on
            account = replace(settings, equity=running[candles.symbol])
            result = oos_backtest(
                candles, strategy, params, account, w.oos_start_ms, w.oos_end_ms,
                exchange=exchange,
            )  # fmt: skip
            if result is None:
                continue
            oos_parts[candles.symbol].append(result)
            running[candles.symbol] = float(result.equity[-1])
            oos_metrics[candles.symbol] = compute_metrics(result)
        is_rate = _mean_rate(is_metrics.values())
        oos_rate = _mean_rate(oos_metrics.values())
        reports.append(
            WindowReport(
                w,
                params,
                is_metrics,
                oos_metrics,
                is_rate,
                oos_rate,
                efficiency(oos_rate, is_rate),
                warmup_candles(strategy, params, settings),
            )
        )
    combined = {sym: stitch(parts, settings) for sym, parts in oos_parts.items() if parts}
    combined_metrics = {sym: compute_metrics(r) for sym, r in combined.items()}
    weights = np.array([w.window.oos_end_ms - w.window.oos_start_ms for w in reports], float)
    is_sum = float(np.dot(weights, [w.is_rate for w in reports]) / weights.sum())
    oos_sum = float(np.dot(weights, [w.oos_rate for w in reports]) / weights.sum())
    return WalkForwardReport(
        strategy=strategy.name,
        exchange=exchange,
        timeframe=series[0].timeframe,
        symbols=tuple(s.symbol for s in series),
        mode=mode,
        objective=objective,
        sampler=sampler,
        trials=trials,
        seed=seed,
        settings=settings,
        windows=tuple(reports),
        combined=combined,
        combined_metrics=combined_metrics,
        aggregate=aggregate_metrics(list(combined_metrics.values())),
        is_rate=is_sum,
        oos_rate=oos_sum,
        efficiency=efficiency(oos_sum, is_sum),
        stability=parameter_stability([w.params for w in reports], searched),
    )


def _mean_rate(metrics: Any) -> float:
    rates = [metrics_rate(m) for m in metrics]
    return float(np.mean(rates)) if rates else math.nan
