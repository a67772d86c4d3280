"""Every request ccxt's own static tests say it sends (for the calls we serve) is understood.

The URLs and bodies come from ``ccxt-static-request.mexc.json`` (ccxt's request fixtures):
each is replayed against the simulator, re-signed with the demo key and a fresh timestamp.
A request passes when a route answers it with JSON that is either a success or one of the
business refusals listed below (unknown order ids and the like), never a 404, a parameter
error or a signature error.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.sim.fakes import DEMO_KEY, DEMO_SECRET, Sim, running_sim
from xraybot.sim.signing import contract_signature, spot_signature

FIXTURE = Path("/work/shared/fixtures/mexc/ccxt-static-request.mexc.json")
if not FIXTURE.exists():
    FIXTURE = (
        Path(__file__).resolve().parents[3] / "shared/fixtures/mexc/ccxt-static-request.mexc.json"
    )

SERVED = {
    "fetchCurrencies",
    "createOrder",
    "createMarketBuyOrderWithCost",
    "fetchOrders",
    "fetchOrder",
    "fetchMyTrades",
    "fetchOpenOrders",
    "fetchClosedOrders",
    "cancelAllOrders",
    "fetchBalance",
    "fetchPositions",
    "setPositionMode",
    "fetchOHLCV",
    "cancelOrder",
    "fetchLeverage",
    "fetchTime",
    "fetchOrderBook",
    "fetchTicker",
    "fetchTickers",
    "setMarginMode",
}
NOT_SERVED_PATHS = ("/planorder/", "/api/v3/margin/", "/api/v3/order/all")
# The fixture's ids and balances are not ours: these refusals are the right answers.
EXPECTED_REFUSALS = {
    ("fetchOrder", "Spot order"): -2013,
    ("cancelOrder", "Cancel spot orders"): -2013,
    ("fetchOrder", "Swap order"): 2040,
    ("createOrder", "spot market sell with cost"): 30004,
    ("createOrder", "Spot limit sell"): 30004,  # the demo account holds no ATLAS
    ("createOrder", "Spot market buy"): 30002,  # 1 ATLAS is worth less than 1 USDT
    (
        "createOrder",
        "Swap limit sell reduceOnly non-hedged - side must be 4, reduceOnly absent from body",
    ): 2009,
    (
        "createOrder",
        "Swap limit buy reduceOnly non-hedged - side must be 2, reduceOnly absent from body",
    ): 2009,
}


def _cases() -> list[Any]:
    fixture = json.loads(FIXTURE.read_text())
    cases = []
    for method, entries in fixture["methods"].items():
        for entry in entries:
            path = urlsplit(entry["url"]).path
            if method in SERVED and not any(p in path for p in NOT_SERVED_PATHS):
                cases.append(pytest.param(method, entry, id=f"{method}: {entry['description']}"))
    return cases


def _http_method(method: str, path: str) -> str:
    if path.startswith("/api/v1/private/"):
        return "POST" if method.startswith(("create", "cancel", "set")) else "GET"
    if method.startswith("create"):
        return "POST"
    if method.startswith("cancel"):
        return "DELETE"
    return "GET"


def _request(sim: Sim, method: str, entry: dict[str, Any]) -> tuple[int, Any]:
    url = urlsplit(entry["url"])
    verb = _http_method(method, url.path)
    now = str(int(time.time() * 1000))
    headers = {"Content-Type": "application/json"}
    body = None
    query = url.query
    if url.path.startswith("/api/v3/") and "signature=" in query:
        kept = [
            (k, v) for k, v in parse_qsl(query) if k not in ("timestamp", "recvWindow", "signature")
        ]
        query = urlencode([*kept, ("timestamp", now), ("recvWindow", "5000")])
        query += "&signature=" + spot_signature(DEMO_SECRET, query)
        headers["X-MEXC-APIKEY"] = DEMO_KEY
    elif url.path.startswith("/api/v1/private/"):
        if verb == "POST":
            body = json.dumps(entry.get("output") or {}, separators=(",", ":"))
            payload = body
        else:
            payload = query
        headers |= {
            "ApiKey": DEMO_KEY,
            "Request-Time": now,
            "Signature": contract_signature(DEMO_SECRET, DEMO_KEY, now, payload),
        }
    target = sim.url + url.path + (f"?{query}" if query else "")
    request = urllib.request.Request(  # noqa: S310 - loopback
        target, data=body.encode() if body is not None else None, method=verb, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim() as running:
        yield running


@pytest.mark.parametrize(("method", "entry"), _cases())
def test_ccxt_request_is_understood(sim: Sim, method: str, entry: dict[str, Any]) -> None:
    sim.reset()
    status, reply = _request(sim, method, entry)
    code = reply.get("code") if isinstance(reply, dict) else None
    refused = isinstance(reply, dict) and (
        reply.get("success") is False or code not in (None, 0, 200)
    )
    expected = EXPECTED_REFUSALS.get((method, entry["description"]))
    if expected is None:
        assert status == 200, reply
        assert not refused, reply
    else:
        assert refused, reply
        assert code == expected, reply


def test_every_served_ccxt_call_is_covered() -> None:
    methods = {case.values[0] for case in _cases()}
    assert methods == SERVED
