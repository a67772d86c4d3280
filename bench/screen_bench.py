"""Screen benchmark: a 2,600-symbol universe under MEXC's limits, vs the seeds' way, one run.

The simulator runs in a child process, as a remote exchange would, answers after
``--latency-ms`` and enforces MEXC's spot limits: klines weigh 1 against 500 per 10 s
(50 requests/s), the bulk 24h ticker weighs 40 on its own endpoint, each endpoint per IP.
The client is what ``xraybot screen`` builds: the runtime's limiter, the pool's shared
public client (markets loaded before timing, as a running deployment has them), the
gateway. Measured in the same run:

- **screen**: ``run_screen`` with the default ScreenConfig (or ``--config``): one bulk
  ticker call, klines only for the stage-1 survivors, ``concurrency`` in flight;
- **baseline, the seeds' way**: klines for EVERY symbol before any filtering, in
  sequential batches of 10 (each batch awaited before the next), through the same limiter
  (so it draws no 429 either), then the same chain on what was fetched.

The bound is the issue's: klines requests needed ÷ 50 per second (the ticker endpoint has
its own budget). A sliding window admits 500 at once, so a screen needing fewer than ~2×500
requests can beat it; "burst-aware bound" (needed − 500) ÷ 50 is shown as well. The
simulator counts every request it answers and every 429. The two runs are 11 s apart so
that each starts with empty windows at both ends.

Run: ``.venv/bin/python -m bench.screen_bench [--universe 2600] [--json PATH]``.
Nothing is appended anywhere; RESULTS.md is written by hand from the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.sim_child import counts, sim_process
from xraybot.exchange.budgets import SPOT_CAPACITY, SPOT_WINDOW_S
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.config import ExchangeConfig
from xraybot.model.candles import Candles
from xraybot.model.errors import XraybotError
from xraybot.model.market import MarketKind
from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway
from xraybot.xray.config import ScreenConfig, load_screen_config
from xraybot.xray.screen_result import ScreenResult
from xraybot.xray.screener import run_screen

RATE = SPOT_CAPACITY / SPOT_WINDOW_S  # klines requests per second MEXC allows
BATCH = 10  # the seeds' batch size
COUNTED = {
    "/api/v3/klines": "klines",
    "/api/v3/ticker/24hr": "tickers",
    "/api/v3/depth": "depth",
    "/api/v3/time": "time",
}


class Prefetched:
    """The gateway, except that candles come from what the baseline already fetched."""

    def __init__(self, gateway: CcxtGateway, candles: Mapping[str, Candles | Exception]) -> None:
        self._gateway = gateway
        self._candles = candles
        self.exchange_id = gateway.exchange_id
        self.markets = gateway.markets
        self.fetch_time = gateway.fetch_time
        self.fetch_tickers = gateway.fetch_tickers
        self.fetch_order_book = gateway.fetch_order_book

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles:
        found = self._candles[symbol]
        if isinstance(found, Exception):
            raise found
        return found


async def baseline(gateway: CcxtGateway, config: ScreenConfig) -> ScreenResult:
    """The seeds' way: klines for every symbol, 10 at a time, then the same chain."""
    markets = await gateway.markets()
    symbols = sorted(
        m.symbol for m in markets.values() if m.kind is MarketKind.SPOT and m.quote == config.quote
    )
    fetched: dict[str, Candles | Exception] = {}
    for start in range(0, len(symbols), BATCH):
        batch = symbols[start : start + BATCH]
        answers = await asyncio.gather(
            *(gateway.fetch_ohlcv(s, config.timeframe, limit=config.candles + 1) for s in batch),
            return_exceptions=True,
        )
        for symbol, answer in zip(batch, answers, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, XraybotError):
                raise answer
            fetched[symbol] = answer
    return await run_screen(Prefetched(gateway, fetched), config)


