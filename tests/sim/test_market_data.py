"""The real ccxt client reads markets, tickers, candles and books from the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.sim.fakes import Sim

pytestmark = pytest.mark.usefixtures("reset_sim")


@pytest.fixture
async def ex(sim: Sim) -> AsyncIterator[Any]:
    client = sim.client()
    yield client
    await client.close()


async def test_load_markets_with_keys_reads_spot_and_swap(ex: Any) -> None:
    markets = await ex.load_markets()
    btc, swap = markets["BTC/USDT"], markets["BTC/USDT:USDT"]
    assert btc["active"] is True  # status "1" and isSpotTradingAllowed true
    assert btc["precision"] == {"amount": 1e-06, "price": 0.01}
    assert btc["limits"]["cost"]["min"] == 1.0
    assert (btc["taker"], btc["maker"]) == (0.002, 0.001)
    assert swap["swap"]
    assert swap["linear"]
    assert swap["active"]
    assert swap["contractSize"] == 0.0001
    assert swap["precision"] == {"amount": 1.0, "price": 0.01}
    assert swap["limits"]["leverage"]["max"] == 125
    assert "PYTH/USDT:USDT" not in markets  # spot only


async def test_load_markets_without_keys_skips_the_signed_currencies_call(sim: Sim) -> None:
    client = sim.client(api_key=None)
    try:
        markets = await client.load_markets()
    finally:
        await client.close()
    assert {"BTC/USDT", "ETH/USDT:USDT"} <= set(markets)


async def test_fetch_time_follows_the_market_clock(ex: Any, sim: Sim) -> None:
    assert await ex.fetch_time() == sim.market.clock.now
    sim.market.clock.advance(5_000)
    assert await ex.fetch_time() == sim.market.clock.now


async def test_spot_ticker_has_bid_ask_and_24h_change(ex: Any) -> None:
    ticker = await ex.fetch_ticker("BTC/USDT")
    assert (ticker["bid"], ticker["ask"], ticker["last"]) == (49995.0, 50005.0, 50000.0)
    assert ticker["percentage"] == pytest.approx(2.0)
    assert ticker["baseVolume"] == 1000.0
    assert ticker["bidVolume"] > 0
    assert ticker["askVolume"] > 0


async def test_swap_ticker_volume_is_converted_from_contracts(ex: Any) -> None:
    ticker = await ex.fetch_ticker("BTC/USDT:USDT")
    assert (ticker["bid"], ticker["ask"]) == (49995.0, 50005.0)
    assert ticker["baseVolume"] == pytest.approx(1000.0)


async def test_tickers_in_bulk_spot_and_swap(ex: Any) -> None:
    spot = await ex.fetch_tickers()
    assert set(spot) == {"BTC/USDT", "ETH/USDT", "LTC/USDT", "ADA/USDT", "ATLAS/USDT", "PYTH/USDT"}
    swap = await ex.fetch_tickers(params={"type": "swap"})
    assert set(swap) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "LTC/USDT:USDT", "ADA/USDT:USDT"}
    assert all(t["bid"] < t["ask"] for t in [*spot.values(), *swap.values()])
    two = await ex.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert set(two) == {"BTC/USDT", "ETH/USDT"}


async def test_tickers_follow_the_price(ex: Any, sim: Sim) -> None:
    sim.market.set_price("ETH", 3100.0, bid=3099.5, ask=3100.5)
    ticker = await ex.fetch_ticker("ETH/USDT")
    assert (ticker["bid"], ticker["ask"], ticker["last"]) == (3099.5, 3100.5, 3100.0)


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
async def test_ohlcv_latest_candles_end_with_the_open_one(ex: Any, sim: Sim, symbol: str) -> None:
    candles = await ex.fetch_ohlcv(symbol, "1m", limit=5)
    now = sim.market.clock.now
    assert [c[0] for c in candles] == [now - 60_000 * i for i in range(4, -1, -1)]
    assert all(c[3] <= min(c[1], c[4]) and c[2] >= max(c[1], c[4]) for c in candles)


@pytest.mark.parametrize(("symbol", "timeframe"), [("ETH/USDT", "1h"), ("ETH/USDT:USDT", "4h")])
async def test_ohlcv_since_reads_forward(ex: Any, sim: Sim, symbol: str, timeframe: str) -> None:
    step = ex.parse_timeframe(timeframe) * 1000
    since = sim.market.clock.now // step * step - 30 * step
    candles = await ex.fetch_ohlcv(symbol, timeframe, since=since, limit=10)
    assert [c[0] for c in candles] == [since + i * step for i in range(10)]


async def test_spot_ohlcv_until_is_respected(ex: Any, sim: Sim) -> None:
    last = sim.market.clock.now - 10 * 60_000
    # ccxt asks for [until - 3 candles, until + 1): with an aligned until that is 4 candles
    # and MEXC's limit keeps the first 3, so ask up to 1 ms past the last wanted open.
    candles = await ex.fetch_ohlcv("BTC/USDT", "1m", limit=3, params={"until": last + 1})
    assert [c[0] for c in candles] == [last - 120_000, last - 60_000, last]


@pytest.mark.parametrize(("symbol", "count"), [("BTC/USDT", 1200), ("BTC/USDT:USDT", 2500)])
async def test_ohlcv_paginates(ex: Any, sim: Sim, symbol: str, count: int) -> None:
    since = sim.market.clock.now - (count - 1) * 60_000
    candles = await ex.fetch_ohlcv(
        symbol, "1m", since=since, limit=count, params={"paginate": True}
    )
    stamps = [c[0] for c in candles]
    assert stamps == sorted(set(stamps))
    assert stamps[0] == since
    assert stamps[-1] == sim.market.clock.now
    assert len(stamps) == count


async def test_monthly_and_weekly_candles(ex: Any) -> None:
    months = await ex.fetch_ohlcv("BTC/USDT", "1M", limit=3)
    assert len(months) == 3
    assert months[0][0] < months[1][0] < months[2][0]
    weeks = await ex.fetch_ohlcv("BTC/USDT:USDT", "1w", limit=4)
    assert len(weeks) == 4


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT"])
async def test_order_book_is_sorted_with_growing_sizes(ex: Any, symbol: str) -> None:
    book = await ex.fetch_order_book(symbol, 20)
    bids, asks = book["bids"], book["asks"]
    assert len(bids) == len(asks) == 20
    assert bids[0][0] == 49995.0
    assert asks[0][0] == 50005.0
    assert [b[0] for b in bids] == sorted((b[0] for b in bids), reverse=True)
    assert [a[0] for a in asks] == sorted(a[0] for a in asks)
    assert bids[-1][1] > bids[0][1]
    assert asks[-1][1] > asks[0][1]


async def test_order_book_default_depth_is_100(ex: Any) -> None:
    book = await ex.fetch_order_book("ETH/USDT")
    assert len(book["bids"]) == len(book["asks"]) == 100


async def test_unknown_symbols_are_bad_symbols(ex: Any) -> None:
    await ex.load_markets()
    with pytest.raises(ccxt.BadSymbol):
        await ex.spotPublicGetTicker24hr({"symbol": "NOPEUSDT"})
    with pytest.raises(ccxt.BadSymbol):
        await ex.contractPublicGetTicker({"symbol": "NOPE_USDT"})
