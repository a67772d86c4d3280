"""History downloads against the real simulator, through the real ccxt client and gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pytest

from tests.support.servers import serve_asgi
from tests.support.sim import START_MS, make_gateway
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
from xraybot.sim.app import create_app
from xraybot.sim.config import RateLimits, SimConfig
from xraybot.sim.exchange import SimExchange
from xraybot.sim.market import Quote, SimSymbol, Stats24h
from xraybot.sim.synthetic import SyntheticMarket

H = 3_600_000
DAY = 24 * H
NOW = START_MS  # the simulator's clock, frozen; 13 min 20 s into an hour
HOUR_START = NOW // H * H  # the candle still forming at NOW
YOUNG = "XELYK/USDT"  # listed 66 days before NOW in this universe
# Leveraged tokens and stablecoins, trading 100× more than anything real, priced off a major.
JUNK = {"BTCUP": "BTC", "BTCDOWN": "BTC", "ETH3L": "ETH", "ETH3S": "ETH", "BULL": "BTC"}
JUNK |= {"USDC": "BTC", "FDUSD": "ETH"}
LEGIT = {"JUP": "SOL"}  # ends in UP but is a coin: must be picked


class JunkMarket:
    """The synthetic universe plus junk a top-N pick must skip, all of it very liquid."""

    def __init__(self, inner: SyntheticMarket) -> None:
        self.inner = inner
        self.clock = inner.clock
        self._extra = {
            f"{base}USDT": (
                f"{source}USDT",
                SimSymbol(
                    base=base,
                    quote="USDT",
                    price_tick=inner.symbol(f"{source}USDT").price_tick,
                    amount_tick=Decimal("0.0001"),
                    min_notional=Decimal(1),
                    maker_fee=Decimal(0),
                    taker_fee=Decimal("0.0005"),
                    spread_bps=2.0,
                    listed_ms=inner.symbol(f"{source}USDT").listed_ms,
                ),
            )
            for base, source in (JUNK | LEGIT).items()
        }

    def _source(self, symbol_id: str) -> str:
        extra = self._extra.get(symbol_id)
        return extra[0] if extra is not None else symbol_id

    def symbols(self) -> Sequence[SimSymbol]:
        return [*self.inner.symbols(), *(s for _, s in self._extra.values())]

    def symbol(self, symbol_id: str) -> SimSymbol:
        extra = self._extra.get(symbol_id)
        return extra[1] if extra is not None else self.inner.symbol(symbol_id)

    def quote(self, symbol_id: str) -> Quote:
        return self.inner.quote(self._source(symbol_id))

    def candles(self, symbol_id: str, timeframe: str, start_ms: int, end_ms: int) -> Candles:
        return self.inner.candles(self._source(symbol_id), timeframe, start_ms, end_ms)

    def stats_24h(self, symbol_id: str) -> Stats24h:
        stats = self.inner.stats_24h(self._source(symbol_id))
        if symbol_id not in self._extra:
            return stats
        scale = 100.0
        return Stats24h(
            open=stats.open,
            high=stats.high,
            low=stats.low,
            last=stats.last,
            base_volume=stats.base_volume * scale,
            quote_volume=stats.quote_volume * scale,
            open_ms=stats.open_ms,
            close_ms=stats.close_ms,
        )


class Recording:
    """ASGI wrapper noting every request the simulator receives, and the most at once."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.in_flight = self.most_in_flight = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(scope["query_string"].decode()))
        self.requests.append((scope["path"], query))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


@dataclass
class Sim:
    url: str
    market: SyntheticMarket
    exchange: SimExchange
    recording: Recording
    stores: list[Path] = field(default_factory=list)

    def klines(self) -> list[dict[str, str]]:
        """Return the query of every klines request so far, and forget them."""
        found = [q for path, q in self.recording.requests if path == "/api/v3/klines"]
        self.recording.requests.clear()
        return found

    def reference(self, symbol: str, start_ms: int, end_ms: int, timeframe: str = "1h") -> Candles:
        """Return the simulator's own closed candles of ``symbol`` in [start, end)."""
        spot_id = symbol.replace("/", "")
        return self.market.candles(spot_id, timeframe, start_ms, end_ms).closed(
            self.market.clock.now_ms()
        )


class HandClock:
    """Simulated time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = NOW

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        self.now += ms
        return self.now


def serve(latency_ms: int = 0, rate_limits: bool = False) -> Iterator[Sim]:
    """Serve a simulator over 40 synthetic symbols plus junk, its clock stopped at NOW."""
    market = SyntheticMarket(HandClock(), n_symbols=40, seed=7)
    config = SimConfig(
        match_interval_ms=0, latency_ms=latency_ms, rate_limits=RateLimits(enabled=rate_limits)
    )
    app = create_app(config, JunkMarket(market))
    recording = Recording(app)
    with serve_asgi(recording) as url:
        yield Sim(url, market, app.state.exchange, recording)


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
