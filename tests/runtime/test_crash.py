"""Crash safety: the runtime is killed with SIGKILL at randomized points and restarted.

Three live users trade swaps on the local simulator (every order reaches the simulator,
so ``/_sim/orders`` sees them all) with a strategy that trades on every candle. Each life
of the runtime (``crash_child.py``, a separate process) is armed with a seeded random crash
point and hit count; the simulator's clock advances one candle between lives, so every
life has a fresh decision to send. After the last, crash-free life, the simulator's view
and the journal must agree: no client order id placed or filled twice, no order on the
exchange unknown to the journal, and the journal's positions equal the exchange's.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.embedded import MINUTE, STRATEGY, add_user
from tests.support.servers import serve_asgi
from tests.support.sim import START_MS, admin, new_account, sim_orders
from xraybot.sim.app import create_app
from xraybot.sim.clock import SimClock
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.sim.synthetic import SyntheticMarket
from xraybot.storage import (
    SqlJournal,
    SqlOrderRepository,
    StorageConfig,
    create_engine,
    migrate,
    tables,
)
from xraybot.storage.users import SqlUserRepository

pytestmark = pytest.mark.crash

CHILD = Path(__file__).with_name("crash_child.py")
ROOT = Path(__file__).resolve().parents[2]
USERS = {"l1": "BTC/USDT:USDT", "l2": "BTC/USDT:USDT", "l3": "ETH/USDT:USDT"}
# Crash point -> the largest hit count drawn (how often a life reaches it, at most).
POINTS = {"after_intent": 3, "after_send": 3, "after_fill": 3, "during_reconcile": 2}
KILLS = 50
MAX_LIVES = 160
SEED = 20261121


@pytest.fixture
def sim_url() -> Iterator[str]:
    clock = SimClock(START_MS - START_MS % MINUTE + 30_000, speed=0)
    market = SyntheticMarket(clock, n_symbols=12, seed=7)
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_asgi(create_app(config, market)) as url:
        yield url


class Lives:
    """The fork server of runtime lives (``crash_child.py --serve``)."""

    def __init__(self, sim_url: str, data_dir: Path, keys: dict[str, list[str]], log: Path):
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, str(CHILD), "--sim", sim_url, "--data-dir", str(data_dir)),
                *("--keys", json.dumps(keys), "--serve"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=ROOT,
        )

    def run(self, spec: str | None) -> int:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(f"{spec or '-'}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the fork server died"
        return int(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def unified(sim_symbol: str) -> str:
    """The simulator's contract symbol (``BTC_USDT``) as ccxt names the swap."""
    base, quote = sim_symbol.split("_")
    return f"{base}/{quote}:{quote}"


async def _setup(config: StorageConfig, strategy: Path) -> None:
    await migrate.upgrade_async(config.sqlalchemy_url())
    engine = create_engine(config)
    try:
        repo = SqlUserRepository(engine)
        for user_id, symbol in USERS.items():
            await add_user(repo, user_id, strategy, mode="live", market="swap", symbols=(symbol,))
    finally:
        await engine.dispose()


async def _journal_state(
    config: StorageConfig,
) -> tuple[dict[str, Any], set[str], dict[str, dict[str, tuple[str, Decimal]]]]:
    engine = create_engine(config)
    try:
        orders = SqlOrderRepository(engine)
        journal = SqlJournal(engine)
        known: dict[str, Any] = {}
        fill_ids: set[str] = set()
        positions: dict[str, dict[str, tuple[str, Decimal]]] = {}
        async with engine.connect() as conn:
            cids = (await conn.execute(sa.select(tables.orders.c.client_order_id))).scalars()
            for cid in list(cids):
                known[cid] = await orders.get(cid)
                fill_ids |= {f.fill_id for f in await journal.fills(cid)}
        for user_id in USERS:
            positions[user_id] = {
                p.symbol: (p.direction.value, p.amount) for p in await journal.positions(user_id)
            }
        return known, fill_ids, positions
    finally:
        await engine.dispose()


async def test_sigkill_at_random_points_keeps_journal_and_exchange_in_step(
    sim_url: str, tmp_path: Path
) -> None:
    strategy = tmp_path / "always.py"
    strategy.write_text(STRATEGY)
    config = StorageConfig(data_dir=tmp_path / "data")
    await _setup(config, strategy)
    keys = {user_id: list(new_account(sim_url)) for user_id in USERS}
    rng = random.Random(SEED)
    kills: Counter[str] = Counter()
    lives = Lives(sim_url, config.data_dir, keys, tmp_path / "lives.log")
    try:
        n = 0
        while sum(kills.values()) < KILLS:
            assert n < MAX_LIVES, f"only {sum(kills.values())} kills in {n} lives: {kills}"
            n += 1
            point = rng.choice(sorted(POINTS))
            spec = f"{point}:{rng.randint(1, POINTS[point])}"
            admin(sim_url, "POST", "clock/advance", {"ms": MINUTE})
            code = lives.run(spec)
            assert code in (0, -9), f"life {n} ({spec}) exited {code}; see {tmp_path}/lives.log"
            if code == -9:
                kills[point] += 1
        admin(sim_url, "POST", "clock/advance", {"ms": MINUTE})
        assert lives.run(None) == 0, f"the crash-free life failed; see {tmp_path}/lives.log"
    finally:
        lives.close()
    print(f"\ncrash: {sum(kills.values())} kill points in {n} lives: {dict(sorted(kills.items()))}")
    assert set(kills) == set(POINTS)

    journaled, fill_ids, positions = await _journal_state(config)
    placed: set[str] = set()
    executions: set[str] = set()
    for user_id, (key, _) in keys.items():
        on_exchange = sim_orders(sim_url, key)
        cids = [o["client_order_id"] for o in on_exchange]
        assert len(cids) == len(set(cids)), f"{user_id}: a client order id placed twice"
        unknown = set(cids) - set(journaled)
        assert not unknown, f"{user_id}: orders on the exchange unknown to the journal: {unknown}"
        placed |= set(cids)
        fills = admin(sim_url, "GET", f"fills?api_key={key}")["fills"]
        executions |= {str(f["fill_id"]) for f in fills}
        filled: dict[str, Decimal] = {}
        for f in fills:
            cid = f["client_order_id"]
            filled[cid] = filled.get(cid, Decimal(0)) + Decimal(str(f["amount"]))
        for o in on_exchange:
            assert filled.get(o["client_order_id"], Decimal(0)) == Decimal(str(o["filled"]))
            assert Decimal(str(o["filled"])) <= Decimal(str(o["amount"]))
            mine = journaled[o["client_order_id"]]
            assert mine.filled == Decimal(str(o["filled"])), (user_id, o, mine)
        held = {
            unified(p["symbol"]): (p["side"], Decimal(str(p["contracts"])))
            for p in admin(sim_url, "GET", f"positions?api_key={key}")["positions"]
            if Decimal(str(p["contracts"])) > 0
        }
        assert positions[user_id] == held, user_id
    # Every execution journaled exactly once; every journaled order the exchange never got
    # was given up (REJECTED), none is left unsettled.
    assert fill_ids == executions
    assert {o.status.value for c, o in journaled.items() if c not in placed} <= {"rejected"}
    print(f"crash: {len(placed)} orders and {len(executions)} executions on the exchange")
