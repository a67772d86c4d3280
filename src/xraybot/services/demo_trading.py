"""The demo's paper trading: three paper users traded by the embedded runtime on the simulator.

The users are added through ``UserService`` (paper, so no keys) to a fresh SQLite journal in
the demo's output folder, each with a built-in strategy tuned to trade often on 1-minute
candles. The demo's simulator runs on the wall clock, so waiting for candles to close would
take minutes: instead its clock is moved one candle forward at a time (``/_sim/clock/advance``)
and the runtime's clocks follow it, so every advance is one closed candle for every user.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from xraybot.data.feed import FeedSettings
from xraybot.exchange.config import ExchangeConfig
from xraybot.exchange.port import ExchangeGateway
from xraybot.exchange.ratelimit import RateLimiter
from xraybot.exchange.retry import with_retries
from xraybot.model.errors import InvalidInputError
from xraybot.model.fills import Position, Trade
from xraybot.runtime.clock import LiveClock, wall_ms
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_users import GatewayFactory, load_users
from xraybot.runtime.exchanges import build_limiter, build_pool, public_gateway
from xraybot.services.users import UserService
from xraybot.storage import SqlJournal, SqlOrderRepository, engine_from_url, upgrade_async
from xraybot.storage.users import SqlUserRepository
from xraybot.users.redaction import Redactor
from xraybot.users.settings import StrategyChoice, SymbolSelection, UserSettings

JOURNAL = "demo-trading.sqlite3"
TIMEFRAME = "1m"
CANDLE_MS = 60_000
_TICK_TIMEOUT_S = 2.0

Progress = Callable[[int, int], None]  # (candles done, candles in all)


@dataclass(frozen=True, slots=True)
class DemoUser:
    """One demo paper user: a built-in strategy with lively parameters on one spot symbol."""

    user_id: str
    strategy: str
    params: Mapping[str, float | int]
    symbol: str


# Short lookbacks on 1-minute candles: each trades a few times in the demo's hour of candles.
DEMO_USERS = (
    DemoUser(
        "ada", "rsi_reversion", {"rsi_period": 2, "entry_level": 35, "exit_level": 65}, "BTC/USDT"
    ),
    DemoUser("bob", "ema_cross", {"fast_period": 2, "slow_period": 5}, "ETH/USDT"),
    DemoUser("cyd", "bollinger_breakout", {"period": 5, "nbdev": 0.5}, "SOL/USDT"),
)


@dataclass(frozen=True, slots=True)
class UserResult:
    """What one demo user did: closed trades, realized PnL, the position still open."""

    user: DemoUser
    decisions: int
    trades: tuple[Trade, ...]
    position: Position | None

    @property
    def realized_pnl(self) -> Decimal:
        return sum((t.net_pnl for t in self.trades), Decimal(0))

    @property
    def fees(self) -> Decimal:
        return sum((t.fees for t in self.trades), Decimal(0))

    def as_dict(self, last: int = 5) -> dict[str, Any]:
        p = self.position
        return {
            "user_id": self.user.user_id,
            "strategy": self.user.strategy,
            "params": dict(self.user.params),
            "symbol": self.user.symbol,
            "decisions": self.decisions,
            "trades": len(self.trades),
            "realized_pnl": float(self.realized_pnl),
            "fees": float(self.fees),
            "position": None
            if p is None
            else {
                "direction": p.direction.value,
                "amount": float(p.amount),
                "entry_price": float(p.entry_price),
            },
            "last_trades": [_trade_dict(t) for t in self.trades[-last:]],
        }


@dataclass(frozen=True, slots=True)
class DemoTrading:
    """The trading step's outcome."""

    journal: Path
    timeframe: str
    candles: int  # candles the simulator's clock was moved
    seconds: float  # wall time of the whole step
    orders: int
    errors: int
    users: tuple[UserResult, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "journal": str(self.journal),
            "timeframe": self.timeframe,
            "candles": self.candles,
            "seconds": round(self.seconds, 3),
            "orders": self.orders,
            "errors": self.errors,
            "users": [u.as_dict() for u in self.users],
        }


def _trade_dict(t: Trade) -> dict[str, Any]:
    return {
        "symbol": t.symbol,
        "direction": t.direction.value,
        "amount": float(t.amount),
        "entry_price": float(t.entry_price),
        "exit_price": float(t.exit_price),
        "entry_ts_ms": t.entry_ts_ms,
        "exit_ts_ms": t.exit_ts_ms,
        "net_pnl": float(t.net_pnl),
        "exit_reason": t.exit_reason,
    }


