"""Contract v1 routes: public ``/api/v1/contract/`` and signed ``/api/v1/private/``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from xraybot.sim import contract_views
from xraybot.sim.accounts import ZERO, Account, PlanState, Position, SwapOrder
from xraybot.sim.book import depth
from xraybot.sim.exchange import SimExchange
from xraybot.sim.klines import SWAP_INTERVALS, swap_window
from xraybot.sim.replies import (
    CONTRACT_ORDER_NOT_CANCELABLE,
    CONTRACT_ORDER_NOT_EXIST,
    CONTRACT_PARAM,
    MexcError,
    contract_error,
    contract_ok,
    float_text,
    number_text,
)
from xraybot.sim.swap_math import available_balance, liquidation_price, unrealized_pnl
from xraybot.sim.swap_plans import plan_view

Endpoint = Callable[[Request], Awaitable[Response]]
Params = Mapping[str, str]
NO_DATA = object()  # a handler's way to say: reply {"success":true,"code":0} without data
DEPTH_DEFAULT, DEPTH_MAX = 100, 5000
PAGE_DEFAULT, PAGE_MAX = 20, 100
MAX_CANCEL_IDS = 50


def _int(params: Params, name: str, default: int | None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise MexcError(
            CONTRACT_PARAM, f"Param error! '{name}' must be an integer; found {raw!r}."
        ) from None


def _page(items: list[Any], params: Params) -> list[Any]:
    """Newest first, one page of ``page_size`` (default 20, at most 100)."""
    size = min(max(_int(params, "page_size", PAGE_DEFAULT) or PAGE_DEFAULT, 1), PAGE_MAX)
    number = max(_int(params, "page_num", 1) or 1, 1)
    newest_first = items[::-1]
    return newest_first[(number - 1) * size : number * size]


def _in_range(ts_ms: int, params: Params) -> bool:
    start = _int(params, "start_time", None)
    end = _int(params, "end_time", None)
    return (start is None or ts_ms >= start) and (end is None or ts_ms <= end)


def contract_routes(exchange: SimExchange) -> list[Route]:
    """Return the contract routes of ``exchange``."""
    venue = exchange.venue

    def reply(content: Any) -> Response:
        return contract_ok(with_data=False) if content is NO_DATA else contract_ok(content)

    def public(handler: Callable[[Request], Any]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                exchange.match()
                return reply(handler(request))
            except MexcError as error:
                return contract_error(error)

        return endpoint

    def signed(handler: Callable[[Account, Request, Any], Any]) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                body_text = (await request.body()).decode()
                is_post = request.method == "POST"
                account = exchange.contract_account(
                    api_key=request.headers.get("apikey"),
                    request_time=request.headers.get("request-time"),
                    signature=request.headers.get("signature"),
                    payload=body_text if is_post else request.scope["query_string"].decode(),
                )
                body: Any = None
                if is_post:
                    try:
                        body = json.loads(body_text) if body_text else {}
                    except json.JSONDecodeError:
                        raise MexcError(
                            CONTRACT_PARAM, f"Param error! the body is not JSON: {body_text[:80]!r}"
                        ) from None
                exchange.match()
                return reply(handler(account, request, body))
            except MexcError as error:
                return contract_error(error)

        return endpoint

    def body_dict(body: Any) -> Mapping[str, Any]:
        if not isinstance(body, dict):
            raise MexcError(
                CONTRACT_PARAM, f"Param error! a JSON object is required; found {body!r}"
            )
        return body

    # -- public ---------------------------------------------------------------------------

    def details(request: Request) -> Any:
        wanted = request.query_params.get("symbol")
        rate = venue.config.maintenance_margin_rate
        if wanted:
            return contract_views.detail(venue.swap_symbol(wanted), rate)
        return [contract_views.detail(s, rate) for s in venue.market.symbols() if s.has_swap]

    def one_ticker(symbol_id: str) -> dict[str, Any]:
        symbol = venue.swap_symbol(symbol_id)
        stats = venue.market.stats_24h(symbol.swap_id)
        return contract_views.ticker(symbol, venue.swap_top(symbol), stats)

    def tickers(request: Request) -> Any:
        wanted = request.query_params.get("symbol")
        if wanted:
            return one_ticker(wanted)
        return [one_ticker(s.swap_id) for s in venue.market.symbols() if s.has_swap]

    def kline(request: Request) -> Any:
        symbol = venue.swap_symbol(request.path_params["symbol"])
        params = request.query_params
        interval = params.get("interval", "Min1")
        timeframe = SWAP_INTERVALS.get(interval)
        if timeframe is None:
            raise MexcError(
                CONTRACT_PARAM,
                f"Param error! interval {interval!r}; use one of {', '.join(SWAP_INTERVALS)}.",
            )
        rows = swap_window(
            venue.market,
            symbol.swap_id,
            timeframe,
            start_s=_int(params, "start", None),
            end_s=_int(params, "end", None),
        )
        contracts = 1 / float(symbol.contract_size)
        return {
            "time": [k.ts_ms // 1000 for k in rows],
            "open": [float_text(k.open) for k in rows],
            "close": [float_text(k.close) for k in rows],
            "high": [float_text(k.high) for k in rows],
            "low": [float_text(k.low) for k in rows],
            "vol": [float_text(round(k.volume * contracts)) for k in rows],
            "amount": [float_text(k.volume * k.close) for k in rows],
        }

    def order_book(request: Request) -> Any:
        symbol = venue.swap_symbol(request.path_params["symbol"])
        levels = min(max(_int(request.query_params, "limit", DEPTH_DEFAULT) or 1, 1), DEPTH_MAX)
        top = venue.swap_top(symbol)
        bids, asks = depth(
            top, price_tick=symbol.price_tick, amount_tick=symbol.contract_size, levels=levels
        )
        size = symbol.contract_size
        return {
            "asks": [[p, q / size, i + 1] for i, (p, q) in enumerate(asks)],
            "bids": [[p, q / size, i + 1] for i, (p, q) in enumerate(bids)],
            "version": top.ts_ms,
            "timestamp": top.ts_ms,
        }

    # -- private --------------------------------------------------------------------------

    def unrealized(account: Account) -> Decimal:
        total = ZERO
        for p in account.positions.values():
            symbol = venue.swap_symbol(p.symbol)
            total += unrealized_pnl(p, venue.swap_top(symbol).last, symbol.contract_size)
        return total

    def assets(account: Account, request: Request, body: Any) -> Any:
        return [contract_views.asset(account, unrealized(account))]

    def one_asset(account: Account, request: Request, body: Any) -> Any:
        currency = request.path_params["currency"]
        if currency != contract_views.SETTLE:
            raise MexcError(
                CONTRACT_PARAM, f"Param error! currency {currency!r}; only USDT is settled."
            )
        return contract_views.asset(account, unrealized(account))

    def create(account: Account, request: Request, body: Any) -> Any:
        order = exchange.swap.place(account, body_dict(body))
        return {"orderId": order.order_id, "ts": order.created_ms}

    def submit(account: Account, request: Request, body: Any) -> Any:
        return exchange.swap.place(account, body_dict(body)).order_id

    def find(account: Account, order_id: str) -> SwapOrder:
        order = account.swap_orders.get(order_id)
        if order is None:
            raise MexcError(CONTRACT_ORDER_NOT_EXIST, f"order not exist (orderId {order_id!r})")
        return order

    def get_order(account: Account, request: Request, body: Any) -> Any:
        return contract_views.order(find(account, request.path_params["order_id"]))

    def get_external(account: Account, request: Request, body: Any) -> Any:
        symbol = venue.swap_symbol(request.path_params["symbol"])
        external = request.path_params["external_oid"]
        order_id = account.swap_external_oids.get(external, "")
        order = account.swap_orders.get(order_id)
        if order is None or order.symbol != symbol.swap_id:
            raise MexcError(
                CONTRACT_ORDER_NOT_EXIST,
                f"order not exist (no {symbol.swap_id} order with externalOid {external!r})",
            )
        return contract_views.order(order)

    def open_orders(account: Account, request: Request, body: Any) -> Any:
        wanted = request.path_params.get("symbol") or request.query_params.get("symbol")
        chosen = [o for o in account.open_swap_orders() if not wanted or o.symbol == wanted]
        return [contract_views.order(o) for o in _page(chosen, request.query_params)]

    def history_orders(account: Account, request: Request, body: Any) -> Any:
        params = request.query_params
        wanted = params.get("symbol")
        states = {int(s) for s in params.get("states", "").split(",") if s.strip().isdigit()}
        chosen = [
            o
            for o in account.swap_orders.values()
            if (not wanted or o.symbol == wanted)
            and (not states or int(o.state) in states)
            and _in_range(o.created_ms, params)
        ]
        return [contract_views.order(o) for o in _page(chosen, params)]

    def order_deals(account: Account, request: Request, body: Any) -> Any:
        params = request.query_params
        wanted = params.get("symbol")
        chosen = [
            d
            for d in account.swap_deals
            if (not wanted or d.symbol == wanted) and _in_range(d.time_ms, params)
        ]
        return [contract_views.deal(d) for d in _page(chosen, params)]

    def cancel_one(account: Account, order_id: str) -> dict[str, Any]:
        order = account.swap_orders.get(order_id)
        if order is None:
            return {
                "orderId": order_id,
                "errorCode": CONTRACT_ORDER_NOT_EXIST,
                "errorMsg": "order not exist",
            }
        if not order.is_open:
            return {
                "orderId": order_id,
                "errorCode": CONTRACT_ORDER_NOT_CANCELABLE,
                "errorMsg": "order state cannot be cancelled",
            }
        exchange.swap.cancel(account, order)
        return {"orderId": order_id, "errorCode": 0, "errorMsg": "success"}

    def cancel(account: Account, request: Request, body: Any) -> Any:
        if not isinstance(body, list) or not 0 < len(body) <= MAX_CANCEL_IDS:
            raise MexcError(
                CONTRACT_PARAM,
                f"Param error! the body must be a JSON array of 1 to {MAX_CANCEL_IDS} order ids.",
            )
        return [cancel_one(account, str(order_id)) for order_id in body]

    def cancel_external(account: Account, request: Request, body: Any) -> Any:
        fields = body_dict(body)
        symbol = venue.swap_symbol(fields.get("symbol"))
        external = str(fields.get("externalOid", ""))
        order_id = account.swap_external_oids.get(external, "")
        order = account.swap_orders.get(order_id)
        if order is None or order.symbol != symbol.swap_id:
            raise MexcError(CONTRACT_ORDER_NOT_EXIST, f"order not exist (externalOid {external!r})")
        result = cancel_one(account, order_id)
        if result["errorCode"]:
            raise MexcError(result["errorCode"], f"{result['errorMsg']} (externalOid {external!r})")
        return {"symbol": symbol.swap_id, "externalOid": external}

    def cancel_all(account: Account, request: Request, body: Any) -> Any:
        wanted = body_dict(body).get("symbol") if body else None
        for order in account.open_swap_orders():
            if not wanted or order.symbol == wanted:
                exchange.swap.cancel(account, order)
        return NO_DATA

    # -- trigger (plan) orders: sim/swap_plans.py ----------------------------------------

    def plan_place(account: Account, request: Request, body: Any) -> Any:
        return exchange.plans.place(account, body_dict(body)).order_id

    def plan_list(account: Account, request: Request, body: Any) -> Any:
        params = request.query_params
        wanted = params.get("symbol")
        states = {int(s) for s in params.get("states", "").split(",") if s.strip().isdigit()}
        chosen = [
            o
            for o in account.plan_orders.values()
            if (not wanted or o.symbol == wanted)
            and (not states or int(o.state) in states)
            and _in_range(o.created_ms, params)
        ]
        return [plan_view(o) for o in _page(chosen, params)]

    def plan_cancel(account: Account, request: Request, body: Any) -> Any:
        if not isinstance(body, list) or not 0 < len(body) <= MAX_CANCEL_IDS:
            raise MexcError(
                CONTRACT_PARAM,
                f"Param error! the body must be a JSON array of 1 to {MAX_CANCEL_IDS} "
                '{"symbol", "orderId"} objects.',
            )
        for item in body:
            fields = body_dict(item)
            exchange.plans.cancel(account, fields.get("symbol"), str(fields.get("orderId", "")))
        return NO_DATA

    def plan_cancel_all(account: Account, request: Request, body: Any) -> Any:
        wanted = body_dict(body).get("symbol") if body else None
        for plan in account.plan_orders.values():
            if plan.state is PlanState.UNTRIGGERED and (not wanted or plan.symbol == wanted):
                exchange.plans.cancel(account, None, plan.order_id)
        return NO_DATA

    def position_view(account: Account, p: Position) -> dict[str, Any]:
        symbol = venue.swap_symbol(p.symbol)
        mark = venue.swap_top(symbol).last
        return contract_views.position(
            p,
            unrealized=unrealized_pnl(p, mark, symbol.contract_size),
            liquidation=liquidation_price(
                p,
                contract_size=symbol.contract_size,
                maintenance_rate=venue.config.maintenance_margin_rate,
                available=available_balance(account),
                tick=symbol.price_tick,
            ),
        )

    def open_positions(account: Account, request: Request, body: Any) -> Any:
        wanted = request.query_params.get("symbol")
        return [
            position_view(account, p)
            for p in account.positions.values()
            if not wanted or p.symbol == wanted
        ]

    def leverage(account: Account, request: Request, body: Any) -> Any:
        symbol = venue.swap_symbol(request.query_params.get("symbol"))
        rate = venue.config.maintenance_margin_rate
        rows = []
        for position_type in (1, 2):
            lev = exchange.swap.leverage_of(account, symbol, position_type)
            open_type = account.leverage.get((symbol.swap_id, position_type), (lev, 2))[1]
            rows.append(
                {
                    "level": 1,
                    "maxVol": number_text(Decimal(10_000_000)),
                    "mmr": number_text(rate),
                    "imr": number_text(Decimal(1) / lev),
                    "positionType": position_type,
                    "openType": open_type,
                    "leverage": lev,
                    "limitBySys": False,
                    "currentMmr": number_text(rate),
                }
            )
        return rows

    def change_leverage(account: Account, request: Request, body: Any) -> Any:
        exchange.swap.change_leverage(account, body_dict(body))
        return NO_DATA

    def position_mode(account: Account, request: Request, body: Any) -> Any:
        return account.position_mode

    def change_position_mode(account: Account, request: Request, body: Any) -> Any:
        exchange.swap.change_position_mode(account, body_dict(body))
        return NO_DATA

    c, p = "/api/v1/contract/", "/api/v1/private/"
    post = ["POST"]
    return [
        Route(c + "ping", public(lambda request: venue.now_ms())),
        Route(c + "detail", public(details)),
        Route(c + "ticker", public(tickers)),
        Route(c + "kline/{symbol}", public(kline)),
        Route(c + "kline/fair_price/{symbol}", public(kline)),
        Route(c + "kline/index_price/{symbol}", public(kline)),
        Route(c + "depth/{symbol}", public(order_book)),
        Route(p + "account/assets", signed(assets)),
        Route(p + "account/asset/{currency}", signed(one_asset)),
        Route(p + "order/create", signed(create), methods=post),
        Route(p + "order/submit", signed(submit), methods=post),
        Route(p + "order/get/{order_id}", signed(get_order)),
        Route(p + "order/external/{symbol}/{external_oid}", signed(get_external)),
        Route(p + "order/list/open_orders", signed(open_orders)),
        Route(p + "order/list/open_orders/{symbol}", signed(open_orders)),
        Route(p + "order/list/history_orders", signed(history_orders)),
        Route(p + "order/list/order_deals", signed(order_deals)),
        Route(p + "order/cancel", signed(cancel), methods=post),
        Route(p + "order/cancel_with_external", signed(cancel_external), methods=post),
        Route(p + "order/cancel_all", signed(cancel_all), methods=post),
        Route(p + "planorder/place", signed(plan_place), methods=post),
        Route(p + "planorder/list/orders", signed(plan_list)),
        Route(p + "planorder/cancel", signed(plan_cancel), methods=post),
        Route(p + "planorder/cancel_all", signed(plan_cancel_all), methods=post),
        Route(p + "position/open_positions", signed(open_positions)),
        Route(p + "position/leverage", signed(leverage)),
        Route(p + "position/change_leverage", signed(change_leverage), methods=post),
        Route(p + "position/position_mode", signed(position_mode)),
        Route(p + "position/change_position_mode", signed(change_position_mode), methods=post),
    ]
