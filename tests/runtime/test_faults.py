"""A long live run on the simulator while it times out, fails, hangs up, loses order answers
and fills orders partly: no order placed twice, none unknown to the journal, same positions.

Three live users (two spot, one swap) trade on every candle through the embedded runtime;
the simulator's clock is frozen and advanced one candle at a time, as in test_embedded.py.
The faults are the simulator's own dice (seeded); the test only counts what they struck.
Run alone with ``pytest -m faults -s`` to see the counts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.embedded import (
    MINUTE,
    STRATEGY,
    CountingGateway,
    Sim,
    add_user,
    fast_sleep,
    journal_orders,
)
from tests.support.servers import serve_asgi
from tests.support.sim import START_MS, admin, make_gateway, new_account, sim_orders
from xraybot.data.feed import FeedSettings
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.signals import Direction
from xraybot.runtime.clock import LiveClock
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_users import GatewayFactory, RunUser, load_users
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
from xraybot.users.credentials import ApiCredentials

pytestmark = pytest.mark.faults

CANDLES = 30
FAULTS = "timeout=0.015,error5xx=0.04,disconnect=0.03,lost_response=0.2,partial_fill=0.25"
USERS = {  # user id -> (market, symbols)
    "s1": ("spot", ("BTC/USDT", "ETH/USDT")),
    "s2": ("spot", ("BTC/USDT",)),
    "w1": ("swap", ("BTC/USDT:USDT",)),
}
PAIRS = [(u, s) for u, (_, symbols) in USERS.items() for s in symbols]


@pytest.fixture
def faulty_sim() -> Iterator[tuple[Sim, Counter[str]]]:
    """A simulator whose fault dice are counted; faults stay off until the test sets them."""
    clock = SimClock(START_MS - START_MS % MINUTE + 30_000, speed=0)
    market = SyntheticMarket(clock, n_symbols=12, seed=7)
    # A hung request outlasts the client's timeout: the client gives up, as with a real one.
    config = SimConfig(
        match_interval_ms=0, rate_limits=RateLimits(enabled=False), fault_hang_ms=5_000, seed=3
    )
    app = create_app(config, market)
    injector = app.state.exchange.venue.faults
    struck: Counter[str] = Counter()
    draw = injector.draw

    def counting_draw(kind: str) -> bool:
        hit: bool = draw(kind)
        if hit:
            struck[kind] += 1
        return hit

    injector.draw = counting_draw
    with serve_asgi(app) as url:
        yield Sim(url, clock), struck


def traded_through(runtime: EmbeddedRuntime) -> int:
    """The newest candle every user has finished trading (decided or failed): after it, the
    runtime sends nothing until the next candle closes. -1 before every user's first."""
    done = runtime.stats.traded_through
    return min((done.get(u, -1) for u in USERS), default=-1)


async def wait_traded(runtime: EmbeddedRuntime, ts_ms: int, timeout_s: float = 8.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while traded_through(runtime) < ts_ms:
        if loop.time() > deadline:
            return False  # a candle the feed never delivered: the next advance carries on
        await asyncio.sleep(0.01)
    return True


async def advance(sim: Sim) -> None:
    await asyncio.to_thread(admin, sim.url, "POST", "clock/advance", {"ms": MINUTE})


def exchange_positions(url: str, key: str, market: str) -> dict[str, Decimal]:
    """The account's holdings per traded symbol: base coins on spot, contracts on swap."""
    if market == "swap":
        rows = admin(url, "GET", f"positions?api_key={key}")["positions"]
        out: dict[str, Decimal] = {}
        for p in rows:
            sign = 1 if p["side"] == "long" else -1
            symbol = p["symbol"].replace("_", "/") + ":USDT"
            out[symbol] = out.get(symbol, Decimal(0)) + sign * Decimal(str(p["contracts"]))
        return {s: a for s, a in out.items() if a != 0}
    [balances] = admin(url, "GET", f"balances?api_key={key}")["balances"]
    spot = balances["spot"]
    return {
        f"{asset}/USDT": Decimal(str(w["free"])) + Decimal(str(w["locked"]))
        for asset, w in spot.items()
        if asset != "USDT" and Decimal(str(w["free"])) + Decimal(str(w["locked"])) != 0
    }


async def check_invariants(
    url: str, engine: Any, keys: dict[str, ApiCredentials]
) -> tuple[dict[str, dict[str, Decimal]], Counter[str], int]:
    """Assert the invariants on the exchange's records; return the positions held, the
    orders placed per market and the fills recorded."""
    journal = SqlJournal(engine)
    journaled = {o[0]: o for o in await journal_orders(engine)}
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(tables.fills.c.user_id, tables.fills.c.fill_id))
        journal_fills = [tuple(r) for r in rows]
    assert len(journal_fills) == len(set(journal_fills)), "a fill recorded twice"
    held: dict[str, dict[str, Decimal]] = {}
    placed: Counter[str] = Counter()
    for user_id, (market, _) in USERS.items():
        key = keys[user_id].api_key
        orders = sim_orders(url, key)
        placed.update(r["market"] for r in orders)
        ids = [r["client_order_id"] for r in orders]
        doubled = [cid for cid, n in Counter(ids).items() if n > 1]
        assert not doubled, f"{user_id}: client order ids placed twice: {doubled}"
        unknown = [cid for cid in ids if cid not in journaled or journaled[cid][1] != user_id]
        assert not unknown, f"{user_id}: orders the journal does not know: {unknown}"
        positions = {
            p.symbol: p.amount if p.direction is Direction.LONG else -p.amount
            for p in await journal.positions(user_id)
            if p.amount != 0
        }
        assert positions == exchange_positions(url, key, market), user_id
        held[user_id] = positions
        exchange_fills = {
            str(f["fill_id"]) for f in admin(url, "GET", f"fills?api_key={key}")["fills"]
        }
        assert exchange_fills == {f for u, f in journal_fills if u == user_id}, user_id
    return held, placed, len(journal_fills)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Any]:
    storage = StorageConfig(data_dir=tmp_path / "data")
    await migrate.upgrade_async(storage.sqlalchemy_url())
    eng = create_engine(storage)
    yield eng
    await eng.dispose()


