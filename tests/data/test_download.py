"""History downloads against the real simulator, through the real ccxt client and gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.download import DAY, HOUR_START, JUNK, NOW, H, Sim, serve
from tests.support.sim import make_gateway
from xraybot.data.download import (
    SilentProgress,
    SymbolReport,
    SymbolStatus,
    check_symbols,
    download,
    is_leveraged_token,
    is_stablecoin,
)
from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.model.candles import Candles
from xraybot.model.errors import ExchangeUnavailableError, InvalidInputError, UnknownSymbolError

YOUNG = "XELYK/USDT"  # listed 66 days before NOW in this universe
JUNK |= {"USDC": "BTC", "FDUSD": "ETH"}


@pytest.fixture(scope="module")
def served() -> Iterator[Sim]:
    yield from serve()


@pytest.fixture
def sim(served: Sim) -> Sim:
    """The module's simulator, its clock back at NOW and no fault queued."""
    served.market.clock.now = NOW  # type: ignore[attr-defined]
    served.exchange.venue.faults.reset(served.exchange.venue.faults.rates)
    served.recording.requests.clear()
    return served


@pytest.fixture
async def gateway(sim: Sim) -> AsyncIterator[CcxtGateway]:
    gw = make_gateway(sim.url, None, None)
    await gw.markets()
    sim.recording.requests.clear()
    yield gw
    await gw.close()


@pytest.fixture
def store(tmp_path: Path) -> CandleStore:
    return CandleStore(tmp_path)


@pytest.fixture
def universe(tmp_path: Path) -> UniverseStore:
    return UniverseStore(tmp_path)


def assert_same(found: Candles, expected: Candles) -> None:
    assert len(expected) > 0
    for name in ("ts_ms", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(found, name), getattr(expected, name), err_msg=name)


def by_symbol(reports: Sequence[SymbolReport]) -> dict[str, SymbolReport]:
    return {r.symbol: r for r in reports}


SINCE = HOUR_START - 30 * DAY
UNTIL = SINCE + 500 * H  # 500 candles: five requests of 100


async def test_downloads_exactly_the_range_asked_in_pages(
    sim: Sim, gateway: CcxtGateway, store: CandleStore, universe: UniverseStore
) -> None:
    report = await download(
        gateway,
        store,
        universe,
        symbols=["BTC/USDT", "ETH/USDT"],
        timeframe="1h",
        since_ms=SINCE,
        until_ms=UNTIL,
        chunk_candles=100,
    )
    for symbol, result in by_symbol(report.symbols).items():
        assert result.status is SymbolStatus.DOWNLOADED
        assert (result.added, result.stored_rows, result.requests) == (500, 500, 5)
        assert (result.first_ms, result.last_ms) == (SINCE, UNTIL - H)
        assert_same(store.read("sim", symbol, "1h"), sim.reference(symbol, SINCE, UNTIL))
    klines = sim.klines()
    assert len(klines) == 10  # what the report says is what the exchange saw
    assert all(int(q["endTime"]) - int(q["startTime"]) <= 100 * H for q in klines)
    assert report.until_ms == UNTIL
    known = {row.symbol: row for row in universe.as_of("sim", UNTIL)}
    assert set(known) == {"BTC/USDT", "ETH/USDT"}
    assert known["BTC/USDT"].listed_ms == SINCE
    assert known["BTC/USDT"].quote_volume_24h > 0


async def test_a_rerun_fetches_only_what_is_missing(
    sim: Sim, gateway: CcxtGateway, store: CandleStore, universe: UniverseStore
) -> None:
    middle = SINCE + 230 * H
    args: dict[str, Any] = {"symbols": ["BTC/USDT"], "timeframe": "1h", "chunk_candles": 100}
    await download(gateway, store, universe, since_ms=SINCE, until_ms=middle, **args)
    sim.klines()
    report = await download(gateway, store, universe, since_ms=SINCE, until_ms=UNTIL, **args)
    klines = sim.klines()
    # From the last stored candle (fetched again: it may have been incomplete) to the end.
    assert [int(q["startTime"]) for q in klines] == [middle - H + i * 100 * H for i in range(3)]
    (result,) = report.symbols
    assert (result.requests, result.added, result.status) == (3, 270, SymbolStatus.DOWNLOADED)
    assert_same(store.read("sim", "BTC/USDT", "1h"), sim.reference("BTC/USDT", SINCE, UNTIL))

    again = await download(gateway, store, universe, since_ms=SINCE, until_ms=UNTIL, **args)
    assert again.symbols[0].status is SymbolStatus.UP_TO_DATE
    assert len(sim.klines()) == 1  # only the last stored candle, once more


