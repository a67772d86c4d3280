"""USDT perpetual swaps through the real ccxt client: margin, positions, pnl, lookups."""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.sim.fakes import DEMO_KEY, Sim

pytestmark = pytest.mark.usefixtures("reset_sim")

BTC = "BTC/USDT:USDT"
CONTRACT = 0.0001  # BTC per contract in the fake market


async def usdt(ex: Any) -> tuple[float, float]:
    balance = (await ex.fetch_balance({"type": "swap"}))["USDT"]
    return balance["free"], balance["used"]


async def external(ex: Any, oid: str, symbol: str = "BTC_USDT") -> dict[str, Any]:
    reply = await ex.contractPrivateGetOrderExternalSymbolExternalOid(
        {"symbol": symbol, "external_oid": oid}
    )
    return dict(reply["data"])


async def test_starting_balance(ex: Any) -> None:
    assert await usdt(ex) == (100_000.0, 0.0)


async def test_market_open_with_client_id_and_leverage(ex: Any) -> None:
    placed = await ex.create_order(
        BTC, "market", "buy", 10, params={"clientOrderId": "open-1", "leverage": 10}
    )
    assert placed["id"]
    assert placed["status"] is None
    by_external = await external(ex, "open-1")
    assert by_external["orderId"] == placed["id"]
    assert (by_external["state"], by_external["externalOid"], by_external["leverage"]) == (
        3,
        "open-1",
        10,
    )
    order = await ex.fetch_order(placed["id"], BTC)
    assert (order["status"], order["filled"], order["average"], order["side"]) == (
        "closed",
        10.0,
        50005.0,
        "buy",
    )
    fee = 10 * CONTRACT * 50005 * 0.002
    assert order["fee"] == {"currency": "USDT", "cost": pytest.approx(fee)}
    margin = 10 * CONTRACT * 50005 / 10
    assert await usdt(ex) == (pytest.approx(100_000 - fee - margin), 0.0)
    [position] = await ex.fetch_positions([BTC])
    assert (position["side"], position["contracts"], position["entryPrice"]) == (
        "long",
        10.0,
        50005.0,
    )
    assert (position["leverage"], position["marginMode"]) == (10, "cross")
    assert position["unrealizedPnl"] == pytest.approx((50000 - 50005) * 10 * CONTRACT)


async def test_isolated_position_has_a_liquidation_price(ex: Any) -> None:
    await ex.create_order(
        BTC, "market", "sell", 20, params={"marginMode": "isolated", "leverage": 20}
    )
    [position] = await ex.fetch_positions([BTC])
    assert (position["side"], position["marginMode"], position["leverage"]) == (
        "short",
        "isolated",
        20,
    )
    expected = 49995 * (1 + 1 / 20) / (1 + 0.004)
    assert position["liquidationPrice"] == pytest.approx(expected, abs=0.01)
    assert position["initialMargin"] == pytest.approx(20 * CONTRACT * 49995 / 20)


async def test_closing_realizes_pnl_and_frees_the_margin(ex: Any, sim: Sim) -> None:
    await ex.create_order(BTC, "market", "buy", 10, params={"leverage": 10})
    sim.market.set_price("BTC", 51_000, bid=50_990, ask=51_010)
    placed = await ex.create_order(BTC, "market", "sell", 10, params={"reduceOnly": True})
    closed = await ex.fetch_order(placed["id"], BTC)
    assert closed["info"]["side"] == 4
    assert closed["status"] == "closed"
    pnl = (50_990 - 50_005) * 10 * CONTRACT
    assert float(closed["info"]["profit"]) == pytest.approx(pnl)
    assert await ex.fetch_positions([BTC]) == []
    fees = 10 * CONTRACT * (50_005 + 50_990) * 0.002
    assert await usdt(ex) == (pytest.approx(100_000 + pnl - fees), 0.0)
    trades = await ex.fetch_my_trades(BTC)
    # ccxt maps sides 1 and 2 to buy and sell and leaves 3 and 4 raw (research doc §3).
    assert [(t["side"], t["price"], t["amount"]) for t in trades] == [
        ("buy", 50_005.0, 10.0),
        ("4", 50_990.0, 10.0),
    ]