async def run(args: argparse.Namespace, url: str, config: ScreenConfig) -> dict[str, Any]:
    exchange_config = ExchangeConfig(exchange="sim", sim_url=url)
    limiter = build_limiter(exchange_config)
    pool = build_pool(exchange_config, limiter)
    figures: dict[str, Any] = {
        "universe": args.universe,
        "latency_ms": args.latency_ms,
        "timeframe": config.timeframe,
        "candles": config.candles,
        "concurrency": config.concurrency,
        "allowed_klines_per_s": RATE,
    }
    try:
        started = time.monotonic()
        gateway = await public_gateway(pool, "sim")
        await gateway.fetch_tickers(None, MarketKind.SPOT)  # the simulator builds its caches
        figures["markets_and_warmup_s"] = time.monotonic() - started
        await asyncio.sleep(SPOT_WINDOW_S + 1)  # every window empty at both ends
        counts(url, reset=True)
        started = time.monotonic()
        screened = await run_screen(gateway, config)
        figures["screen"] = _figures(screened, time.monotonic() - started, counts(url, True))
        await asyncio.sleep(SPOT_WINDOW_S + 1)
        counts(url, reset=True)
        started = time.monotonic()
        seeds = await baseline(gateway, config)
        wall_s = time.monotonic() - started
        figures["baseline"] = _figures(seeds, wall_s, counts(url, True), own_count=False)
    finally:
        await pool.close()
        if limiter is not None:
            await limiter.aclose()
    a = {r.symbol for r in screened.passed}
    b = {r.symbol for r in seeds.passed}
    figures["same_passed"] = len(a & b)
    figures["passed_only_in_one"] = sorted(a ^ b)
    figures["speedup"] = figures["baseline"]["wall_s"] / figures["screen"]["wall_s"]
    return figures


def _figures(
    result: ScreenResult, wall_s: float, served: dict[str, int], *, own_count: bool = True
) -> dict[str, Any]:
    needed = served["klines"]  # one request per symbol fetched (no retries when 0 × 429)
    bound_s = needed / RATE
    return {
        "wall_s": wall_s,
        "klines": served["klines"],
        "tickers": served["tickers"],
        "time": served["time"],
        "depth": served["depth"],
        "other": served["other"],
        "http_429": served["http_429"],
        # The baseline's chain runs on prefetched candles, so only the screen's own count
        # is one the server can confirm.
        "requests_counted_by_client": result.requests if own_count else None,
        "bound_s": bound_s,
        "wall_over_bound": wall_s / bound_s if bound_s else None,
        "burst_aware_bound_s": max(0.0, needed - SPOT_CAPACITY) / RATE,
        "passed": len(result.passed),
        "rejected": {name: len(r) for name, r in result.rejected.items()},
        "emptied_by": result.emptied_by,
    }


def report(figures: dict[str, Any]) -> None:
    title = (
        f"Screen of {figures['universe']:,} symbols vs the seeds' way "
        f"({figures['latency_ms']} ms latency, MEXC limits: klines 50/s)"
    )
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("screen", justify="right")
    table.add_column("baseline (batches of 10)", justify="right")
    s, b = figures["screen"], figures["baseline"]
    rows = [
        ("wall time", f"{s['wall_s']:.1f} s", f"{b['wall_s']:.1f} s"),
        ("klines requests", f"{s['klines']:,}", f"{b['klines']:,}"),
        ("bulk ticker / time / depth requests", f"{s['tickers']} / {s['time']} / {s['depth']}",
         f"{b['tickers']} / {b['time']} / {b['depth']}"),
        ("HTTP 429s (target 0)", str(s["http_429"]), str(b["http_429"])),
        ("bound: klines ÷ 50/s", f"{s['bound_s']:.1f} s", f"{b['bound_s']:.1f} s"),
        ("wall ÷ bound (target <= 1.2)", f"{s['wall_over_bound']:.2f}",
         f"{b['wall_over_bound']:.2f}"),
        ("burst-aware bound: (klines − 500) ÷ 50/s", f"{s['burst_aware_bound_s']:.1f} s",
         f"{b['burst_aware_bound_s']:.1f} s"),
        ("passed", str(s["passed"]), str(b["passed"])),
    ]  # fmt: skip
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(
        f"speed-up {figures['speedup']:.1f}×; passed by both: {figures['same_passed']}; "
        f"by one only: {', '.join(figures['passed_only_in_one']) or 'none'}; markets + "
        f"simulator warm-up before timing: {figures['markets_and_warmup_s']:.1f} s."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--universe", type=int, default=2600, help="symbols the simulator lists")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--config", type=Path, help="a TOML file with a [screen] table")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    config = load_screen_config(args.config) if args.config else ScreenConfig()
    # The simulator's clock starts at the wall clock, so ccxt's own clock agrees with it.
    args.clock_ms = int(time.time() * 1000)
    with sim_process(args, COUNTED) as url:
        figures = asyncio.run(run(args, url, config))
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    screen = figures["screen"]
    ok = screen["http_429"] == 0 and screen["wall_s"] < 30 and screen["wall_over_bound"] <= 1.2
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
