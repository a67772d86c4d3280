"""Spot v3 routes under ``/api/v3/``: public market data and signed account endpoints."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from xraybot.sim import spot_views
from xraybot.sim.accounts import Account
from xraybot.sim.book import depth
from xraybot.sim.exchange import SimExchange
from xraybot.sim.klines import (
    SPOT_DEFAULT_LIMIT,
    SPOT_INTERVALS,
    SPOT_MAX_LIMIT,
    close_ms,
    spot_window,
)
from xraybot.sim.replies import SPOT_BAD_PARAMETER, MexcError, MexcJSON, float_text, spot_error
from xraybot.sim.venue import spot_tick

Endpoint = Callable[[Request], Awaitable[Response]]
Params = Mapping[str, str]
DEPTH_DEFAULT, DEPTH_MAX = 100, 5000
ALL_ORDERS_DEFAULT, ALL_ORDERS_MAX = 500, 1000
MY_TRADES_DEFAULT, MY_TRADES_MAX = 100, 100


def int_param(
    params: Params, name: str, default: int | None, *, low: int = 0, high: int | None = None
) -> int | None:
    """Return an integer query parameter (clamped to ``high``), or raise MEXC's error."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise MexcError(
            SPOT_BAD_PARAMETER, f"Parameter '{name}' must be an integer; found {raw!r}."
        ) from None
    if value < low:
        raise MexcError(SPOT_BAD_PARAMETER, f"Parameter '{name}' must be >= {low}; found {value}.")
    return min(value, high) if high is not None else value


def _in_range(ts_ms: int, params: Params) -> bool:
    start = int_param(params, "startTime", None)
    end = int_param(params, "endTime", None)
    return (start is None or ts_ms >= start) and (end is None or ts_ms <= end)


