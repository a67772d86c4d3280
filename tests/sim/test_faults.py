"""Injected faults, latency and rate limits, as the real ccxt client experiences them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.sim.fakes import Sim, running_sim, test_config
from xraybot.sim.config import FaultRates, RateLimits
from xraybot.sim.faults import FaultInjector

pytestmark = pytest.mark.usefixtures("reset_sim")

BTC_SWAP = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    with running_sim(test_config(fault_hang_ms=3_000)) as running:
        yield running


def once(sim: Sim, *kinds: str) -> None:
    assert sim.admin("POST", "/_sim/faults", {"once": list(kinds)})["pending"]


async def test_timeout_hangs_until_the_client_gives_up(ex: Any, sim: Sim) -> None:
    once(sim, "timeout")
    ex.timeout = 200
    with pytest.raises(ccxt.RequestTimeout):
        await ex.fetch_ticker("BTC/USDT")
    ex.timeout = 10_000
    assert (await ex.fetch_ticker("BTC/USDT"))["last"] == 50_000.0


async def test_timeout_answers_504_when_the_client_waits_longer() -> None:
    with running_sim(test_config(fault_hang_ms=50)) as quick:
        quick.admin("POST", "/_sim/faults", {"once": ["timeout"]})
        client = quick.client(api_key=None)
        try:
            with pytest.raises(ccxt.RequestTimeout, match="504"):
                await client.fetch_time()
        finally:
            await client.close()


async def test_error5xx_is_a_503_without_json(ex: Any, sim: Sim) -> None:
    once(sim, "error5xx")
    with pytest.raises(ccxt.ExchangeNotAvailable, match="503"):
        await ex.fetch_ticker(BTC_SWAP)


async def test_disconnect_drops_the_connection(ex: Any, sim: Sim) -> None:
    # aiohttp silently retries an idempotent request once when a reused keep-alive
    # connection drops, so every request must be dropped for ccxt to see it.
    sim.admin("POST", "/_sim/faults", {"spec": "disconnect=1"})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await ex.fetch_balance()
    sim.admin("POST", "/_sim/faults", {"spec": ""})
    assert (await ex.fetch_balance())["USDT"]["free"] == 100_000.0


async def test_a_dropped_order_request_is_not_retried_by_the_client(ex: Any, sim: Sim) -> None:
    once(sim, "disconnect")
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await ex.create_order("BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "d-1"})
    assert sim.admin("GET", "/_sim/orders")["orders"] == []  # dropped before it was placed


async def test_a_lost_spot_order_response_can_be_recovered_by_client_id(ex: Any, sim: Sim) -> None:
    once(sim, "lost_response")
    with pytest.raises(ccxt.NetworkError):
        await ex.create_order(
            "BTC/USDT", "limit", "buy", 0.01, 40_000, params={"clientOrderId": "lost-1"}
        )
    found = await ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "lost-1"})
    assert (found["status"], found["price"], found["clientOrderId"]) == ("open", 40_000.0, "lost-1")
    [row] = sim.admin("GET", "/_sim/orders")["orders"]
    assert (row["client_order_id"], row["status"]) == ("lost-1", "NEW")


async def test_a_lost_swap_order_response_can_be_recovered_by_external_oid(
    ex: Any, sim: Sim
) -> None:
    once(sim, "lost_response")
    with pytest.raises(ccxt.NetworkError):
        await ex.create_order(BTC_SWAP, "market", "buy", 3, params={"clientOrderId": "lost-2"})
    found = await ex.contractPrivateGetOrderExternalSymbolExternalOid(
        {"symbol": "BTC_USDT", "external_oid": "lost-2"}
    )
    assert (found["data"]["state"], found["data"]["dealVol"]) == (3, "3")


async def test_lost_response_only_hits_order_creation(ex: Any, sim: Sim) -> None:
    once(sim, "lost_response")
    await ex.fetch_balance()
    await ex.fetch_ticker("BTC/USDT")
    with pytest.raises(ccxt.NetworkError):
        await ex.create_order("BTC/USDT", "market", "buy", 0.01)


async def test_partial_market_fill_cancels_the_rest(ex: Any, sim: Sim) -> None:
    once(sim, "partial_fill")
    placed = await ex.create_order("BTC/USDT", "market", "buy", 0.01)
    order = await ex.fetch_order(placed["id"], "BTC/USDT")
    assert (order["status"], order["filled"], order["info"]["status"]) == (
        "canceled",
        0.005,
        "PARTIALLY_CANCELED",
    )
    assert (await ex.fetch_balance())["BTC"]["free"] == 0.005


async def test_partial_limit_fill_rests_until_the_market_comes_back(ex: Any, sim: Sim) -> None:
    once(sim, "partial_fill")
    placed = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 50_010)
    order = await ex.fetch_order(placed["id"], "BTC/USDT")
    assert (order["status"], order["filled"], order["info"]["status"]) == (
        "open",
        0.005,
        "PARTIALLY_FILLED",
    )
    sim.market.set_price("BTC", 50_100)  # away from the limit
    assert (await ex.fetch_order(placed["id"], "BTC/USDT"))["filled"] == 0.005
    sim.market.set_price("BTC", 49_900)  # and back through it
    order = await ex.fetch_order(placed["id"], "BTC/USDT")
    assert (order["status"], order["filled"]) == ("closed", 0.01)
    trades = await ex.fetch_my_trades("BTC/USDT")
    assert [(t["price"], t["amount"], t["takerOrMaker"]) for t in trades] == [
        (50_005.0, 0.005, "taker"),
        (50_010.0, 0.005, "maker"),
    ]
    assert (await ex.fetch_balance())["USDT"]["used"] == pytest.approx(0.0)


async def test_partial_swap_market_fill(ex: Any, sim: Sim) -> None:
    once(sim, "partial_fill")
    placed = await ex.create_order(BTC_SWAP, "market", "buy", 10)
    order = await ex.fetch_order(placed["id"], BTC_SWAP)
    assert (order["status"], order["filled"]) == ("canceled", 5.0)
    [position] = await ex.fetch_positions([BTC_SWAP])
    assert position["contracts"] == 5.0


async def test_fault_rates_apply_to_every_request_until_cleared(ex: Any, sim: Sim) -> None:
    state = sim.admin("POST", "/_sim/faults", {"spec": "error5xx=1"})
    assert state["rates"]["error5xx"] == 1.0
    for _ in range(3):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await ex.fetch_time()
    sim.admin("POST", "/_sim/faults", {"spec": ""})
    assert await ex.fetch_time() == sim.market.clock.now


def test_bad_fault_requests_are_refused(sim: Sim) -> None:
    assert sim.admin("POST", "/_sim/faults", {"spec": "meteor=1"})["status"] == 400
    assert sim.admin("POST", "/_sim/faults", {"once": ["meteor"]})["status"] == 400
    assert sim.admin("GET", "/_sim/faults")["pending"] == {}


def test_the_dice_are_seeded() -> None:
    rates = FaultRates(timeout=0.3, error5xx=0.3, disconnect=0.3)

    def run(seed: int) -> list[str | None]:
        injector = FaultInjector(rates, seed)
        return [injector.request_fault() for _ in range(50)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert {None, "timeout", "error5xx", "disconnect"} == set(run(7))


async def test_latency_is_added_and_everything_still_works() -> None:
    with running_sim(test_config(latency_ms=20)) as slow:
        client = slow.client()
        try:
            await client.load_markets()
            placed = await client.create_order("BTC/USDT", "market", "buy", 0.001)
            assert (await client.fetch_order(placed["id"], "BTC/USDT"))["status"] == "closed"
        finally:
            await client.close()


# -- rate limits ------------------------------------------------------------------------

SMALL_LIMITS = RateLimits(
    spot_weight=12,
    spot_window_ms=60_000,
    contract_requests=2,
    contract_window_ms=60_000,
    contract_detail_requests=1,
    contract_detail_window_ms=60_000,
)


@pytest.fixture
def limited() -> Iterator[Sim]:
    with running_sim(test_config(rate_limits=SMALL_LIMITS)) as running:
        yield running


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def raw_get(url: str) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, _lower(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), json.loads(error.read())


async def test_spot_budget_per_endpoint_gives_429_with_retry_after(limited: Sim) -> None:
    client = limited.client(api_key=None)
    try:
        await client.load_markets()  # exchangeInfo: weight 10 of 12
        for _ in range(12):  # ticker/24hr has a budget of its own
            await client.fetch_ticker("BTC/USDT")
        with pytest.raises(ccxt.RateLimitExceeded):
            await client.fetch_ticker("BTC/USDT")
        with pytest.raises(ccxt.RateLimitExceeded):
            await client.load_markets(reload=True)
    finally:
        await client.close()
    status, headers, body = raw_get(limited.url + "/api/v3/ticker/24hr?symbol=ETHUSDT")
    assert status == 429
    assert body["code"] == 429
    assert 1 <= int(headers["retry-after"]) <= 60


async def test_all_tickers_weigh_40(limited: Sim) -> None:
    status, _, _ = raw_get(limited.url + "/api/v3/ticker/24hr")
    assert status == 429  # 40 > the budget of 12


async def test_contract_budgets_and_the_detail_budget(limited: Sim) -> None:
    for _ in range(2):
        assert raw_get(limited.url + "/api/v1/contract/ticker?symbol=BTC_USDT")[0] == 200
    status, headers, body = raw_get(limited.url + "/api/v1/contract/ticker?symbol=BTC_USDT")
    assert (status, body["code"], body["success"]) == (429, 510, False)
    assert "retry-after" in headers
    # kline/BTC_USDT and kline/ETH_USDT are one endpoint
    assert raw_get(limited.url + "/api/v1/contract/kline/BTC_USDT?interval=Min1")[0] == 200
    assert raw_get(limited.url + "/api/v1/contract/kline/ETH_USDT?interval=Min1")[0] == 200
    assert raw_get(limited.url + "/api/v1/contract/kline/LTC_USDT?interval=Min1")[0] == 429
    assert raw_get(limited.url + "/api/v1/contract/detail")[0] == 200
    assert raw_get(limited.url + "/api/v1/contract/detail")[0] == 429


async def test_keyed_budgets_are_per_key(limited: Sim) -> None:
    limited.admin(
        "POST", "/_sim/accounts", {"api_key": "k2", "secret": "s2", "balances": {"USDT": "1"}}
    )
    first, second = limited.client(), limited.client(api_key="k2", secret="s2")
    try:
        await first.fetch_balance()  # account weighs 10 of 12 (getall, via load_markets, too)
        with pytest.raises(ccxt.RateLimitExceeded):
            await first.fetch_balance({"type": "spot"})
        second.markets, second.markets_by_id = first.markets, first.markets_by_id
        assert (await second.fetch_balance())["USDT"]["free"] == 1.0
    finally:
        await first.close()
        await second.close()
