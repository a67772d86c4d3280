"""Swap trigger (plan) orders: resting on the exchange, placing an order when price crosses.

MEXC's ``planorder/place`` takes the order to place (``side``, ``vol``, ``orderType``, a
``price`` for limit types) and a trigger: ``triggerPrice``, ``triggerType`` (1: last price
at or above it, 2: at or below it) and ``trend`` (the price it watches: 1 last, 2 fair,
3 index; the simulator has one price for all three). ccxt sends exactly that for
``create_order(..., params={'triggerPrice': p})`` on a swap market.

Each time the simulator matches (every request, and its background tick) an untriggered
plan whose trigger the last price has reached places its order through the swap desk at
once: EXECUTED with ``placed_id`` set, or FAILED with MEXC's error code when the desk
refuses it (a close with no position left to close). The placed order carries the plan's
``externalOid`` so it can be looked up by the same client id (a simulator choice: MEXC's
documents do not say what id the placed order gets). ``executeCycle`` is accepted and
kept, but plans do not expire here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xraybot.sim.accounts import Account, PlanOrder, PlanState, SwapSide
from xraybot.sim.replies import (
    CONTRACT_ORDER_NOT_CANCELABLE,
    CONTRACT_ORDER_NOT_EXIST,
    MexcError,
    number_text,
)
from xraybot.sim.swap_desk import SwapDesk
from xraybot.sim.swap_params import (
    external_oid_param,
    integer_param,
    integer_value,
    param_error,
    tick_price_param,
    volume_param,
)
from xraybot.sim.venue import Venue

ABOVE, BELOW = 1, 2
PLAN_MARKET = 5


class PlanDesk:
    """Trigger orders of every account; fires them through the swap desk."""

    def __init__(self, venue: Venue, swap: SwapDesk) -> None:
        self.venue = venue
        self.swap = swap

    def place(self, account: Account, body: Mapping[str, Any]) -> PlanOrder:
        """Validate and keep a plan order from MEXC's ``planorder/place`` JSON body."""
        symbol = self.venue.swap_symbol(body.get("symbol"))
        side = SwapSide(integer_param(body, "side", (1, 2, 3, 4), 0))
        order_type = integer_param(body, "orderType", (1, 2, 3, 4, 5), 0)
        open_type = integer_param(body, "openType", (1, 2), 2)
        trigger_type = integer_param(body, "triggerType", (ABOVE, BELOW), 0)
        trend = integer_param(body, "trend", (1, 2, 3), 1)
        execute_cycle = integer_value(body.get("executeCycle", 1), "executeCycle")
        if execute_cycle < 1:
            raise param_error(f"'executeCycle' must be >= 1; found {execute_cycle}.")
        vol = volume_param(body)
        tick, swap_id = symbol.price_tick, symbol.swap_id
        trigger = tick_price_param(body, "triggerPrice", tick, swap_id)
        price = None
        if order_type != PLAN_MARKET:
            price = tick_price_param(body, "price", tick, swap_id)
        raw_leverage = body.get("leverage")
        leverage = None
        if raw_leverage is not None:
            leverage = self.swap.check_leverage(symbol, integer_value(raw_leverage, "leverage"))
        external_oid = external_oid_param(body, account.plan_external_oids, "plan order")
        now = self.venue.now_ms()
        plan = PlanOrder(
            order_id=self.venue.ids.swap_order(),
            external_oid=external_oid,
            symbol=symbol.swap_id,
            side=side,
            vol=vol,
            leverage=leverage,
            open_type=open_type,
            trigger_price=trigger,
            trigger_type=trigger_type,
            execute_cycle=execute_cycle,
            trend=trend,
            order_type=order_type,
            price=price,
            created_ms=now,
            updated_ms=now,
        )
        account.plan_orders[plan.order_id] = plan
        if external_oid is not None:
            account.plan_external_oids[external_oid] = plan.order_id
        self._check(account, plan)  # a trigger already reached fires at once
        return plan

    def cancel(self, account: Account, symbol_id: str | None, order_id: str) -> None:
        """Cancel an untriggered plan; MEXC's errors for a missing or finished one."""
        plan = account.plan_orders.get(order_id)
        if plan is None or (symbol_id and plan.symbol != symbol_id):
            raise MexcError(
                CONTRACT_ORDER_NOT_EXIST, f"order not exist (plan orderId {order_id!r})"
            )
        if plan.state is not PlanState.UNTRIGGERED:
            raise MexcError(
                CONTRACT_ORDER_NOT_CANCELABLE,
                f"order state cannot be cancelled (plan {order_id} is {plan.state.name.lower()})",
            )
        plan.state = PlanState.CANCELED
        plan.updated_ms = self.venue.now_ms()

    def match(self, account: Account) -> None:
        """Fire every untriggered plan of ``account`` whose trigger the price has reached."""
        for plan in list(account.plan_orders.values()):
            if plan.state is PlanState.UNTRIGGERED:
                self._check(account, plan)

    def _check(self, account: Account, plan: PlanOrder) -> None:
        try:
            last = self.venue.swap_top(self.venue.swap_symbol(plan.symbol)).last
        except MexcError:  # no price now (a replay gap): the plan waits
            return
        reached = (
            last >= plan.trigger_price
            if plan.trigger_type == ABOVE
            else (last <= plan.trigger_price)
        )
        if not reached:
            return
        body: dict[str, Any] = {
            "symbol": plan.symbol,
            "side": int(plan.side),
            "vol": plan.vol,
            "type": plan.order_type,
            "openType": plan.open_type,
        }
        if plan.price is not None:
            body["price"] = plan.price
        if plan.leverage is not None:
            body["leverage"] = plan.leverage
        if plan.external_oid is not None:
            body["externalOid"] = plan.external_oid
        plan.updated_ms = self.venue.now_ms()
        try:
            placed = self.swap.place(account, body)
        except MexcError as error:
            plan.state, plan.error_code = PlanState.FAILED, error.code
            return
        plan.state, plan.placed_id = PlanState.EXECUTED, placed.order_id


def plan_view(plan: PlanOrder) -> dict[str, Any]:
    """Return a ``planorder/list/orders`` item (the fields ccxt's parse_order reads)."""
    view: dict[str, Any] = {
        "id": plan.order_id,
        "symbol": plan.symbol,
        "leverage": plan.leverage or 0,
        "side": int(plan.side),
        "triggerPrice": number_text(plan.trigger_price),
        "vol": number_text(plan.vol),
        "openType": plan.open_type,
        "triggerType": plan.trigger_type,
        "state": int(plan.state),
        "executeCycle": plan.execute_cycle,
        "trend": plan.trend,
        "orderType": plan.order_type,
        "errorCode": plan.error_code,
        "externalOid": plan.external_oid,
        "placeOrderId": plan.placed_id,
        "createTime": plan.created_ms,
        "updateTime": plan.updated_ms,
    }
    if plan.price is not None:
        view["price"] = number_text(plan.price)
    return view