class SimTime:
    """The demo simulator's clock as seen from here: it runs at wall speed plus the advances
    made through the admin API, so a measured offset keeps it without asking every time."""

    def __init__(self, sim_url: str) -> None:
        if not sim_url.startswith(("http://", "https://")):
            raise InvalidInputError(f"the simulator URL must be http(s)://; found {sim_url!r}.")
        self._url = sim_url
        self._offset_ms = 0

    def now_ms(self) -> int:
        return wall_ms() + self._offset_ms

    def offset_ms(self) -> int:
        return self._offset_ms

    async def sync(self) -> int:
        return self._note(await asyncio.to_thread(self._admin, "GET", "clock", None))

    async def advance(self, ms: int) -> int:
        return self._note(await asyncio.to_thread(self._admin, "POST", "clock/advance", {"ms": ms}))

    def _note(self, reply: Any) -> int:
        now = int(reply["now_ms"])
        self._offset_ms = now - wall_ms()
        return now

    def _admin(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (an http:// URL, checked at init)
            f"{self._url}/_sim/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 (loopback)
            return json.loads(reply.read())


async def _fast_sleep(seconds: float) -> None:
    # The feed sleeps until the next close on the simulator's clock, which jumps by
    # advances: look often instead of sleeping through a jump.
    await asyncio.sleep(min(seconds, 0.01))


def _settings(user: DemoUser) -> UserSettings:
    return UserSettings(
        exchange="sim",
        market="spot",
        mode="paper",
        leverage_cap=1,
        selection=SymbolSelection(symbols=(user.symbol,)),
        strategy=StrategyChoice(name=user.strategy, timeframe=TIMEFRAME, params=dict(user.params)),
    )


def _fresh_journal(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / JOURNAL
    # Each demo starts a new simulator: an old journal's orders would not reconcile with it.
    for stale in (path, path.with_name(f"{JOURNAL}-wal"), path.with_name(f"{JOURNAL}-shm")):
        stale.unlink(missing_ok=True)
    return path


async def paper_trading(
    sim_url: str,
    folder: Path,
    *,
    candles: int = 60,
    users: tuple[DemoUser, ...] = DEMO_USERS,
    limiter: RateLimiter | None = None,
    progress: Progress | None = None,
) -> DemoTrading:
    """Add ``users`` as paper users to a new journal in ``folder``, trade them on the simulator
    at ``sim_url`` while its clock moves ``candles`` candles forward, and report."""
    started = time.perf_counter()
    path = _fresh_journal(folder)
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    engine = engine_from_url(url)
    config = ExchangeConfig(exchange="sim", sim_url=sim_url)
    own_limiter = limiter is None
    limiter = build_limiter(config) if own_limiter else limiter
    pool = build_pool(config, limiter)
    try:
        repo = SqlUserRepository(engine)
        service = UserService(repo, Redactor())
        for user in users:
            await service.add(user.user_id, user.user_id, _settings(user), None, None)

        # The simulator allows one contract-detail request per 5 s, as MEXC does, and the
        # demo's previous step has just made one: wait out its Retry-After.
        async def load() -> ExchangeGateway:
            return await public_gateway(pool, "sim")

        public = await with_retries(load, max_wait_s=10.0)

        async def public_for(exchange: str) -> ExchangeGateway:
            return public

        sim = SimTime(sim_url)
        await sim.sync()
        runtime = EmbeddedRuntime(
            await load_users(repo),
            gateways=GatewayFactory(public=public_for),
            journal=SqlJournal(engine),
            orders=SqlOrderRepository(engine),
            clock=LiveClock(offset_ms=sim.offset_ms),
            settings=EmbeddedSettings(
                feed=FeedSettings(grace_s=0, clock_margin_ms=0, time_sync_s=3600),
                feed_clock=sim.now_ms,
                sleep=_fast_sleep,
            ),
        )
        moved = await _drive(runtime, sim, users, candles, progress)
        journal = SqlJournal(engine)
        results = []
        for u in users:
            results.append(
                UserResult(
                    user=u,
                    decisions=runtime.stats.decisions[(u.user_id, u.symbol)],
                    trades=tuple(await journal.trades(u.user_id)),
                    position=await journal.position(u.user_id, u.symbol),
                )
            )
    finally:
        await pool.close()
        if own_limiter and limiter is not None:
            await limiter.aclose()
        await engine.dispose()
    return DemoTrading(
        journal=path,
        timeframe=TIMEFRAME,
        candles=moved,
        seconds=time.perf_counter() - started,
        orders=len(runtime.stats.submitted),
        errors=runtime.stats.errors,
        users=tuple(results),
    )


async def _drive(
    runtime: EmbeddedRuntime,
    sim: SimTime,
    users: tuple[DemoUser, ...],
    candles: int,
    progress: Progress | None,
) -> int:
    """Start the runtime, move the simulator one candle at a time, each time waiting until
    every user has decided on it; stop gracefully. Return the candles moved."""
    pairs = [(u.user_id, u.symbol) for u in users]
    decisions = runtime.stats.decisions
    moved = 0
    try:
        await runtime.start()
        await _until(lambda: all(decisions[p] >= 1 for p in pairs))
        for _ in range(candles):
            before = {p: decisions[p] for p in pairs}
            await sim.advance(CANDLE_MS)
            moved += 1
            # A slow tick is not fatal: the next advance brings both candles at once.
            await _until(functools.partial(_all_past, decisions, before))
            if progress is not None:
                progress(moved, candles)
    finally:
        await runtime.stop()
    return moved


async def _until(check: Callable[[], bool], timeout_s: float = _TICK_TIMEOUT_S) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if check():
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.005)


def _all_past(decisions: Counter[tuple[str, str]], before: dict[tuple[str, str], int]) -> bool:
    return all(decisions[p] > n for p, n in before.items())


__all__ = [
    "DEMO_USERS",
    "JOURNAL",
    "DemoTrading",
    "DemoUser",
    "SimTime",
    "UserResult",
    "paper_trading",
]