async def test_time_passing_adds_the_candles_that_closed_since(
    sim: Sim, gateway: CcxtGateway, store: CandleStore, universe: UniverseStore
) -> None:
    args: dict[str, Any] = {"symbols": ["ETH/USDT"], "timeframe": "1h", "since_ms": SINCE}
    first = await download(gateway, store, universe, **args)
    assert first.until_ms == NOW
    sim.market.clock.advance(5 * H)  # type: ignore[attr-defined]
    sim.klines()
    second = await download(gateway, store, universe, **args)
    assert second.symbols[0].added == 5
    assert len(sim.klines()) == 1
    assert store.last_ts("sim", "ETH/USDT", "1h") == HOUR_START + 4 * H


async def test_a_still_forming_candle_is_never_stored(
    sim: Sim, gateway: CcxtGateway, store: CandleStore
) -> None:
    # An end in the future is cut at the exchange's clock, inside the forming candle.
    report = await download(
        gateway,
        store,
        None,
        symbols=["SOL/USDT"],
        timeframe="1h",
        since_ms=NOW - 2 * DAY,
        until_ms=NOW + DAY,
    )
    assert report.until_ms == NOW
    stored = store.read("sim", "SOL/USDT", "1h")
    assert int(stored.ts_ms[-1]) == HOUR_START - H  # the last candle closed by NOW
    served = sim.market.candles("SOLUSDT", "1h", NOW - 2 * DAY, NOW + DAY)
    assert int(served.ts_ms[-1]) == HOUR_START  # the simulator did serve the forming one


