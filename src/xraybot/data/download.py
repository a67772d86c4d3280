"""History downloads: many symbols at once, paced by the shared limiter, resumable, never forming.

Each symbol is walked in windows of ``chunk_candles`` (the exchange's per-call maximum, so
one window is one request) and what arrives is written to the :class:`CandleStore` as it
goes: an interrupted download keeps what it fetched, and the next run resumes from it.
What a run fetches for one symbol, given what is stored (first F, last L):

- nothing stored: forward over ``[since, end)``;
- the tail: forward over ``[max(since, L), end)``, L itself again because a candle stored
  by someone else (an import) may have been incomplete;
- the head, when ``since < F``: backward from F, stopping at the first empty window (the
  listing), so a young symbol costs one request per rerun instead of a walk over the
  years before it existed.

``end`` is ``until_ms`` or the exchange's clock at the start, and candles that have not
closed by then are dropped, so a still-forming candle is never stored. Requests go through
the gateway's client, whose limiter paces every symbol together; ``concurrency`` only
bounds how many symbols are in flight. A request failing temporarily is sent again after
a backoff; a symbol that still fails, is unknown, or has no candles in the range is
reported with a note and the others go on. At the end (or on cancellation) the daily
volumes of what was stored go into the point-in-time universe, in one rewrite of its file.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import numpy as np
import structlog

from xraybot.data.download_symbols import (
    STABLECOINS,
    check_symbols,
    is_leveraged_token,
    is_stablecoin,
    select_top,
)
from xraybot.data.ports import MarketSource, VolumeTicker
from xraybot.data.store import CandleStore
from xraybot.data.universe import UniverseStore
from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.errors import (
    DataValidationError,
    InvalidInputError,
    RateLimitError,
    StorageError,
    TemporaryError,
    UnknownSymbolError,
    XraybotError,
)
from xraybot.model.market import Market

T = TypeVar("T")
log = structlog.get_logger(__name__)
DAY_MS = 86_400_000
DEFAULT_CHUNK = 500  # MEXC spot's per-call maximum through ccxt
# Symbols in flight. The limiter sets the pace; this only has to cover the round trip:
# 50 requests/s at 300 ms each (a far exchange) need 15 in flight.
DEFAULT_CONCURRENCY = 16
DEFAULT_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)


class SymbolStatus(StrEnum):
    DOWNLOADED = "downloaded"  # new candles stored
    UP_TO_DATE = "up_to_date"  # nothing new since the last run
    EMPTY = "empty"  # the exchange has no candles in the range (delisted, not yet listed)
    UNKNOWN = "unknown"  # the exchange lists no such market
    FAILED = "failed"  # gave up; what was fetched before is stored


@dataclass(frozen=True, slots=True, kw_only=True)
class SymbolReport:
    symbol: str
    status: SymbolStatus
    requests: int = 0  # OHLCV requests sent, retries included
    retries: int = 0
    fetched: int = 0  # closed candles received
    added: int = 0  # rows new to the store
    stored_rows: int = 0  # rows stored after the run
    first_ms: int | None = None  # stored range after the run
    last_ms: int | None = None
    note: str = ""
    retryable: bool = False  # FAILED on a temporary error: running again may finish it


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadReport:
    exchange: str
    timeframe: str
    since_ms: int
    until_ms: int  # exclusive end actually used (the exchange's clock when not given)
    symbols: tuple[SymbolReport, ...]
    excluded: tuple[str, ...] = ()  # junk skipped while picking the top N
    elapsed_s: float = 0.0

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.symbols)

    @property
    def added(self) -> int:
        return sum(s.added for s in self.symbols)

    def with_status(self, *statuses: SymbolStatus) -> tuple[SymbolReport, ...]:
        return tuple(s for s in self.symbols if s.status in statuses)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "exchange": self.exchange,
            "timeframe": self.timeframe,
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "elapsed_s": round(self.elapsed_s, 3),
            "requests": self.requests,
            "added": self.added,
            "excluded": list(self.excluded),
            "symbols": [{**asdict(s), "status": s.status.value} for s in self.symbols],
        }


class DownloadProgress(Protocol):
    """Receives progress; candles count the slots of the range walked, found or not."""

    def begin(self, symbols: int) -> None: ...
    def advance(self, symbol: str, done: int, total: int) -> None: ...
    def finished(self, report: SymbolReport) -> None: ...


class SilentProgress:
    """A progress sink that shows nothing (tests, scripts)."""

    def begin(self, symbols: int) -> None:
        pass

    def advance(self, symbol: str, done: int, total: int) -> None:
        pass

    def finished(self, report: SymbolReport) -> None:
        pass


# -- downloading ------------------------------------------------------------------------------


async def download(
    gateway: MarketSource,
    store: CandleStore,
    universe: UniverseStore | None,
    *,
    exchange_id: str | None = None,
    symbols: Sequence[str] | None = None,
    top_n: int | None = None,
    timeframe: str,
    since_ms: int,
    until_ms: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    chunk_candles: int | Mapping[str, int] = DEFAULT_CHUNK,
    progress: DownloadProgress | None = None,
    retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S,
) -> DownloadReport:
    """Download ``symbols`` (or the ``top_n`` by volume) into ``store``; see the module doc.

    ``exchange_id`` names the store's folder (default: the gateway's); ``chunk_candles`` is
    the per-request maximum, or one per market kind ("spot", "swap"). Unknown, empty and
    failed symbols are reported, not raised; input errors (a timeframe the exchange does
    not offer) and operational ones stop every symbol and are raised.
    """
    started = time.monotonic()
    tf_ms = timeframe_to_ms(timeframe)
    if (symbols is None) == (top_n is None):
        raise InvalidInputError(
            "give either symbols or top_n (how many of the most traded markets), not "
            f"{'both' if symbols is not None else 'neither'}."
        )
    chunks = {"": chunk_candles} if isinstance(chunk_candles, int) else dict(chunk_candles)
    if concurrency < 1 or min(chunks.values(), default=0) < 1:
        raise InvalidInputError(
            f"concurrency and chunk_candles must be >= 1; found {concurrency} and {chunk_candles}."
        )
    if until_ms is not None and until_ms <= since_ms:
        raise InvalidInputError(
            f"since ({since_ms} ms) must be before until ({until_ms} ms); swap or fix them."
        )
    retry = _Retry(tuple(retry_delays_s))
    now_ms = await retry(gateway.fetch_time)
    if since_ms >= now_ms:
        raise InvalidInputError(
            f"since ({since_ms} ms) is not before the exchange's clock ({now_ms} ms); "
            "give a date in the past."
        )
    markets = await retry(gateway.markets)
    excluded: list[str] = []
    if top_n is not None:
        wanted, excluded = await retry(lambda: select_top(gateway, top_n))
    else:
        wanted = list(dict.fromkeys(symbols or ()))
    job = _Job(
        gateway=gateway,
        store=store,
        exchange=exchange_id or gateway.exchange_id,
        timeframe=timeframe,
        tf_ms=tf_ms,
        since_ms=since_ms,
        end_ms=now_ms if until_ms is None else min(until_ms, now_ms),
        now_ms=now_ms,
        chunks=chunks,
        markets=markets,
        progress=progress or SilentProgress(),
        retry=retry,
        executor=concurrent.futures.ThreadPoolExecutor(concurrency, "xraybot-download"),
    )
    gate = asyncio.Semaphore(concurrency)
    runs = [_SymbolRun(job, s) for s in wanted]

    async def one(run: _SymbolRun) -> SymbolReport:
        async with gate:
            return await run.run()

    job.progress.begin(len(runs))
    tasks = [asyncio.create_task(one(r), name=f"download {r.symbol}") for r in runs]
    try:
        # The first fatal error (a timeframe not offered, refused keys) stops every symbol.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error
        results = tuple(t.result() for t in tasks)
        if universe is not None:
            await asyncio.to_thread(_record_universe, job, universe, runs)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if universe is not None:
            try:  # what was stored counts, cancelled or not
                _record_universe(job, universe, runs)
            except XraybotError as e:  # the first error is the one to raise
                log.warning("universe not recorded", exchange=job.exchange, error=str(e))
        raise
    finally:
        job.executor.shutdown(wait=True)
    return DownloadReport(
        exchange=job.exchange,
        timeframe=timeframe,
        since_ms=since_ms,
        until_ms=job.end_ms,
        symbols=results,
        excluded=tuple(excluded),
        elapsed_s=time.monotonic() - started,
    )


class _Retry:
    """Await a read again after temporary failures, waiting Retry-After when given."""

    def __init__(self, delays_s: tuple[float, ...]) -> None:
        self.delays_s = delays_s

    async def __call__(self, call: Callable[[], Awaitable[T]], tries: list[int] | None = None) -> T:
        for attempt in range(len(self.delays_s) + 1):
            if tries is not None:
                tries.append(attempt)
            try:
                return await call()
            except TemporaryError as e:
                if attempt == len(self.delays_s):
                    raise
                wait = self.delays_s[attempt]
                if isinstance(e, RateLimitError) and e.retry_after_s is not None:
                    wait = max(wait, e.retry_after_s)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass(slots=True, kw_only=True)
class _Job:
    gateway: MarketSource
    store: CandleStore
    exchange: str
    timeframe: str
    tf_ms: int
    since_ms: int
    end_ms: int
    now_ms: int
    chunks: dict[str, int]  # per-request maximum by market kind ("" for any)
    markets: Mapping[str, Market]
    progress: DownloadProgress
    retry: _Retry
    executor: concurrent.futures.ThreadPoolExecutor

    def slots(self, start: int, end: int) -> int:
        return max(0, -(-(end - start) // self.tf_ms))


def _record_universe(job: _Job, universe: UniverseStore, runs: Sequence[_SymbolRun]) -> None:
    """Record daily volumes of what this run stored, rewriting the universe file once."""
    if DAY_MS % job.tf_ms:
        return  # weekly candles say nothing about single days
    series = [
        job.store.read(job.exchange, r.symbol, job.timeframe, r.written[0], r.written[1] + 1)
        for r in runs
        if r.written is not None
    ]
    universe.record_many_from_candles(job.exchange, series)


class _SymbolRun:
    """One symbol's walk: windows fetched with retries, buffered, flushed to the store."""

    def __init__(self, job: _Job, symbol: str) -> None:
        self.job = job
        self.symbol = symbol
        self.tries: list[int] = []  # one entry per request sent (its attempt number)
        self.fetched = self.added = self.stored = self.done = self.total = 0
        self.buffer: list[Candles] = []
        self.writing: tuple[concurrent.futures.Future[None], Candles] | None = None
        self.written: tuple[int, int] | None = None  # ts range this run wrote

    def _report(self, status: SymbolStatus, **fields: Any) -> SymbolReport:
        report = SymbolReport(
            symbol=self.symbol,
            status=status,
            requests=len(self.tries),
            retries=sum(1 for t in self.tries if t),
            fetched=self.fetched,
            added=self.added,
            **fields,
        )
        self.job.progress.finished(report)
        return report

    async def run(self) -> SymbolReport:
        job = self.job
        market = job.markets.get(self.symbol)
        if market is None:
            note = f"{job.gateway.exchange_id} lists no such market (delisted or misspelt)"
            return self._report(SymbolStatus.UNKNOWN, note=note)
        chunk_ms = job.chunks.get(market.kind.value, min(job.chunks.values())) * job.tf_ms
        try:
            info = await asyncio.to_thread(job.store.info, job.exchange, self.symbol, job.timeframe)
            self.stored = info.rows
            head, tail = (0, 0), (job.since_ms, job.end_ms)
            if info.first_ms is not None and info.last_ms is not None:
                if info.first_ms - job.tf_ms >= job.since_ms:  # a whole candle may precede it
                    head = (job.since_ms, min(info.first_ms, job.end_ms))
                tail = (max(job.since_ms, info.last_ms), job.end_ms)
            self.total = job.slots(*head) + job.slots(*tail)
            job.progress.advance(self.symbol, 0, self.total)
            await self._walk_back(*head, chunk_ms)
            await self._flush()
            await self._walk_forward(*tail, chunk_ms)
            await self._flush()
        except (TemporaryError, DataValidationError, StorageError, UnknownSymbolError) as e:
            if not isinstance(e, StorageError):  # a damaged file takes no more rows
                self._flush_now()
            if isinstance(e, UnknownSymbolError | StorageError):
                unknown = isinstance(e, UnknownSymbolError)
                status = SymbolStatus.UNKNOWN if unknown else SymbolStatus.FAILED
                return self._report(status, note=str(e))
            failed: tuple[str, bool] | None = (str(e), isinstance(e, TemporaryError))
        except BaseException:
            self._flush_now()  # cancelled or fatal: keep what arrived
            raise
        else:
            failed = None
        after = await asyncio.to_thread(job.store.info, job.exchange, self.symbol, job.timeframe)
        stored = {"stored_rows": after.rows, "first_ms": after.first_ms, "last_ms": after.last_ms}
        if failed is not None:
            return self._report(SymbolStatus.FAILED, note=failed[0], retryable=failed[1], **stored)
        if self.added:
            return self._report(SymbolStatus.DOWNLOADED, **stored)
        in_range = after.rows and (after.first_ms or 0) < job.end_ms
        if in_range and (after.last_ms or 0) >= job.since_ms:
            return self._report(SymbolStatus.UP_TO_DATE, **stored)
        note = f"no candles on {job.gateway.exchange_id} in the range asked"
        return self._report(SymbolStatus.EMPTY, note=note, **stored)

    async def _walk_forward(self, start: int, end: int, chunk_ms: int) -> None:
        cursor = start
        while cursor < end:
            stop = min(end, cursor + chunk_ms)
            await self._take(await self._fetch(cursor, stop), cursor, stop)
            cursor = stop

    async def _walk_back(self, start: int, end: int, chunk_ms: int) -> None:
        cursor = end
        while cursor > start:
            lo = max(start, cursor - chunk_ms)
            page = await self._fetch(lo, cursor)
            await self._take(page, lo, cursor)
            if not len(page):  # before the listing: nothing older is expected
                self._advance(self.job.slots(start, lo))
                return
            cursor = lo

    def _advance(self, slots: int) -> None:
        self.done += slots
        self.job.progress.advance(self.symbol, self.done, self.total)

    async def _fetch(self, start: int, end: int) -> Candles:
        job = self.job
        page = await job.retry(
            lambda: job.gateway.fetch_ohlcv(self.symbol, job.timeframe, start, end), self.tries
        )
        return page.closed(job.now_ms)

    async def _take(self, page: Candles, start: int, end: int) -> None:
        self._advance(self.job.slots(start, end))
        if not len(page):
            return
        self.fetched += len(page)
        self.buffer.append(page)
        # Every write rewrites the series: flushing once the buffer holds an eighth of what
        # is stored keeps the total work linear in the series' length.
        if sum(map(len, self.buffer)) * 8 >= self.stored:
            await self._flush()

    def _merged_buffer(self) -> Candles | None:
        pages, self.buffer = sorted(self.buffer, key=lambda c: int(c.ts_ms[0])), []
        if len(pages) <= 1:
            return pages[0] if pages else None
        columns = [
            np.concatenate([getattr(p, name) for p in pages])
            for name in ("ts_ms", "open", "high", "low", "close", "volume")
        ]
        return Candles(self.symbol, self.job.timeframe, *columns)

    async def _flush(self) -> None:
        candles = self._merged_buffer()
        if candles is None:
            return
        future = self.job.executor.submit(self._write, candles)
        self.writing = (future, candles)
        try:
            await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            raise  # _flush_now finishes the write
        except BaseException:
            self.writing = None
            raise
        self.writing = None

    def _flush_now(self) -> None:
        """Finish writing synchronously (cancelled or failing): no fetched row is lost."""
        if self.writing is not None:
            future, candles = self.writing
            self.writing = None
            if future.cancelled():  # never started
                self._write(candles)
            else:
                future.exception()  # wait for the write in flight; it owns those rows
        rest = self._merged_buffer()
        if rest is not None:
            self._write(rest)

    def _write(self, candles: Candles) -> None:
        written = self.job.store.write(self.job.exchange, candles)
        self.added += written.added
        self.stored = written.rows
        lo, hi = int(candles.ts_ms[0]), int(candles.ts_ms[-1])
        if self.written is not None:
            lo, hi = min(lo, self.written[0]), max(hi, self.written[1])
        self.written = (lo, hi)


__all__ = [
    "STABLECOINS",
    "DownloadProgress",
    "DownloadReport",
    "MarketSource",
    "SilentProgress",
    "SymbolReport",
    "SymbolStatus",
    "VolumeTicker",
    "check_symbols",
    "download",
    "is_leveraged_token",
    "is_stablecoin",
    "select_top",
]
