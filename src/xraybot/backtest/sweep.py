"""Parameter sweeps: every combination of a grid on every series, on the fast kernel.

A sweep answers "how does the strategy do across this grid?" for many symbols at once. It
is organised around the two costs that dominate:

- **features**: one ``FeatureCache`` per series lives for the whole grid, so a grid over
  RSI periods x entry levels computes each RSI period once per series, not once per
  combination;
- **the kernel**: each combination's signals go straight to ``engine.simulate``; only the
  four figures a sweep ranks by (return, Sharpe, max drawdown, trades) are computed from
  its equity curve, by one compiled pass instead of the full ``Metrics`` record.

With ``workers > 1`` the series are written once into a memory-mapped file
(``shared_data.SharedSeries``) and worker processes take whole series in turn, so each
worker holds one series' features at a time and no private copy of the data.
"""

from __future__ import annotations

import gc
import itertools
import math
import multiprocessing
import os
import pickle
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from numba import njit

from xraybot.backtest.engine import simulate
from xraybot.backtest.results import BacktestSettings
from xraybot.backtest.shared_data import SharedSeries
from xraybot.model.candles import Candles, FloatArray, IntArray
from xraybot.model.errors import InvalidInputError
from xraybot.risk.exits import ExitRules
from xraybot.strategy.base import FeatureCache, ParamValue, Signals, Strategy
from xraybot.strategy.guard import compute_signals
from xraybot.strategy.registry import load_strategy, load_strategy_class

__all__ = [
    "SWEEP_METRICS",
    "StrategyRef",
    "SweepProgress",
    "SweepResult",
    "grid_combinations",
    "periods_per_year",
    "process_pool",
    "sweep",
    "warm_kernel",
    "watch_parent",
]

SWEEP_METRICS = ("total_return", "sharpe", "max_drawdown", "trades")
_YEAR_MS = 365 * 86_400_000


