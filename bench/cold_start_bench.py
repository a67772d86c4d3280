"""Whole process, cold: ``xraybot backtest`` on one symbol, as a user types it.

Runs, as fresh processes and interleaved ``--repeats`` times (numba's cache already warm on
disk after one untimed run):
- ``xraybot backtest --strategy rsi_reversion … --symbols BTC/USDT --no-cache --json …`` on
  ``../shared/reference/data`` (12,556 1h candles);
- a script doing the same backtest with backtesting.py (imports, CSV read, run), for scale;
- the same command without ``--no-cache`` after one run filled the result cache (the default
  a user gets on a repeated request: no numba, the journal instead);
- ``python -c pass``: the interpreter's own start, the floor under both.
Reported: median and best wall seconds of each, and each against the interpreter floor.

Run: ``.venv/bin/python -m bench.cold_start_bench [--repeats 7] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
XRAYBOT = Path(sys.executable).with_name("xraybot")

BACKTESTING_PY_SCRIPT = """
import sys, warnings
import numpy as np, pandas as pd, talib
from backtesting import Backtest, Strategy
frame = pd.read_csv(sys.argv[1])
frame.index = pd.to_datetime(frame.pop("timestamp"), unit="ms")
frame.columns = ["Open", "High", "Low", "Close", "Volume"]
class RsiReversion(Strategy):
    def init(self):
        self.rsi = self.I(lambda c: talib.RSI(np.asarray(c, dtype=float), 14), self.data.Close)
    def next(self):
        if self.position and self.rsi[-1] > 70:
            self.position.close()
        elif not self.position and self.rsi[-1] < 30:
            p = self.data.Close[-1]
            self.buy(sl=p * 0.97, tp=p * 1.06)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    print(Backtest(frame, RsiReversion, cash=1e7, commission=0.001).run()["# Trades"])
"""


def commands(out: Path) -> dict[str, list[str]]:
    script = out / "backtesting_py_rsi.py"
    script.write_text(BACKTESTING_PY_SCRIPT)
    xraybot = xraybot_backtest(out)
    return {
        "xraybot backtest": [*xraybot, "--no-cache"],
        "xraybot backtest, cache hit": xraybot,
        "backtesting.py script": [
            sys.executable,
            str(script),
            str(REFERENCE / "data" / "binance" / "BTC_USDT-1h.csv.gz"),
        ],
        "python -c pass": [sys.executable, "-c", "pass"],
    }


def xraybot_backtest(out: Path) -> list[str]:
    return [
        str(XRAYBOT),
        "backtest",
        "--strategy",
        "rsi_reversion",
        "--data-dir",
        str(REFERENCE / "data"),
        "--exchange",
        "binance",
        "--symbols",
        "BTC/USDT",
        "--timeframe",
        "1h",
        "--fee",
        "0.001",
        "--stake",
        "all",
        "--equity",
        "10000",
        "--json",
        str(out / "out.json"),
    ]


def run_once(argv: list[str], home: Path) -> float:
    started = time.perf_counter()
    env = {**os.environ, "COLUMNS": "120", "XDG_DATA_HOME": str(home)}
    # The commands are this file's own, built above.
    subprocess.run(argv, check=True, capture_output=True, env=env)  # noqa: S603
    return time.perf_counter() - started


def measure(repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        cmds = commands(Path(folder))
        home = Path(folder) / "home"  # a private journal for the result cache
        for argv in cmds.values():
            run_once(argv, home)  # untimed: numba's on-disk cache, the page cache, the journal
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(repeats):
            for name, argv in cmds.items():
                times[name].append(run_once(argv, home))
    floor = statistics.median(times["python -c pass"])
    return {
        name: {
            "seconds_median": statistics.median(values),
            "seconds_best": min(values),
            "over_interpreter_s": statistics.median(values) - floor,
        }
        for name, values in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(args.repeats)
    table = Table(title="cold process, one symbol (12,556 candles)")
    for column in ("command", "median s", "best s", "over python s"):
        table.add_column(column, justify="right")
    for name, entry in result.items():
        table.add_row(
            name,
            f"{entry['seconds_median']:.3f}",
            f"{entry['seconds_best']:.3f}",
            f"{entry['over_interpreter_s']:.3f}",
        )
    Console().print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