async def test_an_older_start_fetches_the_head_backward_and_stops_at_the_listing(
    sim: Sim, gateway: CcxtGateway, store: CandleStore, universe: UniverseStore
) -> None:
    listed = sim.market.symbol("XELYKUSDT").listed_ms
    since = HOUR_START - 90 * DAY  # before the listing
    until = HOUR_START - 40 * DAY
    args: dict[str, Any] = {"symbols": [YOUNG], "timeframe": "1h", "chunk_candles": 200}
    await download(gateway, store, universe, since_ms=listed + 10 * DAY, until_ms=until, **args)
    sim.klines()
    report = await download(gateway, store, universe, since_ms=since, until_ms=until, **args)
    starts = [int(q["startTime"]) for q in sim.klines()]
    head_end = listed // H * H + 10 * DAY  # the first stored candle
    # Backward from the first stored candle until a window comes back empty, then the tail.
    assert starts == [head_end - k * 200 * H for k in (1, 2, 3)] + [until - H]
    assert report.symbols[0].requests == 4
    stored = store.read("sim", YOUNG, "1h")
    assert_same(stored, sim.reference(YOUNG, since, until))
    assert int(stored.ts_ms[0]) == -(-listed // H) * H

    sim.klines()
    await download(gateway, store, universe, since_ms=since, until_ms=until, **args)
    assert len(sim.klines()) == 2  # one empty window before the listing, the last candle


async def test_an_interrupted_download_keeps_its_pages_and_a_rerun_completes_it(
    sim: Sim, gateway: CcxtGateway, store: CandleStore, universe: UniverseStore
) -> None:
    class CancelAfter(SilentProgress):
        def __init__(self, pages: int) -> None:
            self.pages = pages
            self.task: asyncio.Task[Any] | None = None

        def advance(self, symbol: str, done: int, total: int) -> None:
            if done == self.pages * 100 and self.task is not None:
                self.task.cancel()

    args: dict[str, Any] = {
        "symbols": ["BTC/USDT"],
        "timeframe": "1h",
        "since_ms": SINCE,
        "until_ms": UNTIL,
        "chunk_candles": 100,
    }
    progress = CancelAfter(pages=2)
    task = asyncio.create_task(download(gateway, store, universe, progress=progress, **args))
    progress.task = task
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(store.read("sim", "BTC/USDT", "1h")) == 200  # both pages that arrived
    assert [r.symbol for r in universe.as_of("sim", UNTIL)] == ["BTC/USDT"]
    sim.klines()
    report = await download(gateway, store, universe, **args)
    assert report.symbols[0].requests == 4  # 300 missing + the last stored one again
    assert int(sim.klines()[0]["startTime"]) == SINCE + 199 * H
    assert_same(store.read("sim", "BTC/USDT", "1h"), sim.reference("BTC/USDT", SINCE, UNTIL))


async def test_top_n_ranks_by_quote_volume_and_skips_leveraged_tokens_and_stablecoins(
    sim: Sim, gateway: CcxtGateway, store: CandleStore
) -> None:
    report = await download(
        gateway, store, None, top_n=3, timeframe="1h", since_ms=NOW - DAY, until_ms=NOW
    )
    # JUP (a coin, priced off SOL at 100× its volume) outranks BTC and ETH; junk outranks all.
    assert [r.symbol for r in report.symbols] == ["JUP/USDT", "BTC/USDT", "ETH/USDT"]
    assert set(report.excluded) == {f"{base}/USDT" for base in JUNK}
    assert all(r.status is SymbolStatus.DOWNLOADED for r in report.symbols)
    tickers = [path for path, q in sim.recording.requests if path == "/api/v3/ticker/24hr"]
    assert len(tickers) == 1  # one bulk call ranks the whole market


@pytest.mark.parametrize(
    "base",
    ["BTCUP", "BTCDOWN", "1INCHUP", "ETHBULL", "BULL", "BEAR", "BTC3L", "ETH3S", "DOGE5L"],
)
def test_leveraged_tokens_are_recognised(base: str) -> None:
    assert is_leveraged_token(base, frozenset({"BTC", "1INCH", "ETH", "DOGE"}))


@pytest.mark.parametrize("base", ["JUP", "SUP", "SETUP", "SOL", "BTC", "LDO", "T", "ETHW"])
def test_coins_are_not_taken_for_leveraged_tokens(base: str) -> None:
    assert not is_leveraged_token(base, frozenset({"BTC", "ETH", "SOL", "S", "J", "T"}))


@pytest.mark.parametrize(
    ("base", "last", "stable"),
    [
        ("USDC", None, True),
        ("FDUSD", None, True),
        ("EUR", None, True),
        ("NEWUSD", Decimal("0.999"), True),  # unknown by name, pegged by price
        ("USDX2", Decimal("1.8"), False),
        ("PAXG", Decimal("2300"), False),
        ("BTC", Decimal("1"), False),
    ],
)
def test_stablecoins_are_recognised_by_name_or_peg(
    base: str, last: Decimal | None, stable: bool
) -> None:
    assert is_stablecoin(base, last) is stable


async def test_unknown_and_empty_symbols_are_skipped_with_a_note(
    sim: Sim, gateway: CcxtGateway, store: CandleStore
) -> None:
    listed = sim.market.symbol("XELYKUSDT").listed_ms
    report = await download(
        gateway,
        store,
        None,
        symbols=["BTC/USDT", "NOPE/USDT", YOUNG],
        timeframe="1h",
        since_ms=listed - 20 * DAY,
        until_ms=listed - 2 * DAY,  # before the young symbol was listed
        chunk_candles=500,
    )
    results = by_symbol(report.symbols)
    assert results["BTC/USDT"].status is SymbolStatus.DOWNLOADED
    assert results["NOPE/USDT"].status is SymbolStatus.UNKNOWN
    assert "no such market" in results["NOPE/USDT"].note
    assert results["NOPE/USDT"].requests == 0
    assert results[YOUNG].status is SymbolStatus.EMPTY
    assert "no candles" in results[YOUNG].note
    assert store.info("sim", YOUNG, "1h").rows == 0
    assert "NOPE" in str(report.as_dict())


async def test_check_symbols_names_each_unknown_symbol(gateway: CcxtGateway) -> None:
    await check_symbols(gateway, ["BTC/USDT"])
    with pytest.raises(UnknownSymbolError, match=r"'BTC/USDX'.*BTC/USDT.*'NOPE/USDT'"):
        await check_symbols(gateway, ["BTC/USDX", "ETH/USDT", "NOPE/USDT"])


async def test_symbols_download_concurrently_within_the_bound(tmp_path: Path) -> None:
    for sim in serve(latency_ms=30):
        gateway = make_gateway(sim.url, None, None)
        try:
            await gateway.markets()
            sim.recording.most_in_flight = 0
            report = await download(
                gateway,
                CandleStore(tmp_path),
                None,
                symbols=["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ADA/USDT", "BNB/USDT"],
                timeframe="1h",
                since_ms=SINCE,
                until_ms=SINCE + 300 * H,
                chunk_candles=100,
                concurrency=3,
            )
        finally:
            await gateway.close()
        assert all(r.status is SymbolStatus.DOWNLOADED for r in report.symbols)
        assert 1 < sim.recording.most_in_flight <= 3


async def test_a_temporary_failure_is_retried(
    sim: Sim, gateway: CcxtGateway, store: CandleStore
) -> None:
    class FailOnce(SilentProgress):
        def advance(self, symbol: str, done: int, total: int) -> None:
            if done == 100:  # after the first page: the next request gets an HTTP 503
                sim.exchange.venue.faults.queue_once("error5xx")

    report = await download(
        gateway,
        store,
        None,
        symbols=["BTC/USDT"],
        timeframe="1h",
        since_ms=SINCE,
        until_ms=UNTIL,
        chunk_candles=100,
        progress=FailOnce(),
        retry_delays_s=(0.01,),
    )
    (result,) = report.symbols
    assert (result.status, result.requests, result.retries) == (SymbolStatus.DOWNLOADED, 6, 1)
    assert_same(store.read("sim", "BTC/USDT", "1h"), sim.reference("BTC/USDT", SINCE, UNTIL))


async def test_a_symbol_that_keeps_failing_is_reported_and_the_others_finish(
    sim: Sim, gateway: CcxtGateway, store: CandleStore
) -> None:
    class Flaky:
        """The real gateway, except that ETH's second page never answers."""

        def __init__(self, inner: CcxtGateway) -> None:
            self.inner = inner
            self.exchange_id = inner.exchange_id
            self.markets, self.fetch_time = inner.markets, inner.fetch_time
            self.fetch_tickers = inner.fetch_tickers

        async def fetch_ohlcv(self, symbol: str, timeframe: str, *args: Any) -> Candles:
            if symbol == "ETH/USDT" and args[0] > SINCE:
                raise ExchangeUnavailableError("sim did not answer (test)")
            return await self.inner.fetch_ohlcv(symbol, timeframe, *args)

    report = await download(
        Flaky(gateway),
        store,
        None,
        symbols=["ETH/USDT", "BTC/USDT"],
        timeframe="1h",
        since_ms=SINCE,
        until_ms=UNTIL,
        chunk_candles=100,
        retry_delays_s=(0.0, 0.0),
    )
    results = by_symbol(report.symbols)
    eth = results["ETH/USDT"]
    assert (eth.status, eth.retryable, eth.requests, eth.stored_rows) == (
        SymbolStatus.FAILED,
        True,
        4,  # the first page, then the second three times
        100,
    )
    assert "did not answer" in eth.note
    assert results["BTC/USDT"].stored_rows == 500


async def test_a_timeframe_the_exchange_lacks_stops_everything(
    gateway: CcxtGateway, store: CandleStore
) -> None:
    with pytest.raises(InvalidInputError, match="'7m'"):
        await download(
            gateway,
            store,
            None,
            symbols=["BTC/USDT", "ETH/USDT"],
            timeframe="7m",
            since_ms=SINCE,
            until_ms=UNTIL,
        )
    assert store.series() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": ["BTC/USDT"], "top_n": 3}, "not both"),
        ({}, "not neither"),
        ({"symbols": ["BTC/USDT"], "until_ms": SINCE}, "must be before until"),
        ({"symbols": ["BTC/USDT"], "concurrency": 0}, "found 0"),
        ({"symbols": ["BTC/USDT"], "since_ms": NOW + H}, "not before the exchange's clock"),
        ({"top_n": 0}, "found 0"),
    ],
)
async def test_bad_arguments_are_refused_naming_the_value(
    gateway: CcxtGateway, store: CandleStore, kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"timeframe": "1h", "since_ms": SINCE, **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        await download(gateway, store, None, **args)


async def test_a_damaged_file_fails_its_symbol_only(
    sim: Sim, gateway: CcxtGateway, store: CandleStore
) -> None:
    damaged = store.path("sim", "ETH/USDT", "1h")
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not parquet")
    report = await download(
        gateway,
        store,
        None,
        symbols=["ETH/USDT", "BTC/USDT"],
        timeframe="1h",
        since_ms=SINCE,
        until_ms=UNTIL,
    )
    results = by_symbol(report.symbols)
    assert results["ETH/USDT"].status is SymbolStatus.FAILED
    assert str(damaged) in results["ETH/USDT"].note
    assert not results["ETH/USDT"].retryable
    assert results["BTC/USDT"].stored_rows == 500
    assert damaged.read_bytes() == b"not parquet"
