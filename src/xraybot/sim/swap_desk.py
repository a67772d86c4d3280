"""Linear USDT perpetual swaps: margin, positions, fills, closes and realized pnl.

Amounts are contracts (``vol``); a contract is ``contract_size`` base units. Opening an
order holds ``notional / leverage`` plus the taker fee out of the available balance; a
filled opening adds to the position and moves that margin into it; a close realizes
``(exit - entry) * contracts * contract_size`` (negated for shorts) and frees the margin.
In hedge mode (MEXC's default) longs and shorts are separate positions; in one-way mode
an opening fill first closes an opposite position.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from xraybot.sim import fills
from xraybot.sim.accounts import ZERO, Account, Position, SwapDeal, SwapOrder, SwapSide, SwapState
from xraybot.sim.book import Top
from xraybot.sim.market import SimSymbol
from xraybot.sim.replies import (
    CONTRACT_INSUFFICIENT,
    CONTRACT_NO_POSITION,
    CONTRACT_QUANTITY,
    MexcError,
    number_text,
)
from xraybot.sim.swap_math import available_balance
from xraybot.sim.swap_params import (
    VOL_UNIT,
    external_oid_param,
    integer_param,
    integer_value,
    param_error,
    tick_price_param,
    volume_param,
)
from xraybot.sim.venue import Venue

MARKET_TYPES = (5, 6)


class SwapDesk:
    """Swap orders and positions of every account."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    def leverage_of(self, account: Account, symbol: SimSymbol, position_type: int) -> int:
        """Return the leverage set for a side of a symbol, else the default (capped)."""
        stored = account.leverage.get((symbol.swap_id, position_type))
        if stored is not None:
            return stored[0]
        return min(self.venue.config.default_leverage, symbol.max_leverage)

    def check_leverage(self, symbol: SimSymbol, leverage: int) -> int:
        """Return ``leverage`` if the symbol allows it, else raise MEXC's parameter error."""
        if not 1 <= leverage <= symbol.max_leverage:
            raise param_error(
                f"leverage must be from 1 to {symbol.max_leverage} for {symbol.swap_id}; "
                f"found {leverage}."
            )
        return leverage

    # -- placing ----------------------------------------------------------------------

    def place(self, account: Account, body: Mapping[str, Any]) -> SwapOrder:
        """Validate and place an order from MEXC's ``order/create`` JSON body."""
        symbol = self.venue.swap_symbol(body.get("symbol"))
        side = SwapSide(integer_param(body, "side", (1, 2, 3, 4), 0))
        order_type = integer_param(body, "type", (1, 2, 3, 4, 5, 6), 0)
        open_type = integer_param(body, "openType", (1, 2), 2)
        vol = volume_param(body)
        external_oid = external_oid_param(body, account.swap_external_oids, "order")
        raw_leverage = body.get("leverage")
        if raw_leverage is None:
            leverage = self.leverage_of(account, symbol, side.position_type)
        else:
            leverage = self.check_leverage(symbol, integer_value(raw_leverage, "leverage"))
        top = self.venue.swap_top(symbol)
        if order_type in MARKET_TYPES:
            price = self._market_price(symbol, top, side.is_buy)
        else:
            price = tick_price_param(body, "price", symbol.price_tick, symbol.swap_id)
        frozen = ZERO
        if side.opens:
            notional = vol * symbol.contract_size * price
            frozen = notional / leverage + fills.fee(notional, symbol.taker_fee)
            available = available_balance(account)
            if available < frozen:
                raise MexcError(
                    CONTRACT_INSUFFICIENT,
                    f"Insufficient balance! (this order needs {number_text(frozen)} USDT of "
                    f"margin and fees; {number_text(available)} USDT is available)",
                )
        else:
            self._reserve_close(account, symbol, side, vol)
        now = self.venue.now_ms()
        order = SwapOrder(
            order_id=self.venue.ids.swap_order(),
            external_oid=external_oid,
            symbol=symbol.swap_id,
            side=side,
            order_type=order_type,
            open_type=open_type,
            leverage=leverage,
            price=price,
            vol=vol,
            frozen=frozen,
            position_mode=account.position_mode,
            created_ms=now,
            updated_ms=now,
        )
        account.futures.frozen += frozen
        account.swap_orders[order.order_id] = order
        if external_oid is not None:
            account.swap_external_oids[external_oid] = order.order_id
        self._on_arrival(account, symbol, order, top)
        if order.is_open:
            account.resting_swap[order.order_id] = order
        return order

    def _reserve_close(
        self, account: Account, symbol: SimSymbol, side: SwapSide, vol: Decimal
    ) -> None:
        position = account.positions.get((symbol.swap_id, side.position_type))
        if position is None:
            direction = "long" if side.position_type == 1 else "short"
            raise MexcError(
                CONTRACT_NO_POSITION,
                f"Position is not exists or closed. (no {direction} {symbol.swap_id} position "
                "to close)",
            )
        closable = position.hold_vol - position.frozen_vol
        if vol > closable:
            raise MexcError(
                CONTRACT_QUANTITY,
                f"Order quantity error, please try to modify. (closing {number_text(vol)} "
                f"contracts; {number_text(closable)} can be closed)",
            )
        position.frozen_vol += vol

    def _market_price(self, symbol: SimSymbol, top: Top, is_buy: bool) -> Decimal:
        slippage_rate = self.venue.config.slippage_rate
        return fills.market_fill_price(is_buy, top, slippage_rate, symbol.price_tick)

    # -- filling ----------------------------------------------------------------------

    def _on_arrival(self, account: Account, symbol: SimSymbol, order: SwapOrder, top: Top) -> None:
        if order.order_type in MARKET_TYPES:
            qty = self.venue.partial(order.vol, VOL_UNIT)
            self._execute(account, symbol, order, qty, order.price, is_maker=False)
            self._finish(account, order)
            return
        price = fills.limit_fill_on_arrival(order.side.is_buy, order.price, top, symbol.price_tick)
        if price is None:
            if order.order_type in (3, 4):
                self._finish(account, order)
            return
        if order.order_type == 2:  # post-only would take liquidity: canceled
            self._finish(account, order)
            return
        qty = self.venue.partial(order.vol, VOL_UNIT)
        if order.order_type == 4 and qty < order.vol:
            self._finish(account, order)
            return
        self._execute(account, symbol, order, qty, price, is_maker=False)
        if order.order_type == 3 or order.remaining == 0:
            self._finish(account, order)
        else:
            order.armed = False

    def _execute(
        self,
        account: Account,
        symbol: SimSymbol,
        order: SwapOrder,
        qty: Decimal,
        price: Decimal,
        *,
        is_maker: bool,
    ) -> None:
        notional = qty * symbol.contract_size * price
        fee = fills.fee(notional, symbol.maker_fee if is_maker else symbol.taker_fee)
        if order.frozen:
            share = order.frozen if qty == order.remaining else order.frozen * qty / order.remaining
            order.frozen -= share
            account.futures.frozen -= share
        account.futures.cash -= fee
        if is_maker:
            order.maker_fee += fee
        else:
            order.taker_fee += fee
        now = self.venue.now_ms()
        profit = ZERO
        if order.side.opens:
            opened = qty
            opposite = account.positions.get((symbol.swap_id, 3 - order.side.position_type))
            if account.position_mode == 2 and opposite is not None:
                netted = min(qty, opposite.hold_vol - opposite.frozen_vol)
                profit = self._close(account, symbol, opposite, netted, price, now)
                opened = qty - netted
                order.position_id = opposite.position_id
            if opened > 0:
                position = self._open(account, symbol, order, opened, price, now)
                order.position_id = position.position_id
        else:
            position = account.positions[(symbol.swap_id, order.side.position_type)]
            position.frozen_vol -= qty
            order.position_id = position.position_id
            profit = self._close(account, symbol, position, qty, price, now)
        order.profit += profit
        order.deal_vol += qty
        order.deal_value += price * qty
        order.updated_ms = now
        account.swap_deals.append(
            SwapDeal(
                deal_id=self.venue.ids.deal(),
                order_id=order.order_id,
                external_oid=order.external_oid,
                symbol=order.symbol,
                side=order.side,
                vol=qty,
                price=price,
                fee=fee,
                profit=profit,
                time_ms=now,
                is_taker=not is_maker,
                position_mode=account.position_mode,
            )
        )

    def _open(
        self,
        account: Account,
        symbol: SimSymbol,
        order: SwapOrder,
        qty: Decimal,
        price: Decimal,
        now: int,
    ) -> Position:
        key = (symbol.swap_id, order.side.position_type)
        position = account.positions.get(key)
        if position is None:
            position = account.positions[key] = Position(
                position_id=self.venue.ids.position(),
                symbol=symbol.swap_id,
                position_type=order.side.position_type,
                open_type=order.open_type,
                leverage=order.leverage,
                created_ms=now,
                updated_ms=now,
            )
        held = position.hold_vol
        position.open_avg_price = (position.open_avg_price * held + price * qty) / (held + qty)
        position.hold_vol = held + qty
        position.im += qty * symbol.contract_size * price / position.leverage
        position.updated_ms = now
        return position

    def _close(
        self,
        account: Account,
        symbol: SimSymbol,
        position: Position,
        qty: Decimal,
        price: Decimal,
        now: int,
    ) -> Decimal:
        if qty <= 0:
            return ZERO
        direction = 1 if position.is_long else -1
        pnl = (price - position.open_avg_price) * qty * symbol.contract_size * direction
        released = (
            position.im if qty == position.hold_vol else position.im * qty / position.hold_vol
        )
        position.im -= released
        position.hold_vol -= qty
        position.close_vol += qty
        position.close_value += price * qty
        position.realised += pnl
        position.updated_ms = now
        account.futures.cash += pnl
        if position.hold_vol == 0:
            del account.positions[(position.symbol, position.position_type)]
            account.closed_positions.append(position)
        return pnl

    def _finish(self, account: Account, order: SwapOrder) -> None:
        """Close the order: completed if nothing remains, else canceled; free what it held."""
        account.resting_swap.pop(order.order_id, None)
        if order.frozen:
            account.futures.frozen -= order.frozen
            order.frozen = ZERO
        if not order.side.opens and order.remaining > 0:
            position = account.positions.get((order.symbol, order.side.position_type))
            if position is not None:
                position.frozen_vol -= order.remaining
        order.state = SwapState.COMPLETED if order.remaining == 0 else SwapState.CANCELED
        order.updated_ms = self.venue.now_ms()

    def match(self, account: Account) -> None:
        """Fill the account's resting limit orders that the quote now crosses, as maker."""
        for order in account.open_swap_orders():
            try:
                symbol = self.venue.swap_symbol(order.symbol)
                top = self.venue.swap_top(symbol)
            except MexcError:  # no price now (a replay gap): the order waits
                continue
            is_buy = order.side.is_buy
            price = fills.limit_fill_resting(is_buy, order.price, top, symbol.price_tick)
            if price is None:
                order.armed = True
                continue
            if not order.armed:
                continue
            qty = self.venue.partial(order.remaining, VOL_UNIT)
            self._execute(account, symbol, order, qty, price, is_maker=True)
            if order.remaining == 0:
                self._finish(account, order)
            else:
                order.armed = False

    # -- canceling and settings ---------------------------------------------------------

    def cancel(self, account: Account, order: SwapOrder) -> None:
        """Cancel an open order and free what it held."""
        self._finish(account, order)

    def change_leverage(self, account: Account, body: Mapping[str, Any]) -> None:
        """Apply ``position/change_leverage`` by positionId, or symbol, openType, positionType."""
        leverage_raw = body.get("leverage")
        if leverage_raw is None:
            raise param_error("'leverage' is required.")
        position_id = body.get("positionId")
        if position_id is not None:
            found = [
                p for p in account.positions.values() if str(p.position_id) == str(position_id)
            ]
            if not found:
                raise MexcError(
                    CONTRACT_NO_POSITION,
                    f"Position is not exists or closed. (positionId {position_id!r})",
                )
            position = found[0]
            symbol = self.venue.swap_symbol(position.symbol)
            open_type, position_type = position.open_type, position.position_type
        else:
            symbol = self.venue.swap_symbol(body.get("symbol"))
            open_type = integer_param(body, "openType", (1, 2), 0)
            position_type = integer_param(body, "positionType", (1, 2), 0)
        leverage = self.check_leverage(symbol, integer_value(leverage_raw, "leverage"))
        position_or_none = account.positions.get((symbol.swap_id, position_type))
        if position_or_none is not None:
            position = position_or_none
            new_im = position.hold_vol * symbol.contract_size * position.open_avg_price / leverage
            if new_im - position.im > available_balance(account):
                raise MexcError(
                    CONTRACT_INSUFFICIENT,
                    f"Insufficient balance! (leverage {leverage} needs "
                    f"{number_text(new_im - position.im)} USDT more margin)",
                )
            position.im, position.leverage = new_im, leverage
        account.leverage[(symbol.swap_id, position_type)] = (leverage, open_type)

    def change_position_mode(self, account: Account, body: Mapping[str, Any]) -> None:
        """Apply ``position/change_position_mode`` (1 hedge, 2 one-way) when nothing is open."""
        mode = integer_param(body, "positionMode", (1, 2), 0)
        if mode != account.position_mode and (account.positions or account.open_swap_orders()):
            raise param_error(
                "the position mode can change only without open positions or orders; "
                f"{len(account.positions)} positions and "
                f"{len(account.open_swap_orders())} orders are open."
            )
        account.position_mode = mode
