"""Sweep benchmark: rsi_reversion over 352 combinations on 30 symbols x 2 years of 1h candles.

The grid is the issue's: RSI period 7-28 (22 values) x entry level 20-35 (16 values) = 352
combinations, exit level 70, stop 3 %, target 6 %, fee 0.1 %, all-in, long only, each
symbol its own account. The data: the 30 first Binance USDT pairs (alphabetically, no
stablecoins or leveraged tokens) of ``../shared/data/ohlcv`` holding at least 17,490 of the
17,520 hourly candles from 2020-04-19 to 2022-04-19 (two years); they all hold 17,497 (the
exchange's outages leave holes of at most 5 hours, which the candles simply skip).

Measured (the candles loaded beforehand, never timed):

- **sweep, N workers, fresh process**: the first ``sweep(..., workers=N)`` of a new Python
  process that has imported xraybot and loaded the candles: numba's on-disk cache load,
  the memory-mapped data file, starting the workers and collecting the figures - what a
  one-shot command pays after its imports;
- **sweep, N workers**: the same call again in this warm process (the workers are forked
  from it, so they start with the kernel loaded);
- **sweep, 1 worker**: the same in this process;
- **plain numba loop**: one ``@njit`` function of the spec (the reference simulator's loop,
  nothing else) over the same combinations, RSI computed once per period per symbol, in this
  process on one core: the ceiling a hand-written sweep reaches.

Every sweep figure is checked against the plain loop (same final equity to 1e-9 relative),
so both do the same work. Reported: wall times, backtests (combination x symbol) per second
per core, candles per second, and xraybot's per-core rate over the plain loop's.

Run: ``.venv/bin/python -m bench.sweep_bench [--workers 2] [--repeats 3] [--json PATH]``.
Nothing is appended anywhere; RESULTS.md is written by hand from the output.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit
from rich.console import Console
from rich.table import Table

from xraybot.backtest.results import BacktestSettings
from xraybot.backtest.sweep import SweepResult, sweep
from xraybot.data.series import load_series
from xraybot.indicators.talib_ import rsi
from xraybot.model.candles import Candles

OHLCV = Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv"
START_MS = 1_587_254_400_000  # 2020-04-19T00:00Z
END_MS = START_MS + 17_520 * 3_600_000  # two years of hours later
MIN_CANDLES = 17_490
SYMBOLS = tuple(
    f"{base}/USDT"
    for base in [
        "ADA",
        "AION",
        "ALGO",
        "ANKR",
        "ARPA",
        "ATOM",
        "BCH",
        "BEAM",
        "BNB",
        "BTC",
        "BTS",
        "CELR",
        "COS",
        "COTI",
        "CTXC",
        "CVC",
        "DASH",
        "DENT",
        "DOCK",
        "DOGE",
        "DUSK",
        "ENJ",
        "EOS",
        "ETH",
        "FTM",
        "FTT",
        "GTO",
        "HOT",
        "ICX",
        "IOST",
    ]
)
GRID: dict[str, list[Any]] = {
    "rsi_period": list(range(7, 29)),
    "entry_level": [float(level) for level in range(20, 36)],
}
EXIT_LEVEL, STOP, TARGET, FEE, EQUITY = 70.0, 0.03, 0.06, 0.001, 10_000.0


def load(data_dir: Path) -> list[Candles]:
    series = load_series(data_dir, "binance", SYMBOLS, "1h", START_MS, END_MS)
    short = [f"{c.symbol} ({len(c)})" for c in series if len(c) < MIN_CANDLES]
    if short:
        raise SystemExit(f"too few candles in the window for: {', '.join(short)}")
    return series


@njit(cache=True)
def plain_loop(
    open_: Any, high: Any, low: Any, close: Any, values: Any, entry_level: float
) -> float:
    """The spec of ../shared/reference/rsi_reversion.md as one loop; returns final equity."""
    n = close.shape[0]
    equity = EQUITY
    qty = 0.0
    stop = target = 0.0
    for t in range(1, n):
        o = open_[t]
        if qty > 0.0 and values[t - 1] > EXIT_LEVEL:
            equity = qty * o * (1.0 - FEE)
            qty = 0.0
        elif qty == 0.0 and values[t - 1] < entry_level:
            qty = equity / (o * (1.0 + FEE))
            stop = o * (1.0 - STOP)
            target = o * (1.0 + TARGET)
        if qty > 0.0:
            if low[t] <= stop:
                equity = qty * min(stop, o) * (1.0 - FEE)
                qty = 0.0
            elif high[t] >= target:
                equity = qty * max(target, o) * (1.0 - FEE)
                qty = 0.0
    if qty > 0.0:
        equity = qty * close[n - 1] * (1.0 - FEE)
    return equity


def run_plain(series: list[Candles]) -> np.ndarray:
    """Total return per (combination, symbol), combinations in the sweep's order."""
    periods, levels = GRID["rsi_period"], GRID["entry_level"]
    out = np.empty((len(periods) * len(levels), len(series)))
    for j, c in enumerate(series):
        for p, period in enumerate(periods):
            values = rsi(c.close, period)
            for k, level in enumerate(levels):
                final = plain_loop(c.open, c.high, c.low, c.close, values, level)
                out[p * len(levels) + k, j] = final / EQUITY - 1.0
    return out