async def test_short_then_close(ex: Any, sim: Sim) -> None:
    await ex.create_order("ETH/USDT:USDT", "market", "sell", 5)
    sim.market.set_price("ETH", 2_900, bid=2_899, ask=2_901)
    await ex.create_order("ETH/USDT:USDT", "market", "buy", 5, params={"reduceOnly": True})
    deals = (await ex.contractPrivateGetOrderListOrderDeals({"symbol": "ETH_USDT"}))["data"]
    assert float(deals[0]["profit"]) == pytest.approx((2_999.7 - 2_901) * 5 * 0.01)


async def test_resting_limit_freezes_margin_then_cancels(ex: Any) -> None:
    placed = await ex.create_order(
        BTC, "limit", "buy", 100, 40_000, params={"clientOrderId": "lim-1"}
    )
    assert [o["id"] for o in await ex.fetch_open_orders(BTC)] == [placed["id"]]
    frozen = 100 * CONTRACT * 40_000 * (1 / 20 + 0.002)  # default leverage 20, taker fee
    assert await usdt(ex) == (pytest.approx(100_000 - frozen), pytest.approx(frozen))
    await ex.cancel_order(placed["id"], BTC)
    order = await ex.fetch_order(placed["id"], BTC)
    assert order["status"] == "canceled"
    assert await ex.fetch_open_orders(BTC) == []
    assert await usdt(ex) == (100_000.0, 0.0)
    with pytest.raises(ccxt.InvalidOrder, match="cannot be cancelled"):
        await ex.cancel_order(placed["id"], BTC)


async def test_resting_limit_fills_as_maker_when_crossed(ex: Any, sim: Sim) -> None:
    placed = await ex.create_order(BTC, "limit", "buy", 10, 49_000, params={"clientOrderId": "dip"})
    sim.market.set_price("BTC", 48_950)
    order = await external(ex, "dip")
    assert (order["state"], order["dealAvgPrice"], order["dealVol"]) == (3, "49000", "10")
    assert float(order["makerFee"]) == pytest.approx(10 * CONTRACT * 49_000 * 0.001)
    [position] = await ex.fetch_positions([BTC])
    assert position["entryPrice"] == 49_000.0
    assert (await ex.fetch_order(placed["id"], BTC))["status"] == "closed"


async def test_a_resting_limit_fills_when_the_quote_only_touches_it(ex: Any, sim: Sim) -> None:
    await ex.create_order(BTC, "limit", "sell", 10, 51_000, params={"clientOrderId": "top"})
    sim.market.set_price("BTC", 50_990, bid=51_000, ask=51_010)
    sim.admin("POST", "/_sim/match")
    order = await external(ex, "top")
    assert (order["state"], order["dealAvgPrice"], order["dealVol"]) == (3, "51000", "10")
    assert float(order["makerFee"]) == pytest.approx(10 * CONTRACT * 51_000 * 0.001)


async def test_history_orders_and_open_orders_paging(ex: Any) -> None:
    for price in (40_000, 41_000, 42_000):
        await ex.create_order(BTC, "limit", "buy", 1, price)
    await ex.create_order(BTC, "market", "buy", 1)
    orders = await ex.fetch_orders(BTC)
    assert sorted(o["status"] for o in orders) == ["closed", "open", "open", "open"]
    closed = await ex.contractPrivateGetOrderListHistoryOrders(
        {"symbol": "BTC_USDT", "states": "3"}
    )
    assert [o["state"] for o in closed["data"]] == [3]
    page = await ex.contractPrivateGetOrderListOpenOrders({"page_size": 2, "page_num": 2})
    assert len(page["data"]) == 1


async def test_set_leverage_and_read_it_back(ex: Any) -> None:
    reply = await ex.set_leverage(50, BTC, {"openType": 1, "positionType": 1})
    assert reply == {"success": True, "code": 0}
    leverage = await ex.fetch_leverage(BTC)
    assert (leverage["longLeverage"], leverage["shortLeverage"]) == (50, 20)
    await ex.create_order(BTC, "market", "buy", 10)
    [position] = await ex.fetch_positions([BTC])
    assert position["leverage"] == 50


async def test_changing_leverage_of_an_open_position_resizes_its_margin(ex: Any) -> None:
    await ex.create_order(BTC, "market", "buy", 10, params={"leverage": 10})
    await ex.set_leverage(5, BTC, {"openType": 2, "positionType": 1})
    [position] = await ex.fetch_positions([BTC])
    assert (position["leverage"], position["initialMargin"]) == (
        5,
        pytest.approx(10 * CONTRACT * 50_005 / 5),
    )


