"""Store read benchmark: a year of 1m candles from the Parquet store vs pandas reading CSV.

One symbol's year of 1-minute candles (525,600 rows; synthetic but shaped like BTC/USDT:
fat-tailed returns, intraday volatility and volume cycles, volatility regimes, prices on a
0.01 tick, volumes to 5 decimals) is written once to a fresh :class:`CandleStore` and once
as CSV in the ``../shared/data`` layout (``ohlcv/<exchange>/<BASE>_<QUOTE>-<tf>.csv``,
header ``timestamp,open,high,low,close,volume``, floats as Python ``repr``), plain and
gzipped. Then, in the same run and interleaved, ``--repeats`` times each:

- ``store.read`` → ``Candles``;
- ``pandas.read_csv`` (default C engine) on the plain and the gzipped file, then the columns
  to numpy and into ``Candles`` (the same object the store returns);
- for context, ``pandas.read_csv(engine="pyarrow")`` on the plain file, and a store range
  read of one month.

Reported: median and best wall time of each, and the ratio pandas time / store time (of the
medians; the headline is plain CSV with pandas' default engine). Files sit in the page
cache for every reader alike (each is read once before timing).

Run: ``.venv/bin/python -m bench.store_read_bench [--rows 525600] [--repeats 7] [--json PATH]``.
Nothing is appended anywhere; RESULTS.md is written by hand from the output.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from xraybot.data.store import CandleStore
from xraybot.model import Candles

EXCHANGE, SYMBOL, TIMEFRAME = "binance", "BTC/USDT", "1m"
START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z
MINUTE_MS = 60_000
HEADER = "timestamp,open,high,low,close,volume"


def synthetic_candles(rows: int, seed: int = 7) -> Candles:
    """Return ``rows`` 1m candles that look like a liquid USDT pair's (seeded)."""
    rng = np.random.default_rng(seed)
    minute = np.arange(rows) % 1440
    # Busier around the US session, calmer in the Asian night.
    season = 1.0 + 0.8 * np.sin(np.pi * (minute / 1440.0 - 0.15)) ** 2
    regime = np.cumsum(rng.normal(0.0, 0.02, rows))
    regime = (regime - regime.mean()) / (regime.std() + 1e-12)
    sigma = 0.0005 * season * np.exp(0.35 * regime)
    returns = rng.standard_t(4, rows) * sigma / np.sqrt(2.0)
    close = np.round(42_000.0 * np.exp(np.cumsum(returns)), 2)
    open_ = np.concatenate([[42_000.0], close[:-1]])
    reach = np.abs(rng.normal(0.0, 1.0, (2, rows))) * sigma * 0.6
    high = np.maximum(
        np.round(np.maximum(open_, close) * (1.0 + reach[0]), 2), np.maximum(open_, close)
    )
    low = np.minimum(
        np.round(np.minimum(open_, close) * (1.0 - reach[1]), 2), np.minimum(open_, close)
    )
    volume = np.round(rng.lognormal(2.0, 1.1, rows) * season, 5)
    ts = START_MS + np.arange(rows, dtype=np.int64) * MINUTE_MS
    return Candles(SYMBOL, TIMEFRAME, ts, open_, high, low, close, volume)


