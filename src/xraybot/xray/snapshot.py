"""A market snapshot for the X-ray: 24h tickers and closed candles of the chosen symbols.

Symbols are either given or the top N spot markets by 24h quote volume, ranked from ONE
bulk tickers call (leveraged tokens and stablecoins are skipped and named, as the data
layer's downloads do). The leader (BTC/USDT) is always fetched: the market regime needs it.
Every symbol's candles end at the same closed candle (the exchange's clock, read once), so
they share one time grid. Requests run concurrently; the gateway's limiter sets the pace.
A symbol that fails is reported with the reason and the others go on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from xraybot.data.download_symbols import check_symbols, rank_by_volume
from xraybot.exchange.port import Ticker
from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.errors import InvalidInputError, XraybotError
from xraybot.model.market import Market, MarketKind

DEFAULT_CONCURRENCY = 16
DEFAULT_TOP = 30
DEFAULT_CANDLES = 500


class SnapshotSource(Protocol):
    """Markets, tickers, candles and the clock (``exchange.ccxt_gateway.CcxtGateway``)."""

    @property
    def exchange_id(self) -> str: ...

    async def markets(self) -> Mapping[str, Market]: ...

    async def fetch_time(self) -> int: ...

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, kind: MarketKind = MarketKind.SPOT
    ) -> Mapping[str, Ticker]: ...

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles: ...


class SnapshotProgress(Protocol):
    """Receives progress while candles are fetched."""

    def begin(self, symbols: int) -> None: ...
    def fetched(self, symbol: str) -> None: ...


class SilentProgress:
    """A progress sink that shows nothing (tests, scripts)."""

    def begin(self, symbols: int) -> None:
        pass

    def fetched(self, symbol: str) -> None:
        pass


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketSnapshot:
    """What the X-ray looks at: closed candles and 24h tickers of the chosen symbols."""

    exchange: str
    timeframe: str
    until_ms: int  # exclusive end: every candle opened before it and has closed
    symbols: tuple[str, ...]  # in ranking (or given) order, leader included
    candles: Mapping[str, Candles]  # symbols whose candles arrived
    tickers: Mapping[str, Ticker]
    failed: Mapping[str, str] = field(default_factory=dict)  # symbol -> why no candles
    excluded: tuple[str, ...] = ()  # junk skipped while ranking the top N
    added_leader: str | None = None  # the leader, when only the regime asked for it
    requests: int = 0  # gateway calls (one candle call may be several pages)
    elapsed_s: float = 0.0


async def take_snapshot(
    source: SnapshotSource,
    *,
    symbols: Sequence[str] | None = None,
    top_n: int | None = None,
    timeframe: str = "1h",
    candles: int = DEFAULT_CANDLES,
    leader: str = "BTC/USDT",
    quote: str = "USDT",
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: SnapshotProgress | None = None,
) -> MarketSnapshot:
    """Fetch tickers and the last ``candles`` closed candles of the chosen symbols."""
    if (symbols is None) == (top_n is None):
        raise InvalidInputError(
            "choose the symbols either by name or as the top N by volume; found "
            f"{'both' if symbols is not None else 'neither'}."
        )
    if candles < 2:
        raise InvalidInputError(f"candles must be at least 2 per symbol; found {candles}.")
    if concurrency < 1:
        raise InvalidInputError(f"concurrency must be at least 1; found {concurrency}.")
    tf_ms = timeframe_to_ms(timeframe)
    sink = progress or SilentProgress()
    started = time.perf_counter()
    markets = await source.markets()
    requests = 0
    excluded: list[str] = []
    if symbols is not None:
        chosen = list(dict.fromkeys(symbols))
        await check_symbols(source, chosen)
        wanted = chosen if leader in chosen or leader not in markets else [*chosen, leader]
        tickers = dict(await source.fetch_tickers(wanted, MarketKind.SPOT))
        requests += 1
    else:
        if top_n is None or top_n < 1:
            raise InvalidInputError(f"top N must be at least 1; found {top_n}.")
        every = await source.fetch_tickers(None, MarketKind.SPOT)
        requests += 1
        chosen, excluded = rank_by_volume(markets, every, top_n, quote)
        wanted = chosen if leader in chosen or leader not in markets else [*chosen, leader]
        tickers = {s: every[s] for s in wanted if s in every}
    added_leader = leader if leader in wanted and leader not in chosen else None
    now_ms = await source.fetch_time()
    requests += 1
    until_ms = now_ms // tf_ms * tf_ms  # the forming candle opens here: stop before it
    sink.begin(len(wanted))
    gate = asyncio.Semaphore(concurrency)
    fetched: dict[str, Candles] = {}
    failed: dict[str, str] = {}

    async def one(symbol: str) -> None:
        async with gate:
            try:
                series = await source.fetch_ohlcv(
                    symbol, timeframe, since_ms=None, until_ms=until_ms, limit=candles
                )
            except XraybotError as e:
                failed[symbol] = f"{type(e).__name__}: {e}"
            else:
                closed = series.closed(now_ms)
                if len(closed):
                    fetched[symbol] = closed
                else:
                    failed[symbol] = "the exchange returned no closed candles"
            finally:
                sink.fetched(symbol)

    await asyncio.gather(*(one(s) for s in wanted))
    requests += len(wanted)
    return MarketSnapshot(
        exchange=source.exchange_id,
        timeframe=timeframe,
        until_ms=until_ms,
        symbols=tuple(wanted),
        candles={s: fetched[s] for s in wanted if s in fetched},
        tickers=tickers,
        failed={s: failed[s] for s in wanted if s in failed},
        excluded=tuple(excluded),
        added_leader=added_leader,
        requests=requests,
        elapsed_s=time.perf_counter() - started,
    )
