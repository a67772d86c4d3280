"""The paper gateway: market data from any gateway, fills from the simulated account.

Public calls go to ``market_data`` unchanged (the ccxt gateway on a real exchange, or on
the local simulator). Private calls run on a ``matching.ledger.Ledger`` against the bid
and ask of a ticker fetched at call time; before answering, the gateway shows that quote
to the ledger, so resting limit orders and liquidations of the symbols involved are up to
date. The account is unified: one wallet per asset for spot and swap alike.

Behaviour that matches the ccxt gateway, so one contract suite runs on both: an unknown
symbol raises UnknownSymbolError before any request; a client order id already used on
the symbol returns that order instead of placing a second one; cancelling a finished order
reports it as it is; leverage on spot is refused. Stop orders rest on swaps only
(``paper_stops``: fired on the quotes this gateway fetches), as on the exchange.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from xraybot.exchange.paper_stops import PaperStop, PaperStops, takes_resting_stops
from xraybot.exchange.port import (
    Balance,
    OrderBook,
    OrderReport,
    PositionReport,
    Ticker,
    TradeReport,
)
from xraybot.matching.ledger import Ledger, LedgerFill, LedgerOrder, LedgerPosition
from xraybot.model.candles import Candles
from xraybot.model.errors import InvalidInputError, UnknownSymbolError, XraybotError
from xraybot.model.fills import Fill
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import OrderType


class MarketDataSource(Protocol):
    """The public half of an ExchangeGateway: all the paper gateway reads from its source."""

    @property
    def exchange_id(self) -> str: ...

    async def markets(self) -> dict[str, Market]: ...

    async def fetch_time(self) -> int: ...

    async def fetch_ticker(self, symbol: str) -> Ticker: ...

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, kind: MarketKind = MarketKind.SPOT
    ) -> dict[str, Ticker]: ...

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles: ...

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook: ...


class PaperGateway:
    """An ExchangeGateway whose orders fill in a simulated account on real market data."""

    def __init__(
        self,
        market_data: MarketDataSource,
        *,
        balances: Mapping[str, Decimal],
        slippage_rate: Decimal = Decimal("0.0005"),
        now_ms: Callable[[], int] | None = None,
        id_prefix: str = "P",
    ) -> None:
        self._data = market_data
        # ``id_prefix`` keeps order and fill ids unique across ledgers (a restarted runtime's
        # fresh ledger must not reuse the previous run's fill ids, which the journal dedupes).
        self._ledger = Ledger(balances, slippage_rate=slippage_rate, id_prefix=id_prefix)
        # Without a clock, the market data's own ticker times date every event, which keeps
        # a replay (simulator or replay clock) consistent with its candles.
        self._now_ms = now_ms
        self._last_ts_ms = 0
        self._stops = PaperStops(id_prefix)

    def supports_resting_stops(self, market: Market) -> bool:
        """Whether a STOP_MARKET order on ``market`` rests here (swaps, ``paper_stops``)."""
        return takes_resting_stops(market)

    def restore_stops(self, orders: Iterable[Order]) -> None:
        """Rest again the open STOP_MARKET swap orders of a restart's journal (their ids kept).

        Call before reconciling: a fresh paper account has no stops, and the journal's open
        stops would otherwise be missing from it.
        """
        for order in orders:
            if order.order_type is OrderType.STOP_MARKET and not order.is_terminal:
                self._stops.restore(order)

    @property
    def exchange_id(self) -> str:
        return f"paper:{self._data.exchange_id}"

    @property
    def ledger(self) -> Ledger:
        """Return the simulated account (read it; change it through the gateway)."""
        return self._ledger

    def replay_fills(
        self,
        markets: Mapping[str, Market],
        fills: Iterable[Fill],
        leverage: Mapping[str, int] | None = None,
    ) -> None:
        """Rebuild the account from recorded fills, oldest first (a restart's journal).

        Built with the starting balances, then given every fill the previous runs made, the
        ledger ends with their cash, spot holdings and swap positions (see
        ``Ledger.replay_fill``). ``leverage`` names each swap symbol's leverage (the
        journal's open positions know it); others replay at 1x, which changes no cash.
        """
        levels = leverage or {}
        for fill in sorted(fills, key=lambda f: f.ts_ms):  # stable: same-ms fills keep order
            market = markets.get(fill.symbol)
            if market is None:
                raise UnknownSymbolError(
                    f"{self.exchange_id} lists no market {fill.symbol!r}, which fill "
                    f"{fill.fill_id!r} traded; found it in the records being replayed. "
                    "Restore with the markets the fills were made on."
                )
            lev = levels.get(fill.symbol, 1) if market.kind is MarketKind.SWAP else None
            self._ledger.replay_fill(
                market,
                side=fill.side,
                amount=fill.amount,
                price=fill.price,
                fee=fill.fee,
                ts_ms=fill.ts_ms,
                leverage=lev,
            )

    # -- public: delegated ----------------------------------------------------------------

    async def markets(self) -> dict[str, Market]:
        """Return the market data source's markets."""
        return await self._data.markets()

    async def fetch_time(self) -> int:
        """Return the market data source's clock in ms."""
        return await self._data.fetch_time()

    async def fetch_ticker(self, symbol: str) -> Ticker:
        return await self._data.fetch_ticker(symbol)

    async def fetch_tickers(
        self, symbols: Sequence[str] | None = None, kind: MarketKind = MarketKind.SPOT
    ) -> dict[str, Ticker]:
        """Return tickers from the market data source."""
        return await self._data.fetch_tickers(symbols, kind)

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int | None = None,
    ) -> Candles:
        """Return candles from the market data source."""
        return await self._data.fetch_ohlcv(symbol, timeframe, since_ms, until_ms, limit)

    async def fetch_order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        return await self._data.fetch_order_book(symbol, depth)

    # -- private: the simulated account ---------------------------------------------------

    async def fetch_balance(self, kind: MarketKind = MarketKind.SPOT) -> dict[str, Balance]:
        """Return every asset of the unified paper wallet (``kind`` selects nothing here)."""
        await self._refresh(await self._active_markets())
        return {
            asset: Balance(asset=asset, free=b.free, used=b.used)
            for asset, b in self._ledger.balances().items()
        }

    async def create_order(self, order: Order) -> OrderReport:
        """Fill ``order`` against the current quote, or rest it (rounded to the ticks)."""
        market = await self._market(order.symbol)
        bid, ask, ts_ms = (await self._refresh([market]))[market.symbol]
        stop = self._stops.get(None, order.client_order_id)
        if stop is not None or (
            order.order_type is OrderType.STOP_MARKET and takes_resting_stops(market)
        ):
            stop = stop or self._stops.place(order, market, ts_ms)
            return self._stop_report(stop)
        existing = self._ledger.order(market.symbol, client_order_id=order.client_order_id)
        if existing is not None:
            return _order_report(existing)  # a retried create: never place an order twice
        placed = self._ledger.place(
            market,
            side=order.side,
            order_type=order.order_type,
            amount=order.amount,
            price=order.price,
            client_order_id=order.client_order_id,
            bid=bid,
            ask=ask,
            ts_ms=ts_ms,
            reduce_only=order.reduce_only,
            leverage=order.leverage if market.kind is MarketKind.SWAP else None,
        )
        return _order_report(placed)

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport:
        """Cancel an open order; a finished one is reported as it is."""
        market = await self._market(symbol)
        _, _, ts_ms = (await self._refresh([market]))[symbol]
        stop = self._stops.get(exchange_order_id, client_order_id)
        if stop is not None:
            if stop.status is OrderStatus.OPEN:
                stop = self._stops.end(stop, OrderStatus.CANCELED, ts_ms)
            return self._stop_report(stop)
        canceled = self._ledger.cancel(
            symbol,
            exchange_order_id=exchange_order_id,
            client_order_id=client_order_id,
            ts_ms=ts_ms,
        )
        return _order_report(canceled)

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> OrderReport | None:
        """Return the order by either id, or None if the account has no such order."""
        market = await self._market(symbol)
        await self._refresh([market])
        stop = self._stops.get(exchange_order_id, client_order_id)
        if stop is not None:
            return self._stop_report(stop)
        found = self._ledger.order(
            symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
        )
        return None if found is None else _order_report(found)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        """Return open orders of ``symbol``, or of every symbol, oldest first."""
        if symbol is not None:
            await self._refresh([await self._market(symbol)])
        else:
            await self._refresh(await self._active_markets())
        orders = [_order_report(o) for o in self._ledger.open_orders(symbol)]
        return orders + [s.report() for s in self._stops.open(symbol)]

    async def fetch_my_trades(
        self, symbol: str, since_ms: int | None = None, limit: int | None = None
    ) -> list[TradeReport]:
        """Return fills of ``symbol`` from ``since_ms`` (the first ``limit``; else the last)."""
        await self._refresh([await self._market(symbol)])
        fills = [f for f in self._ledger.trades(symbol) if since_ms is None or f.ts_ms >= since_ms]
        if limit is not None:
            if limit <= 0:
                fills = []
            elif since_ms is not None:
                fills = fills[:limit]  # paging forward from since_ms
            else:
                fills = fills[-limit:]  # the most recent
        return [_trade_report(f) for f in fills]

    async def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[PositionReport]:
        """Return open swap positions, for ``symbols`` or all."""
        if symbols is not None:
            markets = [await self._market(s) for s in symbols]
            for market in markets:
                if market.kind is not MarketKind.SWAP:
                    raise InvalidInputError(
                        f"{market.symbol} is a spot market; positions exist on swap markets only."
                    )
        else:
            markets = [m for m in await self._active_markets() if m.kind is MarketKind.SWAP]
        await self._refresh(markets)
        wanted = {m.symbol for m in markets}
        ts_ms = self._clock()
        return [_position_report(p, ts_ms) for p in self._ledger.positions() if p.symbol in wanted]

    async def set_leverage(self, symbol: str, leverage: int) -> None:
        """Set the symbol's leverage; an open position is re-margined to match."""
        market = await self._market(symbol)
        await self._refresh([market])
        self._ledger.set_leverage(market, leverage)

    async def close(self) -> None:
        """Release nothing: ``market_data`` belongs to the caller, who closes it."""

    # -- quotes ---------------------------------------------------------------------------

    async def _market(self, symbol: str) -> Market:
        markets = await self._data.markets()
        market = markets.get(symbol)
        if market is None:
            raise UnknownSymbolError(
                f"{self.exchange_id} lists no market {symbol!r}; symbols look like BTC/USDT "
                "(spot) or BTC/USDT:USDT (linear swap). Pick one from markets()."
            )
        return market

    async def _active_markets(self) -> list[Market]:
        """Return the markets where the account has open orders or positions."""
        symbols = {o.symbol for o in self._ledger.open_orders()}
        symbols |= {s.order.symbol for s in self._stops.open()}
        symbols |= {p.symbol for p in self._ledger.positions()}
        if not symbols:
            return []
        markets = await self._data.markets()
        return [markets[s] for s in sorted(symbols) if s in markets]

    async def _refresh(self, markets: Iterable[Market]) -> dict[str, tuple[Decimal, Decimal, int]]:
        """Fetch quotes for ``markets``, show them to the ledger, return ``(bid, ask, ts)``."""
        wanted = list(markets)
        tickers: dict[str, Ticker] = {}
        if len(wanted) == 1:
            tickers[wanted[0].symbol] = await self._data.fetch_ticker(wanted[0].symbol)
        else:
            for kind in sorted({m.kind for m in wanted}):
                group = [m.symbol for m in wanted if m.kind is kind]
                tickers.update(await self._data.fetch_tickers(group, kind))
        quotes: dict[str, tuple[Decimal, Decimal, int]] = {}
        for market in wanted:
            ticker = tickers.get(market.symbol)
            if ticker is None:
                continue  # no quote this time: resting orders wait for the next one
            bid, ask = _bid_ask(ticker)
            ts_ms = self._now_ms() if self._now_ms is not None else ticker.ts_ms
            self._last_ts_ms = max(self._last_ts_ms, ts_ms)
            self._ledger.on_quote(market, bid, ask, ts_ms)
            quotes[market.symbol] = (bid, ask, ts_ms)
            for stop in self._stops.due(market.symbol, ticker.last):
                self._fire(stop, market, bid, ask, ts_ms)
        return quotes

    def _fire(self, stop: PaperStop, market: Market, bid: Decimal, ask: Decimal, ts: int) -> None:
        order = stop.order
        try:
            self._ledger.place(
                market,
                side=order.side,
                order_type=OrderType.MARKET,
                amount=order.amount,
                price=None,
                client_order_id=order.client_order_id,
                bid=bid,
                ask=ask,
                ts_ms=ts,
                reduce_only=order.reduce_only,
                leverage=order.leverage,
            )
        except XraybotError:  # as an exchange's trigger whose order is refused: it fails
            self._stops.end(stop, OrderStatus.REJECTED, ts)
            return
        self._stops.end(stop, OrderStatus.FILLED, ts)

    def _stop_report(self, stop: PaperStop) -> OrderReport:
        if stop.status is OrderStatus.FILLED:  # fired: the ledger's market order tells
            placed = self._ledger.order(
                stop.order.symbol, client_order_id=stop.order.client_order_id
            )
            if placed is not None:
                return _order_report(placed)
        return stop.report()

    def _clock(self) -> int:
        return self._now_ms() if self._now_ms is not None else self._last_ts_ms


