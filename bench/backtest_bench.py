"""One backtest, warm, in process: candles per second for xraybot, vectorbt and backtesting.py.

The reference strategy ``rsi_reversion`` (RSI 14 < 30 enters, > 70 exits, stop 3 %, target
6 %, fee 0.1 %, all-in, long only) runs on the 15 files of ``../shared/reference/data`` in
each engine, in this one process, after one untimed warm-up pass (numba compilation,
imports). Each engine's time covers what a user waits for: signals from the candles (RSI)
plus the simulation, per file. Reported: total candles / total seconds (median of
``--repeats`` passes) per engine, the ratio to xraybot, and each engine's trade count
against the golden count (vectorbt and backtesting.py are configured as closely to the spec
as their APIs allow; their counts show how close that is, not a correctness claim).

Run: ``.venv/bin/pip install -e '.[bench]'`` once, then
``.venv/bin/python -m bench.backtest_bench [--repeats 5] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from xraybot.data.series import load_one
from xraybot.indicators.talib_ import rsi
from xraybot.model.candles import Candles

# backtesting.py draws a tqdm bar per run; it would bury the table.
os.environ.setdefault("TQDM_DISABLE", "1")

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
FEE, STOP, TARGET, EQUITY = 0.001, 0.03, 0.06, 10_000.0


def reference_series() -> list[tuple[str, Candles, int]]:
    """(file, candles, golden trade count) for every reference file."""
    summary = json.loads((REFERENCE / "golden" / "summary.json").read_text())
    found = []
    for row in summary:
        exchange, name = row["file"].split("/")
        stem = name.removesuffix(".csv.gz")
        pair, timeframe = stem.rsplit("-", 1)
        symbol = pair.replace("_", "/")
        candles = load_one(REFERENCE / "data", exchange, symbol, timeframe)
        found.append((row["file"], candles, int(row["trades"])))
    return found


def run_xraybot(candles: Candles) -> int:
    from xraybot.backtest.engine import run_backtest
    from xraybot.backtest.results import BacktestSettings
    from xraybot.strategy.registry import load_strategy

    strategy = load_strategy("rsi_reversion")
    settings = BacktestSettings(equity=EQUITY, fee_rate=FEE, stake="all")
    return len(run_backtest(candles, strategy, settings=settings).trades)


def run_vectorbt(candles: Candles) -> int:
    import vectorbt as vbt

    index = pd.to_datetime(candles.ts_ms, unit="ms")
    close = pd.Series(candles.close, index=index)
    values = rsi(candles.close, 14)
    # Decided on the close of t-1, filled at the open of t: shift the signals by one candle.
    entries = pd.Series(np.roll(values < 30, 1), index=index)
    exits = pd.Series(np.roll(values > 70, 1), index=index)
    entries.iloc[0] = exits.iloc[0] = False
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries,
        exits,
        price=pd.Series(candles.open, index=index),
        open=pd.Series(candles.open, index=index),
        high=pd.Series(candles.high, index=index),
        low=pd.Series(candles.low, index=index),
        sl_stop=STOP,
        tp_stop=TARGET,
        fees=FEE,
        init_cash=EQUITY,
        size=np.inf,
    )
    return int(portfolio.trades.count())


def run_backtesting_py(candles: Candles) -> int:
    from backtesting import Backtest, Strategy

    frame = pd.DataFrame(
        {
            "Open": candles.open,
            "High": candles.high,
            "Low": candles.low,
            "Close": candles.close,
            "Volume": candles.volume,
        },
        index=pd.to_datetime(candles.ts_ms, unit="ms"),
    )

    class RsiReversion(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.rsi = self.I(lambda c: rsi(np.asarray(c, dtype=np.float64), 14), self.data.Close)

        def next(self) -> None:
            value = self.rsi[-1]
            if self.position and value > 70:
                self.position.close()
            elif not self.position and value < 30:
                price = self.data.Close[-1]
                self.buy(sl=price * (1 - STOP), tp=price * (1 + TARGET))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(frame, RsiReversion, cash=EQUITY * 1_000, commission=FEE).run()
    return int(stats["# Trades"])


ENGINES: dict[str, Callable[[Candles], int]] = {
    "xraybot": run_xraybot,
    "vectorbt": run_vectorbt,
    "backtesting.py": run_backtesting_py,
}


def measure(series: list[tuple[str, Candles, int]], repeats: int) -> dict[str, Any]:
    total_candles = sum(len(c) for _, c, _ in series)
    golden_trades = sum(g for _, _, g in series)
    figures: dict[str, Any] = {}
    for name, engine in ENGINES.items():
        trades = sum(engine(c) for _, c, _ in series)  # warm-up: compile, import
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            for _, candles, _ in series:
                engine(candles)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        figures[name] = {
            "seconds_median": median,
            "seconds_best": min(times),
            "candles_per_s": total_candles / median,
            "trades": trades,
            "golden_trades": golden_trades,
        }
    base = figures["xraybot"]["candles_per_s"]
    for entry in figures.values():
        entry["xraybot_speedup"] = base / entry["candles_per_s"]
    return {"files": len(series), "candles": total_candles, "repeats": repeats, "engines": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(reference_series(), args.repeats)
    table = Table(title=f"{result['files']} files, {result['candles']:,} candles")
    for column in ("engine", "candles/s", "xraybot ×", "trades", "golden"):
        table.add_column(column, justify="right")
    for name, entry in result["engines"].items():
        table.add_row(
            name,
            f"{entry['candles_per_s'] / 1e6:.2f}M",
            f"{entry['xraybot_speedup']:.1f}",
            str(entry["trades"]),
            str(entry["golden_trades"]),
        )
    Console().print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
