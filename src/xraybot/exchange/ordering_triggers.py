"""Resting stop orders on swaps: MEXC's trigger (plan) orders through ccxt.

A STOP_MARKET order goes out as ccxt sends a trigger order for MEXC: ``create_order`` with
``triggerPrice`` (→ ``planorder/place``), a market order placed when the last price reaches
the trigger (``triggerType`` 2 "at or below" for a sell stop, 1 "at or above" for a buy
stop), valid for MEXC's longest cycle (``executeCycle`` 2, seven days; a plan that expires
reads EXPIRED and the position monitor places the next one). Spot has no trigger orders on
MEXC (research doc §2): there the monitor watches the stop locally.

A plan has its own id and is listed apart from regular orders (``planorder/list/orders``).
When it fires, the market order it places carries the same client id (``externalOid``):
the plan's report is then that order's (its exchange id, fills and average), so the order
manager records the fills as for any other order. ccxt maps plan states 2 (canceled), 4
(invalid) and 5 (failed) wrongly or not at all; the state is read from the raw item.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from xraybot.exchange.account_parsing import parse_order
from xraybot.exchange.errors import TRANSLATABLE, translate
from xraybot.exchange.parsing import raw_info
from xraybot.exchange.port import OrderReport
from xraybot.exchange.quirks import ExchangeQuirks
from xraybot.model.market import Market, MarketKind, Rounding
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import Side

if TYPE_CHECKING:
    from xraybot.exchange.ordering import OrderDesk

log = structlog.get_logger(__name__)

_PLAN_LIST = "contractPrivateGetPlanorderListOrders"
_PAGE = 100
_TRIGGER_AT_OR_ABOVE, _TRIGGER_AT_OR_BELOW = 1, 2
_LONGEST_CYCLE = 2  # seven days
_PLAN_STATES: Mapping[str, OrderStatus] = {
    "1": OrderStatus.OPEN,
    "2": OrderStatus.CANCELED,
    "3": OrderStatus.FILLED,
    "4": OrderStatus.EXPIRED,
    "5": OrderStatus.REJECTED,
}


class TriggerDesk:
    """The trigger-order half of the OrderDesk (swap markets of exchanges whose quirks say
    ``swap_plan_orders``)."""

    def __init__(self, desk: OrderDesk, client: Any, quirks: ExchangeQuirks) -> None:
        self._desk = desk
        self._client = client
        self._quirks = quirks

    def supported(self, market: Market) -> bool:
        """Whether a stop on ``market`` can rest on the exchange."""
        return market.kind is MarketKind.SWAP and self._quirks.swap_plan_orders

    def stop_price(self, order: Order, market: Market) -> Any:
        """The trigger on the tick, rounded so it never fires later than asked."""
        assert order.stop_price is not None  # the model refuses a stop order without one
        mode = Rounding.UP if order.side is Side.SELL else Rounding.DOWN
        return market.round_price(order.stop_price, mode)

    def params(self, order: Order) -> dict[str, Any]:
        below = order.side is Side.SELL  # a sell stop protects a long: fires on the way down
        return {
            "triggerType": _TRIGGER_AT_OR_BELOW if below else _TRIGGER_AT_OR_ABOVE,
            "executeCycle": _LONGEST_CYCLE,
            "trend": 1,  # the last price, as the local watch and the backtest use
        }

    async def find(
        self, market: Market, exchange_order_id: str | None, client_order_id: str | None
    ) -> OrderReport | None:
        """The trigger order with either id (every state), as its report; None: no such plan."""
        for raw in await self._plans(market):
            info = raw_info(raw)
            if (exchange_order_id is not None and str(raw.get("id")) == exchange_order_id) or (
                client_order_id is not None and info.get("externalOid") == client_order_id
            ):
                return await self._report(raw, market, client_order_id)
        return None

    async def open_orders(self, market: Market | None, markets: Mapping[str, Market]) -> list[Any]:
        """Raw open trigger orders (of ``market``, or of every swap market)."""
        symbol = None if market is None else market.symbol
        params: dict[str, Any] = {"trigger": True}
        if market is None:
            params["type"] = MarketKind.SWAP.value
        try:
            return list(await self._client.fetch_open_orders(symbol, None, None, params))
        except TRANSLATABLE as e:
            raise self._translate(e, f"fetch open trigger orders on {symbol or 'swap'}") from e

    def parse(self, raw: Mapping[str, Any], market: Market) -> OrderReport:
        """An untriggered plan's report (state read from the raw item, not from ccxt)."""
        report = parse_order(raw, market, self._quirks)
        state = str(raw_info(raw).get("state"))
        return dataclasses.replace(report, status=_PLAN_STATES.get(state, report.status))

    async def cancel(self, market: Market, plan: OrderReport) -> None:
        try:
            await self._client.cancel_order(
                plan.exchange_order_id, market.symbol, {"trigger": True}
            )
        except TRANSLATABLE as e:
            raise self._translate(e, f"cancel trigger order {plan.exchange_order_id}") from e

    async def _plans(self, market: Market) -> list[Any]:
        try:
            return list(
                await self._client.fetch_orders(market.symbol, None, _PAGE, {"method": _PLAN_LIST})
            )
        except TRANSLATABLE as e:
            raise self._translate(e, f"fetch trigger orders on {market.symbol}") from e

    async def _report(
        self, raw: Mapping[str, Any], market: Market, client_order_id: str | None
    ) -> OrderReport:
        plan = self.parse(raw, market)
        if plan.status is not OrderStatus.FILLED:
            return plan
        # Fired: the order it placed has the fills (looked up by the plan's client id).
        cid = plan.client_order_id or client_order_id
        placed_id = raw_info(raw).get("placeOrderId")
        placed = None
        if cid is not None:
            placed = await self._desk.fetch_regular(market, None, cid)
        if placed is None and placed_id:
            placed = await self._desk.fetch_regular(market, str(placed_id), None)
        if placed is None:
            log.warning(
                "trigger order fired but the order it placed is not found yet",
                symbol=market.symbol,
                client_order_id=cid,
            )
            return dataclasses.replace(plan, status=OrderStatus.OPEN)
        return dataclasses.replace(placed, client_order_id=cid)

    def _translate(self, error: BaseException, action: str) -> Exception:
        return translate(error, self._quirks.exchange_id, action, client=self._client)
