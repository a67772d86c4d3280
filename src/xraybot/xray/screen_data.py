"""Where a screen's data comes from: the exchange now, or the stores as of a past time.

Both sides hand the chain the same things: a row per candidate from the first stage's data
(bulk tickers, or the point-in-time universe), closed candles for the survivors, and, live
only, order books for the shortlist. Live requests run concurrently under a semaphore
(``concurrency`` in flight) and the shared rate limiter sets the pace; every temporary
failure is retried a few times and then reported against its symbol, never dropped.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore
from xraybot.exchange.retry import with_retries
from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.errors import XraybotError
from xraybot.model.market import MarketKind
from xraybot.xray.config import ScreenConfig
from xraybot.xray.ports import ScreenBook, ScreenSource
from xraybot.xray.screen_features import depth_within
from xraybot.xray.screen_result import SymbolMetrics

T = TypeVar("T")
DAY_MS = 86_400_000
ATTEMPTS = 3  # per request: a temporary failure is retried twice before it is reported
MAX_RETRY_WAIT_S = 15.0
BOOK_LEVELS = 100


class ScreenProgress(Protocol):
    """Told what the screen is doing, for a progress bar."""

    def stage(self, description: str, total: int) -> None:
        """Start a stage of ``total`` steps."""
        ...

    def advance(self, steps: int = 1) -> None: ...


class _Quiet:
    def stage(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass


@dataclass(slots=True)
class Snapshot:
    """The first stage's input: every candidate, and what is already known to be wrong."""

    exchange: str
    now_ms: int
    rows: list[SymbolMetrics]
    problems: dict[str, str]  # symbol -> why it cannot be screened at all
    bases: frozenset[str]
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Fetched:
    """Closed candles by symbol, and a reason for each symbol that has none."""

    candles: dict[str, Candles]
    problems: dict[str, str]


class ScreenData(Protocol):
    """One side of the screen's data: live (:class:`LiveData`) or as of (:class:`StoredData`)."""

    requests: int
    has_books: bool

    async def snapshot(self) -> Snapshot: ...

    async def candles(self, symbols: Sequence[str]) -> Fetched: ...

    async def leader(self, symbol: str) -> Candles: ...

    async def depth(self, symbols: Sequence[str]) -> tuple[dict[str, float], dict[str, str]]: ...


def _row(
    symbol: str, last: float, volume: float, spread: float | None, days: float | None
) -> SymbolMetrics:
    return SymbolMetrics(symbol, last, volume, spread, days, None, None, None, None, None, ())


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%MZ")


def _is_candidate(symbol: str, quote: str) -> bool:
    base, _, rest = symbol.partition("/")
    return bool(base) and rest == quote  # spot only: a swap is BASE/QUOTE:SETTLE


class LiveData:
    """The exchange now: one bulk tickers call, then candles and books for survivors only."""

    def __init__(
        self, source: ScreenSource, config: ScreenConfig, progress: ScreenProgress | None
    ) -> None:
        self.source = source
        self.config = config
        self.progress = progress or _Quiet()
        self.requests = 0
        self.has_books = True
        self.now_ms = 0
        self._gate = asyncio.Semaphore(config.concurrency)
        self._fetched: dict[str, Candles] = {}
        quirks = getattr(source, "quirks", None)
        per_call = quirks.max_ohlcv(MarketKind.SPOT.value) if quirks is not None else 500
        limit = config.candles + 1  # the forming candle comes too, and is dropped
        # Past one page ccxt's pagination asks the clock once, then walks the pages.
        self._ohlcv_requests = 1 if limit <= per_call else math.ceil(limit / per_call) + 1

    async def _call(self, make: Callable[[], Awaitable[T]], requests: int = 1) -> T:
        async def attempt() -> T:
            self.requests += requests
            return await make()

        async with self._gate:
            return await with_retries(attempt, attempts=ATTEMPTS, max_wait_s=MAX_RETRY_WAIT_S)

    async def snapshot(self) -> Snapshot:
        source, quote = self.source, self.config.quote
        self.progress.stage("tickers (one bulk call)", 1)
        markets, (tickers, now_ms) = await asyncio.gather(
            source.markets(),
            asyncio.gather(
                self._call(lambda: source.fetch_tickers(None, MarketKind.SPOT)),
                self._call(source.fetch_time),
            ),
        )
        self.progress.advance()
        self.now_ms = now_ms
        rows: list[SymbolMetrics] = []
        problems: dict[str, str] = {}
        spot = sorted(
            (m for m in markets.values() if m.kind is MarketKind.SPOT and m.quote == quote),
            key=lambda m: m.symbol,
        )
        for market in spot:
            ticker = tickers.get(market.symbol)
            if ticker is None:
                rows.append(_row(market.symbol, math.nan, 0.0, None, None))
                problems[market.symbol] = "no ticker in the bulk answer"
                continue
            spread = None
            if ticker.bid is not None and ticker.ask is not None and ticker.bid > 0:
                spread = float((ticker.ask - ticker.bid) / ticker.bid * 100)
            rows.append(
                _row(
                    market.symbol, float(ticker.last), float(ticker.quote_volume_24h), spread, None
                )
            )
            if not market.active:
                problems[market.symbol] = f"inactive on {source.exchange_id}"
        bases = frozenset(m.base for m in markets.values())
        return Snapshot(source.exchange_id, now_ms, rows, problems, bases)

    async def candles(self, symbols: Sequence[str]) -> Fetched:
        config = self.config
        self.progress.stage(f"{config.timeframe} candles of {len(symbols)} symbols", len(symbols))
        fetched = Fetched({}, {})

        async def one(symbol: str) -> None:
            if symbol in self._fetched:  # the regime leader's, fetched first
                fetched.candles[symbol] = self._fetched[symbol]
                self.progress.advance()
                return
            try:
                candles = await self._call(
                    lambda: self.source.fetch_ohlcv(
                        symbol, config.timeframe, limit=config.candles + 1
                    ),
                    self._ohlcv_requests,
                )
            except XraybotError as e:
                fetched.problems[symbol] = f"candles could not be fetched: {e}"
            else:
                closed = candles.closed(self.now_ms).tail(config.candles)
                if len(closed):
                    fetched.candles[symbol] = closed
                else:
                    fetched.problems[symbol] = f"no closed {config.timeframe} candles"
            self.progress.advance()

        await asyncio.gather(*(one(s) for s in symbols))
        return fetched

    async def leader(self, symbol: str) -> Candles:
        """Return the regime leader's closed candles (one request, reused by stage 2)."""
        candles = await self._call(
            lambda: self.source.fetch_ohlcv(
                symbol, self.config.timeframe, limit=self.config.candles + 1
            ),
            self._ohlcv_requests,
        )
        closed = candles.closed(self.now_ms).tail(self.config.candles)
        if len(closed):
            self._fetched[symbol] = closed
        return closed

    async def depth(self, symbols: Sequence[str]) -> tuple[dict[str, float], dict[str, str]]:
        self.progress.stage(f"order books of {len(symbols)} symbols", len(symbols))
        found: dict[str, float] = {}
        problems: dict[str, str] = {}

        async def one(symbol: str) -> None:
            try:
                book: ScreenBook = await self._call(
                    lambda: self.source.fetch_order_book(symbol, BOOK_LEVELS)
                )
            except XraybotError as e:
                problems[symbol] = f"order book could not be fetched: {e}"
            else:
                value = depth_within(book, self.config.depth_pct)
                if value is None:
                    problems[symbol] = "the order book has an empty side"
                else:
                    found[symbol] = value
            self.progress.advance()

        await asyncio.gather(*(one(s) for s in symbols))
        return found, problems


