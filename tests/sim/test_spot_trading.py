"""Spot orders through the real ccxt client: placement, fills, lookups, cancels, refusals."""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.sim.fakes import DEMO_KEY, Sim, running_sim

pytestmark = pytest.mark.usefixtures("reset_sim")


async def balances(ex: Any) -> dict[str, tuple[float, float]]:
    balance = await ex.fetch_balance()
    return {
        asset: (v["free"], v["used"]) for asset, v in balance.items() if asset in ("USDT", "BTC")
    }


async def test_starting_balance(ex: Any) -> None:
    assert await balances(ex) == {"USDT": (100_000.0, 0.0)}


async def test_market_buy_fills_at_the_ask_and_charges_the_taker_fee(ex: Any) -> None:
    placed = await ex.create_order(
        "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "m1"}
    )
    assert placed["id"].startswith("C02__")
    assert placed["status"] is None
    assert placed["clientOrderId"] is None
    order = await ex.fetch_order(placed["id"], "BTC/USDT")
    assert (order["status"], order["filled"], order["average"]) == ("closed", 0.01, 50005.0)
    assert order["clientOrderId"] == "m1"
    assert order["cost"] == pytest.approx(500.05)
    assert await balances(ex) == {
        "USDT": (pytest.approx(100_000 - 500.05 - 1.0001), 0.0),
        "BTC": (0.01, 0.0),
    }


async def test_market_sell_fills_at_the_bid(ex: Any) -> None:
    await ex.create_order("BTC/USDT", "market", "buy", 0.02)
    placed = await ex.create_order("BTC/USDT", "market", "sell", 0.015)
    order = await ex.fetch_order(placed["id"], "BTC/USDT")
    assert (order["status"], order["average"], order["side"]) == ("closed", 49995.0, "sell")
    trades = await ex.fetch_my_trades("BTC/USDT")
    assert [(t["side"], t["price"], t["takerOrMaker"]) for t in trades] == [
        ("buy", 50005.0, "taker"),
        ("sell", 49995.0, "taker"),
    ]
    assert trades[1]["fee"] == {"currency": "USDT", "cost": pytest.approx(49995 * 0.015 * 0.002)}


async def test_slippage_moves_market_fills_against_the_taker() -> None:
    from decimal import Decimal

    from tests.sim.fakes import test_config

    with running_sim(test_config(slippage_rate=Decimal("0.001"))) as slipping:
        client = slipping.client()
        try:
            buy = await client.create_order("ETH/USDT", "market", "buy", 1)
            sell = await client.create_order("ETH/USDT", "market", "sell", 1)
            bought = await client.fetch_order(buy["id"], "ETH/USDT")
            sold = await client.fetch_order(sell["id"], "ETH/USDT")
        finally:
            await client.close()
    assert bought["average"] == pytest.approx(3000.3 * 1.001, abs=0.01)
    assert sold["average"] == pytest.approx(2999.7 * 0.999, abs=0.01)


async def test_market_buy_for_a_cost_spends_that_much_quote(ex: Any) -> None:
    placed = await ex.create_market_buy_order_with_cost("ETH/USDT", 600)
    order = await ex.fetch_order(placed["id"], "ETH/USDT")
    assert order["status"] == "closed"
    assert order["filled"] == pytest.approx(0.1999)  # 600 / 3000.3, down to the 0.0001 step
    assert order["cost"] <= 600


async def test_resting_limit_locks_funds_and_can_be_found_by_client_id(ex: Any) -> None:
    placed = await ex.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 40_000, params={"clientOrderId": "rest-1"}
    )
    by_client = await ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "rest-1"})
    assert by_client["id"] == placed["id"]
    assert (by_client["status"], by_client["price"], by_client["filled"]) == ("open", 40_000.0, 0.0)
    assert by_client["timeInForce"] == "GTC"
    assert by_client["type"] == "limit"
    assert [o["id"] for o in await ex.fetch_open_orders("BTC/USDT")] == [placed["id"]]
    assert [o["id"] for o in await ex.fetch_open_orders()] == [placed["id"]]
    held = 400 * 1.002  # price * amount plus the larger fee
    assert (await balances(ex))["USDT"] == (pytest.approx(100_000 - held), pytest.approx(held))