async def test_one_way_mode_nets_opposite_orders(ex: Any) -> None:
    assert (await ex.fetch_position_mode(BTC))["hedged"] is True
    await ex.set_position_mode(False, BTC)
    assert (await ex.fetch_position_mode(BTC))["hedged"] is False
    await ex.create_order(BTC, "market", "buy", 10)
    await ex.create_order(BTC, "market", "sell", 4)  # side 3 in one-way mode reduces the long
    [position] = await ex.fetch_positions([BTC])
    assert (position["side"], position["contracts"]) == ("long", 6.0)
    with pytest.raises(ccxt.BadRequest, match="position mode"):
        await ex.set_position_mode(True, BTC)


async def test_duplicate_external_oid_is_refused(ex: Any, sim: Sim) -> None:
    await ex.create_order(BTC, "limit", "buy", 1, 40_000, params={"clientOrderId": "same"})
    with pytest.raises(ccxt.BadRequest, match="Repeated request") as refused:
        await ex.create_order(BTC, "market", "buy", 1, params={"clientOrderId": "same"})
    assert '"code":603' in str(refused.value)
    assert len(sim.admin("GET", "/_sim/orders")["orders"]) == 1


async def test_refusals_map_to_ccxt_exceptions(ex: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="Insufficient balance!"):
        await ex.create_order(BTC, "market", "buy", 1_000_000)
    with pytest.raises(ccxt.InvalidOrder, match="Position is not exists"):
        await ex.create_order(BTC, "market", "sell", 1, params={"reduceOnly": True})
    with pytest.raises(ccxt.BadRequest, match="leverage must be from 1 to 125"):
        await ex.create_order(BTC, "market", "buy", 1, params={"leverage": 200})
    with pytest.raises(ccxt.BadRequest, match="Order quantity error"):  # ccxt would truncate 1.5
        await ex.contractPrivatePostOrderCreate(
            {"symbol": "BTC_USDT", "vol": 1.5, "side": 1, "type": 6, "openType": 2}
        )
    with pytest.raises(ccxt.ExchangeError, match="externalOid is 33 characters"):
        await ex.create_order(BTC, "market", "buy", 1, params={"clientOrderId": "x" * 33})
    with pytest.raises(ccxt.ExchangeError, match="order not exist"):
        await ex.fetch_order("123", BTC)
    with pytest.raises(ccxt.InvalidOrder, match="order not exist"):
        await ex.cancel_order("123", BTC)
    with pytest.raises(ccxt.BadSymbol):
        await ex.contractPrivateGetPositionLeverage({"symbol": "NOPE_USDT"})
    assert await usdt(ex) == (100_000.0, 0.0)


async def test_cancel_by_external_oid_and_cancel_all(ex: Any) -> None:
    await ex.create_order(BTC, "limit", "buy", 1, 40_000, params={"clientOrderId": "e-1"})
    await ex.create_order(BTC, "limit", "buy", 1, 41_000)
    await ex.contractPrivatePostOrderCancelWithExternal(
        {"symbol": "BTC_USDT", "externalOid": "e-1"}
    )
    assert (await external(ex, "e-1"))["state"] == 4
    await ex.contractPrivatePostOrderCancelAll({"symbol": "BTC_USDT"})
    assert await ex.fetch_open_orders(BTC) == []


async def client_with_keys(sim: Sim, api_key: str, secret: str) -> Any:
    """Load the markets without keys (the signed spot call would fail first), then sign."""
    client = sim.client(api_key=None)
    await client.load_markets()
    client.apiKey, client.secret = api_key, secret
    return client


async def test_a_wrong_secret_is_an_authentication_error(sim: Sim) -> None:
    client = await client_with_keys(sim, DEMO_KEY, "wrong")
    try:
        with pytest.raises(ccxt.AuthenticationError, match="602"):
            await client.fetch_balance({"type": "swap"})
    finally:
        await client.close()


async def test_an_unknown_key_is_an_authentication_error(sim: Sim) -> None:
    client = await client_with_keys(sim, "nobody", "x")
    try:
        with pytest.raises(ccxt.AuthenticationError, match="401"):
            await client.fetch_positions()
    finally:
        await client.close()
