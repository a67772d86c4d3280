"""The screener against the simulator: a few hundred synthetic symbols, rate limits off.

The real ccxt client talks to the real local simulator; where a test needs a failure, it
wraps the gateway (our port), never ccxt.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from tests.support.download import serve as serve_junk
from tests.support.sim import make_gateway, serve_sim
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.model.candles import Candles
from xraybot.model.errors import UnknownSymbolError
from xraybot.model.market import MarketKind
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.xray.config import ScreenConfig
from xraybot.xray.screen_result import ScreenResult
from xraybot.xray.screener import CHAIN, run_screen

UNIVERSE = 240
STAGE1 = ("market", "blacklist", "price", "quote_volume", "spread")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    config = SimConfig(match_interval_ms=0, rate_limits=RateLimits(enabled=False))
    with serve_sim(config, n_symbols=UNIVERSE) as served:
        yield served


async def screen(url: str, config: ScreenConfig, **kwargs: Any) -> ScreenResult:
    gateway = make_gateway(url, None, None)
    try:
        return await run_screen(gateway, config, **kwargs)
    finally:
        await gateway.close()


@pytest.fixture(scope="module")
def default(url: str) -> ScreenResult:
    return asyncio.run(screen(url, ScreenConfig()))


def klines_requested(result: ScreenResult) -> int:
    """Return how many symbols got past stage 1 (one candles request each)."""
    dropped = sum(len(result.rejected.get(name, ())) for name in STAGE1)
    return result.universe_size - dropped


def check_accounting(result: ScreenResult) -> None:
    """Every candidate is passed or rejected exactly once, with a reason, in chain order."""
    seen = [r.symbol for r in result.passed]
    for name, rejections in result.rejected.items():
        for rejection in rejections:
            assert rejection.filter == name
            assert rejection.reason.strip(), rejection
            seen.append(rejection.symbol)
    assert len(seen) == len(set(seen)) == result.universe_size
    names = list(result.rejected)
    assert names == [n for n in CHAIN if n in names]
    assert set(result.rules) == set(names)


def test_every_symbol_passes_or_is_rejected_once_with_a_reason(default: ScreenResult) -> None:
    check_accounting(default)
    assert default.universe_size == UNIVERSE
    assert default.emptied_by is None
    assert 0 < len(default.passed) <= 20
    scores = [r.score for r in default.passed]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    for row in default.passed:
        assert row.quote_volume_24h >= 100_000
        assert row.spread_pct is not None
        assert row.spread_pct <= 0.5
        assert row.volatility_pct is not None
        assert 0.2 <= row.volatility_pct <= 10
        assert row.listed_days is not None
        assert row.listed_days >= 7
        assert None not in (row.rsi, row.trend, row.breakout)
    # One bulk tickers call and the clock, then one candles request per stage-1 survivor.
    assert default.requests == klines_requested(default) + 2
    assert klines_requested(default) < UNIVERSE / 2
    reasons = [r.reason for r in default.rejected["quote_volume"]]
    assert all(re.fullmatch(r"quote volume [\d,.]+ < 100,000", r) for r in reasons)


def test_the_json_has_the_promised_shape(default: ScreenResult) -> None:
    data = json.loads(json.dumps(default.as_dict()))
    assert {"passed", "rejected", "requests", "elapsed_s"} <= set(data)
    first = data["passed"][0]
    assert {"symbol", "quote_volume", "volatility", "spread", "score", "signals"} <= set(first)
    volume = data["rejected"]["quote_volume"]
    assert volume["count"] == len(volume["symbols"]) > 0
    assert set(volume["symbols"][0]) == {"symbol", "reason"}
    total = sum(v["count"] for v in data["rejected"].values()) + len(data["passed"])
    assert total == data["universe_size"] == UNIVERSE


async def test_a_dynamic_threshold_follows_the_universe(url: str) -> None:
    result = await screen(url, ScreenConfig(min_quote_volume="p60", max_spread_pct=None))
    check_accounting(result)
    rule = result.rules["quote_volume"]
    match = re.fullmatch(r"quote volume >= ([\d,.]+) \(p60\)", rule)
    assert match, rule
    threshold = float(match.group(1).replace(",", ""))
    seen = UNIVERSE - len(result.rejected["market"]) - len(result.rejected["blacklist"])
    rejected = len(result.rejected["quote_volume"])
    assert abs(rejected - 0.6 * seen) <= 1
    assert all(
        r.reason.endswith(f"< {match.group(1)} (p60)") for r in result.rejected["quote_volume"]
    )
    assert all(r.quote_volume_24h >= threshold - 1 for r in result.passed)


async def test_an_all_rejecting_filter_is_named_with_the_distribution(url: str) -> None:
    config = ScreenConfig(min_volatility_pct=1000, max_volatility_pct=None)
    result = await screen(url, config)
    check_accounting(result)
    assert result.passed == ()
    assert result.emptied_by == "volatility"
    spread = result.distributions["volatility"]
    assert set(spread) == {"count", "min", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "max"}
    assert spread["count"] == len(result.rejected["volatility"])
    assert spread["min"] <= spread["p50"] <= spread["max"] < 1000
    assert "top_n" not in result.rejected  # nothing reached it


async def test_emptied_in_stage_one_fetches_no_candles(url: str) -> None:
    result = await screen(url, ScreenConfig(min_quote_volume=1e15))
    check_accounting(result)
    assert result.emptied_by == "quote_volume"
    assert result.requests == 2
    assert result.distributions["quote_volume"]["max"] < 1e15
    assert list(result.rejected) == ["market", "blacklist", "quote_volume"]


async def test_signal_filters_keep_only_what_they_say(url: str) -> None:
    config = ScreenConfig(trend="up", breakout=True, rsi_min=40, rsi_max=95, top=50)
    result = await screen(url, config)
    check_accounting(result)
    for row in result.passed:
        assert row.trend is not None
        assert row.trend > 0
        assert row.breakout is True
        assert row.rsi is not None
        assert 40 <= row.rsi <= 95
        assert {"uptrend", "breakout"} <= set(row.signals)
    assert all(r.reason.endswith("wanted up") for r in result.rejected["trend"])
    assert {"rsi", "trend", "breakout"} <= set(result.rejected)


async def test_depth_is_checked_for_the_shortlist_only(url: str) -> None:
    result = await screen(url, ScreenConfig(min_depth_quote=1_000, top=5))
    check_accounting(result)
    assert len(result.passed) == 5
    assert all(r.depth_quote is not None and r.depth_quote >= 1_000 for r in result.passed)
    books = result.requests - klines_requested(result) - 2
    assert 5 <= books == 5 + len(result.rejected["depth"])
    assert all("were filled before it" in r.reason for r in result.rejected["top_n"])

    absurd = await screen(url, ScreenConfig(min_depth_quote=1e15, top=3))
    assert absurd.emptied_by == "depth"
    assert absurd.passed == ()
    assert absurd.distributions["depth"]["max"] < 1e15
    check_accounting(absurd)


class Flaky:
    """The gateway, minus one symbol's ticker and one symbol's candles."""

    def __init__(self, gateway: CcxtGateway, no_ticker: str, no_candles: str) -> None:
        self._gateway = gateway
        self.exchange_id = gateway.exchange_id
        self.markets = gateway.markets
        self.fetch_time = gateway.fetch_time
        self.fetch_order_book = gateway.fetch_order_book
        self.no_ticker, self.no_candles = no_ticker, no_candles

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, kind: MarketKind = MarketKind.SPOT
    ) -> Mapping[str, Any]:
        found = await self._gateway.fetch_tickers(symbols, kind)
        return {s: t for s, t in found.items() if s != self.no_ticker}

    async def fetch_ohlcv(self, symbol: str, timeframe: str, *args: Any, **kwargs: Any) -> Candles:
        if symbol == self.no_candles:
            raise UnknownSymbolError(f"sim lists no market {symbol!r}")
        return await self._gateway.fetch_ohlcv(symbol, timeframe, *args, **kwargs)


async def test_failures_are_reported_against_their_symbol(url: str) -> None:
    gateway = make_gateway(url, None, None)
    try:
        flaky = Flaky(gateway, no_ticker="ETH/USDT", no_candles="BTC/USDT")
        result = await run_screen(flaky, ScreenConfig())
    finally:
        await gateway.close()
    check_accounting(result)
    market = {r.symbol: r.reason for r in result.rejected["market"]}
    assert market == {"ETH/USDT": "no ticker in the bulk answer"}
    candles = {r.symbol: r.reason for r in result.rejected["candles"]}
    assert candles == {"BTC/USDT": "candles could not be fetched: sim lists no market 'BTC/USDT'"}


async def test_the_blacklist_on_a_live_universe(url: str) -> None:
    result = await screen(url, ScreenConfig(blacklist=("BTC/USDT", "E*")))
    reasons = {r.symbol: r.reason for r in result.rejected["blacklist"]}
    assert reasons["BTC/USDT"] == "blacklisted by 'BTC/USDT'"
    assert reasons["ETH/USDT"] == "blacklisted by 'E*'"
    assert all(s == "BTC/USDT" or s.startswith("E") for s in reasons)


async def test_thresholds_follow_the_regime(url: str) -> None:
    config = ScreenConfig(by_regime={"high": {"min_quote_volume": 1e15}})
    frenzy = await screen(url, config, regime=["range", "high"])
    assert frenzy.emptied_by == "quote_volume"
    assert frenzy.regime == ("range", "high")
    assert "regime given: range, high" in frenzy.notes
    calm = await screen(url, config, regime=["range", "low"])
    assert calm.emptied_by is None

    found = await screen(url, config)  # the regime is taken from BTC/USDT's candles
    note = next(n for n in found.notes if n.startswith("regime from BTC/USDT"))
    trend, volatility = found.regime
    assert note == f"regime from BTC/USDT: trend {trend}, volatility {volatility}"
    assert (found.emptied_by == "quote_volume") == (volatility == "high")
    # The leader's candles are fetched once, for the regime, and reused in stage 2.
    assert found.requests == klines_requested(found) + 2 + (volatility == "high")


def test_percentile_check_matches_numpy() -> None:
    # The dynamic threshold's definition, pinned: numpy's linear percentile.
    assert float(np.percentile([1.0, 2.0, 3.0, 4.0], 60)) == pytest.approx(2.8)


@pytest.fixture(scope="module")
def junk_url() -> Iterator[str]:
    """The data tests' simulator: 40 symbols plus liquid leveraged tokens and stablecoins."""
    for sim in serve_junk():
        yield sim.url


async def test_leveraged_tokens_and_stablecoins_are_blacklisted_by_default(junk_url: str) -> None:
    result = await screen(junk_url, ScreenConfig())
    check_accounting(result)
    reasons = {r.symbol: r.reason for r in result.rejected["blacklist"]}
    assert reasons == {
        **{f"{b}/USDT": f"leveraged token ({b})" for b in ("BTCUP", "BTCDOWN", "ETH3L", "ETH3S")},
        "BULL/USDT": "leveraged token (BULL)",
        "USDC/USDT": reasons["USDC/USDT"],
        "FDUSD/USDT": reasons["FDUSD/USDT"],
    }
    assert reasons["USDC/USDT"].startswith("stablecoin (USDC at ")
    assert "JUP/USDT" not in reasons  # ends in UP, but J is no listed coin: JUP is one
    off = await screen(junk_url, ScreenConfig(exclude_leveraged_tokens=False,
                                               exclude_stablecoins=False))  # fmt: skip
    assert not off.rejected["blacklist"]