async def test_cancel_by_id_and_by_client_id_releases_funds(ex: Any) -> None:
    first = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40_000)
    await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 41_000, params={"clientOrderId": "c-2"})
    canceled = await ex.cancel_order(first["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    await ex.cancel_order(None, "BTC/USDT", params={"clientOrderId": "c-2"})
    assert await ex.fetch_open_orders("BTC/USDT") == []
    assert await balances(ex) == {"USDT": (100_000.0, 0.0)}
    with pytest.raises(ccxt.BadRequest, match="already CANCELED"):
        await ex.cancel_order(first["id"], "BTC/USDT")


async def test_crossing_limit_fills_at_once_at_the_book_price(ex: Any) -> None:
    placed = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 51_000)
    order = await ex.fetch_order(placed["id"], "BTC/USDT")
    assert (order["status"], order["average"], order["price"]) == ("closed", 50005.0, 51_000.0)
    trade = (await ex.fetch_my_trades("BTC/USDT"))[0]
    assert trade["takerOrMaker"] == "taker"
    assert (await balances(ex))["USDT"] == (pytest.approx(100_000 - 500.05 * 1.002), 0.0)


async def test_resting_limit_fills_as_maker_when_the_price_crosses_it(ex: Any, sim: Sim) -> None:
    placed = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 49_000)
    sim.market.set_price("BTC", 49_500)
    assert (await ex.fetch_order(placed["id"], "BTC/USDT"))["status"] == "open"
    sim.market.set_price("BTC", 48_900)
    order = await ex.fetch_order(placed["id"], "BTC/USDT")
    assert (order["status"], order["average"], order["filled"]) == ("closed", 49_000.0, 0.01)
    trade = (await ex.fetch_my_trades("BTC/USDT"))[0]
    assert (trade["takerOrMaker"], trade["price"]) == ("maker", 49_000.0)
    assert trade["fee"]["cost"] == pytest.approx(490 * 0.001)
    assert await balances(ex) == {
        "USDT": (pytest.approx(100_000 - 490 - 0.49), pytest.approx(0.0)),
        "BTC": (0.01, 0.0),
    }


async def test_resting_sell_fills_when_the_bid_reaches_it(ex: Any, sim: Sim) -> None:
    await ex.create_order("ETH/USDT", "market", "buy", 1)
    placed = await ex.create_order("ETH/USDT", "limit", "sell", 1, 3_100)
    eth = (await ex.fetch_balance())["ETH"]
    assert (eth["free"], eth["used"]) == (0.0, 1.0)
    sim.market.set_price("ETH", 3_101)
    sim.admin("POST", "/_sim/match")
    order = await ex.fetch_order(placed["id"], "ETH/USDT")
    assert (order["status"], order["average"]) == ("closed", 3_100.0)


async def test_limits_fill_when_the_quote_only_touches_them(ex: Any, sim: Sim) -> None:
    at_ask = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 50_005)  # the ask itself
    assert (await ex.fetch_order(at_ask["id"], "BTC/USDT"))["average"] == 50_005.0
    resting = await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 49_000)
    sim.market.set_price("BTC", 49_010, bid=48_990, ask=49_000)
    sim.admin("POST", "/_sim/match")
    order = await ex.fetch_order(resting["id"], "BTC/USDT")
    assert (order["status"], order["average"]) == ("closed", 49_000.0)
    trades = await ex.fetch_my_trades("BTC/USDT")
    assert [t["takerOrMaker"] for t in trades] == ["taker", "maker"]


async def test_time_in_force_ioc_fok_and_post_only(ex: Any) -> None:
    ioc = await ex.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 49_000, params={"timeInForce": "IOC"}
    )
    fok = await ex.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 50_100, params={"timeInForce": "FOK"}
    )
    post = await ex.create_order(
        "BTC/USDT", "limit", "buy", 0.01, 50_100, params={"postOnly": True}
    )
    states = [(await ex.fetch_order(o["id"], "BTC/USDT")) for o in (ioc, fok, post)]
    assert [(o["status"], o["filled"], o["timeInForce"]) for o in states] == [
        ("canceled", 0.0, "IOC"),
        ("closed", 0.01, "FOK"),
        ("canceled", 0.0, "POST_ONLY"),
    ]


