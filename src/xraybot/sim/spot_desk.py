"""Spot trading: order placement, fills against the quote, cancels, resting-order matching.

Fees are charged in the quote currency. A resting buy holds ``price * quantity`` plus the
larger of the two fees in quote currency; a resting sell holds its base amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from xraybot.model.market import Rounding, round_to_tick
from xraybot.sim import fills
from xraybot.sim.accounts import ZERO, Account, SpotOrder, SpotStatus, SpotTrade
from xraybot.sim.book import Top
from xraybot.sim.market import SimSymbol
from xraybot.sim.replies import (
    SPOT_BAD_PARAMETER,
    SPOT_DUPLICATE_CLIENT_ID,
    SPOT_INSUFFICIENT,
    SPOT_MIN_NOTIONAL,
    SPOT_ORDER_CLOSED,
    SPOT_ORDER_REF_MISSING,
    SPOT_UNKNOWN_ORDER,
    MexcError,
    number_text,
)
from xraybot.sim.venue import Venue, spot_tick

ORDER_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")


def decimal_param(params: Mapping[str, str], name: str) -> Decimal | None:
    """Return a numeric parameter, None when absent, or raise MEXC's parameter error."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise MexcError(
            SPOT_BAD_PARAMETER, f"Parameter '{name}' must be a number >= 0; found {raw!r}."
        )
    return value


def _on_step(name: str, value: Decimal, step: Decimal, symbol: str) -> None:
    if value % step != 0:
        raise MexcError(
            SPOT_BAD_PARAMETER,
            f"Parameter '{name}' {number_text(value)} is not a multiple of {symbol}'s step "
            f"{number_text(step)}; round it to the step.",
        )


