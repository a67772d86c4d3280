"""The crash test's runtime process: one life of the embedded runtime, or a fork server of them.

A life opens the SQLite journal, runs every user of its registry against the simulator
(live, ``allow_live``) on the simulator's frozen clock, waits until each (user, symbol)
has decided on the newest candle, stops and exits 0. ``XRAYBOT_CRASH_AT`` may kill it
first with SIGKILL (``xraybot.trading.crashpoints``).

Starting Python with the runtime's imports takes over a second, so ``--serve`` imports
once and forks one life per line read on stdin (the line is that life's crash spec, or
``-`` for none), answering each with the life's exit code (``-9`` when it was killed).

    python tests/runtime/crash_child.py --sim URL --data-dir DIR --keys JSON [--serve]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests.` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.sim import admin, make_gateway
from xraybot.data.feed import FeedSettings
from xraybot.exchange.port import ExchangeGateway
from xraybot.runtime.clock import LiveClock
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_users import GatewayFactory, RunUser, load_users
from xraybot.storage import SqlJournal, SqlOrderRepository, StorageConfig, create_engine
from xraybot.storage.users import SqlUserRepository
from xraybot.trading import crashpoints
from xraybot.users.credentials import ApiCredentials

DECIDE_TIMEOUT_S = 15.0
TIMED_OUT, REFUSED = 3, 4


async def fast_sleep(seconds: float) -> None:
    # The clock is frozen for a life: the feed only needs to notice a stop.
    await asyncio.sleep(min(seconds, 0.01))


async def life(sim_url: str, data_dir: Path, keys: dict[str, list[str]]) -> int:
    engine = create_engine(StorageConfig(data_dir=data_dir))
    now_ms = int((await asyncio.to_thread(admin, sim_url, "GET", "clock"))["now_ms"])
    public = make_gateway(sim_url, None, None)

    async def public_for(exchange: str) -> ExchangeGateway:
        return public

    async def open_credentials(user_id: str) -> ApiCredentials:
        key, secret = keys[user_id]
        return ApiCredentials(api_key=key, secret=secret)

    async def live(user: RunUser, creds: ApiCredentials) -> ExchangeGateway:
        return make_gateway(sim_url, creds.api_key, creds.secret)

    runtime = EmbeddedRuntime(
        await load_users(SqlUserRepository(engine)),
        gateways=GatewayFactory(
            public=public_for, open_credentials=open_credentials, live_gateway=live
        ),
        journal=SqlJournal(engine),
        orders=SqlOrderRepository(engine),
        clock=LiveClock(lambda: now_ms),
        settings=EmbeddedSettings(
            allow_live=True,
            feed=FeedSettings(window=200, grace_s=0, clock_margin_ms=0, time_sync_s=3600),
            feed_clock=lambda: now_ms,
            sleep=fast_sleep,
        ),
    )
    try:
        await runtime.start()
        if runtime.stats.refused:
            print(json.dumps({"refused": runtime.stats.refused}), file=sys.stderr)
            return REFUSED
        pairs = [(u, s) for u, t in runtime.traders.items() for s in t.configs]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DECIDE_TIMEOUT_S
        while not all(runtime.stats.decisions[p] >= 1 for p in pairs):
            if loop.time() > deadline:
                print(json.dumps(runtime.stats.as_dict()), file=sys.stderr)
                return TIMED_OUT
            await asyncio.sleep(0.01)
        return 0
    finally:
        await runtime.stop()
        await public.close()
        await engine.dispose()


def serve(args: argparse.Namespace, keys: dict[str, list[str]]) -> None:
    for line in sys.stdin:
        spec = line.strip()
        pid = os.fork()
        if pid == 0:
            os.dup2(2, 1)  # the logs go to stdout; it carries the exit codes
            crashpoints.arm(None if spec == "-" else spec)
            code = 1
            try:
                code = asyncio.run(life(args.sim, Path(args.data_dir), keys))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sim", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--keys", required=True, help='{"user id": ["api key", "secret"]}')
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args()
    keys = json.loads(args.keys)
    if args.serve:
        serve(args, keys)
    else:
        sys.exit(asyncio.run(life(args.sim, Path(args.data_dir), keys)))


if __name__ == "__main__":
    main()
