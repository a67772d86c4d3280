"""Placing, finding and cancelling orders through ccxt without ever placing one twice.

Each order goes out under its deterministic client order id. When the answer is lost
(timeout, dropped connection, 5xx) the order is looked up by that id, a few times,
instead of being sent again; if it still cannot be found the caller gets
:class:`OrderStatusUnknownError` and must look again later, never resend blindly.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import ccxt
import structlog

from xraybot.exchange.account_parsing import parse_order, parse_trade
from xraybot.exchange.errors import (
    TRANSLATABLE,
    answer_may_be_lost,
    exchange_error_code,
    translate,
)
from xraybot.exchange.ordering_triggers import TriggerDesk
from xraybot.exchange.port import OrderReport, TradeReport
from xraybot.exchange.quirks import ExchangeQuirks
from xraybot.model.errors import (
    DataValidationError,
    InvalidInputError,
    InvalidOrderError,
    OrderStatusUnknownError,
    TemporaryError,
)
from xraybot.model.market import Market, MarketKind, Rounding
from xraybot.model.orders import Order, OrderStatus
from xraybot.model.signals import OrderType, Side

if TYPE_CHECKING:
    from xraybot.exchange.ccxt_gateway import CcxtGateway

log = structlog.get_logger(__name__)


class OrderDesk:
    """The order half of CcxtGateway: create, fetch, cancel, open orders, trades, leverage."""

    def __init__(
        self,
        gateway: CcxtGateway,
        client: Any,
        quirks: ExchangeQuirks,
        *,
        lookup_delays_s: tuple[float, ...],
    ) -> None:
        self._gateway = gateway
        self._client = client
        self._quirks = quirks
        self._delays = lookup_delays_s
        self._triggers = TriggerDesk(self, client, quirks)

    def supports_resting_stops(self, market: Market) -> bool:
        """Whether a STOP_MARKET order on ``market`` rests on the exchange (ordering_triggers)."""
        return self._triggers.supported(market)

    @property
    def _exchange(self) -> str:
        return self._quirks.exchange_id

    def _translate(self, error: BaseException, action: str) -> Exception:
        return translate(error, self._exchange, action, client=self._client)

    # -- create ---------------------------------------------------------------------------

    async def create(self, order: Order) -> OrderReport:
        """Place ``order`` and return the exchange's view of it.

        The amount is rounded toward zero to the market's step and a limit price to its
        tick (buys down, sells up): a price off the tick is rounded, not refused, and the
        change is logged. An amount or notional under the market's minimum is refused with
        InvalidOrderError before any request. A lost answer leads to lookups by client id.
        """
        market = await self._gateway.market(order.symbol)
        amount, price = await self._checked(order, market)
        cid = order.client_order_id
        action = f"place {order.order_type} {order.side} order {cid} on {market.symbol}"
        order_type, params = order.order_type.value, self._params(order, market)
        if order.order_type is OrderType.STOP_MARKET:
            # A trigger order: ccxt places a market order when the price reaches it.
            order_type = OrderType.MARKET.value
            params |= self._triggers.params(order)
            params["triggerPrice"] = float(self._triggers.stop_price(order, market))
        try:
            placed = await self._client.create_order(
                market.symbol,
                order_type,
                order.side.value,
                float(self._to_ccxt_amount(amount, market)),
                None if price is None else float(price),
                params,
            )
        except TRANSLATABLE as e:
            return await self._after_failed_create(e, order, market, action)
        log.info("order placed", exchange=self._exchange, symbol=market.symbol, client_order_id=cid)
        return await self._confirm(placed, order, market, amount, price)

    async def _checked(self, order: Order, market: Market) -> tuple[Decimal, Decimal | None]:
        refused = f"{self._exchange}: order {order.client_order_id} on {market.symbol} refused"
        stop = order.order_type is OrderType.STOP_MARKET
        if stop and not self._triggers.supported(market):
            raise InvalidOrderError(
                f"{refused}: {self._exchange} {market.kind} has no resting stop orders here; "
                "the position monitor (risk/exits) closes positions at their stop. Send a "
                "market or limit order."
            )
        if not market.active:
            raise InvalidOrderError(
                f"{refused}: the exchange marks the market as not trading (halted, paused or "
                "delisted); skip it until it trades again."
            )
        if market.kind is MarketKind.SWAP and order.leverage > market.max_leverage:
            raise InvalidOrderError(
                f"{refused}: leverage {order.leverage} exceeds the market maximum "
                f"{market.max_leverage}; lower it."
            )
        amount = market.round_amount(order.amount)
        if amount != order.amount:
            log.info(
                "order amount rounded to the step",
                symbol=market.symbol,
                found=str(order.amount),
                sent=str(amount),
                step=str(market.amount_tick),
            )
        price: Decimal | None = None
        reference = order.price
        if order.order_type is OrderType.LIMIT:
            if order.price is None:
                raise InvalidOrderError(f"{refused}: a limit order needs a price; found none.")
            mode = Rounding.DOWN if order.side is Side.BUY else Rounding.UP
            price = reference = market.round_price(order.price, mode)
            if price != order.price:
                log.info(
                    "limit price rounded to the tick",
                    symbol=market.symbol,
                    found=str(order.price),
                    sent=str(price),
                    tick=str(market.price_tick),
                )
            if price <= 0:
                raise InvalidOrderError(
                    f"{refused}: price {order.price} is below one tick ({market.price_tick})."
                )
        elif stop:
            reference = self._triggers.stop_price(order, market)
        elif reference is None and market.min_cost > 0:
            # A market order's notional needs a price; the last trade is the honest estimate.
            reference = (await self._gateway.fetch_ticker(market.symbol)).last
        try:
            market.check_order_size(amount, reference or Decimal(0))
        except InvalidOrderError as e:
            raise InvalidOrderError(f"{refused} before sending: {e}") from None
        return amount, price

    def _params(self, order: Order, market: Market) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if market.kind is MarketKind.SWAP:
            params.update(self._quirks.swap_order_params)
            if self._quirks.swap_leverage_param is not None:
                params[self._quirks.swap_leverage_param] = order.leverage
            if order.reduce_only:
                params["reduceOnly"] = True  # ccxt turns this into MEXC's close-side codes
        return params

    def _to_ccxt_amount(self, amount: Decimal, market: Market) -> Decimal:
        if market.kind is MarketKind.SWAP and not self._quirks.swap_amount_in_contracts:
            return amount * market.contract_size
        return amount

    async def _after_failed_create(
        self, error: BaseException, order: Order, market: Market, action: str
    ) -> OrderReport:
        cid = order.client_order_id
        if answer_may_be_lost(error):
            log.warning(
                "order answer lost; looking it up by client id",
                exchange=self._exchange,
                symbol=market.symbol,
                client_order_id=cid,
                error=type(error).__name__,
            )
            found = await self._look_up(market, cid)
            if found is not None:
                return found
            raise OrderStatusUnknownError(
                f"{self._exchange}: the answer to order {cid} on {market.symbol} was lost "
                f"({type(error).__name__}) and {1 + len(self._delays)} lookups by client order "
                "id found nothing yet. Do not send it again under a new id; look it up by this "
                "client id later.",
                client_order_id=cid,
            ) from error
        code = exchange_error_code(error)
        if isinstance(error, ccxt.DuplicateOrderId) or code in self._quirks.duplicate_order_codes:
            existing = await self.fetch(market, None, cid)
            if existing is not None:
                log.info("order already placed under this client id", client_order_id=cid)
                return existing
        if market.kind is MarketKind.SWAP and self._swap_orders_closed(error):
            raise InvalidOrderError(
                f"{self._exchange} refuses futures (swap) orders for this API key: it answered "
                f"'Contract not allow place order!' (code {code or '1002'}) to order {cid} on "
                f"{market.symbol}. MEXC closed futures order placement to ordinary API keys in "
                "2022; market data, balances, positions and leverage still work. Trade on "
                "spot, use paper mode, or ask MEXC to enable futures trading for the key."
            ) from error
        raise self._translate(error, action) from error

    def _swap_orders_closed(self, error: BaseException) -> bool:
        if not self._quirks.swap_orders_may_be_closed:
            return False
        text = str(error)
        return any(marker in text for marker in self._quirks.swap_orders_closed_markers)

    async def _look_up(
        self, market: Market, cid: str, exchange_order_id: str | None = None
    ) -> OrderReport | None:
        """Look the order up by client id (then exchange id), waiting between attempts."""
        for delay in (0.0, *self._delays):
            if delay:
                await asyncio.sleep(delay)
            try:
                found = await self.fetch(market, None, cid)
                if found is None and exchange_order_id is not None:
                    found = await self.fetch(market, exchange_order_id, None)
            except TemporaryError as e:
                log.info("order lookup failed; retrying", client_order_id=cid, error=str(e))
                continue
            if found is not None:
                return found
        return None

    async def _confirm(
        self,
        placed: Any,
        order: Order,
        market: Market,
        amount: Decimal,
        price: Decimal | None,
    ) -> OrderReport:
        placed = placed if isinstance(placed, Mapping) else {}
        cid = order.client_order_id
        if self._quirks.create_order_returns_status and placed.get("status") is not None:
            try:
                report = parse_order(placed, market, self._quirks)
            except DataValidationError:
                pass  # incomplete acknowledgement: the lookup below gives the full picture
            else:
                return (
                    report
                    if report.client_order_id
                    else dataclasses.replace(report, client_order_id=cid)
                )
        exchange_order_id = placed.get("id") if isinstance(placed.get("id"), str) else None
        found = await self._look_up(market, cid, exchange_order_id)
        if found is not None:
            return found
        if exchange_order_id is None:
            raise OrderStatusUnknownError(
                f"{self._exchange} accepted order {cid} on {market.symbol} without an id and "
                "lookups by client id found nothing yet; look it up by this client id later.",
                client_order_id=cid,
            )
        # Accepted (it has an id) but not yet visible: report it as acknowledged.
        return OrderReport(
            symbol=market.symbol,
            exchange_order_id=exchange_order_id,
            client_order_id=cid,
            status=OrderStatus.OPEN,
            side=order.side,
            amount=amount,
            filled=Decimal(0),
            average_price=None,
            price=price,
            fee=None,
            fee_currency=None,
            ts_ms=self._gateway.now_ms(),
        )

    # -- fetch and cancel -----------------------------------------------------------------

    async def fetch(
        self, market: Market, exchange_order_id: str | None, client_order_id: str | None
    ) -> OrderReport | None:
        """Return the order by exchange id (preferred) or client id; None if it does not exist.

        A swap trigger order is found too (``ordering_triggers``; after it fired, as the
        order it placed).
        """
        found = await self.fetch_regular(market, exchange_order_id, client_order_id)
        if found is None and self._triggers.supported(market):
            found = await self._triggers.find(market, exchange_order_id, client_order_id)
        return found

    async def fetch_regular(
        self, market: Market, exchange_order_id: str | None, client_order_id: str | None
    ) -> OrderReport | None:
        """``fetch`` among regular orders only (no trigger orders)."""
        if exchange_order_id is None and client_order_id is None:
            raise InvalidInputError(
                "fetching an order needs exchange_order_id or client_order_id; found neither."
            )
        ref = exchange_order_id or client_order_id
        symbol = market.symbol
        try:
            if exchange_order_id is not None:
                raw = await self._client.fetch_order(exchange_order_id, symbol)
            elif market.kind is MarketKind.SWAP and self._quirks.swap_client_id_lookup:
                raw = await self._swap_order_by_client_id(market, str(client_order_id))
            else:
                raw = await self._client.fetch_order(
                    None, symbol, {"clientOrderId": client_order_id}
                )
        except TRANSLATABLE as e:
            if self._not_found(e):
                return None
            raise self._translate(e, f"fetch order {ref} on {symbol}") from e
        if not raw:
            return None
        report = parse_order(raw, market, self._quirks)
        if report.client_order_id is None and client_order_id is not None:
            report = dataclasses.replace(report, client_order_id=client_order_id)
        return report

    async def _swap_order_by_client_id(self, market: Market, cid: str) -> Any:
        # ccxt's fetch_order cannot look a swap order up by MEXC's externalOid.
        method = getattr(self._client, str(self._quirks.swap_client_id_lookup))
        symbol_key, cid_key = self._quirks.swap_client_id_lookup_params
        ccxt_market = self._client.market(market.symbol)
        response = await method({symbol_key: ccxt_market["id"], cid_key: cid})
        data = response.get("data") if isinstance(response, Mapping) else None
        if not data:
            return None
        return self._client.parse_order(data, ccxt_market)

    def _not_found(self, error: BaseException) -> bool:
        return isinstance(error, ccxt.OrderNotFound) or (
            exchange_error_code(error) in self._quirks.order_not_found_codes
        )

    async def cancel(
        self, market: Market, exchange_order_id: str | None, client_order_id: str | None
    ) -> OrderReport:
        """Cancel the order; an order already finished is reported as it is, not refused."""
        ref = exchange_order_id or client_order_id
        action = f"cancel order {ref} on {market.symbol}"
        if self._triggers.supported(market):
            plan = await self._triggers.find(market, exchange_order_id, client_order_id)
            if plan is not None and not plan.status.is_terminal:
                await self._triggers.cancel(market, plan)
                plan = await self._triggers.find(market, plan.exchange_order_id, None)
            if plan is not None:
                return plan
        order_id = exchange_order_id
        if order_id is None and market.kind is MarketKind.SWAP:
            # MEXC cancels swap orders by exchange id only.
            current = await self.fetch(market, None, client_order_id)
            if current is None:
                raise self._no_such_order(market, ref)
            if current.status.is_terminal:
                return current
            order_id = current.exchange_order_id
        params = {} if order_id is not None else {"clientOrderId": client_order_id}
        try:
            await self._client.cancel_order(order_id, market.symbol, params)
        except TRANSLATABLE as e:
            refused = exchange_error_code(e) in self._quirks.cancel_refused_codes
            if refused or isinstance(e, ccxt.InvalidOrder) or self._not_found(e):
                current = await self.fetch(market, order_id, client_order_id)
                if current is None:
                    raise self._no_such_order(market, ref) from e
                if current.status.is_terminal:
                    return current
            raise self._translate(e, action) from e
        # Cancel answers are thin (MEXC swap: no id, no status): read the order back.
        report = (
            await self._look_up(market, client_order_id, order_id)
            if client_order_id
            else (await self.fetch(market, order_id, None))
        )
        if report is None:
            raise OrderStatusUnknownError(
                f"{self._exchange} accepted the cancel of order {ref} on {market.symbol} but "
                "the order could not be read back; fetch it again.",
                client_order_id=client_order_id or "",
            )
        return report

    def _no_such_order(self, market: Market, ref: str | None) -> InvalidOrderError:
        return InvalidOrderError(
            f"{self._exchange} has no order {ref!r} on {market.symbol} to cancel; check the id "
            "and the symbol."
        )

    # -- lists and leverage ---------------------------------------------------------------

    async def open_orders(
        self, markets: list[Market] | None, all_markets: Mapping[str, Market]
    ) -> list[OrderReport]:
        """Return open orders on ``markets``, or on every market kind the exchange has."""
        out: list[OrderReport] = []
        if markets is not None:
            for market in markets:
                raws = await self._gateway.call(
                    f"fetch open orders on {market.symbol}",
                    self._client.fetch_open_orders,
                    market.symbol,
                )
                out += [parse_order(raw, market, self._quirks) for raw in raws]
                if self._triggers.supported(market):
                    plans = await self._triggers.open_orders(market, all_markets)
                    out += [self._triggers.parse(raw, market) for raw in plans]
            return out
        for kind in sorted({m.kind for m in all_markets.values()}):
            raws = await self._gateway.call(
                f"fetch open {kind} orders",
                self._client.fetch_open_orders,
                None,
                None,
                None,
                {"type": kind.value},
            )
            for raw in raws:
                owner = (
                    all_markets.get(str(raw.get("symbol"))) if isinstance(raw, Mapping) else None
                )
                if owner is not None:
                    out.append(parse_order(raw, owner, self._quirks))
        swaps = [m for m in all_markets.values() if self._triggers.supported(m)]
        if swaps:
            for raw in await self._triggers.open_orders(None, all_markets):
                owner = all_markets.get(str(raw.get("symbol")))
                if owner is not None:
                    out.append(self._triggers.parse(raw, owner))
        return out

    async def my_trades(
        self, market: Market, since_ms: int | None, limit: int | None
    ) -> list[TradeReport]:
        raws = await self._gateway.call(
            f"fetch my trades on {market.symbol}",
            self._client.fetch_my_trades,
            market.symbol,
            since_ms,
            limit,
        )
        return [parse_trade(raw, market, self._quirks) for raw in raws]

    async def set_leverage(self, market: Market, leverage: int) -> None:
        if market.kind is not MarketKind.SWAP:
            raise InvalidInputError(
                f"leverage applies to swap markets; {market.symbol} is a spot market."
            )
        if isinstance(leverage, bool) or not 1 <= leverage <= market.max_leverage:
            raise InvalidInputError(
                f"{market.symbol} leverage must be a whole number from 1 to "
                f"{market.max_leverage}; found {leverage!r}."
            )
        for params in self._quirks.leverage_param_sets:
            try:
                await self._client.set_leverage(leverage, market.symbol, dict(params))
            except ccxt.NoChange:
                continue
            except TRANSLATABLE as e:
                raise self._translate(
                    e, f"set leverage {leverage} on {market.symbol} ({dict(params)})"
                ) from e