class SweepProgress(Protocol):
    def stage(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class SweepResult:
    """Figures per (combination, series); rows follow ``params``, columns ``symbols``.

    ``total_return`` and ``max_drawdown`` are fractions (0.05 = 5 %, drawdown positive),
    ``sharpe`` is annualized from per-candle equity returns (0 for a flat curve).
    """

    strategy: str
    params: tuple[Mapping[str, ParamValue], ...]
    symbols: tuple[str, ...]
    total_return: FloatArray
    sharpe: FloatArray
    max_drawdown: FloatArray
    trades: IntArray
    candles: int
    workers: int
    elapsed_s: float

    @property
    def combinations(self) -> int:
        return len(self.params)

    def aggregate(self) -> dict[str, npt.NDArray[Any]]:
        """Per combination over all series: mean return, Sharpe and drawdown, worst
        drawdown, and the trade count."""
        return {
            "mean_return": self.total_return.mean(axis=1),
            "mean_sharpe": self.sharpe.mean(axis=1),
            "mean_max_drawdown": self.max_drawdown.mean(axis=1),
            "worst_max_drawdown": self.max_drawdown.max(axis=1),
            "trades": self.trades.sum(axis=1),
        }

    def best(self, by: str = "mean_sharpe") -> tuple[Mapping[str, ParamValue], dict[str, float]]:
        """The combination ranking first by an ``aggregate()`` column (drawdowns lowest)."""
        table = self.aggregate()
        if by not in table:
            raise InvalidInputError(f"a sweep ranks by one of {', '.join(table)}; found {by!r}.")
        column = np.asarray(table[by], dtype=np.float64)
        index = int(np.argmin(column) if "drawdown" in by else np.argmax(column))
        return self.params[index], {name: float(values[index]) for name, values in table.items()}

    def to_dict(self) -> dict[str, Any]:
        table = self.aggregate()
        rows = []
        for i, params in enumerate(self.params):
            row: dict[str, Any] = {"params": dict(params)}
            row.update({name: float(values[i]) for name, values in table.items()})
            row["per_symbol"] = {
                symbol: {
                    "total_return": float(self.total_return[i, j]),
                    "sharpe": float(self.sharpe[i, j]),
                    "max_drawdown": float(self.max_drawdown[i, j]),
                    "trades": int(self.trades[i, j]),
                }
                for j, symbol in enumerate(self.symbols)
            }
            rows.append(row)
        best_params, best_values = self.best()
        return {
            "strategy": self.strategy,
            "symbols": list(self.symbols),
            "candles": self.candles,
            "combinations": self.combinations,
            "workers": self.workers,
            "elapsed_s": self.elapsed_s,
            "best": {"params": dict(best_params), **best_values},
            "results": rows,
        }


def grid_combinations(
    strategy: Strategy, grid: Mapping[str, Sequence[ParamValue]]
) -> list[dict[str, ParamValue]]:
    """Every combination of ``grid`` (first key varies slowest), each value validated
    against the strategy's ``Param``; parameters outside the grid keep their defaults."""
    if not grid:
        return [strategy.resolve()]
    names = list(grid)
    for name in names:
        values = grid[name]
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise InvalidInputError(
                f"grid[{name!r}] must be a non-empty list of values; found {values!r}."
            )
    return [
        strategy.resolve(dict(zip(names, combo, strict=True)))
        for combo in itertools.product(*(grid[n] for n in names))
    ]


def periods_per_year(candles: Candles) -> float:
    return _YEAR_MS / candles.timeframe_ms


def sweep(
    strategy: Strategy | str,
    series: Sequence[Candles],
    grid: Mapping[str, Sequence[ParamValue]],
    settings: BacktestSettings | None = None,
    *,
    workers: int = 1,
    progress: SweepProgress | None = None,
) -> SweepResult:
    """Backtest every combination of ``grid`` on every series of ``series``.

    ``strategy`` is an instance or a spec for ``registry.load_strategy``. Each series is an
    independent account under ``settings`` (default ``BacktestSettings()``); exits come
    from ``settings.exits`` or else the strategy's own rules for each combination.
    """
    started = time.perf_counter()
    settings = settings or BacktestSettings()
    ref = StrategyRef.of(strategy)
    resolved = ref.load()
    combos = grid_combinations(resolved, grid)
    if not series:
        raise InvalidInputError("sweep needs at least one candle series; found none.")
    if workers < 1:
        raise InvalidInputError(f"workers must be >= 1; found {workers}.")
    workers = min(workers, len(series))
    figures = np.empty((len(series), len(combos), 4), dtype=np.float64)
    description = f"sweep {resolved.name}"
    if workers == 1:
        if progress is not None:
            progress.stage(description, len(series) * len(combos))
        for j, candles in enumerate(series):
            figures[j] = sweep_series(resolved, candles, combos, settings, progress)
    else:
        with tempfile.TemporaryDirectory(prefix="xraybot-sweep-") as folder:
            shared = (
                series if isinstance(series, SharedSeries) else SharedSeries.create(series, folder)
            )
            initargs = (shared, ref, combos, settings)
            with process_pool(workers, _init_sweep_worker, initargs, warm_kernel) as pool:
                if progress is not None:  # after the workers started: see process_pool
                    progress.stage(description, len(series) * len(combos))
                # Longest series first, so no worker is left with a long one at the end.
                order = sorted(range(len(series)), key=lambda j: -len(series[j]))
                pending = {pool.submit(_sweep_in_worker, j): j for j in order}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        figures[pending.pop(future)] = future.result()
                        if progress is not None:
                            progress.advance(len(combos))
    table = figures.transpose(1, 0, 2)  # (combos, series, metric)
    return SweepResult(
        strategy=resolved.name,
        params=tuple(combos),
        symbols=tuple(c.symbol for c in series),
        total_return=np.ascontiguousarray(table[:, :, 0]),
        sharpe=np.ascontiguousarray(table[:, :, 1]),
        max_drawdown=np.ascontiguousarray(table[:, :, 2]),
        trades=table[:, :, 3].astype(np.int64),
        candles=sum(len(c) for c in series),
        workers=workers,
        elapsed_s=time.perf_counter() - started,
    )


def sweep_series(
    strategy: Strategy,
    candles: Candles,
    combos: Sequence[Mapping[str, ParamValue]],
    settings: BacktestSettings,
    progress: SweepProgress | None = None,
) -> FloatArray:
    """Rows of (total_return, sharpe, max_drawdown, trades) for each combination on one
    series, sharing one feature cache across the combinations."""
    cache = FeatureCache()
    out = np.zeros((len(combos), 4), dtype=np.float64)
    if len(candles) == 0:
        return out
    annual = math.sqrt(periods_per_year(candles))
    for k, params in enumerate(combos):
        signals = compute_signals(strategy, candles, params, cache)
        exits = settings.exits or strategy.exit_rules(params)
        equity, _, trades = simulate(candles, signals, exits, settings)
        total_return, sharpe, drawdown = equity_figures(equity, settings.equity)
        out[k] = (total_return, sharpe * annual, drawdown, len(trades))
        if progress is not None:
            progress.advance()
    return out


@njit(cache=True)
def _equity_pass(equity: FloatArray, start: float) -> tuple[float, float, float]:
    # The conventions of backtest.metrics: returns start against the initial equity, a
    # wiped-out account earns nothing, Sharpe uses ddof=1 (x/0 is 0 for x = 0, else +-inf),
    # the initial equity is the first peak. One division per candle: the drawdown divides
    # only when a new worst is possible, and the deviations reuse the stored returns.
    n = equity.shape[0]
    returns = np.empty(n)
    total = 0.0
    peak = start
    floor = start  # equity below this is a new worst drawdown
    worst = 0.0
    previous = start
    for i in range(n):
        value = equity[i]
        r = value / previous - 1.0 if previous > 0.0 else 0.0
        returns[i] = r
        total += r
        previous = value
        if value > peak:
            peak = value
            floor = peak * (1.0 - worst)
        elif value < floor:
            worst = 1.0 - value / peak
            floor = peak * (1.0 - worst)
    if n < 2:
        return (equity[n - 1] / start - 1.0 if n else 0.0), math.nan, worst
    mean = total / n
    m2 = 0.0
    for i in range(n):
        m2 += (returns[i] - mean) * (returns[i] - mean)
    std = math.sqrt(m2 / (n - 1))
    total = equity[n - 1] / start - 1.0
    if std > 0.0:
        return total, mean / std, worst
    return total, (0.0 if mean == 0.0 else math.copysign(math.inf, mean)), worst


def equity_figures(equity: FloatArray, start: float) -> tuple[float, float, float]:
    """Total return, per-candle Sharpe (not annualized) and max drawdown of one equity curve."""
    return _equity_pass(np.ascontiguousarray(equity, dtype=np.float64), float(start))


# -- worker processes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StrategyRef:
    """A strategy in a form a fresh process can rebuild: the pickled instance, plus the
    user file to import first when its class lives in one (a module loaded from a file is
    importable by name only in a process that loaded that file)."""

    payload: bytes
    module: str
    source: str | None

    @classmethod
    def of(cls, strategy: Strategy | str) -> StrategyRef:
        instance = load_strategy(strategy) if isinstance(strategy, str) else strategy
        module = type(instance).__module__
        file = getattr(sys.modules.get(module), "__file__", None)
        source = None
        if module.startswith("_xraybot_user_") and file:
            source = f"{file}:{type(instance).__name__}"
        try:
            payload = pickle.dumps(instance)
        except Exception as e:
            raise InvalidInputError(
                f"strategy {type(instance).__name__} cannot be sent to worker processes "
                f"({type(e).__name__}: {e}); keep its attributes picklable or use workers=1."
            ) from e
        return cls(payload, module, source)

    def load(self) -> Strategy:
        if self.source is not None and self.module not in sys.modules:
            load_strategy_class(self.source)  # registers the user module under its name
        strategy = pickle.loads(self.payload)  # noqa: S301 - our own bytes, from the parent
        assert isinstance(strategy, Strategy)
        return strategy


def process_pool(
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    warm: Callable[[], None] | None = None,
) -> ProcessPoolExecutor:
    """``workers`` processes, started before this returns.

    They are forked when this process runs no other thread (Linux): each inherits the
    imported modules and whatever numba has already loaded (``warm`` runs here first), so it
    starts in milliseconds instead of re-importing xraybot and re-loading numba's cache,
    about 1-2 s per process. With another thread alive (a progress bar, a database pool's
    helper) a fork could copy a lock that thread holds, so fresh processes are spawned
    instead. Start pools before starting threads.
    """
    forking = sys.platform == "linux" and threading.active_count() == 1
    if forking and warm is not None:
        warm()
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork" if forking else "spawn"),
        initializer=initializer,
        initargs=initargs,
    )
    if forking:
        # The children's garbage collector would otherwise write to the header of every
        # object inherited from here, copying pages the processes could go on sharing.
        gc.freeze()
    try:
        for ready in [pool.submit(_ready) for _ in range(workers)]:
            ready.result()  # a worker that cannot start fails here, not halfway through
    except BaseException:
        pool.shutdown(cancel_futures=True)
        raise
    finally:
        if forking:
            gc.unfreeze()
    return pool


