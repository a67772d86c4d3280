"""The simulator's own JSON API under ``/_sim/``: inspect, set up and steer a run.

No authentication: it answers loopback clients only (the server listens on 127.0.0.1).

- ``GET  /_sim/orders[?api_key=]``: every order received, spot and swap, with client id and status
- ``GET  /_sim/fills[?api_key=]``: every fill
- ``GET  /_sim/balances[?api_key=]``: spot wallets and the futures wallet of each account
- ``GET  /_sim/positions[?api_key=]``: open swap positions
- ``GET  /_sim/accounts`` / ``POST /_sim/accounts`` ``{"api_key", "secret", "balances",
  "swap_balance"}``: list keys, create (or replace) an account
- ``POST /_sim/reset``: forget everything; only the demo account remains
- ``GET  /_sim/clock`` / ``POST /_sim/clock/advance`` ``{"ms"}``: read or move the market clock
- ``GET  /_sim/faults`` / ``POST /_sim/faults`` ``{"spec", "once": [kind, ...]}``
- ``POST /_sim/match``: fill crossed resting orders now instead of at the next tick
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from xraybot.model.errors import ConfigError
from xraybot.sim.accounts import Account
from xraybot.sim.config import FAULT_KINDS, FaultRates
from xraybot.sim.exchange import SimExchange
from xraybot.sim.faults import describe
from xraybot.sim.replies import MexcJSON
from xraybot.sim.swap_math import available_balance, position_margin

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class AdminError(Exception):
    """A refused admin request: an HTTP status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _orders(account: Account) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for o in account.spot_orders.values():
        rows.append(
            {
                "api_key": account.api_key,
                "market": "spot",
                "order_id": o.order_id,
                "client_order_id": o.client_order_id,
                "symbol": o.symbol,
                "side": "buy" if o.is_buy else "sell",
                "type": o.order_type,
                "price": o.price,
                "amount": o.quantity,
                "filled": o.executed,
                "cost": o.quote_executed,
                "status": o.status.value,
                "created_ms": o.created_ms,
                "updated_ms": o.updated_ms,
            }
        )
    for s in account.swap_orders.values():
        rows.append(
            {
                "api_key": account.api_key,
                "market": "swap",
                "order_id": s.order_id,
                "client_order_id": s.external_oid,
                "symbol": s.symbol,
                "side": s.side.name.lower(),
                "type": s.order_type,
                "price": s.price,
                "amount": s.vol,
                "filled": s.deal_vol,
                "average": s.average,
                "leverage": s.leverage,
                "status": s.state.name.lower(),
                "created_ms": s.created_ms,
                "updated_ms": s.updated_ms,
            }
        )
    return rows


def _fills(account: Account) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "api_key": account.api_key,
            "market": "spot",
            "fill_id": t.trade_id,
            "order_id": t.order_id,
            "client_order_id": t.client_order_id,
            "symbol": t.symbol,
            "side": "buy" if t.is_buyer else "sell",
            "price": t.price,
            "amount": t.qty,
            "fee": t.commission,
            "fee_currency": t.commission_asset,
            "maker": t.is_maker,
            "ts_ms": t.time_ms,
        }
        for t in account.spot_trades
    ]
    rows.extend(
        {
            "api_key": account.api_key,
            "market": "swap",
            "fill_id": d.deal_id,
            "order_id": d.order_id,
            "client_order_id": d.external_oid,
            "symbol": d.symbol,
            "side": d.side.name.lower(),
            "price": d.price,
            "amount": d.vol,
            "fee": d.fee,
            "fee_currency": "USDT",
            "profit": d.profit,
            "maker": not d.is_taker,
            "ts_ms": d.time_ms,
        }
        for d in account.swap_deals
    )
    return rows


def _balances(account: Account) -> dict[str, Any]:
    return {
        "api_key": account.api_key,
        "spot": {a: {"free": w.free, "locked": w.locked} for a, w in sorted(account.spot.items())},
        "swap": {
            "USDT": {
                "cash": account.futures.cash,
                "frozen": account.futures.frozen,
                "position_margin": position_margin(account),
                "available": available_balance(account),
            }
        },
    }