class SpotDesk:
    """Spot orders of every account, filled against the venue's quotes."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    # -- placing ----------------------------------------------------------------------

    def place(self, account: Account, params: Mapping[str, str]) -> SpotOrder:
        """Validate and place an order from MEXC's ``POST /api/v3/order`` parameters."""
        symbol = self.venue.spot_symbol(params.get("symbol"))
        side = params.get("side", "")
        order_type = params.get("type", "")
        if side not in ("BUY", "SELL"):
            raise MexcError(
                SPOT_BAD_PARAMETER, f"Parameter 'side' must be BUY or SELL; found {side!r}."
            )
        if order_type not in ORDER_TYPES:
            raise MexcError(
                SPOT_BAD_PARAMETER,
                f"Parameter 'type' must be one of {', '.join(ORDER_TYPES)}; found {order_type!r}.",
            )
        client_id = params.get("newClientOrderId") or None
        if client_id is not None and client_id in account.spot_client_ids:
            raise MexcError(
                SPOT_DUPLICATE_CLIENT_ID,
                f"Duplicate order sent: newClientOrderId {client_id!r} is already used by order "
                f"{account.spot_client_ids[client_id]}; look that order up instead.",
            )
        is_buy = side == "BUY"
        top = self.venue.spot_top(symbol)
        price_step = spot_tick(symbol.price_tick)
        amount_step = spot_tick(symbol.amount_tick)
        quantity = decimal_param(params, "quantity")
        quote_quantity = decimal_param(params, "quoteOrderQty")
        price: Decimal | None = None
        if order_type == "MARKET":
            estimate = self._market_price(symbol, top, is_buy)
            if quantity is None and quote_quantity is None:
                raise MexcError(
                    SPOT_BAD_PARAMETER, "A MARKET order needs 'quantity' or 'quoteOrderQty'."
                )
            if quantity is None:
                assert quote_quantity is not None
                quantity = round_to_tick(quote_quantity / estimate, amount_step, Rounding.DOWN)
            notional = quantity * estimate
        else:
            price = decimal_param(params, "price")
            if price is None or price == 0 or quantity is None:
                raise MexcError(
                    SPOT_BAD_PARAMETER, f"A {order_type} order needs 'price' > 0 and 'quantity'."
                )
            _on_step("price", price, price_step, symbol.spot_id)
            notional = quantity * price
        if quote_quantity is None:
            _on_step("quantity", quantity, amount_step, symbol.spot_id)
        if quantity <= 0 or notional < symbol.min_notional:
            raise MexcError(
                SPOT_MIN_NOTIONAL,
                "The minimum transaction volume cannot be less than:"
                f"{number_text(symbol.min_notional)}{symbol.quote} "
                f"(this order is worth {number_text(notional)}{symbol.quote}).",
            )
        self._check_funds(account, symbol, is_buy, order_type, quantity, notional, price)
        now = self.venue.now_ms()
        order = SpotOrder(
            order_id=self.venue.ids.spot_order(),
            client_order_id=client_id,
            symbol=symbol.spot_id,
            is_buy=is_buy,
            order_type=order_type,
            price=price,
            quantity=quantity,
            quote_quantity=quote_quantity or ZERO,
            created_ms=now,
            updated_ms=now,
        )
        account.spot_orders[order.order_id] = order
        if client_id is not None:
            account.spot_client_ids[client_id] = order.order_id
        if price is not None:
            self._lock(account, symbol, order)
        self._on_arrival(account, symbol, order, top)
        if order.is_open:
            account.resting_spot[order.order_id] = order
        return order

    def _market_price(self, symbol: SimSymbol, top: Top, is_buy: bool) -> Decimal:
        price_step = spot_tick(symbol.price_tick)
        return fills.market_fill_price(is_buy, top, self.venue.config.slippage_rate, price_step)

    @staticmethod
    def _buy_hold_rate(symbol: SimSymbol) -> Decimal:
        return 1 + max(symbol.maker_fee, symbol.taker_fee)

    def _check_funds(
        self,
        account: Account,
        symbol: SimSymbol,
        is_buy: bool,
        order_type: str,
        quantity: Decimal,
        notional: Decimal,
        price: Decimal | None,
    ) -> None:
        if is_buy:
            asset = symbol.quote
            rate = 1 + symbol.taker_fee if price is None else self._buy_hold_rate(symbol)
            needed = notional * rate
        else:
            asset, needed = symbol.base, quantity
        free = account.wallet(asset).free
        if free < needed:
            raise MexcError(
                SPOT_INSUFFICIENT,
                f"Insufficient position: this {order_type} order needs {number_text(needed)} "
                f"{asset} and {number_text(free)} {asset} is free.",
            )

    def _lock(self, account: Account, symbol: SimSymbol, order: SpotOrder) -> None:
        assert order.price is not None
        if order.is_buy:
            amount = order.price * order.quantity * self._buy_hold_rate(symbol)
            wallet = account.wallet(symbol.quote)
        else:
            amount = order.quantity
            wallet = account.wallet(symbol.base)
        wallet.free -= amount
        wallet.locked += amount
        order.locked = amount

    def _release(self, account: Account, symbol: SimSymbol, order: SpotOrder) -> None:
        wallet = account.wallet(symbol.quote if order.is_buy else symbol.base)
        wallet.locked -= order.locked
        wallet.free += order.locked
        order.locked = ZERO

    # -- filling ----------------------------------------------------------------------

    def _on_arrival(self, account: Account, symbol: SimSymbol, order: SpotOrder, top: Top) -> None:
        amount_step = spot_tick(symbol.amount_tick)
        if order.order_type == "MARKET":
            qty = self.venue.partial(order.quantity, amount_step)
            price = self._market_price(symbol, top, order.is_buy)
            self._execute(account, symbol, order, qty, price, is_maker=False)
            self._finish(account, symbol, order)
            return
        assert order.price is not None
        price_step = spot_tick(symbol.price_tick)
        taker_price = fills.limit_fill_on_arrival(order.is_buy, order.price, top, price_step)
        if taker_price is None:
            if order.order_type in ("IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"):
                self._finish(account, symbol, order)
            return
        if order.order_type == "LIMIT_MAKER":  # it would take liquidity: refused by cancel
            self._finish(account, symbol, order)
            return
        qty = self.venue.partial(order.quantity, amount_step)
        if order.order_type == "FILL_OR_KILL" and qty < order.quantity:
            self._finish(account, symbol, order)
            return
        self._execute(account, symbol, order, qty, taker_price, is_maker=False)
        if order.order_type == "IMMEDIATE_OR_CANCEL" or order.remaining == 0:
            self._finish(account, symbol, order)
        else:
            order.armed = False  # the book's liquidity ran out: wait for the price to come back

    def _execute(
        self,
        account: Account,
        symbol: SimSymbol,
        order: SpotOrder,
        qty: Decimal,
        price: Decimal,
        *,
        is_maker: bool,
    ) -> None:
        cost = price * qty
        commission = fills.fee(cost, symbol.maker_fee if is_maker else symbol.taker_fee)
        quote, base = account.wallet(symbol.quote), account.wallet(symbol.base)
        if order.is_buy:
            if order.price is not None:
                held = min(order.locked, order.price * qty * self._buy_hold_rate(symbol))
                order.locked -= held
                quote.locked -= held
                quote.free += held
            quote.free -= cost + commission
            base.free += qty
        else:
            if order.price is not None:
                order.locked -= qty
                base.locked -= qty
            else:
                base.free -= qty
            quote.free += cost - commission
        order.executed += qty
        order.quote_executed += cost
        order.updated_ms = self.venue.now_ms()
        order.status = SpotStatus.FILLED if order.remaining == 0 else SpotStatus.PARTIALLY_FILLED
        account.spot_trades.append(
            SpotTrade(
                trade_id=self.venue.ids.trade(),
                order_id=order.order_id,
                client_order_id=order.client_order_id,
                symbol=order.symbol,
                price=price,
                qty=qty,
                quote_qty=cost,
                commission=commission,
                commission_asset=symbol.quote,
                time_ms=order.updated_ms,
                is_buyer=order.is_buy,
                is_maker=is_maker,
            )
        )

    def _finish(self, account: Account, symbol: SimSymbol, order: SpotOrder) -> None:
        """Close the order: filled if nothing remains, else (partially) canceled."""
        account.resting_spot.pop(order.order_id, None)
        if order.locked:
            self._release(account, symbol, order)
        if order.remaining == 0:
            order.status = SpotStatus.FILLED
        else:
            partly = order.executed > 0
            order.status = SpotStatus.PARTIALLY_CANCELED if partly else SpotStatus.CANCELED
        order.updated_ms = self.venue.now_ms()

    def match(self, account: Account) -> None:
        """Fill the account's resting limit orders that the quote now crosses, as maker."""
        for order in account.open_spot_orders():
            if order.price is None:
                continue
            try:
                symbol = self.venue.spot_symbol(order.symbol)
                top = self.venue.spot_top(symbol)
            except MexcError:  # no price now (a replay gap): the order waits
                continue
            price_step = spot_tick(symbol.price_tick)
            price = fills.limit_fill_resting(order.is_buy, order.price, top, price_step)
            if price is None:
                order.armed = True
                continue
            if not order.armed:
                continue
            qty = self.venue.partial(order.remaining, spot_tick(symbol.amount_tick))
            self._execute(account, symbol, order, qty, price, is_maker=True)
            if order.remaining == 0:
                self._finish(account, symbol, order)
            else:
                order.armed = False

    # -- finding and canceling --------------------------------------------------------

    def find(self, account: Account, params: Mapping[str, str]) -> SpotOrder:
        """Return the order named by ``orderId`` or ``origClientOrderId`` on ``symbol``."""
        symbol = self.venue.spot_symbol(params.get("symbol"))
        order_id = params.get("orderId")
        client_id = params.get("origClientOrderId")
        if not order_id and not client_id:
            raise MexcError(
                SPOT_ORDER_REF_MISSING,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if not order_id and client_id:
            order_id = account.spot_client_ids.get(client_id)
        order = account.spot_orders.get(order_id or "")
        if order is None or order.symbol != symbol.spot_id:
            ref = (
                f"orderId {order_id!r}" if params.get("orderId") else f"clientOrderId {client_id!r}"
            )
            raise MexcError(
                SPOT_UNKNOWN_ORDER, f"Order does not exist. (no {symbol.spot_id} order with {ref})"
            )
        return order

    def cancel(self, account: Account, params: Mapping[str, str]) -> SpotOrder:
        """Cancel an open order named as in :meth:`find`; a closed one is refused."""
        order = self.find(account, params)
        if not order.is_open:
            raise MexcError(
                SPOT_ORDER_CLOSED,
                f"Unknown order sent. (order {order.order_id} is already {order.status.value})",
            )
        self._finish(account, self.venue.spot_symbol(order.symbol), order)
        return order
