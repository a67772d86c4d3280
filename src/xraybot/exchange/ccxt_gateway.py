"""The live adapter of the ExchangeGateway port, over a ccxt async (or ccxt.pro) client.

The gateway never creates clients (exchange/pool.py does) and never branches on the
exchange's name: differences come from its :class:`ExchangeQuirks` record. Every ccxt
call runs inside :func:`translating`, so callers only ever see the model error tree;
ccxt's dicts become model types in exchange/parsing.py, orders in exchange/ordering.py.
"""

from __future__ import annotations

import asyncio
import difflib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import structlog

from xraybot.exchange.account_parsing import parse_balances, parse_position
from xraybot.exchange.errors import translating
from xraybot.exchange.ordering import OrderDesk
from xraybot.exchange.paging import Row, collect_candles
from xraybot.exchange.parsing import (
    SkippedMarket,
    Source,
    parse_market,
    parse_ohlcv_rows,
    parse_order_book,
    parse_ticker,
    rows_to_arrays,
)
from xraybot.exchange.port import (
    Balance,
    OrderBook,
    OrderReport,
    PositionReport,
    Ticker,
    TradeReport,
)
from xraybot.exchange.quirks import ExchangeQuirks
from xraybot.model.candles import Candles, timeframe_to_ms
from xraybot.model.errors import DataValidationError, InvalidInputError, UnknownSymbolError
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import Order

log = structlog.get_logger(__name__)

T = TypeVar("T")
MarketsLoader = Callable[[], Awaitable[Mapping[str, Any]]]