def spot_routes(exchange: SimExchange) -> list[Route]:
    """Return the spot routes of ``exchange``."""
    venue = exchange.venue

    def public(handler: Callable[[Params], Any]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                exchange.match()
                return MexcJSON(handler(request.query_params))
            except MexcError as error:
                return spot_error(error)

        return endpoint

    def signed(handler: Callable[[Account, Params], Any]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                account = exchange.spot_account(
                    request.headers.get("x-mexc-apikey"),
                    request.scope["query_string"].decode("latin-1"),
                )
                exchange.match()
                return MexcJSON(handler(account, request.query_params))
            except MexcError as error:
                return spot_error(error)

        return endpoint

    # -- public ---------------------------------------------------------------------------

    def exchange_info(params: Params) -> Any:
        wanted = params.get("symbol") or params.get("symbols")
        names = set(wanted.split(",")) if wanted else None
        symbols = [
            spot_views.symbol_info(s)
            for s in venue.market.symbols()
            if names is None or s.spot_id in names
        ]
        return {
            "timezone": "CST",
            "serverTime": venue.now_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def default_symbols(params: Params) -> Any:
        return {"code": 200, "data": [s.spot_id for s in venue.market.symbols()], "msg": None}

    def one_ticker(symbol_id: str) -> dict[str, Any]:
        symbol = venue.spot_symbol(symbol_id)
        top = venue.spot_top(symbol)
        bids, asks = depth(
            top,
            price_tick=spot_tick(symbol.price_tick),
            amount_tick=spot_tick(symbol.amount_tick),
            levels=1,
        )
        stats = venue.market.stats_24h(symbol.spot_id)
        return spot_views.ticker(symbol, top, stats, bids[0][1] if bids else Decimal(0), asks[0][1])

    def ticker_24hr(params: Params) -> Any:
        symbol_id = params.get("symbol")
        if symbol_id:
            return one_ticker(symbol_id)
        return [one_ticker(s.spot_id) for s in venue.market.symbols()]

    def klines(params: Params) -> Any:
        symbol = venue.spot_symbol(params.get("symbol"))
        interval = params.get("interval", "")
        timeframe = SPOT_INTERVALS.get(interval)
        if timeframe is None:
            raise MexcError(
                SPOT_BAD_PARAMETER,
                f"Invalid interval {interval!r}; use one of {', '.join(SPOT_INTERVALS)}.",
            )
        limit = int_param(params, "limit", SPOT_DEFAULT_LIMIT, low=1, high=SPOT_MAX_LIMIT)
        assert limit is not None
        rows = spot_window(
            venue.market,
            symbol.spot_id,
            timeframe,
            start_ms=int_param(params, "startTime", None),
            end_ms=int_param(params, "endTime", None),
            limit=limit,
        )
        return [
            [
                k.ts_ms,
                float_text(k.open),
                float_text(k.high),
                float_text(k.low),
                float_text(k.close),
                float_text(k.volume),
                close_ms(k.ts_ms, timeframe),
                float_text(k.volume * k.close),
            ]
            for k in rows
        ]

    def order_book(params: Params) -> Any:
        symbol = venue.spot_symbol(params.get("symbol"))
        levels = int_param(params, "limit", DEPTH_DEFAULT, low=1, high=DEPTH_MAX)
        assert levels is not None
        top = venue.spot_top(symbol)
        bids, asks = depth(
            top,
            price_tick=spot_tick(symbol.price_tick),
            amount_tick=spot_tick(symbol.amount_tick),
            levels=levels,
        )
        return {
            "lastUpdateId": top.ts_ms,
            "bids": [[p, q] for p, q in bids],
            "asks": [[p, q] for p, q in asks],
            "timestamp": top.ts_ms,
        }

    # -- signed ---------------------------------------------------------------------------

    def currencies(account: Account, params: Params) -> Any:
        return []  # ccxt then derives currencies from the markets

    def account_info(account: Account, params: Params) -> Any:
        return spot_views.account(account, venue.now_ms())

    def new_order(account: Account, params: Params) -> Any:
        return spot_views.placed(exchange.spot.place(account, params))

    def get_order(account: Account, params: Params) -> Any:
        return spot_views.order(exchange.spot.find(account, params))

    def cancel_order(account: Account, params: Params) -> Any:
        return spot_views.canceled(exchange.spot.cancel(account, params))

    def open_orders(account: Account, params: Params) -> Any:
        symbol_id = params.get("symbol")
        if symbol_id:
            venue.spot_symbol(symbol_id)
        return [
            spot_views.order(o)
            for o in account.open_spot_orders()
            if not symbol_id or o.symbol == symbol_id
        ]

    def cancel_open_orders(account: Account, params: Params) -> Any:
        symbol = venue.spot_symbol(params.get("symbol"))
        found = [o for o in account.open_spot_orders() if o.symbol == symbol.spot_id]
        return [
            spot_views.canceled(
                exchange.spot.cancel(account, {"symbol": o.symbol, "orderId": o.order_id})
            )
            for o in found
        ]

    def all_orders(account: Account, params: Params) -> Any:
        symbol = venue.spot_symbol(params.get("symbol"))
        limit = int_param(params, "limit", ALL_ORDERS_DEFAULT, low=1, high=ALL_ORDERS_MAX)
        chosen = [
            o
            for o in account.spot_orders.values()
            if o.symbol == symbol.spot_id and _in_range(o.created_ms, params)
        ]
        return [spot_views.order(o) for o in chosen[-(limit or 1) :]]

    def my_trades(account: Account, params: Params) -> Any:
        symbol = venue.spot_symbol(params.get("symbol"))
        limit = int_param(params, "limit", MY_TRADES_DEFAULT, low=1, high=MY_TRADES_MAX)
        chosen = [
            t
            for t in account.spot_trades
            if t.symbol == symbol.spot_id and _in_range(t.time_ms, params)
        ]
        return [spot_views.trade(t) for t in chosen[-(limit or 1) :]]

    def new_listen_key(account: Account, params: Params) -> Any:
        seed = f"{account.api_key}:{len(account.listen_keys)}:{venue.now_ms()}"
        key = hashlib.sha256(seed.encode()).hexdigest()
        account.listen_keys.add(key)
        return {"listenKey": key}

    def keep_listen_key(account: Account, params: Params) -> Any:
        key = params.get("listenKey", "")
        if key not in account.listen_keys:
            raise MexcError(
                SPOT_BAD_PARAMETER, f"listenKey {key!r} does not exist on this account."
            )
        return {"listenKey": key}

    def close_listen_key(account: Account, params: Params) -> Any:
        key = params.get("listenKey", "")
        account.listen_keys.discard(key)
        return {"listenKey": key}

    def list_listen_keys(account: Account, params: Params) -> Any:
        return {"listenKey": sorted(account.listen_keys)}

    v3 = "/api/v3/"
    return [
        Route(v3 + "ping", public(lambda params: {})),
        Route(v3 + "time", public(lambda params: {"serverTime": venue.now_ms()})),
        Route(v3 + "exchangeInfo", public(exchange_info)),
        Route(v3 + "defaultSymbols", public(default_symbols)),
        Route(v3 + "ticker/24hr", public(ticker_24hr)),
        Route(v3 + "klines", public(klines)),
        Route(v3 + "depth", public(order_book)),
        Route(v3 + "capital/config/getall", signed(currencies)),
        Route(v3 + "account", signed(account_info)),
        Route(v3 + "order", signed(new_order), methods=["POST"]),
        Route(v3 + "order", signed(get_order), methods=["GET"]),
        Route(v3 + "order", signed(cancel_order), methods=["DELETE"]),
        Route(v3 + "openOrders", signed(open_orders), methods=["GET"]),
        Route(v3 + "openOrders", signed(cancel_open_orders), methods=["DELETE"]),
        Route(v3 + "allOrders", signed(all_orders)),
        Route(v3 + "myTrades", signed(my_trades)),
        Route(v3 + "userDataStream", signed(new_listen_key), methods=["POST"]),
        Route(v3 + "userDataStream", signed(keep_listen_key), methods=["PUT"]),
        Route(v3 + "userDataStream", signed(close_listen_key), methods=["DELETE"]),
        Route(v3 + "userDataStream", signed(list_listen_keys), methods=["GET"]),
    ]
