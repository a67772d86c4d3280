"""Rate-limiter benchmark: many callers fetch OHLCV through the limiter from the simulator.

The simulator enforces MEXC's limits (spot klines: weight 1, 500 per 10 s per endpoint and
IP, i.e. 50 requests/s) and answers after ``--latency-ms``. Every caller goes through the
pool's shared public ccxt client paced by xraybot's limiter. Reported, from one run:

- HTTP 429s the simulator answered (must be 0);
- utilization: the weight admitted in each 10 s window of the run as a fraction of the
  500 the limit allows, averaged over every window position (must be >= 90%);
- the most weight answered within any 10 s (at most 500 when nothing was refused);
- requests per second. A sliding window lets 500 go at once, so a short run can exceed
  50/s (three windows' worth in 25 s); the utilization is the figure to judge.

Run: ``.venv/bin/python -m bench.ratelimit_bench [--seconds 30] [--json PATH]``.
Nothing is appended anywhere; RESULTS.md is written by hand from the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ccxt
import uvicorn
from rich.console import Console
from rich.table import Table

from xraybot.exchange.budgets import SPOT_CAPACITY, SPOT_WINDOW_S
from xraybot.exchange.pool import ExchangePool
from xraybot.exchange.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from xraybot.sim.app import create_app
from xraybot.sim.clock import SimClock
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.sim.synthetic import SyntheticMarket

KLINES_WEIGHT = 1.0


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a kernel-chosen port) in a thread; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def busiest_window(done: Sequence[float]) -> float:
    """Return the most weight answered within any window of W seconds."""
    times = sorted(done)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - SPOT_WINDOW_S:
            lo += 1
        best = max(best, hi - lo + 1)
    return best * KLINES_WEIGHT


def utilization(done: Sequence[float], start: float, end: float) -> float:
    """Average, over every window [s, s + W) inside [start, end), of admitted weight / capacity."""
    positions = max(1, round((end - start - SPOT_WINDOW_S) / 0.01))
    times = sorted(done)
    total, lo, hi = 0.0, 0, 0
    for i in range(positions + 1):
        s = start + i * 0.01
        while lo < len(times) and times[lo] < s:
            lo += 1
        while hi < len(times) and times[hi] < s + SPOT_WINDOW_S:
            hi += 1
        total += (hi - lo) * KLINES_WEIGHT / SPOT_CAPACITY
    return total / (positions + 1)


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    limiter: RateLimiter
    if args.redis_url:
        limiter = RedisRateLimiter(args.redis_url, f"xraybot:bench:{time.time_ns()}:")
    else:
        limiter = MemoryRateLimiter()
    pool = ExchangePool(limiter=limiter, sim_url=url)
    try:
        client = await pool.public("sim")
        symbols = [s for s, m in client.markets.items() if m["spot"]][: args.symbols]
        done: list[float] = []
        waits: list[float] = []
        counts = {"ok": 0, "http_429": 0, "other_errors": 0}
        start = time.monotonic()
        end = start + args.seconds

        async def caller(index: int) -> None:
            n = index
            while time.monotonic() < end:
                asked = time.monotonic()
                try:
                    await client.fetch_ohlcv(symbols[n % len(symbols)], "1m", limit=100)
                except ccxt.RateLimitExceeded:
                    counts["http_429"] += 1
                except Exception:
                    counts["other_errors"] += 1
                else:
                    finished = time.monotonic()
                    if finished < end:
                        counts["ok"] += 1
                        done.append(finished)
                        waits.append(finished - asked)
                n += 1

        await asyncio.gather(*(caller(i) for i in range(args.tasks)))
    finally:
        await pool.close()
        await limiter.aclose()
    quantiles = statistics.quantiles(waits, n=100) if len(waits) > 1 else [0.0] * 99
    return {
        "seconds": args.seconds,
        "tasks": args.tasks,
        "symbols": len(symbols),
        "latency_ms": args.latency_ms,
        "limiter": "redis" if args.redis_url else "memory",
        "requests_ok": counts["ok"],
        "http_429": counts["http_429"],
        "other_errors": counts["other_errors"],
        "requests_per_s": counts["ok"] / args.seconds,
        "window_capacity": SPOT_CAPACITY,
        "busiest_window_weight": busiest_window(done),
        "window_utilization": utilization(done, start, end),
        "call_p50_s": quantiles[49],
        "call_p95_s": quantiles[94],
    }


def report(figures: dict[str, Any]) -> None:
    table = Table(title="Rate limiter vs simulator (MEXC spot klines: 500 weight / 10 s)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        (
            "run",
            f"{figures['seconds']:g} s, {figures['tasks']} tasks, "
            f"{figures['symbols']} symbols, {figures['latency_ms']} ms latency",
        ),
        ("limiter", figures["limiter"]),
        ("requests ok", str(figures["requests_ok"])),
        ("HTTP 429s (must be 0)", str(figures["http_429"])),
        ("other errors", str(figures["other_errors"])),
        ("window utilization (must be >= 90%)", f"{figures['window_utilization']:.1%}"),
        ("busiest 10 s window (limit 500)", f"{figures['busiest_window_weight']:g}"),
        ("requests/s (50 on average over long runs)", f"{figures['requests_per_s']:.1f}"),
        ("call time p50 / p95", f"{figures['call_p50_s']:.2f} s / {figures['call_p95_s']:.2f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--universe", type=int, default=100, help="symbols the simulator lists")
    parser.add_argument("--redis-url", help="use the Redis limiter at this URL (default: memory)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.seconds <= SPOT_WINDOW_S:
        parser.error(f"--seconds must exceed the {SPOT_WINDOW_S:g} s window")
    config = SimConfig(port=0, latency_ms=args.latency_ms, rate_limits=RateLimits(enabled=True))
    market = SyntheticMarket(SimClock(int(time.time() * 1000)), n_symbols=args.universe)
    with serve(create_app(config, market)) as url:
        figures = asyncio.run(run(args, url))
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    ok = figures["http_429"] == 0 and figures["window_utilization"] >= 0.9
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