def write_csv(candles: Candles, path: Path) -> None:
    """Write the shared-data CSV layout, floats as ``repr`` like the files in ../shared/data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [candles.ts_ms.tolist()] + [
        getattr(candles, n).tolist() for n in ("open", "high", "low", "close", "volume")
    ]
    with path.open("w", encoding="ascii") as out:
        out.write(HEADER + "\n")
        out.writelines(
            f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r}\n"
            for t, o, h, lo, c, v in zip(*columns, strict=True)
        )


def candles_from_csv(path: Path, engine: str | None = None) -> Candles:
    """Read the CSV with pandas and turn it into Candles (the store's output type)."""
    frame = pd.read_csv(path, engine=engine) if engine else pd.read_csv(path)
    return Candles(
        SYMBOL,
        TIMEFRAME,
        frame["timestamp"].to_numpy(np.int64),
        *(frame[n].to_numpy(np.float64) for n in ("open", "high", "low", "close", "volume")),
    )


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run(rows: int, repeats: int, workdir: Path) -> dict[str, Any]:
    candles = synthetic_candles(rows)
    store = CandleStore(workdir / "store")
    write_s = timed(lambda: store.write(EXCHANGE, candles))
    csv_path = workdir / "csv" / "ohlcv" / EXCHANGE / f"BTC_USDT-{TIMEFRAME}.csv"
    write_csv(candles, csv_path)
    gz_path = csv_path.with_suffix(".csv.gz")
    with csv_path.open("rb") as src, gzip.open(gz_path, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst)
    month_end = START_MS + 30 * 1440 * MINUTE_MS
    readers: dict[str, Callable[[], Candles]] = {
        "store.read (all rows)": lambda: CandleStore(workdir / "store").read(
            EXCHANGE, SYMBOL, TIMEFRAME
        ),
        "pandas.read_csv plain + numpy": lambda: candles_from_csv(csv_path),
        "pandas.read_csv gzip + numpy": lambda: candles_from_csv(gz_path),
        "pandas.read_csv(engine=pyarrow) plain + numpy": lambda: candles_from_csv(
            csv_path, "pyarrow"
        ),
        "store.read (one month range)": lambda: CandleStore(workdir / "store").read(
            EXCHANGE, SYMBOL, TIMEFRAME, START_MS, month_end
        ),
    }
    results = {name: reader() for name, reader in readers.items()}  # warm: page cache, imports
    stored = results["store.read (all rows)"]
    from_csv = results["pandas.read_csv plain + numpy"]
    names = ("ts_ms", "open", "high", "low", "close", "volume")
    store_exact = all(np.array_equal(getattr(stored, n), getattr(candles, n)) for n in names)
    csv_exact = all(np.array_equal(getattr(from_csv, n), getattr(candles, n)) for n in names)
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(repeats):
        for name, reader in readers.items():  # interleaved, so drift hits every reader alike
            times[name].append(timed(reader))
    median = {name: statistics.median(ts) for name, ts in times.items()}
    store_median = median["store.read (all rows)"]
    return {
        "rows": rows,
        "repeats": repeats,
        "store_write_s": write_s,
        "sizes_bytes": {
            "parquet": store.path(EXCHANGE, SYMBOL, TIMEFRAME).stat().st_size,
            "csv": csv_path.stat().st_size,
            "csv_gz": gz_path.stat().st_size,
        },
        "store_exact": store_exact,
        "csv_exact": csv_exact,
        "readers": {
            name: {
                "median_s": median[name],
                "best_s": min(times[name]),
                "ratio_to_store": median[name] / store_median,
                "runs_s": times[name],
            }
            for name in readers
        },
        "ratio_pandas_csv_to_store": median["pandas.read_csv plain + numpy"] / store_median,
        "ratio_pandas_csv_gz_to_store": median["pandas.read_csv gzip + numpy"] / store_median,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "pyarrow": pa.__version__,
        },
    }


def report(figures: dict[str, Any]) -> None:
    table = Table(
        title=f"Read {figures['rows']:,} 1m candles into Candles (median of {figures['repeats']})"
    )
    table.add_column("reader")
    table.add_column("median", justify="right")
    table.add_column("best", justify="right")
    table.add_column("× store.read", justify="right")
    for name, r in figures["readers"].items():
        table.add_row(
            name,
            f"{r['median_s'] * 1000:.1f} ms",
            f"{r['best_s'] * 1000:.1f} ms",
            f"{r['ratio_to_store']:.1f}",
        )
    console = Console()
    console.print(table)
    sizes = figures["sizes_bytes"]
    console.print(
        f"ratio pandas CSV / store: [bold]{figures['ratio_pandas_csv_to_store']:.1f}×[/] (plain), "
        f"{figures['ratio_pandas_csv_gz_to_store']:.1f}× (gzip) · files: Parquet "
        f"{sizes['parquet'] / 1e6:.1f} MB, CSV {sizes['csv'] / 1e6:.1f} MB, CSV.gz "
        f"{sizes['csv_gz'] / 1e6:.1f} MB · store write {figures['store_write_s']:.2f} s · "
        f"store exact: {figures['store_exact']}, CSV exact: {figures['csv_exact']}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=525_600, help="1m candles (a year: 525600)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.rows < 2 or args.repeats < 1:
        parser.error("--rows must be >= 2 and --repeats >= 1")
    with tempfile.TemporaryDirectory(prefix="xraybot-store-bench-") as workdir:
        figures = run(args.rows, args.repeats, Path(workdir))
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if figures["store_exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
