"""The simulator as a remote exchange for benchmarks: its own process, requests counted.

A simulator in the benchmark's own process would compete with the client for the GIL; a
child process shares no CPU time with it, as a real exchange would not.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from xraybot.runtime.servers import bind_loopback
from xraybot.sim.app import create_app
from xraybot.sim.clock import SimClock
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.sim.synthetic import SyntheticMarket


class Counting:
    """ASGI wrapper counting requests per endpoint and HTTP 429s; /_bench/counts reports.

    ``counted`` maps request paths to count names; other paths count as "other". POST to
    /_bench/counts reads and resets.
    """

    def __init__(self, app: Any, counted: Mapping[str, str]) -> None:
        self.app = app
        self.counted = dict(counted)
        self.counts = self._zero()

    def _zero(self) -> dict[str, int]:
        return {**dict.fromkeys(self.counted.values(), 0), "other": 0, "http_429": 0}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/_bench/counts":
            body = json.dumps(self.counts).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            if scope["method"] == "POST":  # read and reset
                self.counts = self._zero()
            return
        self.counts[self.counted.get(scope["path"], "other")] += 1

        async def counted(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 429:
                self.counts["http_429"] += 1
            await send(message)

        await self.app(scope, receive, counted)


def market_for(args: argparse.Namespace) -> SyntheticMarket:
    """Return the synthetic market; the same arguments give the same universe in any process."""
    return SyntheticMarket(SimClock(args.clock_ms), n_symbols=args.universe, now_ms=args.clock_ms)


def serve_sim(args: argparse.Namespace, ports: Any, counted: Mapping[str, str]) -> None:
    """Run the simulator with MEXC's limits on (the child process's target)."""
    config = SimConfig(
        port=0,
        latency_ms=args.latency_ms,
        rate_limits=RateLimits(enabled=True),
        match_interval_ms=0,
    )
    sock = bind_loopback(0)
    ports.put(sock.getsockname()[1])
    app = Counting(create_app(config, market_for(args)), counted)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])


@contextmanager
def sim_process(args: argparse.Namespace, counted: Mapping[str, str]) -> Iterator[str]:
    """Start the simulator in a child process; yield its URL once it answers."""
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    child = context.Process(target=serve_sim, args=(args, ports, dict(counted)), daemon=True)
    child.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=60)}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/api/v3/ping", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or not child.is_alive():
                    raise SystemExit("the simulator did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        child.terminate()
        child.join(timeout=10)


def counts(url: str, reset: bool = False) -> dict[str, int]:
    """Return the child's request counts (and reset them when ``reset``)."""
    response = httpx.request("POST" if reset else "GET", f"{url}/_bench/counts", timeout=5)
    return response.json()  # type: ignore[no-any-return]