def _decimal(value: object, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number < 0:
        raise AdminError(400, f"{what} must be a number >= 0; found {value!r}.")
    return number


def admin_routes(exchange: SimExchange) -> list[Route]:
    """Return the ``/_sim/`` routes of ``exchange``."""

    def endpoint(
        handler: Callable[[Request, Any], Any],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                client = request.client.host if request.client else ""
                if client not in LOOPBACK:
                    raise AdminError(
                        403, f"the admin API answers loopback clients only, not {client}"
                    )
                body: Any = None
                if request.method == "POST":
                    raw = await request.body()
                    try:
                        body = await request.json() if raw else {}
                    except ValueError:
                        raise AdminError(400, "the body must be JSON") from None
                    if not isinstance(body, dict):
                        raise AdminError(400, f"the body must be a JSON object; found {body!r}")
                return MexcJSON(handler(request, body))
            except AdminError as error:
                return MexcJSON({"error": error.message}, status_code=error.status)

        return run

    def accounts_of(request: Request) -> list[Account]:
        wanted = request.query_params.get("api_key")
        chosen = [a for a in exchange.accounts.all() if not wanted or a.api_key == wanted]
        if wanted and not chosen:
            raise AdminError(404, f"no account has api_key {wanted!r}")
        return chosen

    def orders(request: Request, body: Any) -> Any:
        return {"orders": [row for a in accounts_of(request) for row in _orders(a)]}

    def fills(request: Request, body: Any) -> Any:
        return {"fills": [row for a in accounts_of(request) for row in _fills(a)]}

    def balances(request: Request, body: Any) -> Any:
        return {"balances": [_balances(a) for a in accounts_of(request)]}

    def positions(request: Request, body: Any) -> Any:
        return {
            "positions": [
                {
                    "api_key": a.api_key,
                    "symbol": p.symbol,
                    "side": "long" if p.is_long else "short",
                    "contracts": p.hold_vol,
                    "entry_price": p.open_avg_price,
                    "leverage": p.leverage,
                    "margin": p.im,
                    "realised": p.realised,
                }
                for a in accounts_of(request)
                for p in a.positions.values()
            ]
        }

    def list_accounts(request: Request, body: Any) -> Any:
        return {"accounts": [a.api_key for a in exchange.accounts.all()]}

    def create_account(request: Request, body: Any) -> Any:
        api_key, secret = body.get("api_key"), body.get("secret")
        if not isinstance(api_key, str) or not api_key or not isinstance(secret, str) or not secret:
            raise AdminError(400, "api_key and secret must be non-empty strings")
        raw_balances = body.get("balances", {})
        if not isinstance(raw_balances, dict):
            raise AdminError(
                400, f"balances must be an object of asset: amount; found {raw_balances!r}"
            )
        balances = {str(a): _decimal(v, f"balance of {a}") for a, v in raw_balances.items()}
        swap_raw = body.get("swap_balance")
        swap = (
            balances.get("USDT", Decimal(0))
            if swap_raw is None
            else _decimal(swap_raw, "swap_balance")
        )
        exchange.create_account(api_key, secret, balances, swap)
        return {"api_key": api_key, "balances": balances, "swap_balance": swap}

    def reset(request: Request, body: Any) -> Any:
        exchange.reset()
        return {"ok": True}

    def clock(request: Request, body: Any) -> Any:
        return {"now_ms": exchange.venue.now_ms()}

    def advance(request: Request, body: Any) -> Any:
        ms = body.get("ms")
        if not isinstance(ms, int) or isinstance(ms, bool) or ms < 0:
            raise AdminError(400, f"ms must be an integer >= 0; found {ms!r}")
        move = getattr(exchange.market.clock, "advance", None)
        if move is None:
            raise AdminError(409, "this market's clock cannot be advanced by hand")
        move(ms)
        exchange.match()
        return {"now_ms": exchange.venue.now_ms()}

    def faults(request: Request, body: Any) -> Any:
        injector = exchange.venue.faults
        if body is not None:
            spec = body.get("spec")
            once = body.get("once", [])
            try:
                rates = FaultRates.parse(spec) if isinstance(spec, str) else None
                if not isinstance(once, list) or not set(map(str, once)) <= set(FAULT_KINDS):
                    raise ValueError(
                        f"once must be a list of fault kinds ({', '.join(FAULT_KINDS)}); "
                        f"found {once!r}"
                    )
            except (ConfigError, ValueError) as error:
                raise AdminError(400, str(error)) from None
            for kind in once:
                injector.queue_once(str(kind))
            if rates is not None:
                injector.rates = rates
        return describe(injector)

    def match(request: Request, body: Any) -> Any:
        exchange.match()
        return {"ok": True}

    s = "/_sim/"
    post = ["POST"]
    return [
        Route(s + "orders", endpoint(orders)),
        Route(s + "fills", endpoint(fills)),
        Route(s + "balances", endpoint(balances)),
        Route(s + "positions", endpoint(positions)),
        Route(s + "accounts", endpoint(list_accounts)),
        Route(s + "accounts", endpoint(create_account), methods=post),
        Route(s + "reset", endpoint(reset), methods=post),
        Route(s + "clock", endpoint(clock)),
        Route(s + "clock/advance", endpoint(advance), methods=post),
        Route(s + "faults", endpoint(faults), methods=["GET", "POST"]),
        Route(s + "match", endpoint(match), methods=post),
    ]