def timed_sweep(series: list[Candles], workers: int) -> tuple[float, SweepResult]:
    settings = BacktestSettings(equity=EQUITY, fee_rate=FEE, stake="all")
    started = time.perf_counter()
    result = sweep("rsi_reversion", series, GRID, settings, workers=workers)
    return time.perf_counter() - started, result


def cold_run(data_dir: Path, workers: int) -> float:
    """Seconds of the first sweep of a fresh process (numba's cache load included; imports
    and the candles done before), as a one-shot command runs it."""
    command = [sys.executable, "-m", "bench.sweep_bench", "--cold-child",
               "--data-dir", str(data_dir), "--workers", str(workers)]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=OHLCV)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cold-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_child:
        series = load(args.data_dir)
        print(timed_sweep(series, args.workers)[0])
        return
    console = Console()

    series = load(args.data_dir)
    candles = sum(len(c) for c in series)
    combos = len(GRID["rsi_period"]) * len(GRID["entry_level"])
    backtests = combos * len(series)
    console.print(
        f"{len(series)} symbols, {candles:,} candles, {combos} combinations = "
        f"{backtests:,} backtests of ~{candles // len(series):,} candles; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    # Warm-ups: numba's cache loaded into this process, imports done.
    timed_sweep([c.tail(500) for c in series[:2]], 1)
    plain_loop(*(x[:100] for x in (series[0].open, series[0].high, series[0].low,
                                    series[0].close, rsi(series[0].close, 14))), 30.0)  # fmt: skip

    cold = [cold_run(args.data_dir, args.workers) for _ in range(args.repeats)]
    parallel = [timed_sweep(series, args.workers) for _ in range(args.repeats)]
    single = [timed_sweep(series, 1) for _ in range(args.repeats)]
    plain_times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        plain = run_plain(series)
        plain_times.append(time.perf_counter() - started)

    reference = parallel[0][1]
    for _, result in (*parallel, *single):
        np.testing.assert_allclose(result.total_return, plain, rtol=1e-9, atol=1e-12)
        assert np.array_equal(result.trades, reference.trades)

    rows = [
        (f"sweep, {args.workers} workers, fresh process", cold, args.workers),
        (f"sweep, {args.workers} workers", [t for t, _ in parallel], args.workers),
        ("sweep, 1 worker (in process)", [t for t, _ in single], 1),
        ("plain numba loop, 1 core", plain_times, 1),
    ]
    plain_rate = backtests / statistics.median(plain_times)
    table = Table(title="rsi_reversion sweep: 352 combinations x 30 symbols x 2 years of 1h")
    for name in ("run", "wall (median)", "min", "backtests/s/core", "candles/s", "vs plain"):
        table.add_column(name, justify="left" if name == "run" else "right")
    figures: dict[str, Any] = {
        "symbols": len(series),
        "candles": candles,
        "combinations": combos,
        "backtests": backtests,
        "workers": args.workers,
        "load_average": os.getloadavg()[0],
        "runs": {},
    }
    for name, times, cores in rows:
        wall = statistics.median(times)
        per_core = backtests / wall / cores
        table.add_row(
            name,
            f"{wall:.2f} s",
            f"{min(times):.2f} s",
            f"{per_core:,.0f}",
            f"{candles * combos / wall / 1e6:,.1f} M",
            f"{per_core / plain_rate:.2f}",
        )
        figures["runs"][name] = {
            "wall_s": times,
            "median_s": wall,
            "backtests_per_s_per_core": per_core,
            "candles_per_s": candles * combos / wall,
            "per_core_vs_plain": per_core / plain_rate,
        }
    console.print(table)
    best, values = reference.best()
    console.print(f"best by mean Sharpe: {dict(best)} -> {values}")
    figures["best"] = {"params": dict(best), **values}
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
