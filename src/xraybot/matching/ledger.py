"""A simulated exchange account: balances, orders, fills and linear swap positions.

The ledger is the account half of an exchange, in ``model`` types and Decimal, with no
clock and no transport: every operation takes the ``Market``, the caller's current quote
(bid/ask) and ``ts_ms``. Prices and fees come from ``matching.rules`` and ``matching.costs``
(the rules the backtester uses); their float results enter the ledger through
``from_float`` (15 significant digits), prices rounded to the market's tick against the
taker, cash to ``CASH_QUANTUM``.

Conventions, those of a typical exchange:
- One wallet per asset with ``free`` and ``used`` (reserved by open orders or held as
  position margin). Spot and swap share it, like a unified account.
- Fees are charged in the quote currency. A resting spot buy reserves ``price * amount``
  plus its fee, a resting sell its base amount, a resting swap order its margin plus fee.
- Swaps are linear, one-way (one position per symbol) and isolated: opening reserves
  ``notional / leverage`` of the quote as margin; a loss never takes more than that
  margin; a quote through the liquidation price (``costs.liquidation_price``) closes the
  position there and the margin is gone.
- Leverage belongs to the symbol. An order that opens or adds exposure at another leverage
  sets it when nothing is open there, and is refused otherwise; ``set_leverage``
  re-margins an open position and is refused while opening orders rest.
- Reduce-only orders need a position they reduce and never outgrow it: a resting one
  fills at most the position and the rest is canceled.
- Market and limit orders only; stops are the position monitor's job (risk/exits).
- Every check runs before any state changes, so a refused call changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal

from xraybot.matching import rules
from xraybot.matching.accounting import (
    CASH_QUANTUM,
    Flows,
    LedgerBalance,
    LedgerFill,
    LedgerOrder,
    LedgerPosition,
    check_quote,
    check_ts_ms,
    from_float,
    margin_for,
    price_order,
    reservation,
    spot_flows,
)
from xraybot.matching.order_log import OrderLog
from xraybot.matching.positions import (
    check_leverage_change,
    check_reduce_only,
    fill_effects,
    gross_pnl,
    liquidation_crossed,
    liquidation_order,
    liquidation_outcome,
    order_leverage,
    position_after_fill,
    with_liquidation_price,
)
from xraybot.model.errors import InvalidInputError, InvalidOrderError
from xraybot.model.market import Market, MarketKind
from xraybot.model.orders import OrderStatus
from xraybot.model.signals import OrderType, Side

__all__ = [
    "CASH_QUANTUM",
    "Ledger",
    "LedgerBalance",
    "LedgerFill",
    "LedgerOrder",
    "LedgerPosition",
]

_ZERO = Decimal(0)


class Ledger:
    """One simulated exchange account; operations are synchronous and atomic."""

    def __init__(
        self,
        balances: Mapping[str, Decimal],
        *,
        slippage_rate: Decimal = Decimal("0.0005"),
        id_prefix: str = "P",
        maintenance_margin_rate: Decimal = Decimal("0.004"),
    ) -> None:
        for asset, amount in balances.items():
            if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
                raise InvalidInputError(
                    f"Ledger balance of {asset!r} must be a finite Decimal >= 0; found {amount!r}."
                )
        for name, rate in (("slippage_rate", slippage_rate), ("mmr", maintenance_margin_rate)):
            if not isinstance(rate, Decimal) or not Decimal(0) <= rate < 1:
                raise InvalidInputError(
                    f"Ledger {name} must be a Decimal in [0, 1); found {rate!r}."
                )
        self._free: dict[str, Decimal] = dict(balances)
        self._used: dict[str, Decimal] = {asset: _ZERO for asset in balances}
        self._slippage = slippage_rate
        self._mmr = maintenance_margin_rate
        self._log = OrderLog(id_prefix)
        self._positions: dict[str, LedgerPosition] = {}
        self._leverage: dict[str, int] = {}
        self._marks: dict[str, Decimal] = {}  # symbol -> last mid price seen
        self._contract_size: dict[str, Decimal] = {}

    # -- queries ---------------------------------------------------------------------------

    def balances(self) -> dict[str, LedgerBalance]:
        """Return every asset's free and used amounts."""
        return {
            asset: LedgerBalance(asset=asset, free=free, used=self._used[asset])
            for asset, free in self._free.items()
        }

    def order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> LedgerOrder | None:
        """Return the order of ``symbol`` with either id, or None if there is none."""
        return self._log.get(
            symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
        )

    def open_orders(self, symbol: str | None = None) -> list[LedgerOrder]:
        """Return open orders of ``symbol`` (or of every symbol), oldest first."""
        return self._log.open_orders(symbol)

    def trades(self, symbol: str) -> list[LedgerFill]:
        """Return the fills of ``symbol``, oldest first."""
        return self._log.fills(symbol)

    def positions(self) -> list[LedgerPosition]:
        """Return open swap positions, with unrealized pnl at the last mid price seen."""
        return [self._marked(position) for position in self._positions.values()]

    def leverage(self, symbol: str) -> int:
        """Return the leverage the symbol's next opening order uses unless it says otherwise."""
        return self._leverage.get(symbol, 1)

    # -- operations ------------------------------------------------------------------------

    def place(
        self,
        market: Market,
        *,
        side: Side,
        order_type: OrderType,
        amount: Decimal,
        price: Decimal | None,
        client_order_id: str | None,
        bid: Decimal,
        ask: Decimal,
        ts_ms: int,
        reduce_only: bool = False,
        leverage: int | None = None,
    ) -> LedgerOrder:
        """Place an order against the quote: fill it now (taker) or rest it, reserving funds."""
        symbol = market.symbol
        check_ts_ms(symbol, ts_ms)
        check_quote(symbol, bid, ask)
        owner = None if client_order_id is None else self._log.owner_of(client_order_id)
        if owner is not None:
            raise InvalidOrderError(
                f"{symbol}: client order id {client_order_id!r} is already used by order "
                f"{owner}; client order ids are unique per account. Look that order up "
                "instead of placing it again."
            )
        priced = price_order(
            market,
            side=side,
            order_type=order_type,
            amount=amount,
            price=price,
            bid=bid,
            ask=ask,
            slippage_rate=self._slippage,
        )
        lev = order_leverage(market, leverage, self.leverage(symbol))
        position = self._positions.get(symbol)
        if reduce_only:
            check_reduce_only(market, side, priced.amount, position)
        else:
            market.check_order_size(priced.amount, priced.reference_price)
        opens = not reduce_only and (
            position is None
            or position.direction.entry_side is side
            or priced.amount > position.contracts
        )
        if market.kind is MarketKind.SWAP and opens:
            self._check_leverage_change(symbol, lev, position_allowed=False)
        order = LedgerOrder(
            exchange_order_id=self._log.next_order_id(),
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            order_type=order_type,
            status=OrderStatus.OPEN,
            amount=priced.amount,
            price=priced.limit,
            fee_currency=market.quote,
            reduce_only=reduce_only,
            leverage=lev,
            created_ts_ms=ts_ms,
            updated_ts_ms=ts_ms,
        )
        if priced.fill_price is None:
            asset, reserve = reservation(market, order)
            flows = Flows()
            flows.move_to_used(asset, reserve)
            flows.check(symbol, self._free)
            # Every check has passed: from here on, state changes.
            self._register(market, order, opens, bid, ask)
            self._log.add(order, rests=True, reserved=(asset, reserve))
            self._apply(flows)
            return order
        flows, new_position, realized, fee = fill_effects(
            market,
            order,
            position,
            amount=order.amount,
            price=priced.fill_price,
            fee_rate=market.taker_fee_rate,
            mmr=self._mmr,
            ts_ms=ts_ms,
        )
        flows.check(symbol, self._free)
        self._register(market, order, opens, bid, ask)
        self._log.add(order)
        self._apply(flows)
        self._set_position(symbol, new_position)
        self._log.record_fill(
            order, order.amount, priced.fill_price, fee, realized, ts_ms, is_maker=False
        )
        return self._log.by_id(order.exchange_order_id)

    def cancel(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        ts_ms: int,
    ) -> LedgerOrder:
        """Cancel an open order and release what it reserved; return its final snapshot.

        An order that already finished (filled, canceled) is returned as it is: the cancel
        lost a race, which the caller learns from the status, as on an exchange.
        """
        check_ts_ms(symbol, ts_ms)
        found = self.order(
            symbol, exchange_order_id=exchange_order_id, client_order_id=client_order_id
        )
        if found is None:
            wanted = exchange_order_id if exchange_order_id is not None else client_order_id
            raise InvalidOrderError(
                f"{symbol}: no order {wanted!r} exists on this account; found none to cancel. "
                "Check the id and the symbol."
            )
        if found.status.is_terminal:
            return found
        return self._close_order(found, OrderStatus.CANCELED, ts_ms)

    def on_quote(self, market: Market, bid: Decimal, ask: Decimal, ts_ms: int) -> list[LedgerFill]:
        """Fill the resting orders the quote crosses (maker, at their limit), then liquidations."""
        symbol = market.symbol
        check_ts_ms(symbol, ts_ms)
        check_quote(symbol, bid, ask)
        self._note_quote(market, bid, ask)
        fills: list[LedgerFill] = []
        for order in self._log.open_orders(symbol):
            current = self._log.by_id(order.exchange_order_id)
            if current.status.is_terminal or current.price is None:
                continue  # closed while this quote was being applied
            code = rules.side_code(current.side)
            price = rules.limit_fill_resting(code, float(current.price), float(bid), float(ask))
            if price != price:
                continue
            limit = market.round_price(from_float(price))
            fill = self._fill_resting(market, current, limit, ts_ms)
            if fill is not None:
                fills.append(fill)
        liquidation = self._liquidate_if_crossed(market, bid, ask, ts_ms)
        if liquidation is not None:
            fills.append(liquidation)
        return fills

    def set_leverage(self, market: Market, leverage: int) -> None:
        """Set the symbol's leverage; an open position's margin is adjusted to match."""
        symbol = market.symbol
        if market.kind is not MarketKind.SWAP:
            raise InvalidOrderError(
                f"{symbol}: leverage applies to swap markets only; found a {market.kind} market."
            )
        lev = order_leverage(market, leverage, self.leverage(symbol))
        self._check_leverage_change(symbol, lev, position_allowed=True)
        if lev == self.leverage(symbol):
            return
        position = self._positions.get(symbol)
        if position is not None:
            margin = margin_for(market, position.contracts, position.entry_price, lev)
            flows = Flows()
            flows.move_to_used(market.quote, margin - position.margin)
            flows.check(symbol, self._free)
            self._apply(flows)
            moved = dataclasses.replace(position, leverage=lev, margin=margin)
            self._positions[symbol] = with_liquidation_price(market, moved, self._mmr)
        self._leverage[symbol] = lev

    def replay_fill(
        self,
        market: Market,
        *,
        side: Side,
        amount: Decimal,
        price: Decimal,
        fee: Decimal,
        ts_ms: int,
        leverage: int | None = None,
    ) -> None:
        """Apply a fill recorded earlier (a journal's), to rebuild the account after a restart.

        The fill goes through the accounting a live fill goes through (spot flows, or the
        swap position rule), with the recorded ``fee`` rather than a recomputed one, so
        replaying an account's fills in order from its starting balances gives back its
        cash and positions. No funds check runs: the fills already happened. ``leverage``
        is the one the fill opened at (default: the symbol's current leverage). Liquidation
        fills are not replayable this way (the ledger takes the whole margin there).
        """
        symbol = market.symbol
        check_ts_ms(symbol, ts_ms)
        if not amount > 0 or not price > 0 or not fee.is_finite():
            raise InvalidInputError(
                f"{symbol}: a replayed fill needs amount > 0, price > 0 and a finite fee; "
                f"found amount={amount!r}, price={price!r}, fee={fee!r}."
            )
        for asset in (market.base, market.quote):
            self._free.setdefault(asset, _ZERO)
            self._used.setdefault(asset, _ZERO)
        if market.kind is MarketKind.SPOT:
            self._apply(spot_flows(market, side, amount, price, fee))
            return
        lev = order_leverage(market, leverage, self.leverage(symbol))
        flows, new_position, _ = position_after_fill(
            market,
            self._positions.get(symbol),
            side=side,
            amount=amount,
            price=price,
            leverage=lev,
            mmr=self._mmr,
            ts_ms=ts_ms,
        )
        flows.spend(market.quote, fee)
        self._apply(flows)
        self._set_position(symbol, new_position)
        if new_position is None:
            self._leverage[symbol] = lev
        self._contract_size[symbol] = market.contract_size

    # -- internals -------------------------------------------------------------------------

    def _check_leverage_change(self, symbol: str, lev: int, *, position_allowed: bool) -> None:
        resting = any(not o.reduce_only for o in self._log.open_orders(symbol))
        check_leverage_change(
            symbol,
            current=self.leverage(symbol),
            wanted=lev,
            has_position=not position_allowed and symbol in self._positions,
            has_orders=resting,
        )

    def _note_quote(self, market: Market, bid: Decimal, ask: Decimal) -> None:
        self._marks[market.symbol] = (bid + ask) / 2 if bid > 0 and ask > 0 else max(bid, ask)
        self._contract_size[market.symbol] = market.contract_size

    def _register(
        self, market: Market, order: LedgerOrder, opens: bool, bid: Decimal, ask: Decimal
    ) -> None:
        self._note_quote(market, bid, ask)
        for asset in (market.base, market.quote):
            self._free.setdefault(asset, _ZERO)
            self._used.setdefault(asset, _ZERO)
        if market.kind is MarketKind.SWAP and opens:
            self._leverage[market.symbol] = order.leverage

    def _fill_resting(
        self, market: Market, order: LedgerOrder, price: Decimal, ts_ms: int
    ) -> LedgerFill | None:
        amount = order.remaining
        position = self._positions.get(market.symbol)
        if order.reduce_only:
            if position is None or position.direction.exit_side is not order.side:
                self._close_order(order, OrderStatus.CANCELED, ts_ms)  # nothing left to reduce
                return None
            amount = min(amount, position.contracts)
        flows, new_position, realized, fee = fill_effects(
            market,
            order,
            position,
            amount=amount,
            price=price,
            fee_rate=market.maker_fee_rate,
            mmr=self._mmr,
            ts_ms=ts_ms,
        )
        asset, held = self._log.reserved(order.exchange_order_id) or (market.quote, _ZERO)
        release = held if amount == order.remaining else held * amount / order.remaining
        flows.release(asset, release)
        try:
            flows.check(market.symbol, self._free)
        except InvalidOrderError:
            # Reservations cover a fill at the limit, so this is only reachable if the
            # account changed under the order; an exchange cancels such an order.
            self._close_order(order, OrderStatus.CANCELED, ts_ms)
            return None
        self._apply(flows)
        if release:
            self._log.release(order.exchange_order_id, release)
        self._set_position(market.symbol, new_position)
        fill = self._log.record_fill(order, amount, price, fee, realized, ts_ms, is_maker=True)
        if order.reduce_only and fill.amount < order.remaining:
            self._close_order(order, OrderStatus.CANCELED, ts_ms)  # cannot outgrow the position
        return fill

    def _liquidate_if_crossed(
        self, market: Market, bid: Decimal, ask: Decimal, ts_ms: int
    ) -> LedgerFill | None:
        position = self._positions.get(market.symbol)
        if position is None or not liquidation_crossed(position, bid, ask):
            return None
        assert position.liquidation_price is not None
        realized, fee = liquidation_outcome(market, position)
        flows = Flows()
        flows.release(market.quote, position.margin)
        flows.spend(market.quote, position.margin)  # the whole margin is gone
        self._apply(flows)
        order = liquidation_order(market, position, self._log.next_order_id(), ts_ms)
        self._log.add(order)
        del self._positions[market.symbol]
        fill = self._log.record_fill(
            order,
            position.contracts,
            position.liquidation_price,
            fee,
            realized,
            ts_ms,
            is_maker=False,
            liquidation=True,
        )
        for resting in self._log.open_orders(market.symbol):
            if resting.reduce_only:
                self._close_order(resting, OrderStatus.CANCELED, ts_ms)
        return fill

    def _close_order(self, order: LedgerOrder, status: OrderStatus, ts_ms: int) -> LedgerOrder:
        closed, freed = self._log.close(order, status, ts_ms)
        if freed is not None:
            flows = Flows()
            flows.release(*freed)
            self._apply(flows)
        return closed

    def _set_position(self, symbol: str, position: LedgerPosition | None) -> None:
        self._positions.pop(symbol, None)
        if position is not None:
            self._positions[symbol] = position
            self._leverage[symbol] = position.leverage  # the symbol follows its position

    def _apply(self, flows: Flows) -> None:
        for asset, (free, used) in flows.deltas().items():
            self._free[asset] = self._free.get(asset, _ZERO) + free
            self._used[asset] = self._used.get(asset, _ZERO) + used

    def _marked(self, position: LedgerPosition) -> LedgerPosition:
        mark = self._marks.get(position.symbol)
        if mark is None:
            return position
        size = self._contract_size[position.symbol]
        pnl = gross_pnl(position, mark, position.contracts, size)
        return dataclasses.replace(position, unrealized_pnl=pnl)
