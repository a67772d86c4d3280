"""Swap trigger (plan) orders through the unmodified ccxt client, as it sends them for MEXC.

``create_order(..., params={'triggerPrice': p})`` goes to ``planorder/place``; the order
rests until the simulator's last price reaches the trigger, then places its order through
the swap desk (a reduce-only market close here, as a resting stop-loss is sent).
"""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.sim.fakes import Sim

pytestmark = pytest.mark.usefixtures("reset_sim")

BTC = "BTC/USDT:USDT"
BELOW = 2  # triggerType: fire when the last price is at or below the trigger


async def long_with_stop(ex: Any, trigger: float, cid: str = "stop-1") -> str:
    await ex.create_order(BTC, "market", "buy", 10, params={"leverage": 10})
    placed = await ex.create_order(
        BTC,
        "market",
        "sell",
        10,
        params={
            "triggerPrice": trigger,
            "triggerType": BELOW,
            "reduceOnly": True,
            "clientOrderId": cid,
            "leverage": 10,
        },
    )
    return str(placed["id"])


async def plans(ex: Any, **params: Any) -> list[dict[str, Any]]:
    reply = await ex.contractPrivateGetPlanorderListOrders(params)
    return list(reply["data"])


async def test_a_trigger_order_rests_and_is_listed_as_open(ex: Any, sim: Sim) -> None:
    plan_id = await long_with_stop(ex, 49_000)
    listed = await ex.fetch_open_orders(BTC, params={"trigger": True})
    assert [o["id"] for o in listed] == [plan_id]
    (order,) = listed
    # ccxt leaves MEXC's close-long side code raw ("4"), as for regular swap orders.
    assert (order["status"], order["side"], order["triggerPrice"]) == ("open", "4", 49_000)
    (raw,) = await plans(ex, states=1)
    assert (raw["externalOid"], raw["side"], raw["triggerType"], raw["orderType"]) == (
        "stop-1",
        4,
        BELOW,
        5,
    )
    # Regular open orders do not include it.
    assert await ex.fetch_open_orders(BTC) == []
    [position] = await ex.fetch_positions([BTC])
    assert position["contracts"] == 10.0


async def test_the_trigger_fires_when_the_price_crosses_and_closes_the_position(
    ex: Any, sim: Sim
) -> None:
    plan_id = await long_with_stop(ex, 49_000)
    sim.market.set_price("BTC", 48_500)
    assert await ex.fetch_positions([BTC]) == []  # the request's match fired it
    (raw,) = await plans(ex)
    assert (raw["id"], raw["state"], raw["errorCode"]) == (plan_id, 3, 0)
    placed = await ex.contractPrivateGetOrderExternalSymbolExternalOid(
        {"symbol": "BTC_USDT", "external_oid": "stop-1"}
    )
    child = placed["data"]
    assert (child["orderId"], child["state"], child["side"]) == (raw["placeOrderId"], 3, 4)
    assert float(child["dealVol"]) == 10
    assert await ex.fetch_open_orders(BTC, params={"trigger": True}) == []
    # The price coming back changes nothing: it fired once.
    sim.market.set_price("BTC", 50_000)
    assert await ex.fetch_positions([BTC]) == []
    closes = [d for d in await ex.fetch_my_trades(BTC) if d["order"] == child["orderId"]]
    assert len(closes) == 1


async def test_a_trigger_not_reached_does_not_fire(ex: Any, sim: Sim) -> None:
    await long_with_stop(ex, 49_000)
    sim.market.set_price("BTC", 49_000.01)
    [position] = await ex.fetch_positions([BTC])
    assert position["contracts"] == 10.0
    (raw,) = await plans(ex)
    assert raw["state"] == 1


async def test_canceling_a_trigger_order_keeps_the_position(ex: Any, sim: Sim) -> None:
    plan_id = await long_with_stop(ex, 49_000)
    await ex.cancel_order(plan_id, BTC, {"trigger": True})
    assert await ex.fetch_open_orders(BTC, params={"trigger": True}) == []
    (raw,) = await plans(ex)
    assert raw["state"] == 2
    sim.market.set_price("BTC", 48_000)
    [position] = await ex.fetch_positions([BTC])
    assert position["contracts"] == 10.0
    with pytest.raises(ccxt.ExchangeError, match="cannot be cancelled"):
        await ex.cancel_order(plan_id, BTC, {"trigger": True})


async def test_a_trigger_whose_position_is_gone_fails_without_opening_one(
    ex: Any, sim: Sim
) -> None:
    await long_with_stop(ex, 49_000)
    await ex.create_order(BTC, "market", "sell", 10, params={"reduceOnly": True})
    sim.market.set_price("BTC", 48_000)
    assert await ex.fetch_positions([BTC]) == []
    (raw,) = await plans(ex)
    assert raw["state"] == 5
    assert raw["errorCode"] != 0


async def test_a_client_id_is_taken_once(ex: Any) -> None:
    await long_with_stop(ex, 49_000)
    with pytest.raises(ccxt.BadRequest, match="Repeated request"):
        await ex.create_order(
            BTC,
            "market",
            "sell",
            10,
            params={"triggerPrice": 48_000, "triggerType": BELOW, "clientOrderId": "stop-1"},
        )


async def test_the_trigger_price_must_be_on_the_tick(ex: Any) -> None:
    await ex.create_order(BTC, "market", "buy", 10, params={"leverage": 10})
    with pytest.raises(ccxt.BadRequest, match="priceUnit"):
        await ex.contractPrivatePostPlanorderPlace(
            {
                "symbol": "BTC_USDT",
                "side": 4,
                "vol": 10,
                "openType": 2,
                "triggerPrice": "49000.005",
                "triggerType": BELOW,
                "executeCycle": 1,
                "trend": 1,
                "orderType": 5,
            }
        )