class StoredData:
    """The stores as of a past time: nothing stored after ``as_of_ms`` is read."""

    def __init__(
        self,
        exchange: str,
        config: ScreenConfig,
        store: CandleStore,
        universe: UniverseStore,
        as_of_ms: int,
        progress: ScreenProgress | None,
    ) -> None:
        self.exchange = exchange
        self.config = config
        self.store = store
        self.universe = universe
        self.as_of_ms = as_of_ms
        self.progress = progress or _Quiet()
        self.requests = 0  # no exchange is asked anything
        self.has_books = False
        self._candles: dict[str, Candles] = {}

    def read(self, symbol: str) -> Candles:
        """Return the last ``candles`` candles that had closed by ``as_of_ms``."""
        tf_ms = timeframe_to_ms(self.config.timeframe)
        end = self.as_of_ms - tf_ms + 1  # open + timeframe <= as_of: closed by then
        start = end - (self.config.candles + 1) * tf_ms
        candles = self.store.read(self.exchange, symbol, self.config.timeframe, start, end)
        return candles.tail(self.config.candles)

    async def snapshot(self) -> Snapshot:
        config, as_of = self.config, self.as_of_ms
        listed = [
            r
            for r in self.universe.as_of(self.exchange, as_of)
            if _is_candidate(r.symbol, config.quote)
        ]
        self.progress.stage(f"stored {config.timeframe} candles as of {_day(as_of)}", len(listed))
        rows: list[SymbolMetrics] = []
        problems: dict[str, str] = {}
        for entry in sorted(listed, key=lambda r: r.symbol):
            # The price comes from the candles, so every candidate's are read up front.
            candles = await asyncio.to_thread(self.read, entry.symbol)
            self.progress.advance()
            last = float(candles.close[-1]) if len(candles) else math.nan
            days = (as_of - entry.listed_ms) / DAY_MS
            rows.append(_row(entry.symbol, last, entry.quote_volume_24h, None, days))
            if entry.delisted_ms is not None:
                problems[entry.symbol] = f"delisted: no candle after {_day(entry.delisted_ms)}"
            elif not len(candles):
                problems[entry.symbol] = f"no {config.timeframe} candles stored before as-of"
            else:
                self._candles[entry.symbol] = candles
        bases = frozenset(r.symbol.partition("/")[0] for r in listed)
        notes = [
            "as of a past time: no spread filter (tickers are not stored); 24h volume is the "
            "last complete UTC day's; listing age counts from the first stored candle",
        ]
        if config.min_depth_quote is not None:
            notes.append("as of a past time: no depth filter (order books are not stored)")
        return Snapshot(self.exchange, as_of, rows, problems, bases, notes)

    async def candles(self, symbols: Sequence[str]) -> Fetched:
        return Fetched({s: self._candles[s] for s in symbols}, {})

    async def leader(self, symbol: str) -> Candles:
        return await asyncio.to_thread(self.read, symbol)

    async def depth(self, symbols: Sequence[str]) -> tuple[dict[str, float], dict[str, str]]:
        return {}, {}
