"""Download benchmark: N symbols × D days of candles from the simulator, under MEXC's limits.

The simulator runs in a child process, as a remote exchange would, enforces MEXC's spot
limits (klines: weight 1, 500 per 10 s per endpoint and IP, i.e. 50 requests/s) and
answers after ``--latency-ms``. The client is what ``xraybot data download`` builds: the
runtime's limiter, the pool's shared public client, the gateway, and
``data.download.download`` writing Parquet into a temporary store. Every symbol was listed
more than ``--days`` before the simulator's clock, so each has the whole range. Reported,
from one run:

- wall time of the download ÷ the bound the limit sets (klines requests needed ÷ 50 per
  second); target <= 1.2. A sliding window admits 500 at once, so a short run may beat it;
- HTTP 429s the simulator answered (target 0), counted by the server;
- requests, candles stored, the store compared with the simulator's own candles, and the
  client's CPU time (when it nears the wall time, parsing, not the limit, is the bound).

Run: ``.venv/bin/python -m bench.download_bench [--symbols 50] [--days 730] [--json PATH]``;
``--symbols 10 --days 120`` is a quick smoke run (its 60 requests fit in the first window, so
its ratio measures latency, not the limit). Nothing is appended anywhere; RESULTS.md is
written by hand from the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.sim_child import counts, market_for, sim_process
from xraybot.data.download import DEFAULT_CONCURRENCY, download
from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore
from xraybot.exchange.budgets import SPOT_CAPACITY, SPOT_WINDOW_S
from xraybot.exchange.config import ExchangeConfig
from xraybot.model.candles import timeframe_to_ms
from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway

DAY_MS = 86_400_000
COUNTED = {"/api/v3/klines": "klines"}
PER_CALL = 500  # ccxt's page for MEXC spot klines (quirks.max_ohlcv_per_call["spot"])


async def run(args: argparse.Namespace, url: str, root: Path) -> dict[str, Any]:
    tf_ms = timeframe_to_ms(args.timeframe)
    market = market_for(args)  # the child's twin, to compare candles with
    since = (args.clock_ms - args.days * DAY_MS) // tf_ms * tf_ms
    old = [s for s in market.symbols() if s.listed_ms <= since]
    if len(old) < args.symbols:
        raise SystemExit(
            f"only {len(old)} of the simulator's {args.universe} symbols were listed "
            f"{args.days} days ago; raise --universe."
        )
    symbols = [f"{s.base}/{s.quote}" for s in old[: args.symbols]]
    config = ExchangeConfig(exchange="sim", sim_url=url)
    limiter = build_limiter(config)
    pool = build_pool(config, limiter)
    store, universe = CandleStore(root), UniverseStore(root)
    try:
        gateway = await public_gateway(pool, "sim")
        await gateway.markets()
        counts(url, reset=True)
        started, cpu_started = time.monotonic(), time.process_time()
        report = await download(
            gateway,
            store,
            universe,
            symbols=symbols,
            timeframe=args.timeframe,
            since_ms=since,
            concurrency=args.concurrency,
            chunk_candles=gateway.quirks.max_ohlcv_per_call,
        )
        wall_s = time.monotonic() - started
        cpu_s = time.process_time() - cpu_started
        served = counts(url)
    finally:
        await pool.close()
        if limiter is not None:
            await limiter.aclose()
    # Requests the range needs, a window of PER_CALL candles each, whatever the code sent.
    needed = sum(math.ceil((report.until_ms - since) / (PER_CALL * tf_ms)) for _ in symbols)
    bound_s = needed / (SPOT_CAPACITY / SPOT_WINDOW_S)
    mismatches = 0
    for symbol in symbols:
        stored = store.read("sim", symbol, args.timeframe)
        expected = market.candles(symbol.replace("/", ""), args.timeframe, since, report.until_ms)
        expected = expected.closed(report.until_ms)
        same = len(stored) == len(expected) and all(
            np.array_equal(getattr(stored, n), getattr(expected, n))
            for n in ("ts_ms", "open", "high", "low", "close", "volume")
        )
        mismatches += not same
    statuses = {s.status.value for s in report.symbols}
    return {
        "symbols": len(symbols),
        "days": args.days,
        "timeframe": args.timeframe,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "candles_stored": sum(s.stored_rows for s in report.symbols),
        "requests_needed": needed,
        "klines_requests_sent": served["klines"],
        "retries": sum(s.retries for s in report.symbols),
        "http_429": served["http_429"],
        "statuses": sorted(statuses),
        "series_differing_from_simulator": mismatches,
        "wall_s": wall_s,
        "bound_s": bound_s,
        "wall_over_bound": wall_s / bound_s,
        "requests_per_s": served["klines"] / wall_s,
        "client_cpu_s": cpu_s,
    }


def report(figures: dict[str, Any]) -> None:
    table = Table(title="History download vs simulator (MEXC spot klines: 500 weight / 10 s)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        (
            "run",
            f"{figures['symbols']} symbols × {figures['days']} days of {figures['timeframe']}, "
            f"{figures['latency_ms']} ms latency, concurrency {figures['concurrency']}",
        ),
        ("candles stored", f"{figures['candles_stored']:,}"),
        ("klines requests needed / sent", f"{figures['requests_needed']:,} / "
         f"{figures['klines_requests_sent']:,}"),
        ("HTTP 429s (target 0)", str(figures["http_429"])),
        ("retries", str(figures["retries"])),
        ("series differing from the simulator (must be 0)",
         str(figures["series_differing_from_simulator"])),
        ("symbol statuses", ", ".join(figures["statuses"])),
        ("wall time", f"{figures['wall_s']:.1f} s"),
        ("bound: requests needed ÷ 50/s", f"{figures['bound_s']:.1f} s"),
        ("wall ÷ bound (target <= 1.2)", f"{figures['wall_over_bound']:.2f}"),
        ("requests/s", f"{figures['requests_per_s']:.1f}"),
        ("client CPU (all threads)", f"{figures['client_cpu_s']:.1f} s"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--universe", type=int, default=200, help="symbols the simulator lists")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    # The simulator's clock starts at the wall clock, so ccxt's own clock agrees with it.
    args.clock_ms = int(time.time() * 1000)
    with (
        sim_process(args, COUNTED) as url,
        tempfile.TemporaryDirectory(prefix="xraybot-bench-") as tmp,
    ):
        figures = asyncio.run(run(args, url, Path(tmp)))
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    ok = (
        figures["http_429"] == 0
        and figures["wall_over_bound"] <= 1.2
        and figures["series_differing_from_simulator"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
