"""Live-feed benchmark: 500 symbols of 1m candles for 2,000 subscribers, on the simulator.

The simulator runs in its own process (``xraybot sim``: a synthetic universe, MEXC's rate
limits enforced, ``--latency-ms`` per request) with its market clock running ``--speed``
times faster than the wall clock, so a 1m candle closes every 60/speed wall seconds. The
feed reads that clock through its offset (a scaled wall clock plus the exchange's time),
fetches through the pool's shared public ccxt client paced by xraybot's limiter, and
notifies subscribers by callback; each subscriber follows ``--pairs-per-subscriber``
symbols, so every symbol has subscribers. Reported, for each measured closed candle:

- kline requests sent while that candle was settled (counted by the limiter every HTTP
  request passes): must equal the number of symbols, whatever the number of subscribers;
- the delay from the candle's close on the market clock to each subscriber's callback
  (p50 / p95 / max over every subscriber and pair), in market-clock ms and wall ms
  (market ms ÷ speed); the offset estimate is good to half a round trip;
- HTTP 429s (limiter penalties), late and error retries.

The first close comes ~14 s (wall) after the windows are loaded, so the loads' 500
requests have left MEXC's 10 s window before the first measured candle.

Run: ``.venv/bin/python -m bench.feed_bench [--symbols 500] [--subscribers 2000]
[--candles 4] [--speed 4] [--latency-ms 50] [--redis-url URL] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from xraybot.data.feed import CandleFeed, EventKind, FeedEvent, FeedSettings
from xraybot.data.feed_window import CacheWindowStore, MemoryWindowStore, WindowStore
from xraybot.exchange.budgets import Budget, Request
from xraybot.exchange.pool import ExchangePool
from xraybot.exchange.ratelimit import MemoryRateLimiter
from xraybot.model.market import MarketKind
from xraybot.runtime.exchanges import public_gateway
from xraybot.storage.cache import RedisCache

MINUTE_MS = 60_000
KLINES = "klines"


class CountingLimiter:
    """The memory limiter, counting the requests it admits (by budget) and the 429s."""

    def __init__(self, inner: MemoryRateLimiter) -> None:
        self.inner = inner
        self.requests: Counter[str] = Counter()
        self.penalties = 0

    def count(self, endpoint: str) -> int:
        return sum(n for key, n in self.requests.items() if key.endswith(endpoint))

    async def acquire(self, budget: Budget, weight: float, scope: str) -> None:
        await self.acquire_many([(budget, weight, scope)])

    async def acquire_many(self, requests: Sequence[Request]) -> None:
        async with self.hold(requests):
            pass

    def hold(self, requests: Sequence[Request]) -> AbstractAsyncContextManager[None]:
        for budget, _, _ in requests:
            self.requests[budget.key] += 1
        return self.inner.hold(requests)

    async def penalize(self, budget: Budget, scope: str, retry_after_s: float) -> None:
        self.penalties += 1
        await self.inner.penalize(budget, scope, retry_after_s)

    async def headroom(self, budget: Budget, scope: str) -> float:
        return await self.inner.headroom(budget, scope)

    async def aclose(self) -> None:
        await self.inner.aclose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def simulator(args: argparse.Namespace, start_ms: int) -> Iterator[str]:
    """Run ``xraybot sim`` in its own process; yield its URL; stop it (by its pid) after."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "xraybot",
        "sim",
        f"--port={port}",
        f"--symbols={args.universe}",
        f"--speed={args.speed}",
        f"--start-ms={start_ms}",
        f"--latency-ms={args.latency_ms}",
        "--rate-limits",
    ]
    # Our own interpreter and arguments: nothing untrusted reaches the command line.
    process = subprocess.Popen(  # noqa: S603
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the simulator exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                httpx.get(f"{url}/_sim/clock", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the simulator did not start within 60 s") from None
                time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def quantiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": math.nan, "p95": math.nan, "max": math.nan}
    ordered = sorted(values)
    cut = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else None
    return {
        "p50": cut[49] if cut else ordered[0],
        "p95": cut[94] if cut else ordered[0],
        "max": ordered[-1],
    }


@asynccontextmanager
async def window_store(args: argparse.Namespace) -> AsyncIterator[WindowStore]:
    if not args.redis_url:
        yield MemoryWindowStore()
        return
    cache = RedisCache(args.redis_url, key_prefix=f"xraybot:bench:{time.time_ns()}:")
    try:
        yield CacheWindowStore(cache, "feed:sim", ttl_s=600)
    finally:
        await cache.aclose()


async def run(args: argparse.Namespace, url: str, first_close_ms: int) -> dict[str, Any]:
    limiter = CountingLimiter(MemoryRateLimiter())
    pool = ExchangePool(limiter=limiter, sim_url=url)
    try:
        async with window_store(args) as store:
            return await follow(args, pool, limiter, store, first_close_ms)
    finally:
        await pool.close()
        await limiter.aclose()


async def follow(
    args: argparse.Namespace,
    pool: ExchangePool,
    limiter: CountingLimiter,
    store: WindowStore,
    first_close_ms: int,
) -> dict[str, Any]:
    speed = args.speed

    def clock() -> int:
        return int(time.time() * 1000 * speed)

    gateway = await public_gateway(pool, "sim")
    markets = await gateway.markets()
    symbols = sorted(s for s, m in markets.items() if m.kind is MarketKind.SPOT)
    symbols = symbols[: args.symbols]
    feed = CandleFeed(
        gateway,
        store,
        FeedSettings(window=args.window, grace_s=args.grace_ms / 1000),
        clock=clock,
        sleep=lambda seconds: asyncio.sleep(seconds / speed),
    )
    try:
        delays: dict[int, list[int]] = {}  # candle open ms -> market ms from close to callback
        arrived: dict[int, int] = Counter()
        links = 0

        snapshots = 0
        all_loaded = asyncio.Event()
        all_arrived: dict[int, asyncio.Event] = {}

        def complete(candle: int) -> asyncio.Event:
            return all_arrived.setdefault(candle, asyncio.Event())

        async def notified(event: FeedEvent) -> None:
            nonlocal snapshots
            if event.kind is EventKind.SNAPSHOT:
                snapshots += 1
                if snapshots == links:
                    all_loaded.set()
                return
            now = clock() + feed.offset_ms  # the market clock, as best estimated
            for ts in event.closed.ts_ms.tolist():
                delays.setdefault(ts, []).append(now - (ts + MINUTE_MS))
                arrived[ts] += 1
                if arrived[ts] == links:
                    complete(ts).set()

        per = args.pairs_per_subscriber
        subscriptions = []
        for i in range(args.subscribers):
            chosen = {symbols[(i * per + j) % len(symbols)] for j in range(per)}
            subscriptions.append(feed.subscribe([(s, "1m") for s in chosen], callback=notified))
            links += len(chosen)
        requests_before_load = limiter.count(KLINES)
        load_started = time.monotonic()
        await feed.start()
        await asyncio.wait_for(all_loaded.wait(), 120)
        load_s = time.monotonic() - load_started
        load_requests = limiter.count(KLINES) - requests_before_load

        rows: list[dict[str, Any]] = []
        for k in range(args.candles):
            close = first_close_ms + k * MINUTE_MS
            candle = close - MINUTE_MS
            # Just before the close: count from here.
            await feed.sleep_until(close - 2_000)
            before = limiter.count(KLINES)
            await feed.sleep_until(close)
            # A candle not fully delivered within its own minute is reported as such.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(complete(candle).wait(), 60 / speed)
            requests = limiter.count(KLINES) - before
            market = quantiles(delays.get(candle, []))
            rows.append(
                {
                    "candle_open_ms": candle,
                    "kline_requests": requests,
                    "notifications": arrived.get(candle, 0),
                    "expected_notifications": links,
                    "delay_market_ms": market,
                    "delay_wall_ms": {q: v / speed for q, v in market.items()},
                }
            )
        stats = feed.stats
        for subscription in subscriptions:  # the last one out deletes each stored window
            await subscription.close()
    finally:
        await feed.stop()
    every = [d for row in rows for d in delays.get(row["candle_open_ms"], [])]
    overall = quantiles(every)
    return {
        "symbols": len(symbols),
        "subscribers": args.subscribers,
        "subscriptions": links,
        "timeframe": "1m",
        "speed": speed,
        "latency_ms": args.latency_ms,
        "grace_ms": args.grace_ms,
        "window": args.window,
        "store": "redis" if args.redis_url else "memory",
        "load_requests": load_requests,
        "load_wall_s": load_s,
        "candles": rows,
        "requests_per_closed_candle": [r["kline_requests"] for r in rows],
        "delay_market_ms": overall,
        "delay_wall_ms": {q: v / speed for q, v in overall.items()},
        "offset_uncertainty_market_ms": feed.offset_uncertainty_ms,
        "http_429": limiter.penalties,
        "late_retries": stats.late_retries,
        "error_retries": stats.error_retries,
        "events_dropped": stats.events_dropped,
        "time_syncs": stats.time_syncs,
    }


def report(figures: dict[str, Any]) -> None:
    title = (
        f"Live feed: {figures['symbols']} symbols × 1m, {figures['subscribers']} subscribers "
        f"({figures['subscriptions']} subscriptions), clock ×{figures['speed']:g}, "
        f"{figures['latency_ms']} ms latency, {figures['store']} windows"
    )
    table = Table(title=title)
    for name in ("candle (market UTC)", "kline requests", "symbols", "notified"):
        table.add_column(name, justify="right")
    table.add_column("delay, market ms (p50 / p95 / max)", justify="right")
    table.add_column("delay, wall ms (p50 / p95 / max)", justify="right")
    for row in figures["candles"]:
        m, w = row["delay_market_ms"], row["delay_wall_ms"]
        table.add_row(
            time.strftime("%H:%M", time.gmtime(row["candle_open_ms"] / 1000)),
            str(row["kline_requests"]),
            str(figures["symbols"]),
            f"{row['notifications']} / {row['expected_notifications']}",
            f"{m['p50']:.0f} / {m['p95']:.0f} / {m['max']:.0f}",
            f"{w['p50']:.0f} / {w['p95']:.0f} / {w['max']:.0f}",
        )
    console = Console(width=150)
    console.print(table)
    m, w = figures["delay_market_ms"], figures["delay_wall_ms"]
    console.print(
        f"all measured candles: delay market p50 {m['p50']:.0f} / p95 {m['p95']:.0f} / max "
        f"{m['max']:.0f} ms; wall p50 {w['p50']:.0f} / p95 {w['p95']:.0f} / max "
        f"{w['max']:.0f} ms (grace {figures['grace_ms']} ms market, offset ± "
        f"{figures['offset_uncertainty_market_ms']} ms market)"
    )
    console.print(
        f"load: {figures['load_requests']} kline requests in {figures['load_wall_s']:.1f} s; "
        f"HTTP 429s {figures['http_429']}, late retries {figures['late_retries']}, error "
        f"retries {figures['error_retries']}, events dropped {figures['events_dropped']}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--universe", type=int, default=600, help="symbols the simulator lists")
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--pairs-per-subscriber", type=int, default=5)
    parser.add_argument("--candles", type=int, default=4, help="closed candles measured")
    parser.add_argument("--speed", type=float, default=4.0, help="market clock speed (> 0)")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--grace-ms", type=int, default=500, help="poll this long after close")
    parser.add_argument("--window", type=int, default=100, help="closed candles kept per pair")
    parser.add_argument("--redis-url", help="keep the windows in Redis (distributed mode)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.speed <= 0 or args.speed > 5:
        parser.error("--speed must be > 0 and <= 5 (500 kline requests need 10 s of budget)")
    if args.universe < args.symbols:
        parser.error("--universe must list at least --symbols symbols")
    # Start 5 s (market) into a minute: the first close comes 55 s (market) later.
    now_ms = int(time.time() * 1000)
    start_ms = now_ms // MINUTE_MS * MINUTE_MS + 5_000
    first_close = start_ms + 55_000
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    with simulator(args, start_ms) as url:
        figures = asyncio.run(run(args, url, first_close + MINUTE_MS))
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    ok = all(r == figures["symbols"] for r in figures["requests_per_closed_candle"])
    ok = ok and figures["http_429"] == 0
    ok = ok and all(r["notifications"] == r["expected_notifications"] for r in figures["candles"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
