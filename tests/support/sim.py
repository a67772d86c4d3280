"""Run the local simulator in tests and talk to it: admin calls, accounts, gateways, orders."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import ccxt.async_support
import httpx

from tests.support.servers import serve_asgi
from xraybot.exchange.ccxt_gateway import CcxtGateway
from xraybot.exchange.quirks import ccxt_config, quirks_for
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import IntentKind, OrderType, Side
from xraybot.sim.app import create_app
from xraybot.sim.clock import SimClock
from xraybot.sim.config import SimConfig
from xraybot.sim.synthetic import SyntheticMarket

START_MS = 1_763_000_000_000  # 2025-11-13, the simulator's clock at start


@contextmanager
def serve_sim(config: SimConfig, *, n_symbols: int = 12, seed: int = 7) -> Iterator[str]:
    """Serve a simulator over a small synthetic universe; yield its base URL."""
    market = SyntheticMarket(SimClock(START_MS), n_symbols=n_symbols, seed=seed)
    with serve_asgi(create_app(config, market)) as url:
        yield url


def admin(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.request(method, f"{url}/_sim/{path}", json=body, timeout=5)
    response.raise_for_status()
    return response.json()


def new_account(url: str, usdt: str = "10000", swap: str = "5000") -> tuple[str, str]:
    """Create a fresh simulator account; return its (api key, secret)."""
    key, secret = f"key-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    admin(
        url,
        "POST",
        "accounts",
        {"api_key": key, "secret": secret, "balances": {"USDT": usdt}, "swap_balance": swap},
    )
    return key, secret


def sim_orders(url: str, api_key: str) -> list[dict[str, Any]]:
    return admin(url, "GET", f"orders?api_key={api_key}")["orders"]  # type: ignore[no-any-return]


def client_for(url: str, key: str | None, secret: str | None, timeout_ms: int = 3000) -> Any:
    config = ccxt_config("sim", sim_url=url, api_key=key, secret=secret, timeout_ms=timeout_ms)
    # Plain http on loopback: no TLS shutdown to wait 250 ms for when a test closes it.
    return ccxt.async_support.mexc({**config, "timeout_on_exit": 0})


def make_gateway(
    url: str, key: str | None, secret: str | None, timeout_ms: int = 3000
) -> CcxtGateway:
    client = client_for(url, key, secret, timeout_ms)
    return CcxtGateway(client, quirks_for("sim"), lookup_delays_s=(0.05, 0.1))


def make_order(
    symbol: str,
    side: Side,
    amount: str,
    *,
    order_type: OrderType = OrderType.MARKET,
    price: str | None = None,
    reduce_only: bool = False,
    leverage: int = 1,
    client_order_id: str | None = None,
) -> Order:
    """Return a PENDING_SUBMIT order with a fresh client order id."""
    return Order(
        client_order_id=client_order_id or "xb" + uuid.uuid4().hex[:30],
        user_id="u1",
        strategy="test",
        symbol=symbol,
        side=side,
        kind=IntentKind.CLOSE if reduce_only else IntentKind.OPEN,
        order_type=order_type,
        amount=Decimal(amount),
        status=OrderStatus.PENDING_SUBMIT,
        created_ts_ms=START_MS,
        updated_ts_ms=START_MS,
        price=None if price is None else Decimal(price),
        reduce_only=reduce_only,
        leverage=leverage,
    )
