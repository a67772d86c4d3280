"""Screener-driven users in the embedded runtime: screen → select → trade, on the simulator.

The setup is test_embedded's: a frozen simulator clock advanced one candle at a time, a
SQLite journal and the shared public gateway, here with a loose screen and selection so the
synthetic universe passes (or, rewritten, so that nothing does).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import structlog

from tests.support.embedded import (
    CountingGateway,
    Sim,
    advance,
    fast_sleep,
    journal_orders,
    wait_for,
)
from tests.support.sim import START_MS, make_gateway
from xraybot.data.feed import FeedSettings
from xraybot.exchange.port import ExchangeGateway
from xraybot.model.users import TradingMode, UserProfile
from xraybot.runtime.clock import LiveClock
from xraybot.runtime.embedded import EmbeddedRuntime, EmbeddedSettings
from xraybot.runtime.embedded_selection import Pick, SymbolPicker
from xraybot.runtime.embedded_users import GatewayFactory, RunUser, load_users
from xraybot.storage import SqlJournal, SqlOrderRepository
from xraybot.storage.users import SqlUserRepository

SCREEN = """
[screen]
timeframe = "1m"
candles = 60
min_quote_volume = 0.0
max_spread_pct = 100.0
min_listing_days = 0.0
min_volatility_pct = 0.0
max_volatility_pct = 1000.0
min_depth_quote = 0.0
top = 4

[select]
history_days = 0.2
oos_fraction = 0.5
min_oos_candles = 20
min_return = "off"
min_sharpe = "off"
max_drawdown = "off"
min_trades = {min_trades}
recommend = false
"""


def write_config(path: Path, min_trades: int | str = '"off"') -> Path:
    path.write_text(SCREEN.format(min_trades=min_trades))
    return path


async def add_screened(
    repo: SqlUserRepository, user_id: str, strategy: Path, config: Path, max_symbols: int = 2
) -> None:
    profile = UserProfile(
        user_id=user_id, name=user_id, created_ts_ms=START_MS, exchange="sim",
        mode=TradingMode.PAPER,
    )  # fmt: skip
    settings = {
        "exchange": "sim",
        "market": "spot",
        "mode": "paper",
        "leverage_cap": 1,
        "selection": {"screener": True, "max_symbols": max_symbols, "screen_config": str(config)},
        "strategy": {"name": f"{strategy}:AlwaysTrade", "timeframe": "1m"},
    }
    await repo.create(profile, settings)


def runtime_for(
    sim: Sim, users: list[RunUser], engine: Any, public: CountingGateway, interval_s: float
) -> EmbeddedRuntime:
    async def public_for(exchange: str) -> ExchangeGateway:
        assert exchange == "sim"
        return public  # type: ignore[return-value]

    settings = EmbeddedSettings(
        feed=FeedSettings(window=500, grace_s=0, clock_margin_ms=0, time_sync_s=3600),
        feed_clock=sim.clock.now_ms,
        sleep=fast_sleep,
        selection_interval=interval_s,
    )
    return EmbeddedRuntime(
        users,
        gateways=GatewayFactory(public=public_for),
        journal=SqlJournal(engine),
        orders=SqlOrderRepository(engine),
        clock=LiveClock(sim.clock.now_ms),
        settings=settings,
    )


async def test_screened_users_trade_the_pick_and_share_one_screen(
    sim: Sim, engine: Any, strategy_file: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "screen.toml")
    repo = SqlUserRepository(engine)
    for user_id in ("s1", "s2"):
        await add_screened(repo, user_id, strategy_file, config)
    public = CountingGateway(make_gateway(sim.url, None, None))
    runtime = runtime_for(sim, await load_users(repo), engine, public, interval_s=3600)
    try:
        await runtime.start()
        assert runtime.stats.refused == {}
        assert runtime.picker.screens == 1  # the second user reused the first one's pick
        picked = set(runtime.traders["s1"].configs)
        assert len(picked) == 2
        assert set(runtime.traders["s2"].configs) == picked
        pairs = [(u, s) for u in ("s1", "s2") for s in picked]
        await wait_for(lambda: all(runtime.stats.decisions[p] >= 1 for p in pairs), "decisions")
        await advance(sim)
        await wait_for(lambda: all(runtime.stats.decisions[p] >= 2 for p in pairs), "candle 2")
        pick = await runtime.picker.pick(runtime.traders["s1"].user)
        assert runtime.picker.screens == 1  # still fresh: served from the cache
        assert set(pick.symbols) == picked
        assert any("beyond max_symbols" in why for why in pick.rejected.values())
    finally:
        await runtime.stop()
        await public.inner.close()
    assert runtime.stats.errors == 0
    orders = await journal_orders(engine)
    assert Counter(o[1] for o in orders) == {"s1": 4, "s2": 4}  # open, close on each symbol
    assert {o[2] for o in orders} == picked


async def test_empty_selection_leaves_the_user_idle_until_a_later_pick(
    sim: Sim, engine: Any, strategy_file: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "screen.toml", min_trades=1_000_000)
    repo = SqlUserRepository(engine)
    await add_screened(repo, "s3", strategy_file, config)
    public = CountingGateway(make_gateway(sim.url, None, None))
    runtime = runtime_for(sim, await load_users(repo), engine, public, interval_s=90)
    try:
        with structlog.testing.capture_logs() as logs:
            await runtime.start()
        assert runtime.stats.refused == {}
        trader = runtime.traders["s3"]
        assert trader.configs == {}
        idle = [e for e in logs if e["event"].startswith("selection picked no symbol")]
        assert len(idle) == 1, logs
        assert "kept none" in idle[0]["note"]
        # The thresholds loosen; the next scheduled pick finds symbols and trading starts.
        write_config(config)
        for _ in range(2):
            await advance(sim)
        await wait_for(lambda: runtime.picker.screens == 2, "the scheduled pick")
        await wait_for(lambda: len(trader.configs) == 2, "the picked symbols")
        pairs = [("s3", s) for s in trader.configs]
        await wait_for(lambda: all(runtime.stats.decisions[p] >= 1 for p in pairs), "decisions")
        await asyncio.sleep(0)
    finally:
        await runtime.stop()
        await public.inner.close()
    assert runtime.stats.errors == 0
    assert runtime.stats.submitted, "the picked symbols were traded"


def test_a_dropped_symbol_is_managed_until_flat_without_new_entries() -> None:
    async def public(exchange: str) -> ExchangeGateway:
        raise AssertionError("no screen here")

    picker = SymbolPicker(public, lambda: 0)
    first = Pick(("A/USDT", "B/USDT"), {}, 0)
    assert picker.apply("u", set(), first) == {"A/USDT", "B/USDT"}
    assert picker.may_open("u", "A/USDT")
    second = Pick(("B/USDT", "C/USDT"), {"A/USDT": "thresholds: sharpe"}, 1)
    assert picker.apply("u", {"A/USDT", "B/USDT"}, second) == {"C/USDT"}
    assert not picker.may_open("u", "A/USDT")  # still decided (exits), never opened again
    assert picker.may_open("u", "B/USDT")
    assert picker.apply("u", {"A/USDT", "B/USDT", "C/USDT"}, first) == set()
    assert picker.may_open("u", "A/USDT")  # picked again: may enter again
    assert not picker.may_open("u", "C/USDT")
