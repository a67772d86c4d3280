"""Optimizer memory: peak memory of a 2-worker optimization against a 1-worker one.

Each run is a fresh ``python -m bench.optimize_memory_bench --child ...`` process that loads
the sweep benchmark's candles (30 Binance USDT pairs x 2 years of 1h, see
``bench/sweep_bench.py``), optionally tiled ``--scale`` times into more series, and runs
``xraybot.backtest.optimize.optimize`` on them: rsi_reversion, TPE, ``--trials`` trials,
Sharpe, 30 % held out. This process samples, every 20 ms, the proportional set size (PSS,
``/proc/<pid>/smaps_rollup``) of the child and of every process below it, and keeps the peak
of their sum. PSS splits each shared page between the processes that map it, so memory the
workers share (the memory-mapped candle file, libraries inherited from a fork) counts once,
and a private copy of the candles in each worker would count once per worker.

Reported per run: peak total PSS, the peak of each process, the candles' size in memory,
the wall time; then the 2-worker / 1-worker ratio, and - from two data scales - how much
each extra megabyte of candles adds to the peak (a design that hands every worker its own
copy adds about 1 + workers MB per MB; one shared read-only copy keeps it near 2: the
parent's loaded series plus the mapped file).

``--feature-budget-mb 0`` switches off the features a process caches across trials
(``optimize_trials.FEATURE_BUDGET_BYTES``, 64 MB by default), leaving what the design
itself costs per worker.

Run: ``.venv/bin/python -m bench.optimize_memory_bench [--trials 40] [--scales 1,4]
[--feature-budget-mb MB] [--json PATH]``. Nothing is appended anywhere; RESULTS.md is
written by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from xraybot.model.candles import Candles

MB = 1024 * 1024


def rollup_kb(pid: int) -> dict[str, int]:
    """``Pss``, ``Pss_File`` and ``Private`` (USS: Private_Clean + Private_Dirty) in kB;
    zeros once the process has gone."""
    found = {"Pss": 0, "Pss_File": 0, "Private": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                name, _, rest = line.partition(":")
                if name in ("Pss", "Pss_File"):
                    found[name] = int(rest.split()[0])
                elif name in ("Private_Clean", "Private_Dirty"):
                    found["Private"] += int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    found = [pid]
    index = 0
    while index < len(found):
        current = found[index]
        index += 1
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as children:
                    found.extend(int(child) for child in children.read().split())
            except FileNotFoundError:
                continue
    return found


class Sampler(threading.Thread):
    """Samples a process tree until stopped: the peak of its summed PSS, and each process's
    peak PSS and peak private memory (USS)."""

    def __init__(self, root: int, interval_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval_s = interval_s
        self.peak_kb = 0
        self.peak_file_kb = 0  # file-backed part of the total at its peak (mapped candles)
        self.peak_pss: dict[int, int] = {}
        self.peak_private: dict[int, int] = {}
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            sizes = {pid: rollup_kb(pid) for pid in descendants(self.root)}
            self.samples += 1
            total = sum(size["Pss"] for size in sizes.values())
            if total > self.peak_kb:
                self.peak_kb = total
                self.peak_file_kb = sum(size["Pss_File"] for size in sizes.values())
            for pid, size in sizes.items():
                self.peak_pss[pid] = max(self.peak_pss.get(pid, 0), size["Pss"])
                self.peak_private[pid] = max(self.peak_private.get(pid, 0), size["Private"])
            self._done.wait(self.interval_s)

    def stop(self) -> None:
        self._done.set()
        self.join()


def measure(workers: int, trials: int, scale: int, budget_mb: float | None) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.optimize_memory_bench", "--child",
        "--workers", str(workers), "--trials", str(trials), "--scales", str(scale),
    ]  # fmt: skip
    if budget_mb is not None:
        command += ["--feature-budget-mb", str(budget_mb)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    sampler = Sampler(child.pid)
    sampler.start()
    out, _ = child.communicate()
    sampler.stop()
    if child.returncode != 0:
        raise SystemExit(f"the child run failed with exit code {child.returncode}")
    report = json.loads(out.strip().splitlines()[-1])
    pids = sorted(sampler.peak_pss)
    return {
        "workers": workers,
        "scale": scale,
        "trials": trials,
        "peak_pss_mb": sampler.peak_kb / 1024,
        "peak_pss_file_mb": sampler.peak_file_kb / 1024,
        "peak_pss_by_process_mb": [sampler.peak_pss[pid] / 1024 for pid in pids],
        "peak_private_by_process_mb": [sampler.peak_private[pid] / 1024 for pid in pids],
        "processes": len(pids),
        "samples": sampler.samples,
        "wall_s": time.perf_counter() - started,
        **report,
    }


def copy_of(candles: Candles, symbol: str) -> Candles:
    columns = ("ts_ms", "open", "high", "low", "close", "volume")
    return Candles(symbol, candles.timeframe, *(getattr(candles, n).copy() for n in columns))


def child(workers: int, trials: int, scale: int, budget_mb: float | None) -> None:
    from bench.sweep_bench import OHLCV, load
    from xraybot.backtest import optimize_trials
    from xraybot.backtest.optimize import optimize

    if budget_mb is not None:  # forked workers inherit the module's value
        optimize_trials.FEATURE_BUDGET_BYTES = int(budget_mb * MB)
    base = load(OHLCV)
    # Tiles are copies, as if more symbols had been loaded.
    series = [c if k == 0 else copy_of(c, f"{c.symbol}#{k}") for k in range(scale) for c in base]
    data_bytes = sum(len(c) * 6 * 8 for c in series)
    started = time.perf_counter()
    report = optimize(
        "rsi_reversion", series, trials=trials, workers=workers, seed=0,
        space={"rsi_period": {"low": 7, "high": 28}, "entry_level": {"low": 20, "high": 35}},
    )  # fmt: skip
    print(
        json.dumps(
            {
                "series": len(series),
                "candles": sum(len(c) for c in series),
                "data_mb": data_bytes / MB,
                "optimize_s": time.perf_counter() - started,
                "completed": report.completed,
                "pruned": report.pruned,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--scales", default="1,4", help="data scales, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="(child) worker processes")
    parser.add_argument(
        "--feature-budget-mb",
        type=float,
        default=None,
        help="features cached across trials per process (default: the library's; 0: none)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    if args.child:
        child(args.workers, args.trials, scales[0], args.feature_budget_mb)
        return

    console = Console()
    budget = args.feature_budget_mb
    runs = [measure(w, args.trials, scale, budget) for scale in scales for w in (1, 2)]
    cache = "default" if budget is None else f"{budget:g} MB"
    table = Table(
        title=f"optimize rsi_reversion, {args.trials} TPE trials, feature cache {cache}: memory"
    )
    for name in ("workers", "series", "candles", "peak PSS, all processes",
                 "peak PSS per process", "peak private (USS) per process",
                 "optimize wall"):  # fmt: skip
        table.add_column(name, justify="right")
    for run in runs:
        table.add_row(
            str(run["workers"]),
            str(run["series"]),
            f"{run['data_mb']:.0f} MB",
            f"{run['peak_pss_mb']:.0f} MB",
            " + ".join(f"{mb:.0f}" for mb in run["peak_pss_by_process_mb"]) + " MB",
            " + ".join(f"{mb:.0f}" for mb in run["peak_private_by_process_mb"]) + " MB",
            f"{run['optimize_s']:.1f} s",
        )
    console.print(table)
    summary: dict[str, Any] = {"feature_budget_mb": budget, "runs": runs, "ratio_2_to_1": {}}
    for scale in scales:
        one, two = (next(r for r in runs if r["scale"] == scale and r["workers"] == w)
                    for w in (1, 2))  # fmt: skip
        ratio = two["peak_pss_mb"] / one["peak_pss_mb"]
        summary["ratio_2_to_1"][scale] = ratio
        console.print(f"scale {scale}: 2 workers / 1 worker peak PSS = {ratio:.2f}")
    if len(scales) > 1:
        low, high = min(scales), max(scales)
        for w in (1, 2):
            a = next(r for r in runs if r["scale"] == low and r["workers"] == w)
            b = next(r for r in runs if r["scale"] == high and r["workers"] == w)
            added = b["data_mb"] - a["data_mb"]
            per_mb = (b["peak_pss_mb"] - a["peak_pss_mb"]) / added
            summary[f"mb_per_data_mb_{w}_workers"] = per_mb
            console.print(f"{w} worker(s): +{per_mb:.2f} MB of peak PSS per MB of candles")
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