class CcxtGateway:
    """An exchange account through ccxt: public market data, and trading when keyed."""

    def __init__(
        self,
        client: Any,
        quirks: ExchangeQuirks,
        *,
        markets_loader: MarketsLoader | None = None,
        lookup_delays_s: Sequence[float] = (0.25, 0.5, 1.0, 2.0),
    ) -> None:
        """Wrap ``client``; ``markets_loader`` returns ccxt markets shared by the pool."""
        self._client = client
        self._quirks = quirks
        self._markets_loader = markets_loader
        self._raw_markets: Mapping[str, Any] | None = None
        self._markets: dict[str, Market] = {}
        self._refused: dict[str, str] = {}  # symbol -> why its market data was refused
        self._load_lock = asyncio.Lock()
        self._orders = OrderDesk(self, client, quirks, lookup_delays_s=tuple(lookup_delays_s))

    @property
    def exchange_id(self) -> str:
        return self._quirks.exchange_id

    @property
    def quirks(self) -> ExchangeQuirks:
        return self._quirks

    @property
    def has_websockets(self) -> bool:
        """Return whether ``watch_ticker``/``watch_ohlcv`` stream (else they poll)."""
        return self._quirks.supports_watch_ticker and hasattr(self._client, "watch_ticker")

    @property
    def rate_limit_ms(self) -> float:
        """Return ccxt's pacing for this exchange: milliseconds per unit of request cost."""
        return float(getattr(self._client, "rateLimit", 0) or 50)

    async def call(self, action: str, method: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``method(*args)`` on the client, translating its failures (see errors.py)."""
        with translating(self.exchange_id, action, client=self._client):
            return await method(*args)

    def now_ms(self) -> int:
        """Return the local clock in ms, for answers that carry no time of their own."""
        return int(self._client.milliseconds())

    # -- markets --------------------------------------------------------------------------

    async def markets(self) -> dict[str, Market]:
        """Return every spot and linear swap market by unified symbol (loaded once).

        Active means tradable by the exchange's own status fields where the quirks say
        ccxt's ``active`` is wrong (MEXC); inactive markets are kept, flagged, not dropped.
        """
        raw = await self._load_raw_markets()
        if raw is not self._raw_markets:
            self._convert_markets(raw)
        return self._markets

    async def market(self, symbol: str) -> Market:
        """Return the market for ``symbol``, or raise UnknownSymbolError before any request."""
        markets = await self.markets()
        found = markets.get(symbol)
        if found is not None:
            return found
        reason = self._refused.get(symbol)
        if reason is not None:
            raise UnknownSymbolError(f"{symbol!r} is unusable on {self.exchange_id}: {reason}")
        close = difflib.get_close_matches(symbol, list(markets), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownSymbolError(
            f"{self.exchange_id} lists no market {symbol!r}; symbols look like BTC/USDT (spot) "
            f"or BTC/USDT:USDT (linear swap).{hint}"
        )

    async def _load_raw_markets(self) -> Mapping[str, Any]:
        if self._markets_loader is not None:
            raw = await self._markets_loader()
            if raw is not self._raw_markets and getattr(self._client, "markets", None) is not raw:
                # Once per (re)load: the client needs them to resolve symbols to ids.
                self._client.set_markets(raw)
            return raw
        if self._raw_markets is not None and self._client.markets is self._raw_markets:
            return self._raw_markets
        async with self._load_lock:
            if self._client.markets is None:
                await self.call("load markets", self._client.load_markets)
            return self._client.markets  # type: ignore[no-any-return]

    def _convert_markets(self, raw: Mapping[str, Any]) -> None:
        markets: dict[str, Market] = {}
        refused: dict[str, str] = {}
        skipped: Counter[str] = Counter()
        for symbol, entry in raw.items():
            try:
                market = parse_market(
                    entry,
                    exchange_id=self.exchange_id,
                    quirks=self._quirks,
                    precision_mode=self._client.precisionMode,
                )
            except SkippedMarket as e:
                skipped[e.kind] += 1
                continue
            except DataValidationError as e:
                # One malformed listing must not take the whole universe down with it.
                refused[str(symbol)] = str(e)
                log.warning("market refused", exchange=self.exchange_id, reason=str(e))
                continue
            markets[market.symbol] = market
        if skipped:
            log.debug("markets skipped", exchange=self.exchange_id, **dict(skipped))
        self._markets, self._refused, self._raw_markets = markets, refused, raw

    # -- market data ----------------------------------------------------------------------

    async def fetch_time(self) -> int:
        """Return the exchange's clock in ms."""
        value = await self.call("read the server time", self._client.fetch_time)
        return Source(self.exchange_id, "server time").ts_ms(value, "time")

    async def fetch_ticker(self, symbol: str) -> Ticker:
        market = await self.market(symbol)
        raw = await self.call(f"fetch the ticker of {symbol}", self._client.fetch_ticker, symbol)
        return parse_ticker(raw, market, self._quirks, now_ms=self.now_ms())

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, kind: MarketKind = MarketKind.SPOT
    ) -> dict[str, Ticker]:
        """Return tickers for ``symbols`` (one call per market kind), or all of ``kind``.

        Asked by symbol, a malformed ticker raises; the whole-market form skips it with a
        warning instead, so one broken listing cannot blind a screener to 2,000 others.
        """
        await self.markets()  # the pool's shared markets, before ccxt loads its own
        if symbols is None:
            raw = await self.call(
                f"fetch all {kind} tickers", self._client.fetch_tickers, None, {"type": kind.value}
            )
            return self._tickers(raw, {kind}, strict=False)
        wanted = [await self.market(s) for s in symbols]
        result: dict[str, Ticker] = {}
        for group_kind in sorted({m.kind for m in wanted}):
            group = [m.symbol for m in wanted if m.kind is group_kind]
            raw = await self.call(
                f"fetch {len(group)} {group_kind} tickers",
                self._client.fetch_tickers,
                group,
                {"type": group_kind.value},
            )
            result.update(self._tickers(raw, {group_kind}, strict=True, only=set(group)))
        return result

    def _tickers(
        self,
        raw: Mapping[str, Any],
        kinds: set[MarketKind],
        *,
        strict: bool,
        only: set[str] | None = None,
    ) -> dict[str, Ticker]:
        now = self.now_ms()
        out: dict[str, Ticker] = {}
        refused = []
        for symbol, entry in raw.items():
            market = self._markets.get(symbol)
            if market is None or market.kind not in kinds or (only and symbol not in only):
                continue
            try:
                out[symbol] = parse_ticker(entry, market, self._quirks, now_ms=now)
            except DataValidationError as e:
                if strict:
                    raise
                refused.append(str(e))
        if refused:
            log.warning(
                "tickers refused", exchange=self.exchange_id, count=len(refused), first=refused[0]
            )
        return out

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles:
        """Return candles with ``since_ms <= ts < until_ms``, ascending, each once.

        Pages within the exchange's per-call maximum (quirks.max_ohlcv_per_call); swap
        volumes are converted to base units so spot and swap candles compare.
        """
        market = await self.market(symbol)
        tf_ms = self._timeframe_ms(market, timeframe)

        async def page(since: int | None, until: int | None, count: int) -> list[Row]:
            params = {} if until is None else {"until": until - 1}  # ccxt's until is inclusive
            raw = await self.call(
                f"fetch {timeframe} candles of {symbol}",
                self._client.fetch_ohlcv,
                symbol,
                timeframe,
                since,
                count,
                params,
            )
            return parse_ohlcv_rows(raw, market, self._quirks)

        rows = await collect_candles(
            page,
            timeframe_ms=tf_ms,
            per_call=self._quirks.max_ohlcv(market.kind.value),
            since_ms=since_ms,
            until_ms=until_ms,
            limit=limit,
            now_ms=self.fetch_time,
        )
        return Candles(symbol, timeframe, *rows_to_arrays(rows))

    def _timeframe_ms(self, market: Market, timeframe: str) -> int:
        tf_ms = timeframe_to_ms(timeframe)
        per_kind = (getattr(self._client, "options", {}) or {}).get("timeframes", {})
        offered = per_kind.get(market.kind.value) if isinstance(per_kind, Mapping) else None
        if not isinstance(offered, Mapping):
            offered = getattr(self._client, "timeframes", None) or {}
        if offered and timeframe not in offered:
            raise InvalidInputError(
                f"{self.exchange_id} {market.kind} has no {timeframe!r} candles; use one of "
                f"{', '.join(offered)}."
            )
        return tf_ms

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        market = await self.market(symbol)
        if depth < 1:
            raise InvalidInputError(f"order book depth must be >= 1; found {depth}.")
        raw = await self.call(
            f"fetch the order book of {symbol}", self._client.fetch_order_book, symbol, depth
        )
        return parse_order_book(raw, market, now_ms=self.now_ms())

    # -- account --------------------------------------------------------------------------

    async def fetch_balance(self, kind: MarketKind = MarketKind.SPOT) -> dict[str, Balance]:
        await self.markets()  # ccxt would otherwise load its own copy first
        raw = await self.call(
            f"fetch the {kind} balance", self._client.fetch_balance, {"type": kind.value}
        )
        return parse_balances(raw, self.exchange_id)

    async def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[PositionReport]:
        """Return open swap positions (empty ones left out), for ``symbols`` or all."""
        markets = await self.markets()
        if symbols is not None:
            for symbol in symbols:
                if (await self.market(symbol)).kind is not MarketKind.SWAP:
                    raise InvalidInputError(
                        f"{symbol} is a spot market; positions exist on swap markets only."
                    )
        if not any(m.kind is MarketKind.SWAP for m in markets.values()):
            return []
        raw = await self.call(
            "fetch positions",
            self._client.fetch_positions,
            list(symbols) if symbols is not None else None,
        )
        now = self.now_ms()
        out = []
        for entry in raw:
            market = markets.get(str(entry.get("symbol"))) if isinstance(entry, Mapping) else None
            if market is None or (symbols is not None and market.symbol not in symbols):
                continue
            report = parse_position(entry, market, now_ms=now)
            if report is not None:
                out.append(report)
        return out

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set ``leverage`` on a swap market, for both sides where the exchange splits them."""
        await self._orders.set_leverage(await self.market(symbol), leverage)

    # -- orders (exchange/ordering.py) ----------------------------------------------------

    async def create_order(self, order: Order) -> OrderReport:
        """Place ``order`` under its client order id and return the exchange's view of it.

        The amount is rounded toward zero to the market's step; a limit price off the tick
        is rounded (buys down, sells up), not refused, and the change is logged. A size
        under the market's minimum amount or notional raises InvalidOrderError before any
        request. A lost answer is followed by lookups by client id, never by a resend.
        """
        return await self._orders.create(order)

    def supports_resting_stops(self, market: Market) -> bool:
        """Whether a STOP_MARKET order on ``market`` rests on the exchange (swap trigger
        orders, ``exchange.ordering_triggers``); elsewhere the stop is watched locally."""
        return self._orders.supports_resting_stops(market)

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport:
        """Cancel an order and return its state after the cancel (re-fetched)."""
        return await self._orders.cancel(
            await self.market(symbol), exchange_order_id, client_order_id
        )

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport | None:
        """Return the order by exchange id or client id, or None if the exchange has none."""
        return await self._orders.fetch(
            await self.market(symbol), exchange_order_id, client_order_id
        )

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        markets = [await self.market(symbol)] if symbol is not None else None
        return await self._orders.open_orders(markets, await self.markets())

    async def fetch_my_trades(
        self, symbol: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[TradeReport]:
        return await self._orders.my_trades(await self.market(symbol), since_ms, limit)

    # -- streams --------------------------------------------------------------------------

    async def watch_ticker(self, symbol: str) -> Ticker:
        """Return the next ticker pushed over the websocket (ccxt.pro clients only)."""
        market = await self.market(symbol)
        self._require_websockets("watch_ticker", self._quirks.supports_watch_ticker)
        raw = await self.call(f"watch the ticker of {symbol}", self._client.watch_ticker, symbol)
        return parse_ticker(raw, market, self._quirks, now_ms=self.now_ms())

    async def watch_ohlcv(self, symbol: str, timeframe: str) -> Candles:
        """Return the candles pushed over the websocket (ccxt.pro clients only)."""
        market = await self.market(symbol)
        self._require_websockets("watch_ohlcv", self._quirks.supports_watch_ohlcv)
        raw = await self.call(
            f"watch {timeframe} candles of {symbol}", self._client.watch_ohlcv, symbol, timeframe
        )
        rows = parse_ohlcv_rows(raw, market, self._quirks)
        unique = {r[0]: r for r in rows}
        return Candles(symbol, timeframe, *rows_to_arrays([unique[t] for t in sorted(unique)]))

    def _require_websockets(self, method: str, supported: bool) -> None:
        if not supported or not hasattr(self._client, method):
            raise InvalidInputError(
                f"{self.exchange_id} has no websocket {method} here (quirks or a non-ccxt.pro "
                "client); use stream_ticker/stream_ohlcv, which poll instead."
            )

    async def stream_ticker(self, symbol: str, interval_s: float = 1.0) -> AsyncIterator[Ticker]:
        """Yield tickers as they come: pushed over websockets if possible, else polled."""
        push = self.has_websockets
        while True:
            if push:
                yield await self.watch_ticker(symbol)
            else:
                yield await self.fetch_ticker(symbol)
                await asyncio.sleep(interval_s)

    async def stream_ohlcv(
        self, symbol: str, timeframe: str, interval_s: float = 1.0, limit: int = 2
    ) -> AsyncIterator[Candles]:
        """Yield the latest candles repeatedly: pushed over websockets if possible, else polled."""
        push = self._quirks.supports_watch_ohlcv and hasattr(self._client, "watch_ohlcv")
        while True:
            if push:
                yield await self.watch_ohlcv(symbol, timeframe)
            else:
                yield await self.fetch_ohlcv(symbol, timeframe, limit=limit)
                await asyncio.sleep(interval_s)

    async def close(self) -> None:
        """Close the client's connections (only for a client this gateway alone uses)."""
        await self._client.close()
