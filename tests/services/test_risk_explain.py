"""services.risk_explain: every rule's verdict on the next entry, on known candles and the sim."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.markets import btc_perpetual, spot
from tests.support.sim import make_gateway, serve_sim
from xraybot.data.store import CandleStore
from xraybot.model.candles import Candles
from xraybot.model.errors import ConfigError, InvalidInputError, UnknownSymbolError
from xraybot.model.market import Market
from xraybot.risk.limits import LIMIT_TOTAL, OpenPosition
from xraybot.risk.profile import RiskProfile, load_risk_profile, risk_profile_from
from xraybot.services.risk_explain import (
    explain_entry,
    fetch_inputs,
    resolve_symbol,
)
from xraybot.sim.config import RateLimits, SimConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "risk.toml"
HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR

SWAP = btc_perpetual(exchange="test")
SPOT = spot("BTC/USDT", amount_tick="0.000001", exchange="test")


def walk(n: int = 200, *, symbol: str = "BTC/USDT:USDT", seed: int = 3) -> Candles:
    """A 1h random walk around 64,000 with candles about 1 % high to low."""
    rng = np.random.default_rng(seed)
    close = 64_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.006, n)))
    open_ = np.concatenate([[64_000.0], close[:-1]])
    high = np.maximum(open_, close) * 1.004
    low = np.minimum(open_, close) * 0.996
    ts = T0 + HOUR * np.arange(n, dtype=np.int64)
    return Candles(symbol, "1h", ts, open_, high, low, close, np.full(n, 10.0))


CANDLES = walk()
NOW = int(CANDLES.ts_ms[-1]) + HOUR


def explain(profile: RiskProfile, market: Market = SWAP, **kwargs: Any) -> Any:
    candles = kwargs.pop("candles", CANDLES if market is SWAP else walk(symbol=market.symbol))
    kwargs.setdefault("equity", 1000.0)
    return explain_entry(profile, market, candles, now_ms=NOW, **kwargs)


def test_the_example_profile_explains_every_rule() -> None:
    profile = load_risk_profile(EXAMPLE)
    result = explain(profile)
    assert result.allowed
    entry = result.entry
    assert entry.price == CANDLES.close[-1]
    assert entry.candles == 200
    assert 0 < entry.volatility < 0.05
    # A 3 % stop or 2 ATRs, whichever is nearer the entry.
    by_atr = entry.price - 2.0 * entry.atr
    assert entry.stop_price == pytest.approx(max(entry.price * 0.97, by_atr))
    assert result.leverage is not None
    assert result.leverage_value == result.leverage.value <= 20
    assert result.leverage.ok
    assert result.sizing.ok
    assert result.sizing.mode == "risk"
    # Risk sizing: about 1 % of equity lost at the stop, both fees included.
    loss = float(result.sizing.notional) * (entry.stop_distance + 2 * 0.0002)
    assert loss == pytest.approx(10.0, rel=0.05)
    assert loss <= 10.0
    assert result.limits is not None
    assert result.limits.allowed
    assert result.protections.allowed
    assert result.scale.scale == 1.0
    assert result.deposit is not None
    assert result.deposit.ok
    assert result.amount == result.sizing.amount > 0
    assert result.verdict == (f"may open {result.amount} ({result.notional} USDT)",)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["symbol"] == "BTC/USDT:USDT"
    assert data["leverage"]["value"] == result.leverage_value
    assert data["leverage"]["decision"]["bound_by"] == result.leverage.bound_by
    assert data["limits"]["room"] == 1000.0  # max_symbol_exposure 1 x equity, empty book
    assert data["profile"]["sizing"]["mode"] == "risk"
    assert data["allowed"] is True
    assert Decimal(data["amount"]) == result.amount


def test_an_order_past_a_limit_shrinks_to_the_room() -> None:
    profile = risk_profile_from(
        {
            "sizing": {"mode": "fraction", "amount": 0.5},
            "leverage": {"max": 5},
            "exits": {"stop_loss_pct": 0.03},
            "limits": {"max_total_exposure": 2.0},
        }
    )
    book = [OpenPosition("ETH/USDT:USDT", 1800.0, leverage=5.0)]
    result = explain(profile, positions=book)
    assert result.limits is not None
    assert not result.limits.allowed
    assert result.limits.code == LIMIT_TOTAL
    assert result.limits.room == pytest.approx(200.0)
    assert result.allowed
    assert 0 < float(result.notional) <= 200.0
    assert result.notional < result.sizing.notional
    assert "shrunk to the room the limits leave" in result.verdict[0]
    assert any("the order shrinks to" in note for note in result.notes)


def test_a_full_book_blocks_the_entry_with_the_limits_numbers() -> None:
    profile = risk_profile_from(
        {"exits": {"stop_loss_pct": 0.03}, "limits": {"max_open_positions": 1}}
    )
    result = explain(profile, positions=[OpenPosition("ETH/USDT:USDT", 100.0)])
    assert not result.allowed
    assert result.amount == 0
    assert result.verdict == ("open positions: 1 + 1 = 2 vs max_open_positions 1: blocked, "
                              "all taken",)  # fmt: skip


def test_a_cluster_limit_uses_the_xray_clusters() -> None:
    profile = risk_profile_from(
        {"exits": {"stop_loss_pct": 0.03}, "limits": {"max_cluster_exposure": 0.5}}
    )
    book = [OpenPosition("ETH/USDT:USDT", 500.0)]
    together = explain(profile, positions=book, clusters={"ETH/USDT:USDT": 0, SWAP.symbol: 0})
    apart = explain(profile, positions=book, clusters={"ETH/USDT:USDT": 0, SWAP.symbol: 1})
    assert not together.allowed
    assert "cluster 0 exposure: 500.00" in together.verdict[0]
    assert apart.allowed


def test_a_profile_that_can_never_trade_is_refused() -> None:
    profile = risk_profile_from({"leverage": {"max": 150}, "exits": {"stop_loss_pct": 0.03}})
    with pytest.raises(ConfigError) as caught:
        explain(profile)
    assert "risk.leverage.max: 150x is above BTC/USDT:USDT's maximum leverage 125x" in str(
        caught.value
    )
    with pytest.raises(ConfigError, match="a deposit of at least"):
        explain(RiskProfile(), equity=1.0)


def test_without_a_stop_the_swap_gets_1x_and_says_why() -> None:
    result = explain(RiskProfile())
    assert result.leverage is None
    assert result.leverage_value == 1
    assert any("no stop is set" in note for note in result.notes)
    assert result.allowed  # 10 % of equity at 1x


def test_spot_is_long_only_and_needs_enough_candles() -> None:
    spot = risk_profile_from({"market": "spot", "exits": {"stop_loss_pct": 0.02}})
    assert explain(spot, SPOT).leverage_value == 1
    with pytest.raises(InvalidInputError, match="only long entries"):
        explain(spot, SPOT, direction="short")
    with pytest.raises(InvalidInputError, match="need at least 15"):
        explain(spot, SPOT, candles=walk(10, symbol="BTC/USDT"))


def test_a_short_puts_the_stop_above() -> None:
    profile = risk_profile_from({"leverage": {"max": 10}, "exits": {"stop_loss_pct": 0.03}})
    result = explain(profile, direction="short")
    assert result.direction == "short"
    assert result.entry.stop_price == pytest.approx(result.entry.price * 1.03)
    assert result.leverage is not None
    assert result.leverage.liquidation_price is not None
    assert result.leverage.liquidation_price > result.entry.stop_price


def test_symbols_resolve_to_the_profiles_market_kind() -> None:
    markets = {SWAP.symbol: SWAP, SPOT.symbol: SPOT}
    assert resolve_symbol(markets, "btc/usdt", "swap") is SWAP
    assert resolve_symbol(markets, "BTC/USDT", "spot") is SPOT
    with pytest.raises(UnknownSymbolError, match="NOPE/USDT"):
        resolve_symbol(markets, "NOPE/USDT", "swap")


# -- through the simulator ---------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config, n_symbols=12) as url:
        yield url


def test_inputs_come_from_the_store_when_it_is_fresh(sim_url: str, tmp_path: Path) -> None:
    profile = load_risk_profile(EXAMPLE)
    store = CandleStore(tmp_path)

    async def run() -> tuple[Any, Any]:
        gateway = make_gateway(sim_url, None, None)
        try:
            live = await fetch_inputs(gateway, profile, "BTC/USDT", store=store)
            store.write("sim", live[1])
            stored = await fetch_inputs(gateway, profile, "BTC/USDT", store=store)
            return live, stored
        finally:
            await gateway.close()

    live, stored = asyncio.run(run())
    market, candles, source, now_ms = live
    assert market.symbol == "BTC/USDT:USDT"
    assert source == "exchange"
    assert len(candles) >= 15
    assert int(candles.ts_ms[-1]) + candles.timeframe_ms <= now_ms  # closed candles only
    assert stored[2] == "store"
    assert np.array_equal(stored[1].close, candles.close)
    result = explain_entry(profile, market, candles, equity=1000.0, now_ms=now_ms)
    assert result.allowed
    assert math.isfinite(result.entry.volatility or math.nan)