async def test_faults_never_double_an_order_nor_lose_one(
    faulty_sim: tuple[Sim, Counter[str]], engine: Any, tmp_path: Path
) -> None:
    sim, struck = faulty_sim
    strategy = tmp_path / "always.py"
    strategy.write_text(STRATEGY)
    repo = SqlUserRepository(engine)
    keys: dict[str, ApiCredentials] = {}
    for user_id, (market, symbols) in USERS.items():
        await add_user(repo, user_id, strategy, mode="live", market=market, symbols=symbols)
        key, secret = new_account(sim.url)
        keys[user_id] = ApiCredentials(api_key=key, secret=secret)

    async def live(user: RunUser, creds: ApiCredentials) -> ExchangeGateway:
        return make_gateway(sim.url, creds.api_key, creds.secret, timeout_ms=500)

    async def open_credentials(user_id: str) -> ApiCredentials:
        return keys[user_id]

    public = CountingGateway(make_gateway(sim.url, None, None, timeout_ms=500))

    async def public_for(exchange: str) -> ExchangeGateway:
        return public  # type: ignore[return-value]

    runtime = EmbeddedRuntime(
        await load_users(repo),
        gateways=GatewayFactory(
            public=public_for, open_credentials=open_credentials, live_gateway=live
        ),
        journal=SqlJournal(engine),
        orders=SqlOrderRepository(engine),
        clock=LiveClock(sim.clock.now_ms),
        settings=EmbeddedSettings(
            allow_live=True,
            feed=FeedSettings(window=500, grace_s=0, clock_margin_ms=0, time_sync_s=3600),
            feed_clock=sim.clock.now_ms,
            sleep=fast_sleep,
        ),
    )
    missed = 0
    held: dict[str, dict[str, Decimal]] = {}
    try:
        await runtime.start()
        assert set(runtime.traders) == set(USERS), runtime.stats.refused
        assert await wait_traded(runtime, 0), "the first decision"
        first = traded_through(runtime)
        admin(sim.url, "POST", "faults", {"spec": FAULTS})
        for k in range(CANDLES):
            await advance(sim)
            missed += not await wait_traded(runtime, first + (k + 1) * MINUTE)
        # Calm again: the first candle settles what the faults left unknown. Each pair
        # flips between flat and held every calm candle, so over two every position is seen.
        admin(sim.url, "POST", "faults", {"spec": ""})
        for k in range(CANDLES, CANDLES + 2):
            await advance(sim)
            assert await wait_traded(runtime, first + (k + 1) * MINUTE), f"calm candle {k + 2}"
            seen, placed, fills = await check_invariants(sim.url, engine, keys)
            for user_id, positions in seen.items():
                held.setdefault(user_id, {}).update(positions)
    finally:
        admin(sim.url, "POST", "faults", {"spec": ""})
        await runtime.stop()
        await public.inner.close()

    seen, placed, fills = await check_invariants(sim.url, engine, keys)  # after the stop
    unsettled = Counter(
        o[3] for o in await journal_orders(engine) if o[3] in ("unknown", "pending_submit")
    )

    print(
        f"\nfaults exercised over {CANDLES} candles x {len(PAIRS)} pairs: "
        + ", ".join(f"{kind}={struck[kind]}" for kind in sorted(struck))
        + f"; orders on the exchange {dict(placed)}, "
        f"step errors {runtime.stats.errors}, candles not delivered {missed}, "
        f"unsettled {dict(unsettled)}; fills {fills}; positions compared {held}"
    )
    # The run meant something: every kind of fault struck, and most candles were traded.
    for kind in ("timeout", "error5xx", "disconnect", "lost_response", "partial_fill"):
        assert struck[kind] > 0, f"no {kind} fault struck; raise its rate"
    assert sum(runtime.stats.decisions.values()) >= len(PAIRS) * CANDLES // 2
    assert unsettled == {}, "an order left unknown after the faults stopped"
    # Every pair was compared while holding a position, not only while flat.
    assert {(u, s) for u, positions in held.items() for s in positions} == set(PAIRS)