def _bid_ask(ticker: Ticker) -> tuple[Decimal, Decimal]:
    # A ticker without a book side (thin or halted market) is quoted at its last price.
    bid = ticker.bid if ticker.bid is not None and ticker.bid > 0 else ticker.last
    ask = ticker.ask if ticker.ask is not None and ticker.ask > 0 else ticker.last
    return bid, ask


def _order_report(order: LedgerOrder) -> OrderReport:
    return OrderReport(
        symbol=order.symbol,
        exchange_order_id=order.exchange_order_id,
        client_order_id=order.client_order_id,
        status=order.status,
        side=order.side,
        amount=order.amount,
        filled=order.filled,
        average_price=order.average_price,
        price=order.price,
        fee=order.fee,
        fee_currency=order.fee_currency,
        ts_ms=order.updated_ts_ms,
    )


def _trade_report(fill: LedgerFill) -> TradeReport:
    return TradeReport(
        symbol=fill.symbol,
        fill_id=fill.fill_id,
        exchange_order_id=fill.exchange_order_id,
        client_order_id=fill.client_order_id,
        side=fill.side,
        price=fill.price,
        amount=fill.amount,
        fee=fill.fee,
        fee_currency=fill.fee_currency,
        ts_ms=fill.ts_ms,
        is_maker=fill.is_maker,
    )


def _position_report(position: LedgerPosition, ts_ms: int) -> PositionReport:
    return PositionReport(
        symbol=position.symbol,
        direction=position.direction,
        contracts=position.contracts,
        entry_price=position.entry_price,
        leverage=position.leverage,
        liquidation_price=position.liquidation_price,
        unrealized_pnl=position.unrealized_pnl,
        ts_ms=max(ts_ms, position.updated_ts_ms),
    )