async def test_all_orders_lists_every_order_of_the_symbol(ex: Any) -> None:
    await ex.create_order("BTC/USDT", "market", "buy", 0.01)
    await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40_000)
    await ex.create_order("ETH/USDT", "market", "buy", 0.1)
    orders = await ex.fetch_orders("BTC/USDT")
    assert [o["status"] for o in orders] == ["closed", "open"]


async def test_duplicate_client_order_id_is_refused(ex: Any, sim: Sim) -> None:
    await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 40_000, params={"clientOrderId": "dup"})
    with pytest.raises(ccxt.ExchangeError, match="Duplicate order sent") as refused:
        await ex.create_order(
            "BTC/USDT", "limit", "buy", 0.02, 41_000, params={"clientOrderId": "dup"}
        )
    assert '"code":-2010' in str(refused.value)
    orders = sim.admin("GET", "/_sim/orders")["orders"]
    assert [o["client_order_id"] for o in orders] == ["dup"]


async def test_refusals_map_to_ccxt_exceptions(ex: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="Insufficient position"):
        await ex.create_order("BTC/USDT", "market", "buy", 3)
    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order("ETH/USDT", "market", "sell", 1)
    with pytest.raises(ccxt.InvalidOrder, match="minimum transaction volume"):
        await ex.create_order("BTC/USDT", "limit", "buy", 0.00001, 40_000)
    with pytest.raises(ccxt.BadRequest, match="not a multiple"):
        await ex.spotPrivatePostOrder(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.01",
                "price": "40000.001",
            }
        )
    with pytest.raises(ccxt.BadSymbol):
        await ex.spotPrivatePostOrder(
            {"symbol": "BTC_USDT", "side": "BUY", "type": "MARKET", "quantity": "1"}
        )
    with pytest.raises(ccxt.ExchangeError, match="Order does not exist"):
        await ex.fetch_order("C02__1", "BTC/USDT")
    assert await balances(ex) == {"USDT": (100_000.0, 0.0)}


async def test_a_wrong_secret_is_an_authentication_error(sim: Sim) -> None:
    client = sim.client(secret="not-the-secret")
    try:
        with pytest.raises(ccxt.AuthenticationError, match="700002"):
            await client.fetch_balance()
    finally:
        await client.close()


async def test_an_unknown_key_gets_mexc_api_key_error(sim: Sim) -> None:
    client = sim.client(api_key="nobody")
    try:
        with pytest.raises(ccxt.BadRequest, match="10072"):
            await client.fetch_balance()
    finally:
        await client.close()


async def test_a_stale_timestamp_is_an_invalid_nonce(ex: Any) -> None:
    ex.options["timeDifference"] = 60_000  # ccxt now signs a minute in the past
    with pytest.raises(ccxt.InvalidNonce, match="700003"):
        await ex.fetch_balance()


async def test_listen_keys_can_be_created_and_kept_alive(ex: Any) -> None:
    created = await ex.spotPrivatePostUserDataStream()
    kept = await ex.spotPrivatePutUserDataStream({"listenKey": created["listenKey"]})
    assert kept == created
    assert len(created["listenKey"]) == 64


async def test_other_accounts_are_separate(ex: Any, sim: Sim) -> None:
    sim.admin(
        "POST", "/_sim/accounts", {"api_key": "k2", "secret": "s2", "balances": {"USDT": "50"}}
    )
    other = sim.client(api_key="k2", secret="s2")
    try:
        await ex.create_order(
            "BTC/USDT", "limit", "buy", 0.01, 40_000, params={"clientOrderId": "same"}
        )
        placed = await other.create_order(
            "ETH/USDT", "limit", "buy", 0.01, 2_000, params={"clientOrderId": "same"}
        )
        assert (await other.fetch_balance())["USDT"]["used"] == pytest.approx(20.04)
        assert [o["id"] for o in await other.fetch_open_orders()] == [placed["id"]]
    finally:
        await other.close()
    assert DEMO_KEY in sim.admin("GET", "/_sim/accounts")["accounts"]
