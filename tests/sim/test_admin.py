"""The ``/_sim/`` admin API: accounts, orders, fills, balances, clock, reset, loopback only."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from tests.sim.fakes import DEMO_KEY, FakeMarket, Sim, running_sim, test_config
from xraybot.sim.app import create_app

pytestmark = pytest.mark.usefixtures("reset_sim")


def test_create_an_account_with_keys_and_balances(sim: Sim) -> None:
    created = sim.admin(
        "POST",
        "/_sim/accounts",
        {"api_key": "alice", "secret": "s3cret", "balances": {"USDT": "2500", "BTC": "0.5"}},
    )
    assert created == {
        "api_key": "alice",
        "balances": {"USDT": "2500", "BTC": "0.5"},
        "swap_balance": "2500",
    }
    [alice] = sim.admin("GET", "/_sim/balances?api_key=alice")["balances"]
    assert alice["spot"] == {
        "BTC": {"free": "0.5", "locked": "0"},
        "USDT": {"free": "2500", "locked": "0"},
    }
    assert alice["swap"]["USDT"]["available"] == "2500"
    assert sim.admin("GET", "/_sim/accounts")["accounts"] == [DEMO_KEY, "alice"]
    sim.admin("POST", "/_sim/accounts", {"api_key": "bob", "secret": "x", "swap_balance": 7})
    [bob] = sim.admin("GET", "/_sim/balances?api_key=bob")["balances"]
    assert (bob["spot"], bob["swap"]["USDT"]["cash"]) == ({}, "7")


@pytest.mark.parametrize(
    "body",
    [
        {"api_key": "", "secret": "s"},
        {"api_key": "k"},
        {"api_key": "k", "secret": "s", "balances": {"USDT": "-1"}},
        {"api_key": "k", "secret": "s", "balances": ["USDT"]},
        {"api_key": "k", "secret": "s", "swap_balance": "lots"},
    ],
)
def test_bad_accounts_are_refused(sim: Sim, body: dict[str, Any]) -> None:
    reply = sim.admin("POST", "/_sim/accounts", body)
    assert reply["status"] == 400
    assert reply["error"]


async def test_orders_and_fills_show_client_ids_and_final_status(ex: Any, sim: Sim) -> None:
    await ex.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "a"})
    placed = await ex.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 40_000, params={"clientOrderId": "b"}
    )
    await ex.cancel_order(placed["id"], "BTC/USDT")
    await ex.create_order("BTC/USDT:USDT", "market", "buy", 5, params={"clientOrderId": "c"})
    orders = sim.admin("GET", "/_sim/orders")["orders"]
    assert [(o["market"], o["client_order_id"], o["status"]) for o in orders] == [
        ("spot", "a", "FILLED"),
        ("spot", "b", "CANCELED"),
        ("swap", "c", "completed"),
    ]
    fills = sim.admin("GET", "/_sim/fills")["fills"]
    assert [(f["client_order_id"], f["price"], f["amount"], f["maker"]) for f in fills] == [
        ("a", "50005", "0.01", False),
        ("c", "50005", "5", False),
    ]
    [position] = sim.admin("GET", "/_sim/positions")["positions"]
    assert (position["symbol"], position["side"], position["contracts"]) == (
        "BTC_USDT",
        "long",
        "5",
    )
    assert sim.admin("GET", "/_sim/orders?api_key=nobody")["status"] == 404


async def test_reset_forgets_everything_but_the_demo_account(ex: Any, sim: Sim) -> None:
    sim.admin("POST", "/_sim/accounts", {"api_key": "k", "secret": "s"})
    await ex.create_order("BTC/USDT", "market", "buy", 0.01)
    assert sim.admin("POST", "/_sim/reset") == {"ok": True}
    assert sim.admin("GET", "/_sim/orders") == {"orders": []}
    assert sim.admin("GET", "/_sim/accounts")["accounts"] == [DEMO_KEY]
    assert (await ex.fetch_balance())["USDT"]["free"] == 100_000.0


async def test_advancing_the_clock_moves_the_market_time(ex: Any, sim: Sim) -> None:
    before = sim.admin("GET", "/_sim/clock")["now_ms"]
    after = sim.admin("POST", "/_sim/clock/advance", {"ms": 3_600_000})["now_ms"]
    assert after - before == 3_600_000
    assert await ex.fetch_time() == after
    candles = await ex.fetch_ohlcv("BTC/USDT", "1h", limit=2)
    assert candles[-1][0] == after // 3_600_000 * 3_600_000
    for bad in ({"ms": -1}, {"ms": "soon"}, {}):
        assert sim.admin("POST", "/_sim/clock/advance", bad)["status"] == 400


class _WallClock:
    def now_ms(self) -> int:
        return int(time.time() * 1000)


def test_a_clock_without_advance_refuses() -> None:
    market = FakeMarket()
    market.clock = _WallClock()  # type: ignore[assignment]
    with running_sim(market=market) as frozen_out:
        reply = frozen_out.admin("POST", "/_sim/clock/advance", {"ms": 1})
    assert reply["status"] == 409


async def call(app: Any, method: str, path: str, client: str, body: bytes = b"") -> tuple[int, Any]:
    """Drive the ASGI app directly, as a client at ``client`` would."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": (client, 5000),
        "server": ("127.0.0.1", 8800),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(payload)


async def test_the_admin_api_answers_loopback_only() -> None:
    app = create_app(test_config(), FakeMarket())
    status, reply = await call(app, "GET", "/_sim/orders", "10.0.0.7")
    assert status == 403
    assert "10.0.0.7" in reply["error"]
    assert (await call(app, "GET", "/_sim/orders", "127.0.0.1"))[0] == 200


async def test_bad_json_is_refused() -> None:
    app = create_app(test_config(), FakeMarket())
    assert (await call(app, "POST", "/_sim/accounts", "127.0.0.1", b"{not json"))[0] == 400
    assert (await call(app, "POST", "/_sim/accounts", "127.0.0.1", b"[1, 2]"))[0] == 400


async def test_resting_orders_fill_in_the_background() -> None:
    with running_sim(test_config(match_interval_ms=20)) as ticking:
        client = ticking.client()
        try:
            placed = await client.create_order("BTC/USDT", "limit", "buy", 0.01, 49_000)
            ticking.market.set_price("BTC", 48_000)
            deadline = time.monotonic() + 10
            status = "NEW"
            while status == "NEW" and time.monotonic() < deadline:
                await asyncio.sleep(0.02)  # the admin API never runs the matcher itself
                [row] = ticking.admin("GET", "/_sim/orders")["orders"]
                status = row["status"]
            assert status == "FILLED"
            assert (await client.fetch_order(placed["id"], "BTC/USDT"))["average"] == 49_000.0
        finally:
            await client.close()