def warm_kernel() -> None:
    """Load the compiled kernel into this process (from numba's on-disk cache)."""
    n = 3
    ts = np.arange(n, dtype=np.int64) * 3_600_000
    price = np.ones(n)
    candles = Candles("WARM/UP", "1h", ts, price, price, price, price, price)
    flags = np.array([True, False, False])
    equity, _, _ = simulate(candles, Signals(flags, ~flags), ExitRules(), BacktestSettings())
    equity_figures(equity, 1.0)


def watch_parent(interval_s: float = 0.5) -> None:
    """In a worker: exit as soon as the process that started it is gone.

    An orphaned pool worker would otherwise run its task to the end and then wait forever
    on a task queue whose write end its fellow workers still hold.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(1)

    threading.Thread(target=watch, name="xraybot-parent-watch", daemon=True).start()


def _ready() -> bool:
    return True


_worker: dict[str, Any] = {}  # per worker process, set by the pool's initializer


def _init_sweep_worker(
    shared: SharedSeries,
    ref: StrategyRef,
    combos: list[dict[str, ParamValue]],
    settings: BacktestSettings,
) -> None:
    watch_parent()
    _worker.update(series=shared, strategy=ref.load(), combos=combos, settings=settings)


def _sweep_in_worker(index: int) -> FloatArray:
    return sweep_series(
        _worker["strategy"], _worker["series"][index], _worker["combos"], _worker["settings"]
    )
